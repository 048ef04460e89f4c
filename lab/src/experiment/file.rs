//! The TOML shape of an experiment file, merging `[defaults]` into each
//! `[[run]]`, and validation of the merged values.

use std::collections::HashSet;
use std::fmt;

use riffle_policies::catalog::{ChokerKind, PickerKind, SeedChokerKind};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::multitrack::{self, RawMultiTrack};
use super::{
    Arrivals, Experiment, ExperimentError, Model, PeerPolicies, Place, PublisherPolicies, RunSpec,
    Turns,
};

/// Built-in defaults for keys neither `[defaults]` nor the run sets.
const DEFAULT_PUBLISHER_RATE: f64 = 1.0;
const DEFAULT_LINGER: f64 = 0.0;
const DEFAULT_WARMUP: f64 = 0.0;
const DEFAULT_CONNECTIONS: u32 = 60;
const DEFAULT_TIME_UNIT_MS: f64 = 100.0;
const DEFAULT_SEEDS: [u64; 3] = [1, 2, 3];

/// The whole file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    defaults: RawSettings,
    #[serde(default)]
    run: Vec<RawSettings>,
}

/// Keys of `[defaults]` and of each `[[run]]` (which also has `name`); a
/// missing key is None and falls back to the next level.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    name: Option<String>,
    pieces: Option<u32>,
    publisher_rate: Option<f64>,
    peer_rate: Option<f64>,
    one_club_rate: Option<Maybe<f64>>,
    arrivals: Option<RawArrivals>,
    cap: Option<Maybe<u32>>,
    linger: Option<f64>,
    shield_newcomers: Option<Maybe<f64>>,
    duration: Option<f64>,
    warmup: Option<f64>,
    connections: Option<u32>,
    time_unit_ms: Option<f64>,
    turns: Option<Turns>,
    seeds: Option<Vec<u64>>,
    cpm_tau: Option<Vec<f64>>,
    swarms: Option<Vec<u32>>,
    swarm_times: Option<Vec<(f64, f64)>>,
    swarm_arrivals: Option<Vec<f64>>,
    allocation: Option<riffle_policies::exchange::SwarmAllocation>,
    contributors: Option<f64>,
    contributor_rate: Option<f64>,
    cross_swarm_credit: Option<bool>,
    pids: Option<u32>,
    peering: Option<super::Peering>,
    link_rate: Option<Maybe<f64>>,
    multitrack: Option<RawMultiTrack>,
    publisher: Option<RawPublisher>,
    peers: Option<RawPeers>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPublisher {
    seed_choker: Option<SeedChokerKind>,
    picker: Option<PickerKind>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeers {
    choker: Option<ChokerKind>,
    picker: Option<PickerKind>,
}

/// `arrivals = { rate = 2.0 }` (open) or `arrivals = { population = 40 }`
/// (closed).
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArrivals {
    rate: Option<f64>,
    population: Option<u32>,
}

/// An optional setting that a run can also switch off explicitly with the
/// string `"none"` (so a run can drop a cap or throttling set in
/// `[defaults]`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Maybe<T> {
    Set(T),
    Off,
}

impl<T> Maybe<T> {
    fn into_option(self) -> Option<T> {
        match self {
            Maybe::Set(v) => Some(v),
            Maybe::Off => None,
        }
    }
}

/// Numbers a [`Maybe`] can hold, converted from TOML integers and floats.
trait MaybeNumber: Sized {
    const EXPECTING: &'static str;
    fn from_i64(v: i64) -> Option<Self>;
    fn from_f64(v: f64) -> Option<Self>;
}

impl MaybeNumber for f64 {
    const EXPECTING: &'static str = "a number or \"none\"";
    fn from_i64(v: i64) -> Option<Self> {
        // Integers in experiment files are small; the conversion is exact.
        Some(v as f64)
    }
    fn from_f64(v: f64) -> Option<Self> {
        Some(v)
    }
}

impl MaybeNumber for u32 {
    const EXPECTING: &'static str = "a non-negative integer or \"none\"";
    fn from_i64(v: i64) -> Option<Self> {
        u32::try_from(v).ok()
    }
    fn from_f64(_: f64) -> Option<Self> {
        None
    }
}

struct MaybeVisitor<T>(std::marker::PhantomData<T>);

impl<T: MaybeNumber> Visitor<'_> for MaybeVisitor<T> {
    type Value = Maybe<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        T::from_i64(v)
            .map(Maybe::Set)
            .ok_or_else(|| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        let signed =
            i64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))?;
        self.visit_i64(signed)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        T::from_f64(v)
            .map(Maybe::Set)
            .ok_or_else(|| E::invalid_value(de::Unexpected::Float(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if v == "none" {
            Ok(Maybe::Off)
        } else {
            Err(E::invalid_value(de::Unexpected::Str(v), &self))
        }
    }
}

impl<'de, T: MaybeNumber> Deserialize<'de> for Maybe<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MaybeVisitor(std::marker::PhantomData))
    }
}

/// Parse, merge and validate.
pub(super) fn parse(text: &str) -> Result<Experiment, ExperimentError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| ExperimentError::Syntax {
        origin: None,
        message: e.to_string().trim_end().to_string(),
    })?;
    let top = |key: &str, message: String| ExperimentError::Invalid {
        origin: None,
        place: Place {
            run: None,
            key: key.to_string(),
        },
        message,
    };
    if raw.name.trim().is_empty() {
        return Err(top("name", "must not be empty".into()));
    }
    if raw.defaults.name.is_some() {
        return Err(top(
            "defaults.name",
            "a name belongs in each [[run]], not in [defaults]".into(),
        ));
    }
    if raw.run.is_empty() {
        return Err(top("run", "the file has no [[run]] table".into()));
    }
    let mut seen = HashSet::new();
    let mut runs = Vec::with_capacity(raw.run.len());
    for (i, r) in raw.run.iter().enumerate() {
        let name = match &r.name {
            Some(n) if !n.trim().is_empty() => n.clone(),
            _ => {
                return Err(top(
                    "run.name",
                    format!("run number {} has no (or an empty) name", i + 1),
                ))
            }
        };
        if !seen.insert(name.clone()) {
            return Err(top(
                "run.name",
                format!("two runs are named {name:?}; run names must be unique"),
            ));
        }
        runs.push(merge(&name, &raw.defaults, r)?);
    }
    Ok(Experiment {
        name: raw.name,
        description: raw.description,
        runs,
    })
}

/// Run value, else default value.
fn pick<T: Clone>(run: &Option<T>, defaults: &Option<T>) -> Option<T> {
    run.clone().or_else(|| defaults.clone())
}

fn merge(name: &str, d: &RawSettings, r: &RawSettings) -> Result<RunSpec, ExperimentError> {
    let err = |key: &str, message: String| ExperimentError::Invalid {
        origin: None,
        place: Place {
            run: Some(name.to_string()),
            key: key.to_string(),
        },
        message,
    };
    let missing = |key: &str| {
        err(
            key,
            "missing: set it in [defaults] or in this [[run]]".into(),
        )
    };
    let positive = |key: &str, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err(err(key, format!("must be a positive number (got {v})")))
        }
    };
    let non_negative = |key: &str, v: f64| {
        if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            Err(err(
                key,
                format!("must be zero or a positive number (got {v})"),
            ))
        }
    };

    let pieces = pick(&r.pieces, &d.pieces).ok_or_else(|| missing("pieces"))?;
    if pieces < 2 {
        return Err(err(
            "pieces",
            format!("must be at least 2 (got {pieces}): the model needs a missing piece"),
        ));
    }
    let publisher_rate = positive(
        "publisher_rate",
        pick(&r.publisher_rate, &d.publisher_rate).unwrap_or(DEFAULT_PUBLISHER_RATE),
    )?;
    let peer_rate = positive(
        "peer_rate",
        pick(&r.peer_rate, &d.peer_rate).ok_or_else(|| missing("peer_rate"))?,
    )?;
    let one_club_rate = match pick(&r.one_club_rate, &d.one_club_rate).and_then(Maybe::into_option)
    {
        Some(v) => Some(positive("one_club_rate", v)?),
        None => None,
    };
    let allocation = pick(&r.allocation, &d.allocation).unwrap_or_default();
    let (swarms, swarm_times, swarm_arrivals) = swarm_keys(d, r, &err)?;
    let multitrack = multitrack::merge(d.multitrack.as_ref(), r.multitrack.as_ref(), &err)?;
    if multitrack.is_some() && !swarms.is_empty() {
        return Err(err(
            "multitrack",
            "a multitrack run has its own swarms (no `swarms`)".into(),
        ));
    }
    let arrivals = arrivals_key(d, r, &swarms, multitrack.as_ref(), &err)?;
    let (contributors, contributor_rate) = cross_keys(d, r, arrivals, &swarms, peer_rate, &err)?;
    let (pids, link_rate) = locality_keys(d, r, arrivals, &swarms, contributors, &err)?;
    let cap = pick(&r.cap, &d.cap).and_then(Maybe::into_option);
    if cap == Some(0) {
        return Err(err("cap", "must be at least 1 (or \"none\")".into()));
    }
    let linger = non_negative(
        "linger",
        pick(&r.linger, &d.linger).unwrap_or(DEFAULT_LINGER),
    )?;
    let shield_newcomers =
        match pick(&r.shield_newcomers, &d.shield_newcomers).and_then(Maybe::into_option) {
            Some(v) => Some(positive("shield_newcomers", v)?),
            None => None,
        };
    let duration = positive(
        "duration",
        pick(&r.duration, &d.duration).ok_or_else(|| missing("duration"))?,
    )?;
    let warmup = non_negative(
        "warmup",
        pick(&r.warmup, &d.warmup).unwrap_or(DEFAULT_WARMUP),
    )?;
    if warmup >= duration {
        return Err(err(
            "warmup",
            format!("must be shorter than the duration ({warmup} >= {duration})"),
        ));
    }
    let connections = pick(&r.connections, &d.connections).unwrap_or(DEFAULT_CONNECTIONS);
    if connections == 0 {
        return Err(err("connections", "must be at least 1".into()));
    }
    let time_unit_ms = positive(
        "time_unit_ms",
        pick(&r.time_unit_ms, &d.time_unit_ms).unwrap_or(DEFAULT_TIME_UNIT_MS),
    )?;
    let seeds = pick(&r.seeds, &d.seeds).unwrap_or_else(|| DEFAULT_SEEDS.to_vec());
    if seeds.is_empty() {
        return Err(err("seeds", "must list at least one seed".into()));
    }
    let mut distinct = HashSet::new();
    if let Some(dup) = seeds.iter().find(|s| !distinct.insert(**s)) {
        return Err(err("seeds", format!("seed {dup} is listed twice")));
    }

    let cpm_tau = pick(&r.cpm_tau, &d.cpm_tau).unwrap_or_default();
    if let Some(bad) = cpm_tau.iter().find(|t| !(t.is_finite() && **t > 0.0)) {
        return Err(err("cpm_tau", format!("{bad} is not a positive time")));
    }

    let dp = d.publisher.unwrap_or_default();
    let rp = r.publisher.unwrap_or_default();
    let publisher = PublisherPolicies {
        seed_choker: rp.seed_choker.or(dp.seed_choker).unwrap_or_default(),
        picker: rp.picker.or(dp.picker).unwrap_or_default(),
    };
    let dq = d.peers.unwrap_or_default();
    let rq = r.peers.unwrap_or_default();
    let peers = PeerPolicies {
        choker: rq.choker.or(dq.choker).unwrap_or_default(),
        picker: rq.picker.or(dq.picker).unwrap_or_default(),
    };

    Ok(RunSpec {
        name: name.to_string(),
        model: Model {
            pieces,
            publisher_rate,
            peer_rate,
            one_club_rate,
            arrivals,
            cap,
            linger,
            shield_newcomers,
            duration,
            warmup,
            connections,
            time_unit_ms,
            turns: pick(&r.turns, &d.turns).unwrap_or_default(),
        },
        publisher,
        peers,
        seeds,
        cpm_tau,
        swarms,
        swarm_times,
        swarm_arrivals,
        allocation,
        contributors,
        contributor_rate,
        cross_swarm_credit: pick(&r.cross_swarm_credit, &d.cross_swarm_credit).unwrap_or(false),
        pids,
        peering: pick(&r.peering, &d.peering).unwrap_or_default(),
        link_rate,
        multitrack,
    })
}

/// The locality keys: the number of networks (a closed swarm of one, with
/// at most 250 hosts per network: one loopback /24 each) and the cap of
/// each link between two of them.
fn locality_keys(
    d: &RawSettings,
    r: &RawSettings,
    arrivals: Arrivals,
    swarms: &[u32],
    contributors: f64,
    err: &dyn Fn(&str, String) -> ExperimentError,
) -> Result<(u32, Option<f64>), ExperimentError> {
    let pids = pick(&r.pids, &d.pids).unwrap_or(0);
    let link_rate = pick(&r.link_rate, &d.link_rate).and_then(Maybe::into_option);
    if let Some(v) = link_rate.filter(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(err(
            "link_rate",
            format!("must be a positive number (got {v})"),
        ));
    }
    if pids == 0 {
        return Ok((0, link_rate));
    }
    let Arrivals::Closed { population } = arrivals else {
        return Err(err(
            "pids",
            "needs one closed swarm (arrivals.population)".into(),
        ));
    };
    if !swarms.is_empty() || contributors > 0.0 {
        return Err(err(
            "pids",
            "cannot be combined with swarms or contributors".into(),
        ));
    }
    if pids > 200 || population.div_ceil(pids) > 250 {
        return Err(err(
            "pids",
            format!("{pids} networks of {population} hosts: at most 200 networks of 250 hosts"),
        ));
    }
    Ok((pids, link_rate))
}

/// The run's arrivals: a MultiTrack run's total rate, the first of
/// several swarms' sizes, or the `arrivals` key (exactly one of `rate` or
/// `population`).
fn arrivals_key(
    d: &RawSettings,
    r: &RawSettings,
    swarms: &[u32],
    multitrack: Option<&super::multitrack::MultiTrackSpec>,
    err: &dyn Fn(&str, String) -> ExperimentError,
) -> Result<Arrivals, ExperimentError> {
    let raw_arrivals = match (pick(&r.arrivals, &d.arrivals), swarms.first()) {
        // MultiTrack: each tracker's arrivals (the model's rate is their sum).
        _ if multitrack.is_some() => RawArrivals {
            rate: multitrack.map(|m| m.total_arrivals()),
            population: None,
        },
        // Several swarms: closed ones of the sizes listed (the first here;
        // the simulator gives each its own).
        (_, Some(first)) => RawArrivals {
            rate: None,
            population: Some(*first),
        },
        (Some(a), None) => a,
        (None, None) => {
            return Err(err(
                "arrivals",
                "missing: set it in [defaults] or in this [[run]]".into(),
            ))
        }
    };
    match (raw_arrivals.rate, raw_arrivals.population) {
        (Some(rate), None) if rate.is_finite() && rate > 0.0 => Ok(Arrivals::Open { rate }),
        (Some(rate), None) => Err(err(
            "arrivals.rate",
            format!("must be a positive number (got {rate})"),
        )),
        (None, Some(population)) if population >= 1 => Ok(Arrivals::Closed { population }),
        (None, Some(_)) => Err(err("arrivals.population", "must be at least 1".into())),
        _ => Err(err(
            "arrivals",
            "give exactly one of `rate` (open system) or `population` (closed system)".into(),
        )),
    }
}

/// The several-swarm keys: each swarm's size (none empty), when it joins
/// and leaves, and its arrival rate (as many entries as swarms).
#[allow(clippy::type_complexity)]
fn swarm_keys(
    d: &RawSettings,
    r: &RawSettings,
    err: &dyn Fn(&str, String) -> ExperimentError,
) -> Result<(Vec<u32>, Vec<(f64, f64)>, Vec<f64>), ExperimentError> {
    let swarms = pick(&r.swarms, &d.swarms).unwrap_or_default();
    if swarms.contains(&0) {
        return Err(err("swarms", "every swarm needs at least one peer".into()));
    }
    let swarm_times = pick(&r.swarm_times, &d.swarm_times).unwrap_or_default();
    let swarm_arrivals = pick(&r.swarm_arrivals, &d.swarm_arrivals).unwrap_or_default();
    if !swarm_arrivals.is_empty() && swarm_arrivals.len() != swarms.len() {
        return Err(err(
            "swarm_arrivals",
            format!(
                "{} entries for {} swarms",
                swarm_arrivals.len(),
                swarms.len()
            ),
        ));
    }
    if let Some(bad) = swarm_arrivals
        .iter()
        .find(|a| !(a.is_finite() && **a > 0.0))
    {
        return Err(err(
            "swarm_arrivals",
            format!("{bad} is not a positive rate"),
        ));
    }
    if !swarm_times.is_empty() && swarm_times.len() != swarms.len() {
        return Err(err(
            "swarm_times",
            format!("{} entries for {} swarms", swarm_times.len(), swarms.len()),
        ));
    }
    if let Some((a, b)) = swarm_times
        .iter()
        .find(|(a, b)| !(a.is_finite() && b.is_finite() && *a >= 0.0 && a < b))
    {
        return Err(err(
            "swarm_times",
            format!("[{a}, {b}] is not a join time before a leave time"),
        ));
    }
    Ok((swarms, swarm_times, swarm_arrivals))
}

/// The cross-credit keys: the contributors' fraction (0..1, a closed
/// swarm of one only) and their rate in the second torrent (default: the
/// peers' rate).
fn cross_keys(
    d: &RawSettings,
    r: &RawSettings,
    arrivals: Arrivals,
    swarms: &[u32],
    peer_rate: f64,
    err: &dyn Fn(&str, String) -> ExperimentError,
) -> Result<(f64, f64), ExperimentError> {
    let contributors = pick(&r.contributors, &d.contributors).unwrap_or(0.0);
    if !(0.0..1.0).contains(&contributors) {
        return Err(err(
            "contributors",
            format!("{contributors} is not a fraction of the peers below 1"),
        ));
    }
    let rate = match pick(&r.contributor_rate, &d.contributor_rate) {
        Some(v) if v.is_finite() && v > 0.0 => v,
        Some(v) => {
            return Err(err(
                "contributor_rate",
                format!("must be a positive number (got {v})"),
            ))
        }
        None => peer_rate,
    };
    if contributors > 0.0 && (!swarms.is_empty() || !matches!(arrivals, Arrivals::Closed { .. })) {
        return Err(err(
            "contributors",
            "needs one closed swarm (arrivals.population, no swarms)".into(),
        ));
    }
    Ok((contributors, rate))
}
