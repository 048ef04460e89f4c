//! `riffle sim`: run an experiment in the discrete-event simulator (every
//! decision made by riffle's policy objects) and report it like the lab:
//! summary table or `--json`, CSV time series and SVG plots. `--sweep`
//! runs each run over a list of arrival rates instead and compares the
//! throughput with the paper's saturation formula.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use riffle_client::experiment::report::{json_summary, summarize, summary_table, write_outputs};
use riffle_client::experiment::{self, Experiment, PRESETS, SIM_PRESETS};
use riffle_client::sim::{self, sweep};

/// Arguments of `riffle sim`.
#[derive(Args, Debug)]
pub struct SimArgs {
    /// Experiment file (TOML; see docs/lab.md).
    #[arg(
        value_name = "EXPERIMENT.toml",
        required_unless_present = "preset",
        conflicts_with = "preset"
    )]
    file: Option<PathBuf>,
    /// Run a built-in experiment instead: missing-piece, three-levers,
    /// admission, or (simulator only) saturation.
    #[arg(long, value_name = "NAME")]
    preset: Option<String>,
    /// Print the summary as JSON on stdout (a list of runs with name,
    /// policies, throughput_u, mean_download_time, one_club_peak,
    /// population_mean) instead of the table.
    #[arg(long)]
    json: bool,
    /// Directory for the CSV time series, summary and plots [default:
    /// lab-out/<experiment>-sim].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Replicates per run: seeds 1..=N instead of the file's seeds.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
    seeds: Option<u64>,
    /// Run only these runs (repeatable; by name).
    #[arg(long = "run", value_name = "NAME")]
    runs: Vec<String>,
    /// Override the duration of every run (model time units).
    #[arg(long, value_name = "T")]
    duration: Option<f64>,
    /// Override the warm-up of every run (model time units).
    #[arg(long, value_name = "T")]
    warmup: Option<f64>,
    /// Sweep the arrival rate: run every run at each of these rates (in
    /// units of U, comma-separated, e.g. 5,10,20,40) and report throughput
    /// against lambda next to the saturation formula
    /// lambda* = U (2 + (K-2) mu/mu') (paper 002).
    #[arg(long, value_name = "LAMBDAS", value_delimiter = ',')]
    sweep: Vec<f64>,
    /// Start each replicate with N peers holding every piece but the same
    /// one (an initial one club: the regime the paper's saturation formula
    /// assumes). Simulator only.
    #[arg(long, value_name = "N", default_value_t = 0)]
    one_club: u32,
}

/// Load the experiment and apply the overrides.
fn experiment_from(args: &SimArgs) -> Result<Experiment> {
    let mut exp = match (&args.file, &args.preset) {
        (Some(f), _) => experiment::load(f)?,
        (None, Some(p)) => experiment::preset(p)?,
        (None, None) => bail!(
            "name an experiment file or --preset ({}, {})",
            PRESETS.join(", "),
            SIM_PRESETS.join(", ")
        ),
    };
    for r in &args.runs {
        if !exp.runs.iter().any(|s| &s.name == r) {
            let names: Vec<&str> = exp.runs.iter().map(|s| s.name.as_str()).collect();
            bail!(
                "no run named {r:?} in {} (runs: {})",
                exp.name,
                names.join(", ")
            );
        }
    }
    if !args.runs.is_empty() {
        exp.runs.retain(|s| args.runs.contains(&s.name));
    }
    if let Some(n) = args.seeds {
        exp.set_seed_count(n);
    }
    for spec in &mut exp.runs {
        let m = &mut spec.model;
        if let Some(d) = args.duration {
            m.duration = d;
        }
        if let Some(w) = args.warmup {
            m.warmup = w;
        }
        if !(m.duration.is_finite() && m.duration > 0.0 && m.warmup >= 0.0 && m.warmup < m.duration)
        {
            bail!(
                "run {}: the warm-up must be shorter than the duration",
                spec.name
            );
        }
    }
    for &l in &args.sweep {
        if !(l.is_finite() && l > 0.0) {
            bail!("--sweep: {l} is not a positive arrival rate");
        }
    }
    Ok(exp)
}

/// Run `riffle sim`.
pub fn run(args: SimArgs) -> Result<()> {
    let exp = experiment_from(&args)?;
    let options = sim::SimOptions {
        initial_one_club: args.one_club,
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("lab-out").join(format!("{}-sim", exp.name)));
    let chatty = std::io::stderr().is_terminal() || !args.json;
    let started = Instant::now();
    let progress = |spec: &experiment::RunSpec, rep: &sim::Replicate| {
        if chatty {
            eprintln!(
                "riffle sim: {} seed {}: throughput {:.2} U, population {:.1} ({} events, {:.1} s)",
                spec.name,
                rep.result.seed,
                rep.result.throughput_u,
                rep.result.population_mean,
                rep.events,
                started.elapsed().as_secs_f64()
            );
        }
    };
    if !args.sweep.is_empty() {
        let points = sweep::sweep(&exp, &args.sweep, options, progress)?;
        let written = sweep::write_sweep(&out, &exp.name, &points)
            .with_context(|| format!("cannot write the results into {}", out.display()))?;
        print!("{}", sweep::sweep_table(&points));
        println!("wrote {} files into {}", written.len(), out.display());
        return Ok(());
    }
    let outputs = sim::run_experiment(&exp, options, progress)?;
    let written = write_outputs(&out, &exp.name, &outputs)
        .with_context(|| format!("cannot write the results into {}", out.display()))?;
    let summaries = summarize(&outputs.results);
    if args.json {
        println!("{}", json_summary(&summaries));
    } else {
        print!("{}", summary_table(&summaries));
        println!("wrote {} files into {}", written.len(), out.display());
    }
    Ok(())
}
