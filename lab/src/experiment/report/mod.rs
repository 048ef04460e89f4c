//! Results of an experiment, as the lab and the simulator both produce
//! them: one [`RunResult`] per (run, seed) replicate and a time series of
//! [`Sample`]s, summarised over seeds ([`summarize`]) into a table, JSON,
//! CSV files and SVG plots.

mod csv;
mod multitrack;
mod plot;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use csv::{csv_file_name, write_csv};
pub use multitrack::{
    MultiTrackFigures, MultiTrackSummary, TrackerUpdate, TARGET_UPDATE as MULTITRACK_TARGET_UPDATE,
};
pub use plot::{plot_curves, plot_throughput, plot_time_series, Curve, PlotError};

/// What one replicate (one run with one seed) measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The run's name (`RunSpec::name`).
    pub name: String,
    /// The replicate's random seed.
    pub seed: u64,
    /// Role ("publisher", "peers") -> "choker+picker".
    pub policies: BTreeMap<String, String>,
    /// Completed downloads per time unit after the warm-up, in units of the
    /// publisher rate U.
    pub throughput_u: f64,
    /// Mean time from arrival to completion of the downloads completed
    /// after the warm-up, in model time units (NaN when none completed).
    pub mean_download_time: f64,
    /// Largest number of peers one piece short (the one club) seen after
    /// the warm-up.
    pub one_club_peak: u32,
    /// Time-averaged population (downloading and lingering peers) after
    /// the warm-up.
    pub population_mean: f64,
    /// Downloads completed after the warm-up.
    pub completions: u64,
    /// The publisher's content propagation metric at each measured tau
    /// (tau in model time units, mean over the publisher's uploads made
    /// after the warm-up); empty when not measured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpm: Vec<(f64, f64)>,
    /// Per swarm, for a run of several swarms fed by one host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swarms: Option<SwarmFigures>,
    /// Contributors against the others, for a cross-credit run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross: Option<CrossFigures>,
    /// Traffic across networks and times per network, for a locality run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<LocalityFigures>,
    /// Trackers forwarding between their swarms, for a MultiTrack run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multitrack: Option<MultiTrackFigures>,
}

/// A locality replicate (papers 000 and 001): how much payload crossed
/// between networks, and how fast each network's hosts downloaded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocalityFigures {
    /// Payload bytes sent between hosts of different networks, over all
    /// payload bytes sent.
    pub inter_share: f64,
    /// Mean download time of each network's hosts (model units; NaN:
    /// none completed), the publisher's network first.
    pub time_by_pid: Vec<f64>,
    /// Hosts of each network that completed, of how many.
    pub done_by_pid: Vec<(u32, u32)>,
}

/// A host's swarms in one replicate (after the warm-up), in the order the
/// run lists them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwarmFigures {
    /// The allocation in force.
    pub allocation: String,
    /// Mean fraction of the host's upload each swarm was given.
    pub share: Vec<f64>,
    /// Blocks per time unit the host uploaded into each swarm.
    pub host_blocks: Vec<f64>,
    /// Blocks per time unit each swarm downloaded (completions x K).
    pub throughput_blocks: Vec<f64>,
    /// The host's CPM estimate in each swarm (NaN: none closed).
    pub cpm: Vec<f64>,
    /// Per swarm, blocks per time unit the host uploaded into it in each
    /// time unit of the run (NaN while it is not in the run).
    #[serde(default, skip_serializing)]
    pub host_series: Vec<Vec<f64>>,
    /// Per swarm, blocks per time unit its peers downloaded (from the host
    /// and from each other) in each time unit (NaN while not in the run).
    #[serde(default, skip_serializing)]
    pub download_series: Vec<Vec<f64>>,
}

/// A cross-credit replicate: how fast the peers that also seed the second
/// torrent to the others (contributors) downloaded the first, against
/// the others.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CrossFigures {
    /// Contributors' mean download time (model units; NaN: none done).
    pub contributors_time: f64,
    /// The others' mean download time.
    pub others_time: f64,
    /// Contributors that completed, of how many.
    pub contributors_done: (u32, u32),
    /// Others that completed, of how many.
    pub others_done: (u32, u32),
}

impl CrossFigures {
    /// The others' mean time over the contributors': above 1, the
    /// contributors finished faster.
    pub fn speedup(&self) -> f64 {
        self.others_time / self.contributors_time
    }
}

/// One row of a replicate's time series.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Model time of the sample.
    pub t: f64,
    /// Peers in the swarm (not counting the publisher).
    pub population: u32,
    /// Peers one piece short.
    pub one_club: u32,
    /// Completed downloads since the start.
    pub departures: u64,
    /// Blocks per time unit the publisher uploaded since the last sample.
    pub publisher_rate: f64,
    /// Blocks per time unit all peers together uploaded since the last
    /// sample.
    pub peer_rate: f64,
}

/// Mean, minimum and maximum of one figure over a run's seeds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// Mean over the seeds (NaN values are left out; NaN if all are).
    pub mean: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Stat {
    /// Statistics of `values`, ignoring NaNs.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Stat {
        let (mut n, mut sum, mut min, mut max) = (0u32, 0.0, f64::INFINITY, f64::NEG_INFINITY);
        for v in values.into_iter().filter(|v| !v.is_nan()) {
            n += 1;
            sum += v;
            min = min.min(v);
            max = max.max(v);
        }
        if n == 0 {
            Stat {
                mean: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            }
        } else {
            Stat {
                mean: sum / f64::from(n),
                min,
                max,
            }
        }
    }
}

/// One run summarised over its seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run's name.
    pub name: String,
    /// Role -> "choker+picker" (from the first replicate).
    pub policies: BTreeMap<String, String>,
    /// The seeds summarised, in the order their results came.
    pub seeds: Vec<u64>,
    /// Throughput in units of U.
    pub throughput_u: Stat,
    /// Mean download time in model time units.
    pub mean_download_time: Stat,
    /// One-club peak.
    pub one_club_peak: Stat,
    /// Time-averaged population.
    pub population_mean: Stat,
    /// The publisher's CPM per measured tau.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpm: Vec<(f64, Stat)>,
    /// For a host feeding several swarms: each swarm's mean share of its
    /// upload, mean over seeds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub swarm_share: Vec<f64>,
    /// For a host feeding several swarms: the host's CPM estimate in each
    /// swarm, mean over the seeds that measured it (NaN: none did).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub swarm_cpm: Vec<f64>,
    /// For a cross-credit run: the others' mean download time over the
    /// contributors', over seeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_speedup: Option<Stat>,
    /// For a locality run: the share of payload that crossed networks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inter_share: Option<Stat>,
    /// For a locality run: each network's mean download time, mean over
    /// the seeds where it is finite.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub time_by_pid: Vec<f64>,
    /// For a MultiTrack run: cost, forwarding and settling over seeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multitrack: Option<MultiTrackSummary>,
}

/// Each network's mean download time, over the replicates where finite.
fn pid_times(group: &[&RunResult]) -> Vec<f64> {
    index_means(
        group
            .iter()
            .filter_map(|r| r.locality.as_ref())
            .map(|f| &f.time_by_pid),
    )
}

/// Per index, the mean of the finite values at that index over `rows`
/// (NaN where none is); as long as the longest row.
fn index_means<'a>(rows: impl Iterator<Item = &'a Vec<f64>>) -> Vec<f64> {
    let rows: Vec<&Vec<f64>> = rows.collect();
    let n = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    (0..n)
        .map(|i| {
            let v: Vec<f64> = rows
                .iter()
                .filter_map(|r| r.get(i).copied())
                .filter(|v| v.is_finite())
                .collect();
            if v.is_empty() {
                f64::NAN
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        })
        .collect()
}

/// Each swarm's share of the host's upload, mean over the replicates.
fn mean_shares(group: &[&RunResult]) -> Vec<f64> {
    per_swarm_means(group, |f| &f.share)
}

/// A per-swarm figure, mean over the replicates where it is finite.
fn per_swarm_means(group: &[&RunResult], figure: impl Fn(&SwarmFigures) -> &Vec<f64>) -> Vec<f64> {
    index_means(group.iter().filter_map(|r| r.swarms.as_ref()).map(figure))
}

/// "0.95, 0.005 x10": values to `digits` decimals, runs of equal ones
/// collapsed.
fn collapsed(values: &[f64], digits: usize) -> String {
    let cells: Vec<String> = values.iter().map(|v| format!("{v:.digits$}")).collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cells.len() {
        let n = cells[i..].iter().take_while(|c| **c == cells[i]).count();
        out.push(if n > 1 {
            format!("{} x{n}", cells[i])
        } else {
            cells[i].clone()
        });
        i += n;
    }
    out.join(", ")
}

/// The CPM of each tau measured in `group`, over its replicates.
fn cpm_stats(group: &[&RunResult]) -> Vec<(f64, Stat)> {
    let mut taus: Vec<f64> = group
        .iter()
        .flat_map(|r| r.cpm.iter().map(|(t, _)| *t))
        .collect();
    taus.sort_by(f64::total_cmp);
    taus.dedup();
    taus.into_iter()
        .map(|tau| {
            let values = group
                .iter()
                .flat_map(|r| r.cpm.iter().filter(|(t, _)| *t == tau).map(|(_, v)| *v));
            (tau, Stat::of(values))
        })
        .collect()
}

/// Group replicates by run name (in order of first appearance) and take
/// mean, min and max over seeds.
pub fn summarize(results: &[RunResult]) -> Vec<RunSummary> {
    let mut order: Vec<&str> = Vec::new();
    let mut groups: BTreeMap<&str, Vec<&RunResult>> = BTreeMap::new();
    for r in results {
        let group = groups.entry(&r.name).or_default();
        if group.is_empty() {
            order.push(&r.name);
        }
        group.push(r);
    }
    order
        .into_iter()
        .filter_map(|name| {
            let group = groups.get(name)?;
            let first = group.first()?;
            Some(RunSummary {
                name: name.to_string(),
                policies: first.policies.clone(),
                seeds: group.iter().map(|r| r.seed).collect(),
                throughput_u: Stat::of(group.iter().map(|r| r.throughput_u)),
                mean_download_time: Stat::of(group.iter().map(|r| r.mean_download_time)),
                one_club_peak: Stat::of(group.iter().map(|r| f64::from(r.one_club_peak))),
                population_mean: Stat::of(group.iter().map(|r| r.population_mean)),
                cpm: cpm_stats(group),
                swarm_share: mean_shares(group),
                swarm_cpm: per_swarm_means(group, |f| &f.cpm),
                cross_speedup: group.iter().any(|r| r.cross.is_some()).then(|| {
                    Stat::of(
                        group
                            .iter()
                            .filter_map(|r| r.cross.as_ref())
                            .map(CrossFigures::speedup),
                    )
                }),
                inter_share: group.iter().any(|r| r.locality.is_some()).then(|| {
                    Stat::of(
                        group
                            .iter()
                            .filter_map(|r| r.locality.as_ref())
                            .map(|l| l.inter_share),
                    )
                }),
                time_by_pid: pid_times(group),
                multitrack: multitrack::summarize_group(group),
            })
        })
        .collect()
}

/// The summary as an aligned text table, one line per run (MultiTrack
/// runs have a table of their own, with the paper's targets checked).
pub fn summary_table(summaries: &[RunSummary]) -> String {
    if summaries.iter().any(|s| s.multitrack.is_some()) {
        return multitrack::table(summaries);
    }
    let headers = [
        "run",
        "publisher",
        "peers",
        "seeds",
        "throughput (U)",
        "min..max",
        "download time",
        "one-club peak",
        "population",
        "cpm / swarms",
    ];
    let rows: Vec<[String; 10]> = summaries
        .iter()
        .map(|s| {
            [
                s.name.clone(),
                s.policies.get("publisher").cloned().unwrap_or_default(),
                s.policies.get("peers").cloned().unwrap_or_default(),
                s.seeds.len().to_string(),
                format!("{:.2}", s.throughput_u.mean),
                format!("{:.2}..{:.2}", s.throughput_u.min, s.throughput_u.max),
                format!("{:.1}", s.mean_download_time.mean),
                format!("{:.1}", s.one_club_peak.mean),
                format!("{:.1}", s.population_mean.mean),
                if let Some(x) = &s.inter_share {
                    format!(
                        "inter-PID {:.2} ({:.2}..{:.2}), times by PID {}",
                        x.mean,
                        x.min,
                        x.max,
                        collapsed(&s.time_by_pid, 1)
                    )
                } else if let Some(x) = &s.cross_speedup {
                    format!(
                        "contributors {:.2}x faster ({:.2}..{:.2})",
                        x.mean, x.min, x.max
                    )
                } else if s.swarm_share.is_empty() {
                    s.cpm
                        .iter()
                        .map(|(tau, c)| format!("{:.2} at tau {tau}", c.mean))
                        .collect::<Vec<_>>()
                        .join(", ")
                } else {
                    format!("host shares {}", collapsed(&s.swarm_share, 3))
                },
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &rows {
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
            // Names left-aligned, numbers right-aligned.
            if i < 3 || i == 9 {
                let _ = write!(l, "{cell:<w$}");
            } else {
                let _ = write!(l, "{cell:>w$}");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&headers.map(String::from));
    for row in &rows {
        line(row);
    }
    out
}

/// One run in the `--json` output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JsonRun {
    /// The run's name.
    pub name: String,
    /// Role -> "choker+picker".
    pub policies: BTreeMap<String, String>,
    /// Mean throughput over seeds, in units of U.
    pub throughput_u: f64,
    /// Smallest throughput of a seed.
    pub throughput_u_min: f64,
    /// Largest throughput of a seed.
    pub throughput_u_max: f64,
    /// Mean download time (model time units), mean over seeds.
    pub mean_download_time: f64,
    /// One-club peak, mean over seeds.
    pub one_club_peak: f64,
    /// Time-averaged population, mean over seeds.
    pub population_mean: f64,
    /// The seeds the means are over.
    pub seeds: Vec<u64>,
    /// The publisher's CPM per tau: (tau, mean, min, max over seeds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpm: Vec<(f64, f64, f64, f64)>,
    /// Each swarm's mean share of the host's upload (several swarms).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub swarm_share: Vec<f64>,
    /// The host's CPM estimate in each swarm, mean over seeds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub swarm_cpm: Vec<f64>,
    /// Cross-credit runs: the others' mean download time over the
    /// contributors' (mean, min, max over seeds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_speedup: Option<(f64, f64, f64)>,
    /// Locality runs: the share of payload that crossed networks (mean,
    /// min, max over seeds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inter_share: Option<(f64, f64, f64)>,
    /// Locality runs: each network's mean download time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub time_by_pid: Vec<f64>,
    /// MultiTrack runs: cost per user, forwarding and settling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multitrack: Option<MultiTrackSummary>,
}

/// The `--json` summary: a list of runs. NaN (no completions) becomes null.
pub fn json_summary(summaries: &[RunSummary]) -> String {
    let runs: Vec<JsonRun> = summaries
        .iter()
        .map(|s| JsonRun {
            name: s.name.clone(),
            policies: s.policies.clone(),
            throughput_u: s.throughput_u.mean,
            throughput_u_min: s.throughput_u.min,
            throughput_u_max: s.throughput_u.max,
            mean_download_time: s.mean_download_time.mean,
            one_club_peak: s.one_club_peak.mean,
            population_mean: s.population_mean.mean,
            seeds: s.seeds.clone(),
            cpm: s
                .cpm
                .iter()
                .map(|(t, c)| (*t, c.mean, c.min, c.max))
                .collect(),
            swarm_share: s.swarm_share.clone(),
            swarm_cpm: s.swarm_cpm.clone(),
            cross_speedup: s.cross_speedup.map(|x| (x.mean, x.min, x.max)),
            inter_share: s.inter_share.map(|x| (x.mean, x.min, x.max)),
            time_by_pid: s.time_by_pid.clone(),
            multitrack: s.multitrack.clone(),
        })
        .collect();
    // serde_json writes non-finite floats as null; serialising plain data
    // cannot fail.
    serde_json::to_string_pretty(&runs).unwrap_or_else(|_| "[]".to_string())
}

/// Everything one experiment produced, for [`write_outputs`].
#[derive(Clone, Debug, Default)]
pub struct Outputs {
    /// One result per (run, seed).
    pub results: Vec<RunResult>,
    /// Time series per (run, seed), in the same order as `results`.
    pub series: Vec<(String, u64, Vec<Sample>)>,
}

/// Write an experiment's outputs into `dir` (created if needed):
/// `summary.txt`, `summary.json`, one CSV per replicate, `timeseries.svg`
/// (population and one club of each run's first seed) and `throughput.svg`.
/// Returns the files written.
pub fn write_outputs(
    dir: &Path,
    title: &str,
    outputs: &Outputs,
) -> Result<Vec<PathBuf>, PlotError> {
    std::fs::create_dir_all(dir).map_err(PlotError::Io)?;
    let summaries = summarize(&outputs.results);
    let mut written = Vec::new();
    let txt = dir.join("summary.txt");
    std::fs::write(&txt, summary_table(&summaries)).map_err(PlotError::Io)?;
    written.push(txt);
    let json = dir.join("summary.json");
    std::fs::write(&json, json_summary(&summaries) + "\n").map_err(PlotError::Io)?;
    written.push(json);
    for (run, seed, samples) in &outputs.series {
        let path = dir.join(csv_file_name(run, *seed));
        write_csv(&path, run, *seed, samples).map_err(PlotError::Io)?;
        written.push(path);
    }
    // Time series of each run's first replicate.
    let mut firsts: Vec<(&str, &[Sample])> = Vec::new();
    for (run, _, samples) in &outputs.series {
        if !firsts.iter().any(|(r, _)| r == run) {
            firsts.push((run, samples));
        }
    }
    if !firsts.is_empty() {
        let path = dir.join("timeseries.svg");
        plot_time_series(&path, title, &firsts)?;
        written.push(path);
    }
    if !summaries.is_empty() {
        let path = dir.join("throughput.svg");
        plot_throughput(&path, title, &summaries)?;
        written.push(path);
    }
    let near: Vec<Curve> = summaries
        .iter()
        .filter_map(|s| {
            let x = s.inter_share?;
            Some(Curve {
                label: s.name.clone(),
                points: vec![(x.mean, s.mean_download_time.mean)],
                markers: true,
            })
        })
        .collect();
    if !near.is_empty() {
        let path = dir.join("locality.svg");
        plot_curves(
            &path,
            &format!("{title}: traffic across networks against download time (means over seeds)"),
            "share of payload bytes sent across networks",
            "mean download time (units)",
            &near,
        )?;
        written.push(path);
    }
    written.extend(write_swarm_series(dir, title, &outputs.results)?);
    written.extend(multitrack::write_payoff_series(
        dir,
        title,
        &outputs.results,
    )?);
    Ok(written)
}

/// One curve per swarm, each point the mean of [`SWARM_SMOOTHING`] units
/// (windows where the swarm was not in the run are left out).
fn smoothed_curves(series: &[Vec<f64>]) -> Vec<Curve> {
    series
        .iter()
        .enumerate()
        .map(|(i, s)| Curve {
            label: format!("swarm {i}"),
            points: s
                .chunks(SWARM_SMOOTHING)
                .enumerate()
                .filter(|(_, c)| c.iter().all(|v| v.is_finite()))
                .map(|(k, c)| {
                    let t = ((k * SWARM_SMOOTHING) as f64) + c.len() as f64 / 2.0;
                    (t, c.iter().sum::<f64>() / c.len() as f64)
                })
                .collect(),
            markers: false,
        })
        .filter(|c| !c.points.is_empty())
        .collect()
}

/// Time units a point of the per-swarm bandwidth plot averages.
const SWARM_SMOOTHING: usize = 10;

/// For runs of several swarms, each run's first replicate: the host's
/// upload into each swarm and each swarm's download per time unit
/// (`swarms-RUN.csv`), and their plots smoothed over 10 units
/// (`swarms-RUN.svg`, `swarms-download-RUN.svg`).
fn write_swarm_series(
    dir: &Path,
    title: &str,
    results: &[RunResult],
) -> Result<Vec<PathBuf>, PlotError> {
    let mut written = Vec::new();
    let mut done: Vec<&str> = Vec::new();
    for r in results {
        let Some(f) = r.swarms.as_ref().filter(|f| !f.host_series.is_empty()) else {
            continue;
        };
        if done.contains(&r.name.as_str()) {
            continue;
        }
        done.push(&r.name);
        let columns: Vec<(String, &Vec<f64>)> = f
            .host_series
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("host{i}"), s))
            .chain(
                f.download_series
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (format!("download{i}"), s)),
            )
            .collect();
        let units = columns.iter().map(|(_, s)| s.len()).max().unwrap_or(0);
        let mut csv = String::from("t");
        for (name, _) in &columns {
            let _ = write!(csv, ",{name}");
        }
        csv.push('\n');
        for u in 0..units {
            let _ = write!(csv, "{u}");
            for (_, s) in &columns {
                match s.get(u).filter(|v| v.is_finite()) {
                    Some(v) => {
                        let _ = write!(csv, ",{v}");
                    }
                    None => csv.push(','),
                }
            }
            csv.push('\n');
        }
        let path = dir.join(format!("swarms-{}.csv", r.name));
        std::fs::write(&path, csv).map_err(PlotError::Io)?;
        written.push(path);
        for (series, file, what) in [
            (&f.host_series, "swarms", "host upload per swarm"),
            (
                &f.download_series,
                "swarms-download",
                "download of each swarm",
            ),
        ] {
            if series.is_empty() {
                continue;
            }
            let path = dir.join(format!("{file}-{}.svg", r.name));
            plot_curves(
                &path,
                &format!("{title}: {} (seed {}), {what}", r.name, r.seed),
                "time (units)",
                "blocks per unit",
                &smoothed_curves(series),
            )?;
            written.push(path);
        }
    }
    Ok(written)
}
