//! `riffle lab`: run an experiment with real riffle peers on 127.0.0.1 and
//! report what each policy did (summary table, CSV, SVG plots, --json).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use riffle_client::experiment::report::{json_summary, summarize, summary_table, write_outputs};
use riffle_client::experiment::{self, Experiment, PRESETS};
use riffle_client::lab;

/// Arguments of `riffle lab`.
#[derive(Args, Debug)]
pub struct LabArgs {
    /// Experiment file (TOML; see docs/lab.md).
    #[arg(
        value_name = "EXPERIMENT.toml",
        required_unless_present = "preset",
        conflicts_with = "preset"
    )]
    file: Option<PathBuf>,
    /// Run a built-in experiment instead: missing-piece, three-levers or
    /// admission.
    #[arg(long, value_name = "NAME")]
    preset: Option<String>,
    /// Print the summary as JSON on stdout (a list of runs with name,
    /// policies, throughput_u, mean_download_time, one_club_peak,
    /// population_mean) instead of the table.
    #[arg(long)]
    json: bool,
    /// Directory for the CSV time series, summary and plots [default:
    /// lab-out/<experiment>].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Run only these runs (repeatable; by name).
    #[arg(long = "run", value_name = "NAME")]
    runs: Vec<String>,
    /// Replicates per run: seeds 1..=N instead of the file's seeds.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100))]
    seeds: Option<u64>,
    /// Override the duration of every run (model time units).
    #[arg(long, value_name = "T")]
    duration: Option<f64>,
    /// Override the warm-up of every run (model time units).
    #[arg(long, value_name = "T")]
    warmup: Option<f64>,
    /// Override the wall-clock length of one model time unit (ms).
    #[arg(long, value_name = "MS")]
    time_unit_ms: Option<f64>,
}

/// Load the experiment and apply the overrides.
pub fn experiment_from(
    file: &Option<PathBuf>,
    preset: &Option<String>,
    runs: &[String],
    seeds: Option<u64>,
) -> Result<Experiment> {
    let mut exp = match (file, preset) {
        (Some(f), _) => experiment::load(f)?,
        (None, Some(p)) => experiment::preset(p)?,
        (None, None) => bail!(
            "name an experiment file or --preset ({})",
            PRESETS.join(", ")
        ),
    };
    if !runs.is_empty() {
        for r in runs {
            if !exp.runs.iter().any(|s| &s.name == r) {
                let names: Vec<&str> = exp.runs.iter().map(|s| s.name.as_str()).collect();
                bail!(
                    "no run named {r:?} in {} (runs: {})",
                    exp.name,
                    names.join(", ")
                );
            }
        }
        exp.runs.retain(|s| runs.contains(&s.name));
    }
    if let Some(n) = seeds {
        exp.set_seed_count(n);
    }
    Ok(exp)
}

/// Run `riffle lab`.
pub fn run(args: LabArgs) -> Result<()> {
    let mut exp = experiment_from(&args.file, &args.preset, &args.runs, args.seeds)?;
    for spec in &mut exp.runs {
        let m = &mut spec.model;
        if let Some(d) = args.duration {
            m.duration = d;
        }
        if let Some(w) = args.warmup {
            m.warmup = w;
        }
        if let Some(u) = args.time_unit_ms {
            m.time_unit_ms = u;
        }
        if !(m.duration > 0.0 && m.warmup >= 0.0 && m.warmup < m.duration) {
            bail!(
                "run {}: the warm-up must be shorter than the duration",
                spec.name
            );
        }
        if !(m.time_unit_ms.is_finite() && m.time_unit_ms >= 1.0) {
            bail!("run {}: --time-unit-ms must be at least 1", spec.name);
        }
    }
    raise_fd_limit();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("lab-out").join(&exp.name));
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("riffle-lab")
        .build()
        .context("cannot start the async runtime")?;
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
    if args.json {
        println!("{}", json_summary(&summaries));
    } else {
        print!("{}", summary_table(&summaries));
        println!("wrote {} files into {}", written.len(), out.display());
    }
    Ok(())
}

/// Lab swarms hold thousands of sockets: lift the soft descriptor limit to
/// the hard one.
fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::debug!("cannot raise the file descriptor limit: {e}");
        }
    }
}
