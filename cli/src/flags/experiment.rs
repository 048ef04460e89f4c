//! What `riffle lab` and `riffle sim` share: which experiment to run, which
//! of its runs and seeds, duration overrides, and where the results go.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use riffle_lab::experiment::{self, Experiment, PRESETS, SIM_PRESETS};

/// The experiment and its overrides (flattened into `lab` and `sim`).
#[derive(Args, Debug)]
pub struct ExperimentArgs {
    /// Experiment file (TOML; see docs/lab.md).
    #[arg(
        value_name = "EXPERIMENT.toml",
        required_unless_present = "preset",
        conflicts_with = "preset"
    )]
    pub file: Option<PathBuf>,
    /// Run a built-in experiment instead: missing-piece, three-levers,
    /// admission, cpm-tau, cpm-allocation, cross-credit, locality,
    /// multitrack (the lab with numbers of its own; and, in the simulator
    /// only, saturation and cpm-churn).
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// Print the summary as JSON on stdout (a list of runs with name,
    /// policies, throughput_u, mean_download_time, one_club_peak,
    /// population_mean) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Directory for the CSV time series, summary and plots [default:
    /// lab-out/<experiment> for the lab, lab-out/<experiment>-sim for the
    /// simulator].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Run only these runs (repeatable; by name).
    #[arg(long = "run", value_name = "NAME")]
    pub runs: Vec<String>,
    /// Replicates per run: seeds 1..=N instead of the file's seeds.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub seeds: Option<u64>,
    /// Override the duration of every run (model time units).
    #[arg(long, value_name = "T")]
    pub duration: Option<f64>,
    /// Override the warm-up of every run (model time units).
    #[arg(long, value_name = "T")]
    pub warmup: Option<f64>,
}

impl ExperimentArgs {
    /// Load the experiment (`sim_presets`: the simulator-only presets are
    /// allowed) and apply the overrides.
    pub fn load(&self, sim_presets: bool) -> Result<Experiment> {
        let mut exp = match (&self.file, &self.preset) {
            (Some(f), _) => experiment::load(f)?,
            (None, Some(p)) if !sim_presets && SIM_PRESETS.contains(&p.as_str()) => bail!(
                "preset {p} is for the simulator only (riffle sim --preset {p}); the lab runs {}",
                PRESETS.join(", ")
            ),
            (None, Some(p)) if sim_presets => experiment::preset(p)?,
            (None, Some(p)) => experiment::lab_preset(p)?,
            (None, None) => bail!(
                "name an experiment file or --preset ({})",
                PRESETS.join(", ")
            ),
        };
        for r in &self.runs {
            if !exp.runs.iter().any(|s| &s.name == r) {
                let names: Vec<&str> = exp.runs.iter().map(|s| s.name.as_str()).collect();
                bail!(
                    "no run named {r:?} in {} (runs: {})",
                    exp.name,
                    names.join(", ")
                );
            }
        }
        if !self.runs.is_empty() {
            exp.runs.retain(|s| self.runs.contains(&s.name));
        }
        if let Some(n) = self.seeds {
            exp.set_seed_count(n);
        }
        for spec in &mut exp.runs {
            let m = &mut spec.model;
            if let Some(d) = self.duration {
                m.duration = d;
            }
            if let Some(w) = self.warmup {
                m.warmup = w;
            }
            if !(m.duration.is_finite()
                && m.duration > 0.0
                && m.warmup >= 0.0
                && m.warmup < m.duration)
            {
                bail!(
                    "run {}: the warm-up must be shorter than the duration",
                    spec.name
                );
            }
        }
        Ok(exp)
    }

    /// The output directory: `--out`, or `lab-out/<name><suffix>`.
    pub fn out_dir(&self, exp: &Experiment, suffix: &str) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| PathBuf::from("lab-out").join(format!("{}{suffix}", exp.name)))
    }
}
