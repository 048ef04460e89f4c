//! What a MultiTrack run (paper 000, simulator only) reports: the users'
//! cost, how much each tracker forwarded, when its options' payoffs
//! settled within 10% of each other, and the payoffs update by update
//! (`payoffs-RUN.csv` and `payoffs-RUN.svg`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::plot::{plot_curves, Curve, PlotError};
use super::{RunResult, RunSummary, Stat};

/// The paper's target: payoffs within 10% of each other by this update.
pub const TARGET_UPDATE: u32 = 20;

/// One MultiTrack replicate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MultiTrackFigures {
    /// What the trackers' payoffs counted (multitrack, delay-only, never).
    pub forwarding: String,
    /// Users counted: arrived after the warm-up (all finished).
    pub users: u64,
    /// Mean over the users of download time + transit price paid.
    pub cost_per_user: f64,
    /// The users' mean download time.
    pub download_time: f64,
    /// The users' mean transit price paid.
    pub transit_per_user: f64,
    /// Per tracker, the fraction of its users it forwarded.
    pub forwarded: Vec<f64>,
    /// Per tracker with more than one option, the first update from which
    /// its options' payoffs stayed within 10% of each other to the end;
    /// None for a tracker with one option or one that never settled.
    pub settled: Vec<Option<u32>>,
    /// Each update after the warm-up.
    #[serde(default, skip_serializing)]
    pub updates: Vec<TrackerUpdate>,
}

/// The trackers at one update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackerUpdate {
    /// Model time.
    pub t: f64,
    /// Per tracker, the payoff of each option as it acted on it (NaN for
    /// options it may not use).
    pub payoffs: Vec<Vec<f64>>,
    /// Per tracker, its share of arrivals to each option after the update.
    pub shares: Vec<Vec<f64>>,
}

/// A MultiTrack run over its seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MultiTrackSummary {
    /// What the payoffs counted.
    pub forwarding: String,
    /// Cost per user (download + transit).
    pub cost_per_user: Stat,
    /// Mean download time.
    pub download_time: Stat,
    /// Transit paid per user.
    pub transit_per_user: Stat,
    /// Per tracker, the fraction forwarded (mean over seeds).
    pub forwarded: Vec<f64>,
    /// Per tracker, per seed: the update its payoffs settled at.
    pub settled: Vec<Vec<Option<u32>>>,
}

/// The MultiTrack summary of a group of replicates (None if they are not
/// MultiTrack runs).
pub(super) fn summarize_group(group: &[&RunResult]) -> Option<MultiTrackSummary> {
    let figures: Vec<&MultiTrackFigures> =
        group.iter().filter_map(|r| r.multitrack.as_ref()).collect();
    let first = figures.first()?;
    let q = first.forwarded.len();
    Some(MultiTrackSummary {
        forwarding: first.forwarding.clone(),
        cost_per_user: Stat::of(figures.iter().map(|f| f.cost_per_user)),
        download_time: Stat::of(figures.iter().map(|f| f.download_time)),
        transit_per_user: Stat::of(figures.iter().map(|f| f.transit_per_user)),
        forwarded: (0..q)
            .map(|j| Stat::of(figures.iter().filter_map(|f| f.forwarded.get(j).copied())).mean)
            .collect(),
        settled: (0..q)
            .map(|j| {
                figures
                    .iter()
                    .map(|f| f.settled.get(j).copied().flatten())
                    .collect()
            })
            .collect(),
    })
}

/// Trackers that can forward (some seed reports a settling figure for
/// them, or they forwarded).
fn forwarding_trackers(s: &MultiTrackSummary) -> Vec<usize> {
    (0..s.forwarded.len())
        .filter(|&j| s.settled[j].iter().any(Option::is_some) || s.forwarded[j] > 0.0)
        .collect()
}

fn settled_cell(s: &MultiTrackSummary, trackers: &[usize]) -> String {
    trackers
        .iter()
        .map(|&j| {
            let per_seed: Vec<String> = s.settled[j]
                .iter()
                .map(|u| u.map_or("-".to_string(), |u| u.to_string()))
                .collect();
            format!("T{}: {}", j + 1, per_seed.join("/"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The table of MultiTrack runs, one line per run, and the paper's
/// targets checked below it.
pub fn table(summaries: &[RunSummary]) -> String {
    let runs: Vec<(&RunSummary, &MultiTrackSummary)> = summaries
        .iter()
        .filter_map(|s| s.multitrack.as_ref().map(|m| (s, m)))
        .collect();
    let trackers: Vec<usize> = {
        let mut all: Vec<usize> = runs
            .iter()
            .flat_map(|(_, m)| forwarding_trackers(m))
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    };
    let headers = [
        "run",
        "forwarding",
        "seeds",
        "cost/user",
        "min..max",
        "download",
        "transit",
        "forwarded",
        "payoffs within 10% from update (per seed)",
    ];
    let rows: Vec<[String; 9]> = runs
        .iter()
        .map(|(s, m)| {
            [
                s.name.clone(),
                m.forwarding.clone(),
                s.seeds.len().to_string(),
                format!("{:.2}", m.cost_per_user.mean),
                format!("{:.2}..{:.2}", m.cost_per_user.min, m.cost_per_user.max),
                format!("{:.2}", m.download_time.mean),
                format!("{:.2}", m.transit_per_user.mean),
                trackers
                    .iter()
                    .map(|&j| format!("T{} {:.2}", j + 1, m.forwarded.get(j).unwrap_or(&0.0)))
                    .collect::<Vec<_>>()
                    .join(", "),
                settled_cell(m, &trackers),
            ]
        })
        .collect();
    let mut out = aligned(&headers, &rows, &[0, 1, 7, 8]);
    for line in verdict(&runs, &trackers) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Columns padded to their widest cell; `left` columns left-aligned.
fn aligned<const N: usize>(headers: &[&str; N], rows: &[[String; N]], left: &[usize]) -> String {
    let mut widths = headers.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            if left.contains(&i) {
                let _ = write!(l, "{cell:<w$}");
            } else {
                let _ = write!(l, "{cell:>w$}");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&headers.map(String::from));
    for row in rows {
        line(row);
    }
    out
}

/// The paper's two targets for each MultiTrack-forwarding run: every
/// forwarding tracker's payoffs within 10% by update 20 (in every seed),
/// and a cost per user below never forwarding and delay-only forwarding.
fn verdict(runs: &[(&RunSummary, &MultiTrackSummary)], trackers: &[usize]) -> Vec<String> {
    let cost_of = |kind: &str| {
        runs.iter()
            .find(|(_, m)| m.forwarding == kind)
            .map(|(s, m)| (s.name.as_str(), m.cost_per_user.mean))
    };
    let mut lines = Vec::new();
    for (s, m) in runs.iter().filter(|(_, m)| m.forwarding == "multitrack") {
        let settled = trackers.iter().all(|&j| {
            m.settled[j]
                .iter()
                .all(|u| u.is_some_and(|u| u <= TARGET_UPDATE))
        });
        lines.push(format!(
            "target: {}'s forwarded and local payoffs within 10% by update {TARGET_UPDATE} in every seed ({}): {}",
            s.name,
            settled_cell(m, trackers),
            if settled { "met" } else { "NOT met" }
        ));
        let others: Vec<(&str, f64)> = ["never", "delay-only"]
            .iter()
            .filter_map(|k| cost_of(k))
            .collect();
        if !others.is_empty() {
            let below = others.iter().all(|(_, c)| m.cost_per_user.mean < *c);
            let list: Vec<String> = others.iter().map(|(n, c)| format!("{n} {c:.2}")).collect();
            lines.push(format!(
                "target: {}'s cost per user {:.2} below {}: {}",
                s.name,
                m.cost_per_user.mean,
                list.join(" and "),
                if below { "met" } else { "NOT met" }
            ));
        }
    }
    lines
}

/// For each MultiTrack run, its first replicate's payoffs and shares at
/// every update (`payoffs-RUN.csv`) and the payoffs of each forwarding
/// tracker's options against the update (`payoffs-RUN.svg`).
pub(super) fn write_payoff_series(
    dir: &Path,
    title: &str,
    results: &[RunResult],
) -> Result<Vec<PathBuf>, PlotError> {
    let mut written = Vec::new();
    let mut done: Vec<&str> = Vec::new();
    for r in results {
        let Some(f) = r.multitrack.as_ref().filter(|f| !f.updates.is_empty()) else {
            continue;
        };
        if done.contains(&r.name.as_str()) {
            continue;
        }
        done.push(&r.name);
        let columns = option_columns(f);
        let mut csv = String::from("update,t");
        for (j, i) in &columns {
            let _ = write!(
                csv,
                ",T{}_to_T{}_payoff,T{}_to_T{}_share",
                j + 1,
                i + 1,
                j + 1,
                i + 1
            );
        }
        csv.push('\n');
        for (k, u) in f.updates.iter().enumerate() {
            let _ = write!(csv, "{},{}", k + 1, u.t);
            for &(j, i) in &columns {
                let _ = write!(csv, ",{},{}", u.payoffs[j][i], u.shares[j][i]);
            }
            csv.push('\n');
        }
        let path = dir.join(format!("payoffs-{}.csv", r.name));
        std::fs::write(&path, csv).map_err(PlotError::Io)?;
        written.push(path);
        let curves: Vec<Curve> = columns
            .iter()
            .filter(|(j, _)| columns.iter().filter(|(k, _)| k == j).count() > 1)
            .map(|&(j, i)| Curve {
                label: if i == j {
                    format!("T{} local", j + 1)
                } else {
                    format!("T{} forwarded to T{}", j + 1, i + 1)
                },
                points: f
                    .updates
                    .iter()
                    .enumerate()
                    .map(|(k, u)| ((k + 1) as f64, u.payoffs[j][i]))
                    .filter(|p| p.1.is_finite())
                    .collect(),
                markers: true,
            })
            .collect();
        let path = dir.join(format!("payoffs-{}.svg", r.name));
        plot_curves(
            &path,
            &format!(
                "{title}: {} (seed {}), payoff of each option ({})",
                r.name, r.seed, f.forwarding
            ),
            "update",
            "payoff (time units)",
            &curves,
        )?;
        written.push(path);
    }
    Ok(written)
}

/// (tracker, option) pairs with a payoff at the first update.
fn option_columns(f: &MultiTrackFigures) -> Vec<(usize, usize)> {
    let Some(first) = f.updates.first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (j, p) in first.payoffs.iter().enumerate() {
        // The own option first, then the others.
        if p.get(j).is_some_and(|v| !v.is_nan()) {
            out.push((j, j));
        }
        for (i, v) in p.iter().enumerate() {
            if i != j && !v.is_nan() {
                out.push((j, i));
            }
        }
    }
    out
}
