//! `riffle lab`: run an experiment with real riffle peers on 127.0.0.1 and
//! report what each policy did (summary table, CSV, SVG plots, --json).

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use riffle_lab::experiment::report::{json_summary, summarize, summary_table, write_outputs};
use riffle_lab::lab;

use crate::flags::experiment::ExperimentArgs;

/// Arguments of `riffle lab`.
#[derive(Args, Debug)]
pub struct LabArgs {
    /// The experiment, its runs and seeds, and where results go.
    #[command(flatten)]
    experiment: ExperimentArgs,
    /// Override the wall-clock length of one model time unit (ms).
    #[arg(long, value_name = "MS")]
    time_unit_ms: Option<f64>,
}

/// Run `riffle lab`.
pub fn run(args: LabArgs) -> Result<()> {
    let mut exp = args.experiment.load(false)?;
    for spec in &mut exp.runs {
        let m = &mut spec.model;
        if let Some(u) = args.time_unit_ms {
            m.time_unit_ms = u;
        }
        if !(m.time_unit_ms.is_finite() && m.time_unit_ms >= 1.0) {
            bail!("run {}: --time-unit-ms must be at least 1", spec.name);
        }
    }
    super::raise_fd_limit();
    let out = args.experiment.out_dir(&exp, "");
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let work = std::env::temp_dir();
    let wall: f64 = exp
        .runs
        .iter()
        .map(|r| r.seeds.len() as f64 * r.model.duration * r.model.time_unit_ms / 1000.0)
        .sum();
    eprintln!(
        "riffle lab: {} — {} runs, {} replicates, about {:.0} s",
        exp.name,
        exp.runs.len(),
        exp.runs.iter().map(|r| r.seeds.len()).sum::<usize>(),
        wall
    );
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = ProgressBar::new(1000);
        b.set_style(
            ProgressStyle::with_template("{bar:40} {percent}% {msg} (eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b.enable_steady_tick(Duration::from_millis(200));
        b
    });
    let runtime = super::runtime("riffle-lab")?;
    let mut last_line = std::time::Instant::now();
    let outputs = runtime.block_on(lab::run_experiment(&exp, &work, |p| {
        let frac = (p.done as f64 + p.t / p.duration) / p.total.max(1) as f64;
        if let Some(b) = &bar {
            b.set_position((frac * 1000.0) as u64);
            b.set_message(format!("replicate {}/{}", p.done + 1, p.total));
        } else if last_line.elapsed() >= Duration::from_secs(10) {
            last_line = std::time::Instant::now();
            eprintln!(
                "riffle lab: {:.0}% (replicate {}/{})",
                frac * 100.0,
                p.done + 1,
                p.total
            );
        }
    }))?;
    runtime.shutdown_timeout(Duration::from_secs(2));
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let written = write_outputs(&out, &exp.name, &outputs)
        .with_context(|| format!("cannot write the results into {}", out.display()))?;
    let summaries = summarize(&outputs.results);
    if args.experiment.json {
        println!("{}", json_summary(&summaries));
    } else {
        print!("{}", summary_table(&summaries));
        println!("wrote {} files into {}", written.len(), out.display());
    }
    Ok(())
}
