//! Issue 4: the swarm lab in seconds. A closed swarm of four real riffle
//! peers around a most-deprived publisher runs 30 model time units at 40 ms
//! each; `riffle lab --json` must report, for each run, its policies, a
//! positive throughput in units of U, a download time, the one-club peak
//! and the mean population (four peers), and write the CSV time series,
//! the summary and both plots. A second case runs the `missing-piece`
//! preset shortened the same way, through the same parser.

use std::path::Path;

use riffle_tests::riffle;
use serde_json::Value;

const EXPERIMENT: &str = r#"
name = "smoke"
description = "four peers, two runs"

[defaults]
pieces = 4
publisher_rate = 1.0
peer_rate = 4.0
arrivals = { population = 4 }
duration = 30.0
warmup = 5.0
connections = 20
time_unit_ms = 40.0
seeds = [7]
publisher = { seed_choker = "most-deprived", picker = "rarest-first" }

[defaults.peers]
choker = "random-useful"
picker = "random-useful"

[[run]]
name = "plain"

[[run]]
name = "throttled"
one_club_rate = 0.4
"#;

fn run_lab(args: &[&str]) -> Vec<Value> {
    let out = riffle(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "riffle {args:?} failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let runs: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("--json printed {stdout:?}: {e}"));
    runs.as_array().expect("a list of runs").clone()
}

/// The run called `name` in `runs`.
fn named<'a>(runs: &'a [Value], name: &str) -> &'a Value {
    runs.iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no run {name}: {runs:?}"))
}

fn assert_outputs(dir: &Path, runs: &[&str], seed: u64) {
    for f in [
        "summary.txt",
        "summary.json",
        "timeseries.svg",
        "throughput.svg",
    ] {
        let p = dir.join(f);
        let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        assert!(len > 100, "{} missing or empty", p.display());
    }
    for r in runs {
        let csv = std::fs::read_to_string(dir.join(format!("{r}-seed{seed}.csv")))
            .unwrap_or_else(|e| panic!("no CSV for {r}: {e}"));
        let rows = csv.lines().count();
        assert!(rows > 10, "{r}: only {rows} CSV lines");
        assert!(csv.starts_with("run,seed,t,population,one_club,departures"));
    }
}

#[test]
fn a_small_experiment_runs_in_seconds_and_reports_every_figure() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("smoke.toml");
    std::fs::write(&file, EXPERIMENT).unwrap();
    let out = tmp.path().join("out");
    let runs = run_lab(&[
        "lab",
        file.to_str().unwrap(),
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(runs.len(), 2, "{runs:?}");
    for (run, name) in runs.iter().zip(["plain", "throttled"]) {
        assert_eq!(run["name"], name);
        assert_eq!(run["policies"]["publisher"], "most-deprived+rarest-first");
        assert_eq!(run["policies"]["peers"], "random-useful+random-useful");
        let thr = run["throughput_u"].as_f64().expect("throughput_u");
        // Four peers at mu = 4U with a publisher at U complete many times
        // in 25 time units; a lab that moved nothing would report 0.
        assert!(thr > 0.2, "{name}: throughput {thr} U");
        let t = run["mean_download_time"].as_f64().expect("download time");
        assert!(t > 0.0 && t < 25.0, "{name}: mean download time {t}");
        let pop = run["population_mean"].as_f64().expect("population_mean");
        assert!((3.0..=4.0).contains(&pop), "{name}: population {pop}");
        let peak = run["one_club_peak"].as_f64().expect("one_club_peak");
        assert!((0.0..=4.0).contains(&peak), "{name}: one-club peak {peak}");
    }
    assert_outputs(&out, &["plain", "throttled"], 7);
}

#[test]
fn a_preset_runs_through_the_same_parser() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let runs = run_lab(&[
        "lab",
        "--preset",
        "missing-piece",
        "--seeds",
        "1",
        "--duration",
        "25",
        "--warmup",
        "5",
        "--time-unit-ms",
        "40",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    let names: Vec<&str> = runs.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["random-publisher", "most-deprived"]);
    for r in &runs {
        assert!(r["population_mean"].as_f64().unwrap_or(0.0) > 1.0, "{r}");
    }
    assert_outputs(&out, &names, 1);
}

/// The cross-credit preset (real sessions): contributors that give the
/// host of swarm B torrent A finish B at least 1.3x faster than B's other
/// leechers with cross-swarm credit, and without it no such gap.
#[test]
fn cross_credit_serves_the_contributors_first() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let runs = run_lab(&[
        "lab",
        "--preset",
        "cross-credit",
        "--seeds",
        "2",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    let speedup = |name: &str| {
        let r = runs
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no run {name}: {runs:?}"));
        let t = r["mean_download_time"]
            .as_f64()
            .expect("everyone completes");
        assert!(t > 0.0, "{name}: download time {t}");
        r["cross_speedup"][0].as_f64().expect("cross_speedup")
    };
    let (credit, none) = (speedup("credit"), speedup("no-credit"));
    assert!(
        credit >= 1.3 && credit - none >= 0.25,
        "contributors faster by {credit:.2}x with credit, {none:.2}x without"
    );
}

/// The cpm-allocation preset in the lab (real sessions; shortened): one
/// host session seeds a 20-peer swarm and ten single peers under one
/// upload limit; with `--swarm-allocation cpm` it measures the big swarm's
/// CPM well above the single peers' 1.0, gives it most of its upload, and
/// the swarms together download several times what an equal split gives.
#[test]
fn cpm_allocation_runs_in_the_lab() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let runs = run_lab(&[
        "lab",
        "--preset",
        "cpm-allocation",
        "--run",
        "equal",
        "--run",
        "cpm",
        "--seeds",
        "1",
        "--duration",
        "200",
        "--warmup",
        "60",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    let (equal, cpm) = (named(&runs, "equal"), named(&runs, "cpm"));
    let share = |r: &Value, i: usize| r["swarm_share"][i].as_f64().unwrap_or(f64::NAN);
    let big_cpm = cpm["swarm_cpm"][0].as_f64().expect("the big swarm's CPM");
    assert!(big_cpm > 2.5, "big swarm CPM {big_cpm}");
    for i in 1..11 {
        if let Some(c) = cpm["swarm_cpm"][i].as_f64() {
            assert!((c - 1.0).abs() < 1e-9, "a single peer's CPM is 1: {c}");
        }
    }
    assert!(share(cpm, 0) > 0.6, "cpm: {}", cpm["swarm_share"]);
    // Under an equal split the big swarm's share has read just under 0.2
    // (0.2025 once on a loaded machine): far below the 0.6 cpm gives it.
    assert!(share(equal, 0) < 0.3, "equal: {}", equal["swarm_share"]);
    let thr = |r: &Value| r["throughput_u"].as_f64().unwrap_or(0.0);
    assert!(
        thr(cpm) > 3.0 * thr(equal),
        "cpm {} U vs equal {} U",
        thr(cpm),
        thr(equal)
    );
    assert!(out.join("swarms-cpm.svg").exists());
}

/// The cpm-tau preset in the lab (real sessions; shortened): the
/// publisher's CPM, as riffle's wire estimator measures it, is exactly 1
/// for a single peer; for twenty peers it is near the reference model's
/// 1.28 at tau 0.5 and more than twice that at tau 8 (the reference 5.25;
/// the full lab preset reads 3.17, docs/lab.md).
#[test]
fn cpm_tau_runs_in_the_lab() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let runs = run_lab(&[
        "lab",
        "--preset",
        "cpm-tau",
        "--run",
        "one-peer",
        "--run",
        "twenty-peers",
        "--seeds",
        "1",
        "--duration",
        "200",
        "--warmup",
        "50",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    let cpm = |name: &str, tau: f64| {
        let r = runs
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no run {name}: {runs:?}"));
        r["cpm"]
            .as_array()
            .and_then(|c| c.iter().find(|e| e[0].as_f64() == Some(tau)))
            .and_then(|e| e[1].as_f64())
            .unwrap_or_else(|| panic!("{name}: no CPM at tau {tau}: {r}"))
    };
    for tau in [0.5, 8.0] {
        let one = cpm("one-peer", tau);
        assert!((one - 1.0).abs() < 1e-9, "one peer at tau {tau}: {one}");
    }
    let (short, long) = (cpm("twenty-peers", 0.5), cpm("twenty-peers", 8.0));
    assert!(
        (0.9..=1.7).contains(&short),
        "twenty peers at tau 0.5: {short}"
    );
    assert!(
        long > 2.0 * short,
        "twenty peers: {short} at tau 0.5, {long} at tau 8"
    );
}

/// The locality preset (real sessions on three loopback /24s, links
/// between them capped): P4P's near-first peering sends at least 35%
/// fewer payload bytes across networks than random peering (the preset's
/// full three seeds on a quiet machine show about 60% fewer; two seeds
/// here, for time, beside the rest of the suite: one such run read 48%),
/// local only sends no more, and every host of every network completes.
#[test]
fn locality_keeps_traffic_inside_networks() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let runs = run_lab(&[
        "lab",
        "--preset",
        "locality",
        "--run",
        "random",
        "--run",
        "p4p",
        "--run",
        "local-only",
        "--seeds",
        "2",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    let inter = |name: &str| {
        let r = named(&runs, name);
        let times = r["time_by_pid"].as_array().expect("times by network");
        assert_eq!(times.len(), 3, "{name}: {r}");
        assert!(
            times.iter().all(|t| t.as_f64().is_some_and(|t| t > 0.0)),
            "{name}: a network did not complete: {r}"
        );
        r["inter_share"][0].as_f64().expect("inter_share")
    };
    let (random, p4p, local) = (inter("random"), inter("p4p"), inter("local-only"));
    assert!(
        p4p <= 0.65 * random,
        "p4p sent {p4p:.2} of its payload across networks, random {random:.2}"
    );
    assert!(local <= p4p + 0.03, "local only {local:.2}, p4p {p4p:.2}");
}

/// The multitrack preset in the lab (real trackers with MultiTrack on,
/// real sessions; one seed, shortened): T2 and T3 forward newcomers to
/// T1's seed-rich swarm (T1, with nowhere to forward, keeps all of its
/// own; `never` forwards nobody), and the trackers' payoffs per update
/// land in the payoffs CSV for both of T2's options, the forwarded one
/// above its transit price. The cost comparison is the preset's (three
/// seeds, docs/lab.md): in one short seed whether T2's and T3's swarms
/// fall into the missing piece without forwarding is chance (a run beside
/// the suite read never 11.7 against multitrack 21.1; alone, 41-44
/// against 21-25).
#[test]
fn multitrack_trackers_forward_arrivals_in_the_lab() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let runs = run_lab(&[
        "lab",
        "--preset",
        "multitrack",
        "--run",
        "multitrack",
        "--run",
        "never",
        "--seeds",
        "1",
        "--duration",
        "128",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    let (mt, never) = (
        &named(&runs, "multitrack")["multitrack"],
        &named(&runs, "never")["multitrack"],
    );
    let forwarded = |r: &Value, j: usize| r["forwarded"][j].as_f64().expect("forwarded");
    let cost = |r: &Value| r["cost_per_user"]["mean"].as_f64().expect("cost");
    assert_eq!(forwarded(mt, 0), 0.0, "T1 has nowhere to forward: {mt}");
    assert!(
        forwarded(mt, 1) > 0.0 && forwarded(mt, 2) > 0.0,
        "T2 and T3 forward: {mt}"
    );
    assert!(
        forwarded(mt, 1) + forwarded(mt, 2) > 0.05,
        "more than the 2% floors: {mt}"
    );
    assert!(
        (0..3).all(|j| forwarded(never, j) == 0.0),
        "never forwards nobody: {never}"
    );
    let transit = |r: &Value| r["transit_per_user"]["mean"].as_f64().expect("transit");
    assert!(
        transit(mt) > 0.0 && transit(never) == 0.0,
        "transit paid: multitrack {mt}, never {never}"
    );
    assert!(cost(mt).is_finite() && cost(never).is_finite());
    let csv = std::fs::read_to_string(out.join("payoffs-multitrack.csv")).expect("payoffs CSV");
    let header: Vec<&str> = csv.lines().next().unwrap_or("").split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
    };
    let (local, away) = (col("T2_to_T2_payoff"), col("T2_to_T1_payoff"));
    let rows: Vec<Vec<f64>> = csv
        .lines()
        .skip(1)
        .map(|l| {
            l.split(',')
                .map(|v| v.parse().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    assert!(rows.len() >= 10, "{} updates after the warm-up", rows.len());
    assert!(
        rows.iter().all(|r| r[local].is_finite() && r[away] > 20.0),
        "T2's payoffs (forwarding costs the price 20 at least): {csv}"
    );
}
