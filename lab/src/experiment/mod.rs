//! Experiment files: the swarm model and the policies of each run, as read
//! from TOML by both the swarm lab (real peers) and `riffle sim` (the
//! discrete-event simulator).
//!
//! A file has a top-level `name` and `description`, a `[defaults]` table
//! holding any model key plus `seeds`, `[defaults.publisher]` and
//! `[defaults.peers]`, and `[[run]]` tables, each with a `name` and any key
//! overriding the defaults. [`parse`] merges the defaults into every run and
//! validates the result, so consumers only ever see complete [`RunSpec`]s.
//! The presets (`client/presets/*.toml`) are embedded in the binary and read
//! by the same parser ([`preset`]). `docs/lab.md` documents every key.
//!
//! Results of running an experiment are described in [`report`].

mod file;
pub mod multitrack;
pub mod networks;
mod presets;
pub mod report;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use riffle_policies::catalog::{ChokerKind, PickerKind, SeedChokerKind};
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use presets::{PRESETS, SIM_PRESETS};

/// One experiment: several runs compared with each other.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Experiment {
    /// Short name; names the output directory (`lab-out/<name>/`).
    pub name: String,
    /// What the experiment shows, for the report.
    pub description: String,
    /// The runs, with the defaults already merged in.
    pub runs: Vec<RunSpec>,
}

/// One run: a model and its policies, replicated once per seed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunSpec {
    /// Unique within the experiment; labels the run in tables and plots.
    pub name: String,
    /// The swarm model's parameters.
    pub model: Model,
    /// What the publisher (the initial seed) runs.
    pub publisher: PublisherPolicies,
    /// What every arriving peer runs.
    pub peers: PeerPolicies,
    /// Random seeds; each (run, seed) pair is one replicate.
    pub seeds: Vec<u64>,
    /// Measure the publisher's content propagation metric (paper 004) at
    /// these tau (model time units); empty: not measured.
    pub cpm_tau: Vec<f64>,
    /// Several closed swarms of these sizes fed by one publisher (a host)
    /// whose `publisher_rate` is split between them by `allocation`;
    /// empty: one swarm as `model.arrivals` says. Simulator only for now.
    pub swarms: Vec<u32>,
    /// When each of `swarms` joins and leaves (model time units); empty:
    /// all from the start to the end.
    pub swarm_times: Vec<(f64, f64)>,
    /// Open swarms instead: each of `swarms` gets peers at this rate (per
    /// time unit), its entry in `swarms` then its cap; empty: closed.
    pub swarm_arrivals: Vec<f64>,
    /// How the host's upload is split between `swarms`.
    pub allocation: riffle_policies::exchange::SwarmAllocation,
    /// Cross-swarm credit (the cross-credit preset): this fraction of a
    /// closed swarm's peers also seed a second torrent to the others; 0:
    /// none. Such a run is one flash crowd of `population` peers.
    pub contributors: f64,
    /// Each contributor's upload in the second torrent, blocks per unit.
    pub contributor_rate: f64,
    /// Every peer's session runs with cross-swarm credit.
    pub cross_swarm_credit: bool,
    /// Locality (the locality preset): the hosts live in this many
    /// networks (PIDs, loopback /24s), the publisher in the first; 0: one
    /// network as everywhere else. Such a run is one flash crowd.
    pub pids: u32,
    /// How peers find and prefer each other across the networks.
    pub peering: Peering,
    /// Cap of each link between two networks, blocks per unit, shared by
    /// every connection across it both ways (None: no cap).
    pub link_rate: Option<f64>,
    /// Trackers forwarding arrivals between their swarms (paper 000's
    /// MultiTrack; simulator only); None: one swarm as usual.
    pub multitrack: Option<multitrack::MultiTrackSpec>,
}

/// How the hosts of a locality run pick each other (papers 000 and 001).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Peering {
    /// Tracker lists and dials at random (BitTorrent as it is).
    #[default]
    Random,
    /// P4P's shape: 70% of each tracker list, dial, turnover and
    /// optimistic unchoke from the own network, 30% from the others.
    P4p,
    /// Own network only; others only where too few near peers exist.
    LocalOnly,
}

impl Peering {
    /// The near share of lists and draws (None: no preference).
    pub fn local_share(self) -> Option<f64> {
        match self {
            Peering::Random => None,
            Peering::P4p => Some(riffle_policies::locality::DEFAULT_LOCAL_SHARE),
            Peering::LocalOnly => Some(1.0),
        }
    }
}

/// Policies of the publisher, the seed that holds the file from the start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PublisherPolicies {
    /// Whom the publisher serves (MDP, RP, round-robin, ...).
    pub seed_choker: SeedChokerKind,
    /// Which block the publisher serves (RFB, RUB). In BitTorrent the
    /// downloader chooses blocks, so the publisher suggests it (BEP 6
    /// SUGGEST PIECE, `PickerKind::suggest` over what its peers hold) to
    /// each peer it starts serving, and the peer requests it first.
    pub picker: PickerKind,
}

/// Policies of the arriving peers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PeerPolicies {
    /// Whom a peer serves while it downloads (RP, RUP, tit-for-tat).
    pub choker: ChokerKind,
    /// Which block a peer requests from other leechers (RUB, RFB).
    pub picker: PickerKind,
}

/// How peers arrive.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arrivals {
    /// Open system: Poisson arrivals at `rate` peers per time unit (lambda).
    Open {
        /// Arrivals per model time unit.
        rate: f64,
    },
    /// Closed system: `population` peers; each departure is replaced at once
    /// by an empty newcomer.
    Closed {
        /// Number of peers kept in the swarm.
        population: u32,
    },
}

/// The swarm model of paper 002 (see the reference model's README). Time is
/// in model units; rates are in blocks (= pieces) per time unit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Model {
    /// K: pieces in the file, one block each.
    pub pieces: u32,
    /// U: publisher upload rate (normally 1.0, which defines the time unit).
    pub publisher_rate: f64,
    /// mu: a peer's upload rate.
    pub peer_rate: f64,
    /// mu': a peer's upload rate while one piece short (one-club
    /// throttling); None means no throttling.
    pub one_club_rate: Option<f64>,
    /// Open (lambda) or closed (fixed population) arrivals.
    pub arrivals: Arrivals,
    /// Population cap (admission control): an arrival finding this many
    /// peers is lost. None: no cap.
    pub cap: Option<u32>,
    /// Mean of the exponential time a completed peer keeps seeding; 0 means
    /// it leaves at once, as in the paper.
    pub linger: f64,
    /// The tracker hides newcomers from other leechers for this long (or
    /// until they report progress); None: no shielding.
    pub shield_newcomers: Option<f64>,
    /// Length of a replicate, in time units.
    pub duration: f64,
    /// Time excluded from the statistics at the start (the swarm fills up).
    pub warmup: f64,
    /// Per-peer connection cap.
    pub connections: u32,
    /// Lab only: wall-clock milliseconds per model time unit.
    pub time_unit_ms: f64,
    /// Lab only: when uploaders take their turns (the simulator's are
    /// always Poisson, as in the model).
    pub turns: Turns,
}

/// When a lab peer (and the publisher) takes its next upload turn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Turns {
    /// At exponential intervals, a Poisson process at the upload rate: the
    /// model's upload opportunities.
    #[default]
    Poisson,
    /// One block time apart, as the bucket refills.
    Fixed,
}

impl Model {
    /// The arrival rate lambda, for open systems.
    pub fn arrival_rate(&self) -> Option<f64> {
        match self.arrivals {
            Arrivals::Open { rate } => Some(rate),
            Arrivals::Closed { .. } => None,
        }
    }

    /// Length of the statistics window (`duration - warmup`).
    pub fn measured_time(&self) -> f64 {
        self.duration - self.warmup
    }

    /// The paper's saturation arrival rate for a most-deprived publisher
    /// with rarest-first and random-peer leechers:
    /// `U * (2 + (K - 2) * mu / mu')`, or `K * U` without throttling.
    pub fn saturation_rate(&self) -> f64 {
        let k = f64::from(self.pieces);
        match self.one_club_rate {
            Some(reduced) => self.publisher_rate * (2.0 + (k - 2.0) * self.peer_rate / reduced),
            None => k * self.publisher_rate,
        }
    }
}

impl RunSpec {
    /// Role -> "choker+picker", as results and reports name the policies.
    pub fn policies(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert(
            "publisher".to_string(),
            format!("{}+{}", self.publisher.seed_choker, self.publisher.picker),
        );
        m.insert(
            "peers".to_string(),
            format!("{}+{}", self.peers.choker, self.peers.picker),
        );
        m
    }
}

/// Why an experiment could not be read.
#[derive(Debug, Error)]
pub enum ExperimentError {
    /// The file could not be read.
    #[error("cannot read experiment file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Not TOML, or a key of the wrong type, or an unknown key (the message
    /// names the key and the line).
    #[error("{}{message}", origin_prefix(.origin))]
    Syntax {
        /// Where the text came from (file path or preset name), if known.
        origin: Option<String>,
        /// The TOML parser's message.
        message: String,
    },
    /// A key's value is out of range or a required key is missing.
    #[error("{}{place}: {message}", origin_prefix(.origin))]
    Invalid {
        /// Where the text came from (file path or preset name), if known.
        origin: Option<String>,
        /// Which key, in which table (`run "cap-20": cap`).
        place: Place,
        /// What is wrong with it.
        message: String,
    },
    /// `preset(name)` with a name that is not a preset.
    #[error(
        "no preset named {name:?}; the presets are: {} (and, for riffle sim only: {})",
        PRESETS.join(", "),
        SIM_PRESETS.join(", ")
    )]
    UnknownPreset {
        /// The name asked for.
        name: String,
    },
}

fn origin_prefix(origin: &Option<String>) -> String {
    origin.as_ref().map_or(String::new(), |o| format!("{o}: "))
}

/// The key an [`ExperimentError::Invalid`] is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// The `[[run]]` it is in (None: top level or `[defaults]`).
    pub run: Option<String>,
    /// The key, e.g. `cap` or `publisher.seed_choker`.
    pub key: String,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.run {
            Some(run) => write!(f, "run {run:?}: key `{}`", self.key),
            None => write!(f, "key `{}`", self.key),
        }
    }
}

impl ExperimentError {
    fn with_origin(self, o: &str) -> Self {
        match self {
            ExperimentError::Syntax { message, .. } => ExperimentError::Syntax {
                origin: Some(o.to_string()),
                message,
            },
            ExperimentError::Invalid { place, message, .. } => ExperimentError::Invalid {
                origin: Some(o.to_string()),
                place,
                message,
            },
            other => other,
        }
    }
}

/// Parse and validate an experiment from TOML text.
pub fn parse(text: &str) -> Result<Experiment, ExperimentError> {
    file::parse(text)
}

/// Read and parse an experiment file.
pub fn load(path: &Path) -> Result<Experiment, ExperimentError> {
    let text = std::fs::read_to_string(path).map_err(|source| ExperimentError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|e| e.with_origin(&path.display().to_string()))
}

/// One of the embedded presets ([`PRESETS`], or [`SIM_PRESETS`] for the
/// simulator), parsed like a user file.
pub fn preset(name: &str) -> Result<Experiment, ExperimentError> {
    let text = presets::text(name).ok_or_else(|| ExperimentError::UnknownPreset {
        name: name.to_string(),
    })?;
    parse(text).map_err(|e| e.with_origin(&format!("preset {name}")))
}

/// Preset `name` as the lab runs it (for most presets the same text as
/// [`preset`]; `multitrack` has the lab's own numbers).
pub fn lab_preset(name: &str) -> Result<Experiment, ExperimentError> {
    let text = presets::lab_text(name).ok_or_else(|| ExperimentError::UnknownPreset {
        name: name.to_string(),
    })?;
    parse(text).map_err(|e| e.with_origin(&format!("preset {name} (lab)")))
}

impl Experiment {
    /// Replace every run's seeds with `1..=n` (the `--seeds N` flag).
    pub fn set_seed_count(&mut self, n: u64) {
        for run in &mut self.runs {
            run.seeds = (1..=n).collect();
        }
    }
}
