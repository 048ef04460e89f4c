//! Throughput against the arrival rate: every run of an experiment is
//! simulated at each lambda of a list (its `arrivals` replaced by an open
//! system at that rate) and compared with the paper's saturation formula
//! `lambda* = U (2 + (K - 2) mu / mu')` (`K U` without throttling): below
//! lambda* every arrival is served (throughput = lambda); above it the one
//! club grows to the cap and throughput stays near lambda*.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::experiment::report::{plot_curves, Curve, PlotError, Stat};
use crate::experiment::{Arrivals, Experiment, RunSpec};

use super::{run_replicate_with, Replicate, SimError, SimOptions};

/// One run at one arrival rate, over its seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepPoint {
    /// The run's name.
    pub run: String,
    /// Arrival rate, in units of U.
    pub lambda_u: f64,
    /// Throughput in units of U.
    pub throughput_u: Stat,
    /// Time-averaged population.
    pub population_mean: Stat,
    /// Fraction of arrivals refused by the cap.
    pub lost_fraction: f64,
    /// The paper's saturation rate for this run's model, in units of U.
    pub saturation_u: f64,
}

/// `spec` with open arrivals at `lambda_u` times its publisher rate.
pub fn at_rate(spec: &RunSpec, lambda_u: f64) -> RunSpec {
    let mut s = spec.clone();
    s.model.arrivals = Arrivals::Open {
        rate: lambda_u * s.model.publisher_rate,
    };
    s.name = format!("{} @ lambda={lambda_u}", spec.name);
    s
}

/// Simulate every run of `exp` at every rate of `lambdas_u` (units of U)
/// with each of its seeds; `progress` is called after each replicate.
pub fn sweep(
    exp: &Experiment,
    lambdas_u: &[f64],
    options: SimOptions,
    mut progress: impl FnMut(&RunSpec, &Replicate),
) -> Result<Vec<SweepPoint>, SimError> {
    let mut points = Vec::new();
    for spec in &exp.runs {
        for &lambda in lambdas_u {
            if !(lambda.is_finite() && lambda > 0.0) {
                return Err(SimError::Model(format!(
                    "sweep arrival rate {lambda} is not a positive number"
                )));
            }
            let s = at_rate(spec, lambda);
            let mut reps = Vec::new();
            for &seed in &s.seeds {
                let rep = run_replicate_with(&s, seed, options)?;
                progress(&s, &rep);
                reps.push(rep);
            }
            let arrivals: u64 = reps.iter().map(|r| r.arrivals + r.lost_arrivals).sum();
            let lost: u64 = reps.iter().map(|r| r.lost_arrivals).sum();
            points.push(SweepPoint {
                run: spec.name.clone(),
                lambda_u: lambda,
                throughput_u: Stat::of(reps.iter().map(|r| r.result.throughput_u)),
                population_mean: Stat::of(reps.iter().map(|r| r.result.population_mean)),
                lost_fraction: if arrivals == 0 {
                    0.0
                } else {
                    lost as f64 / arrivals as f64
                },
                saturation_u: spec.model.saturation_rate() / spec.model.publisher_rate,
            });
        }
    }
    Ok(points)
}

/// The sweep as a text table.
pub fn sweep_table(points: &[SweepPoint]) -> String {
    let mut out = String::new();
    let w = points.iter().map(|p| p.run.len()).max().unwrap_or(3).max(3);
    let _ = writeln!(
        out,
        "{:<w$}  {:>8}  {:>14}  {:>13}  {:>10}  {:>6}  {:>9}",
        "run", "lambda/U", "throughput (U)", "min..max", "population", "lost", "lambda*/U"
    );
    for p in points {
        let _ = writeln!(
            out,
            "{:<w$}  {:>8.2}  {:>14.2}  {:>13}  {:>10.1}  {:>5.1}%  {:>9.1}",
            p.run,
            p.lambda_u,
            p.throughput_u.mean,
            format!("{:.2}..{:.2}", p.throughput_u.min, p.throughput_u.max),
            p.population_mean.mean,
            p.lost_fraction * 100.0,
            p.saturation_u
        );
    }
    out
}

/// Write `sweep.txt`, `sweep.csv` and `sweep.svg` (throughput against
/// lambda per run, with the formula `min(lambda, lambda*)` per run) into
/// `dir`.
pub fn write_sweep(
    dir: &Path,
    title: &str,
    points: &[SweepPoint],
) -> Result<Vec<PathBuf>, PlotError> {
    std::fs::create_dir_all(dir).map_err(PlotError::Io)?;
    let txt = dir.join("sweep.txt");
    std::fs::write(&txt, sweep_table(points)).map_err(PlotError::Io)?;
    let csv = dir.join("sweep.csv");
    let mut text = String::from(
        "run,lambda_u,throughput_u,throughput_u_min,throughput_u_max,population_mean,lost_fraction,saturation_u\n",
    );
    for p in points {
        let _ = writeln!(
            text,
            "{},{},{:.4},{:.4},{:.4},{:.2},{:.4},{:.4}",
            p.run.replace(',', "_"),
            p.lambda_u,
            p.throughput_u.mean,
            p.throughput_u.min,
            p.throughput_u.max,
            p.population_mean.mean,
            p.lost_fraction,
            p.saturation_u
        );
    }
    std::fs::write(&csv, text).map_err(PlotError::Io)?;
    let mut runs: Vec<&str> = Vec::new();
    for p in points {
        if !runs.contains(&p.run.as_str()) {
            runs.push(&p.run);
        }
    }
    let max_lambda = points.iter().map(|p| p.lambda_u).fold(0.0, f64::max);
    let mut curves = Vec::new();
    for run in &runs {
        let mine: Vec<&SweepPoint> = points.iter().filter(|p| p.run == *run).collect();
        curves.push(Curve {
            label: format!("{run} (simulated)"),
            points: mine
                .iter()
                .map(|p| (p.lambda_u, p.throughput_u.mean))
                .collect(),
            markers: true,
        });
        if let Some(sat) = mine.first().map(|p| p.saturation_u) {
            let mut formula = vec![(0.0, 0.0)];
            if sat < max_lambda {
                formula.push((sat, sat));
            }
            formula.push((max_lambda, max_lambda.min(sat)));
            curves.push(Curve {
                label: format!("{run}: min(lambda, lambda* = {sat:.1} U)"),
                points: formula,
                markers: false,
            });
        }
    }
    let svg = dir.join("sweep.svg");
    plot_curves(
        &svg,
        &format!("{title}: throughput against arrival rate"),
        "arrival rate lambda (units of U)",
        "throughput (units of U)",
        &curves,
    )?;
    Ok(vec![txt, csv, svg])
}
