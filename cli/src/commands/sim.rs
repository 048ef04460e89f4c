//! `riffle sim`: run an experiment in the discrete-event simulator (every
//! decision made by riffle's policy objects) and report it like the lab:
//! summary table or `--json`, CSV time series and SVG plots. `--sweep`
//! runs each run over a list of arrival rates instead and compares the
//! throughput with the paper's saturation formula.

use std::io::IsTerminal;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use riffle_lab::experiment::report::{json_summary, summarize, summary_table, write_outputs};
use riffle_lab::experiment::{self, Experiment};

use crate::flags::experiment::ExperimentArgs;
use riffle_lab::sim::{self, sweep};

/// Arguments of `riffle sim`.
#[derive(Args, Debug)]
pub struct SimArgs {
    /// The experiment, its runs and seeds, and where results go.
    #[command(flatten)]
    experiment: ExperimentArgs,
    /// Sweep the arrival rate: run every run at each of these rates (in
    /// units of U, comma-separated, e.g. 5,10,20,40) and report throughput
    /// against lambda next to the saturation formula
    /// lambda* = U (2 + (K-2) mu/mu') (swarm scalability paper).
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
    let exp = args.experiment.load(true)?;
    for &l in &args.sweep {
        if !(l.is_finite() && l > 0.0) {
            bail!("--sweep: {l} is not a positive arrival rate");
        }
    }
    if !args.sweep.is_empty() && exp.runs.iter().any(|r| r.multitrack.is_some()) {
        bail!("--sweep: a multitrack run sets each tracker's arrivals in its multitrack table");
    }
    Ok(exp)
}

/// Run `riffle sim`.
pub fn run(args: SimArgs) -> Result<()> {
    let exp = experiment_from(&args)?;
    let options = sim::SimOptions {
        initial_one_club: args.one_club,
    };
    let out = args.experiment.out_dir(&exp, "-sim");
    let chatty = std::io::stderr().is_terminal() || !args.experiment.json;
    let started = Instant::now();
    let progress = |spec: &experiment::RunSpec, rep: &sim::Replicate| {
        if !chatty {
            return;
        }
        if let Some(m) = rep.result.multitrack.as_ref() {
            eprintln!(
                "riffle sim: {} seed {}: cost per user {:.2} (download {:.2} + transit {:.2}), {} users ({} events, {:.1} s)",
                spec.name,
                rep.result.seed,
                m.cost_per_user,
                m.download_time,
                m.transit_per_user,
                m.users,
                rep.events,
                started.elapsed().as_secs_f64()
            );
        } else {
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
    if args.experiment.json {
        println!("{}", json_summary(&summaries));
    } else {
        print!("{}", summary_table(&summaries));
        println!("wrote {} files into {}", written.len(), out.display());
    }
    Ok(())
}
