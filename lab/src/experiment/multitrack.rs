//! The `multitrack` table of an experiment file (simulator only): several
//! trackers, one swarm each, that forward arrivals to each other's swarms
//! as paper 000 (MultiTrack) has them. The run's `pieces` is the file
//! size F in blocks, `peer_rate` a peer's upload mu, `publisher_rate` one
//! seed's upload, `duration` the run and `warmup` the time the trackers
//! measure before their first update (users arriving in it are not
//! counted).

use riffle_policies::locality::multitrack::{Congestion, Forwarding, DEFAULT_FLOOR, DEFAULT_STEP};
use serde::{Deserialize, Serialize};

use super::ExperimentError;

/// Length of a slot between two updates when the file names none (the
/// paper's ns-2 runs: 8 s).
const DEFAULT_UPDATE: f64 = 8.0;

/// The trackers of a MultiTrack run and how they forward.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MultiTrackSpec {
    /// Seeds in each tracker's swarm (tracker 1 first).
    pub seeders: Vec<u32>,
    /// Poisson arrivals per time unit at each tracker.
    pub arrivals: Vec<f64>,
    /// Who may forward to whom, at what transit price (time units).
    pub transit: Vec<Transit>,
    /// Time units between two measurements and updates of the split.
    pub update: f64,
    /// A leecher's download rate is at most this (blocks per unit); None:
    /// no cap.
    pub download_cap: Option<f64>,
    /// kappa: each seed's upload can be passed on by the leechers about
    /// this many times (their useful upload is `mu n K / (mu n + K)`,
    /// `K = kappa * seeds' upload`); 0: all of the leechers' upload is
    /// useful.
    pub sharing: f64,
    /// What the trackers' payoffs count.
    pub forwarding: Forwarding,
    /// How the congestion price is measured.
    pub congestion: Congestion,
    /// The replicator step.
    pub step: f64,
    /// The share every allowed option keeps.
    pub floor: f64,
    /// Weight of the new payoffs in the averaged payoffs a tracker acts
    /// on (1: the last payoffs alone).
    pub smoothing: f64,
}

/// Tracker `from` may forward to tracker `to`'s swarm, paying `price` per
/// forwarded arrival (0-based; the file counts trackers from 1).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Transit {
    /// The forwarding tracker.
    pub from: usize,
    /// The swarm forwarded to.
    pub to: usize,
    /// Transit price, in time units.
    pub price: f64,
}

impl MultiTrackSpec {
    /// How many trackers.
    pub fn trackers(&self) -> usize {
        self.seeders.len()
    }

    /// The transit price from `from` to `to`: 0 to its own swarm, None
    /// where forwarding is not allowed.
    pub fn price(&self, from: usize, to: usize) -> Option<f64> {
        if from == to {
            return Some(0.0);
        }
        self.transit
            .iter()
            .find(|t| t.from == from && t.to == to)
            .map(|t| t.price)
    }

    /// Total arrivals per time unit.
    pub fn total_arrivals(&self) -> f64 {
        self.arrivals.iter().sum()
    }
}

/// The table as written; every key may come from `[defaults]` or the run.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMultiTrack {
    seeders: Option<Vec<u32>>,
    arrivals: Option<Vec<f64>>,
    transit: Option<Vec<RawTransit>>,
    update: Option<f64>,
    download_cap: Option<f64>,
    sharing: Option<f64>,
    forwarding: Option<Forwarding>,
    congestion: Option<Congestion>,
    step: Option<f64>,
    floor: Option<f64>,
    smoothing: Option<f64>,
}

/// `{ from = 2, to = 1, price = 20.0 }`, trackers counted from 1.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTransit {
    from: usize,
    to: usize,
    price: f64,
}

/// Merge the run's table over the defaults' and check it; None when
/// neither has one.
pub(super) fn merge(
    d: Option<&RawMultiTrack>,
    r: Option<&RawMultiTrack>,
    err: &dyn Fn(&str, String) -> ExperimentError,
) -> Result<Option<MultiTrackSpec>, ExperimentError> {
    if d.is_none() && r.is_none() {
        return Ok(None);
    }
    let d = d.cloned().unwrap_or_default();
    let r = r.cloned().unwrap_or_default();
    let missing = |key: &str| {
        err(
            &format!("multitrack.{key}"),
            "missing: set it in [defaults.multitrack] or in this run's multitrack table".into(),
        )
    };
    let (seeders, arrivals) = trackers(
        r.seeders.or(d.seeders).ok_or_else(|| missing("seeders"))?,
        r.arrivals
            .or(d.arrivals)
            .ok_or_else(|| missing("arrivals"))?,
        err,
    )?;
    let q = seeders.len();
    let transit = transits(r.transit.or(d.transit).unwrap_or_default(), q, err)?;
    let positive = |key: &str, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err(err(
                &format!("multitrack.{key}"),
                format!("must be a positive number (got {v})"),
            ))
        }
    };
    let update = positive("update", r.update.or(d.update).unwrap_or(DEFAULT_UPDATE))?;
    let download_cap = match r.download_cap.or(d.download_cap) {
        Some(c) => Some(positive("download_cap", c)?),
        None => None,
    };
    let sharing = r.sharing.or(d.sharing).unwrap_or(0.0);
    if !(sharing.is_finite() && sharing >= 0.0) {
        return Err(err(
            "multitrack.sharing",
            format!("must be zero or a positive number (got {sharing})"),
        ));
    }
    let step = r.step.or(d.step).unwrap_or(DEFAULT_STEP);
    if !(step > 0.0 && step <= 1.0) {
        return Err(err(
            "multitrack.step",
            format!("must be within (0, 1] (got {step})"),
        ));
    }
    let floor = r.floor.or(d.floor).unwrap_or(DEFAULT_FLOOR);
    if !(0.0..0.5).contains(&floor) {
        return Err(err(
            "multitrack.floor",
            format!("must be within [0, 0.5) (got {floor})"),
        ));
    }
    let smoothing = r.smoothing.or(d.smoothing).unwrap_or(1.0);
    if !(smoothing > 0.0 && smoothing <= 1.0) {
        return Err(err(
            "multitrack.smoothing",
            format!("must be within (0, 1] (got {smoothing})"),
        ));
    }
    Ok(Some(MultiTrackSpec {
        seeders,
        arrivals,
        transit,
        update,
        download_cap,
        sharing,
        forwarding: r.forwarding.or(d.forwarding).unwrap_or_default(),
        congestion: r.congestion.or(d.congestion).unwrap_or_default(),
        step,
        floor,
        smoothing,
    }))
}

/// Each tracker's seeds and arrival rate, checked: at least two
/// trackers, each with a seed and a positive rate.
fn trackers(
    seeders: Vec<u32>,
    arrivals: Vec<f64>,
    err: &dyn Fn(&str, String) -> ExperimentError,
) -> Result<(Vec<u32>, Vec<f64>), ExperimentError> {
    let q = seeders.len();
    if q < 2 {
        return Err(err(
            "multitrack.seeders",
            format!("needs at least two trackers (got {q})"),
        ));
    }
    if seeders.contains(&0) {
        return Err(err(
            "multitrack.seeders",
            "every swarm needs at least one seed".into(),
        ));
    }
    if arrivals.len() != q {
        return Err(err(
            "multitrack.arrivals",
            format!("{} entries for {q} trackers", arrivals.len()),
        ));
    }
    if let Some(bad) = arrivals.iter().find(|a| !(a.is_finite() && **a > 0.0)) {
        return Err(err(
            "multitrack.arrivals",
            format!("{bad} is not a positive rate"),
        ));
    }
    Ok((seeders, arrivals))
}

/// The transit entries, 0-based, checked: trackers that exist, no
/// forwarding to oneself, a price >= 0, each pair once.
fn transits(
    raw: Vec<RawTransit>,
    q: usize,
    err: &dyn Fn(&str, String) -> ExperimentError,
) -> Result<Vec<Transit>, ExperimentError> {
    let mut out: Vec<Transit> = Vec::with_capacity(raw.len());
    for t in raw {
        let place = "multitrack.transit";
        if !(1..=q).contains(&t.from) || !(1..=q).contains(&t.to) {
            return Err(err(
                place,
                format!("{} -> {}: trackers are 1..={q}", t.from, t.to),
            ));
        }
        if t.from == t.to {
            return Err(err(
                place,
                format!(
                    "{} -> {}: a tracker's own swarm is always an option",
                    t.from, t.to
                ),
            ));
        }
        if !(t.price.is_finite() && t.price >= 0.0) {
            return Err(err(
                place,
                format!("{} -> {}: price {} is not >= 0", t.from, t.to, t.price),
            ));
        }
        let (from, to) = (t.from - 1, t.to - 1);
        if out.iter().any(|o| o.from == from && o.to == to) {
            return Err(err(
                place,
                format!("{} -> {} is listed twice", t.from, t.to),
            ));
        }
        out.push(Transit {
            from,
            to,
            price: t.price,
        });
    }
    Ok(out)
}
