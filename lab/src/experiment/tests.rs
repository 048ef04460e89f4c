//! Parser tests: every key, defaults merging, errors naming the key, and
//! the presets.

use riffle_policies::catalog::{ChokerKind, PickerKind, SeedChokerKind};

use super::*;

/// Every key set in `[defaults]`, one run overriding nothing.
const FULL: &str = r#"
name = "full"
description = "every key"

[defaults]
pieces = 7
publisher_rate = 2.0
peer_rate = 3
one_club_rate = 0.5
arrivals = { rate = 1.5 }
cap = 33
linger = 2.5
shield_newcomers = 0.75
duration = 90.0
warmup = 10
connections = 12
time_unit_ms = 20.0
turns = "fixed"
seeds = [4, 5]
publisher = { seed_choker = "most-deprived", picker = "random-useful" }
peers = { choker = "random-useful", picker = "sequential" }

[[run]]
name = "only"
"#;

fn invalid(text: &str) -> (Place, String) {
    match parse(text) {
        Err(ExperimentError::Invalid { place, message, .. }) => (place, message),
        other => panic!("expected an Invalid error, got {other:?}"),
    }
}

fn syntax(text: &str) -> String {
    match parse(text) {
        Err(e @ ExperimentError::Syntax { .. }) => e.to_string(),
        other => panic!("expected a Syntax error, got {other:?}"),
    }
}

/// A minimal valid file with `extra` added to `[defaults]` and `run`
/// appended as the run table's body.
fn minimal(extra: &str, run: &str) -> String {
    format!(
        "name = \"m\"\n[defaults]\npieces = 4\npeer_rate = 4.0\narrivals = {{ rate = 2.0 }}\nduration = 50.0\n{extra}\n[[run]]\nname = \"r\"\n{run}\n"
    )
}

#[test]
fn every_key_is_read() {
    let e = parse(FULL).expect("parses");
    assert_eq!(e.name, "full");
    assert_eq!(e.description, "every key");
    assert_eq!(e.runs.len(), 1);
    let r = &e.runs[0];
    assert_eq!(r.name, "only");
    assert_eq!(r.seeds, vec![4, 5]);
    let m = r.model;
    assert_eq!(m.pieces, 7);
    assert_eq!(m.publisher_rate, 2.0);
    assert_eq!(m.peer_rate, 3.0, "integers are accepted for rates");
    assert_eq!(m.one_club_rate, Some(0.5));
    assert_eq!(m.arrivals, Arrivals::Open { rate: 1.5 });
    assert_eq!(m.cap, Some(33));
    assert_eq!(m.linger, 2.5);
    assert_eq!(m.shield_newcomers, Some(0.75));
    assert_eq!(m.duration, 90.0);
    assert_eq!(m.warmup, 10.0);
    assert_eq!(m.connections, 12);
    assert_eq!(m.time_unit_ms, 20.0);
    assert_eq!(m.turns, Turns::Fixed);
    assert_eq!(r.publisher.seed_choker, SeedChokerKind::MostDeprived);
    assert_eq!(r.publisher.picker, PickerKind::RandomUseful);
    assert_eq!(r.peers.choker, ChokerKind::RandomUseful);
    assert_eq!(r.peers.picker, PickerKind::Sequential);
}

#[test]
fn built_in_defaults_fill_unset_keys() {
    let e = parse(&minimal("", "")).expect("parses");
    let r = &e.runs[0];
    assert_eq!(r.model.publisher_rate, 1.0);
    assert_eq!(r.model.one_club_rate, None);
    assert_eq!(r.model.cap, None);
    assert_eq!(r.model.linger, 0.0);
    assert_eq!(r.model.shield_newcomers, None);
    assert_eq!(r.model.warmup, 0.0);
    assert_eq!(r.model.connections, 60);
    assert_eq!(r.model.time_unit_ms, 100.0);
    assert_eq!(
        r.model.turns,
        Turns::Poisson,
        "the model's turns by default"
    );
    assert_eq!(r.seeds, vec![1, 2, 3]);
    assert_eq!(r.publisher, PublisherPolicies::default());
    assert_eq!(r.peers, PeerPolicies::default());
    assert_eq!(e.description, "");
}

#[test]
fn run_keys_override_defaults_one_by_one() {
    let text = minimal(
        "cap = 10\none_club_rate = 0.4\nseeds = [9]\n[defaults.publisher]\nseed_choker = \"random\"\npicker = \"random-useful\"\n[defaults.peers]\nchoker = \"random\"\npicker = \"random-useful\"",
        "cap = 20\npieces = 9\narrivals = { population = 30 }\npublisher = { picker = \"rarest-first\" }\npeers = { choker = \"tit-for-tat\" }\nseeds = [1, 2]",
    );
    let e = parse(&text).expect("parses");
    let r = &e.runs[0];
    assert_eq!(r.model.cap, Some(20));
    assert_eq!(r.model.pieces, 9);
    assert_eq!(r.model.arrivals, Arrivals::Closed { population: 30 });
    assert_eq!(r.model.one_club_rate, Some(0.4), "kept from defaults");
    assert_eq!(r.seeds, vec![1, 2]);
    // Policy tables merge key by key.
    assert_eq!(r.publisher.seed_choker, SeedChokerKind::Random);
    assert_eq!(r.publisher.picker, PickerKind::RarestFirst);
    assert_eq!(r.peers.choker, ChokerKind::TitForTat);
    assert_eq!(r.peers.picker, PickerKind::RandomUseful);
}

#[test]
fn none_switches_off_an_optional_default() {
    let text = minimal(
        "cap = 10\none_club_rate = 0.4\nshield_newcomers = 1.0",
        "cap = \"none\"\none_club_rate = \"none\"\nshield_newcomers = \"none\"",
    );
    let r = &parse(&text).expect("parses").runs[0];
    assert_eq!(r.model.cap, None);
    assert_eq!(r.model.one_club_rate, None);
    assert_eq!(r.model.shield_newcomers, None);
}

#[test]
fn runs_keep_file_order_and_each_gets_the_defaults() {
    let text = format!(
        "{}\n[[run]]\nname = \"second\"\ncap = 3\n",
        minimal("cap = 8", "")
    );
    let e = parse(&text).expect("parses");
    let names: Vec<&str> = e.runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["r", "second"]);
    assert_eq!(e.runs[0].model.cap, Some(8));
    assert_eq!(e.runs[1].model.cap, Some(3));
}

#[test]
fn unknown_keys_are_rejected_with_their_name() {
    for (extra, run, key) in [
        ("colour = 3", "", "colour"),
        ("", "speed = 3", "speed"),
        ("[defaults.peers]\nchokr = \"random\"", "", "chokr"),
        ("", "publisher = { seed = \"random\" }", "seed"),
        ("", "arrivals = { lambda = 2.0 }", "lambda"),
    ] {
        let msg = syntax(&minimal(extra, run));
        assert!(msg.contains(key), "{msg:?} should name {key}");
    }
    let msg = syntax("name = \"x\"\nbogus = 1\n[[run]]\nname = \"r\"\n");
    assert!(msg.contains("bogus"), "{msg}");
}

#[test]
fn wrong_types_and_policy_names_are_syntax_errors_naming_the_value() {
    let msg = syntax(&minimal("", "pieces = \"ten\""));
    assert!(msg.contains("pieces"), "{msg}");
    let msg = syntax(&minimal("", "peers = { choker = \"bogus-choker\" }"));
    assert!(msg.contains("bogus-choker"), "{msg}");
    let msg = syntax(&minimal("", "cap = \"lots\""));
    assert!(msg.contains("cap") && msg.contains("none"), "{msg}");
    let msg = syntax(&minimal("", "turns = \"sometimes\""));
    assert!(
        msg.contains("sometimes") && msg.contains("poisson"),
        "{msg}"
    );
    let msg = syntax(&minimal("", "cap = -3"));
    assert!(msg.contains("cap"), "{msg}");
    let msg = syntax("name = \"x\"\n[[run]\n");
    assert!(!msg.is_empty());
}

#[test]
fn out_of_range_values_name_the_key_and_run() {
    let cases: &[(&str, &str, &str)] = &[
        ("", "pieces = 1", "pieces"),
        ("", "publisher_rate = 0.0", "publisher_rate"),
        ("", "peer_rate = -1.0", "peer_rate"),
        ("", "one_club_rate = 0.0", "one_club_rate"),
        ("", "arrivals = { rate = 0.0 }", "arrivals.rate"),
        ("", "arrivals = { population = 0 }", "arrivals.population"),
        ("", "arrivals = { rate = 1.0, population = 3 }", "arrivals"),
        ("", "arrivals = {}", "arrivals"),
        ("", "cap = 0", "cap"),
        ("", "linger = -0.5", "linger"),
        ("", "shield_newcomers = 0.0", "shield_newcomers"),
        ("", "duration = 0.0", "duration"),
        ("", "warmup = 50.0", "warmup"),
        ("", "warmup = -1.0", "warmup"),
        ("", "connections = 0", "connections"),
        ("", "time_unit_ms = 0.0", "time_unit_ms"),
        ("", "seeds = []", "seeds"),
        ("", "seeds = [1, 1]", "seeds"),
        ("", "duration = nan", "duration"),
        ("", "peer_rate = inf", "peer_rate"),
    ];
    for (extra, run, key) in cases {
        let (place, message) = invalid(&minimal(extra, run));
        assert_eq!(place.key, *key, "{run}: {message}");
        assert_eq!(place.run.as_deref(), Some("r"));
        let shown = ExperimentError::Invalid {
            origin: None,
            place,
            message,
        }
        .to_string();
        assert!(shown.contains(key) && shown.contains("\"r\""), "{shown}");
    }
}

#[test]
fn missing_required_keys_are_named() {
    for key in ["pieces", "peer_rate", "arrivals", "duration"] {
        let text = minimal("", "").replace(&format!("\n{key} ="), "\nremoved_line =");
        // The line is now an unknown key; drop it instead.
        let text: String = text
            .lines()
            .filter(|l| !l.starts_with("removed_line"))
            .map(|l| format!("{l}\n"))
            .collect();
        let (place, message) = invalid(&text);
        assert_eq!(place.key, key);
        assert!(message.contains("missing"), "{message}");
    }
}

#[test]
fn file_level_errors() {
    let (place, _) = invalid("name = \"x\"\n");
    assert_eq!(place.key, "run");
    let (place, _) = invalid("name = \"  \"\n[[run]]\nname = \"r\"\n");
    assert_eq!(place.key, "name");
    let text = format!("{}\n[[run]]\nname = \"r\"\n", minimal("", ""));
    let (place, message) = invalid(&text);
    assert_eq!(place.key, "run.name");
    assert!(message.contains("unique"), "{message}");
    let (place, _) = invalid(&minimal("", "").replace("name = \"r\"", ""));
    assert_eq!(place.key, "run.name");
    let (place, _) = invalid(&minimal("name = \"d\"", ""));
    assert_eq!(place.key, "defaults.name");
    let msg = syntax("description = \"no name\"\n[[run]]\nname = \"r\"\n");
    assert!(msg.contains("name"), "{msg}");
}

#[test]
fn load_reads_files_and_prefixes_errors_with_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.toml");
    std::fs::write(&good, FULL).expect("write");
    assert_eq!(load(&good).expect("loads"), parse(FULL).expect("parses"));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, minimal("", "cap = 0")).expect("write");
    let msg = load(&bad).expect_err("invalid").to_string();
    assert!(msg.contains("bad.toml") && msg.contains("cap"), "{msg}");
    let missing = dir.path().join("missing.toml");
    assert!(matches!(load(&missing), Err(ExperimentError::Io { .. })));
}

#[test]
fn every_preset_parses_with_at_least_three_seeds() {
    assert_eq!(PRESETS.len(), 8);
    for name in PRESETS.iter().chain(SIM_PRESETS) {
        for e in [preset(name), lab_preset(name)] {
            let e = e.unwrap_or_else(|err| panic!("preset {name}: {err}"));
            assert_eq!(e.name, *name);
            assert!(!e.description.is_empty());
            for r in &e.runs {
                assert!(r.seeds.len() >= 3, "{name}/{}", r.name);
            }
        }
    }
    let msg = preset("nope").expect_err("unknown").to_string();
    for name in PRESETS {
        assert!(msg.contains(name), "{msg}");
    }
}

#[test]
fn presets_hold_the_runs_the_issue_lists() {
    let mp = preset("missing-piece").expect("parses");
    let names: Vec<&str> = mp.runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["random-publisher", "most-deprived"]);
    for r in &mp.runs {
        assert_eq!(r.model.pieces, 10);
        assert_eq!(r.model.peer_rate, 4.0 * r.model.publisher_rate);
        assert_eq!(r.model.arrival_rate(), Some(2.0 * r.model.publisher_rate));
        assert_eq!(r.model.cap, Some(50));
        assert_eq!(r.peers.choker, ChokerKind::Random);
        assert_eq!(r.peers.picker, PickerKind::RandomUseful);
    }
    assert_eq!(mp.runs[0].publisher.seed_choker, SeedChokerKind::Random);
    assert_eq!(mp.runs[0].publisher.picker, PickerKind::RandomUseful);
    assert_eq!(
        mp.runs[1].publisher.seed_choker,
        SeedChokerKind::MostDeprived
    );
    assert_eq!(mp.runs[1].publisher.picker, PickerKind::RarestFirst);

    let tl = preset("three-levers").expect("parses");
    let got: Vec<(&str, Option<f64>, Option<f64>, SeedChokerKind)> = tl
        .runs
        .iter()
        .map(|r| {
            assert_eq!(r.model.pieces, 4);
            assert_eq!(r.model.cap, Some(60));
            assert_eq!(r.model.arrival_rate(), Some(16.0));
            (
                r.name.as_str(),
                r.model.shield_newcomers,
                r.model.one_club_rate,
                r.publisher.seed_choker,
            )
        })
        .collect();
    use SeedChokerKind::{MostDeprived as Md, Random as Rp};
    assert_eq!(
        got,
        [
            ("random-publisher", None, None, Rp),
            ("most-deprived", None, None, Md),
            ("most-deprived+shielding", Some(1.0), None, Md),
            ("most-deprived+throttling", None, Some(0.4), Md),
            ("most-deprived+both", Some(1.0), Some(0.4), Md),
        ]
    );

    let adm = preset("admission").expect("parses");
    assert_eq!(adm.runs.len(), 10);
    for cap in [1u32, 5, 20, 40, 160] {
        let plain = adm
            .runs
            .iter()
            .find(|r| r.name == format!("cap-{cap}"))
            .expect("plain run");
        let throttled = adm
            .runs
            .iter()
            .find(|r| r.name == format!("cap-{cap}-throttled"))
            .expect("throttled run");
        assert_eq!(plain.model.cap, Some(cap));
        assert_eq!(throttled.model.cap, Some(cap));
        assert_eq!(plain.model.one_club_rate, None);
        assert_eq!(throttled.model.one_club_rate, Some(0.4));
        assert_eq!(plain.publisher.seed_choker, SeedChokerKind::MostDeprived);
    }
}

#[test]
fn saturation_formula() {
    let mut m = preset("three-levers").expect("parses").runs[0].model;
    assert_eq!(m.saturation_rate(), 4.0);
    m.one_club_rate = Some(0.4);
    // 2 + (4 - 2) * 4 / 0.4 = 22
    assert!((m.saturation_rate() - 22.0).abs() < 1e-9);
}

#[test]
fn seed_count_override_and_policy_names() {
    let mut e = preset("missing-piece").expect("parses");
    e.set_seed_count(5);
    assert!(e.runs.iter().all(|r| r.seeds == vec![1, 2, 3, 4, 5]));
    let p = e.runs[1].policies();
    assert_eq!(p["publisher"], "most-deprived+rarest-first");
    assert_eq!(p["peers"], "random+random-useful");
}

#[test]
fn cpm_tau_is_a_list_of_positive_times() {
    let e = parse(&minimal("", "cpm_tau = [0.5, 8]")).expect("parses");
    assert_eq!(e.runs[0].cpm_tau, vec![0.5, 8.0]);
    assert!(parse(&minimal("", "")).expect("parses").runs[0]
        .cpm_tau
        .is_empty());
    for bad in ["cpm_tau = [0.0]", "cpm_tau = [-1.0]", "cpm_tau = 3"] {
        let msg = parse(&minimal("", bad)).expect_err(bad).to_string();
        assert!(msg.contains("cpm_tau"), "{bad}: {msg}");
    }
}

#[test]
fn several_swarms_closed_or_open() {
    let e = parse(&minimal(
        "",
        "swarms = [20, 1]\nswarm_times = [[0, 10], [5, 50]]\nswarm_arrivals = [0.5, 0.1]\nallocation = \"cpm\"",
    ))
    .expect("parses");
    let r = &e.runs[0];
    assert_eq!(r.swarms, vec![20, 1]);
    assert_eq!(r.swarm_times, vec![(0.0, 10.0), (5.0, 50.0)]);
    assert_eq!(r.swarm_arrivals, vec![0.5, 0.1]);
    assert_eq!(r.allocation.to_string(), "cpm");
    for bad in [
        "swarms = [20, 0]",
        "swarms = [20, 1]\nswarm_times = [[0, 10]]",
        "swarms = [20, 1]\nswarm_times = [[10, 5], [0, 1]]",
        "swarms = [20, 1]\nswarm_arrivals = [1.0]",
        "swarms = [20, 1]\nswarm_arrivals = [1.0, 0.0]",
    ] {
        let msg = parse(&minimal("", bad)).expect_err(bad).to_string();
        assert!(msg.contains("swarm"), "{bad}: {msg}");
    }
}

#[test]
fn cross_credit_keys_need_one_closed_swarm() {
    let closed = "arrivals = { population = 10 }\ncontributors = 0.5\ncontributor_rate = 0.25\ncross_swarm_credit = true";
    let e = parse(&minimal("", closed)).expect("parses");
    let r = &e.runs[0];
    assert_eq!(r.contributors, 0.5);
    assert_eq!(r.contributor_rate, 0.25);
    assert!(r.cross_swarm_credit);
    // The contributors' rate defaults to the peers'.
    let e = parse(&minimal(
        "",
        "arrivals = { population = 10 }\ncontributors = 0.3",
    ))
    .expect("parses");
    assert_eq!(e.runs[0].contributor_rate, 4.0);
    assert!(!e.runs[0].cross_swarm_credit);
    let plain = parse(&minimal("", "")).expect("parses");
    assert_eq!(plain.runs[0].contributors, 0.0);
    for bad in [
        "contributors = 0.5",
        "arrivals = { population = 10 }\ncontributors = 1.0",
        "arrivals = { population = 10 }\ncontributors = -0.1",
        "swarms = [10, 10]\ncontributors = 0.5",
    ] {
        let (place, msg) = invalid(&minimal("", bad));
        assert_eq!(place.key, "contributors", "{bad}: {msg}");
    }
    let (place, _) = invalid(&minimal(
        "",
        "arrivals = { population = 10 }\ncontributors = 0.5\ncontributor_rate = 0.0",
    ));
    assert_eq!(place.key, "contributor_rate");
    let cc = preset("cross-credit").expect("parses");
    let names: Vec<&str> = cc.runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["credit", "no-credit"]);
    assert!(cc.runs[0].cross_swarm_credit && !cc.runs[1].cross_swarm_credit);
    assert!(cc.runs.iter().all(|r| r.contributors == 0.5));
}

#[test]
fn multitrack_tables_merge_and_are_checked() {
    let defaults = "[defaults.multitrack]\nseeders = [200, 5]\narrivals = [3.0, 5.0]\ntransit = [{ from = 2, to = 1, price = 20.0 }]\nsharing = 10.0";
    let e = parse(&minimal(
        defaults,
        "multitrack = { forwarding = \"delay-only\", step = 0.25 }",
    ))
    .expect("parses");
    let m = e.runs[0].multitrack.as_ref().expect("a multitrack run");
    assert_eq!(m.seeders, vec![200, 5]);
    assert_eq!(m.forwarding.to_string(), "delay-only");
    assert_eq!(m.step, 0.25);
    assert_eq!(m.update, 8.0);
    assert_eq!(m.download_cap, None);
    assert_eq!(m.price(1, 0), Some(20.0));
    assert_eq!(m.price(0, 1), None, "T1 may not forward");
    assert_eq!(m.price(1, 1), Some(0.0));
    // The model's arrival rate is the trackers' total.
    assert_eq!(e.runs[0].model.arrival_rate(), Some(8.0));
    assert!(parse(&minimal("", "")).expect("parses").runs[0]
        .multitrack
        .is_none());
    for (bad, key) in [
        ("seeders = [200]\narrivals = [3.0]", "multitrack.seeders"),
        ("seeders = [200, 0]\narrivals = [3.0, 1.0]", "multitrack.seeders"),
        ("seeders = [200, 5]\narrivals = [3.0]", "multitrack.arrivals"),
        ("seeders = [200, 5]\narrivals = [3.0, -1.0]", "multitrack.arrivals"),
        ("arrivals = [3.0, 1.0]", "multitrack.seeders"),
        (
            "seeders = [2, 5]\narrivals = [3.0, 1.0]\ntransit = [{ from = 2, to = 3, price = 1.0 }]",
            "multitrack.transit",
        ),
        (
            "seeders = [2, 5]\narrivals = [3.0, 1.0]\ntransit = [{ from = 2, to = 2, price = 1.0 }]",
            "multitrack.transit",
        ),
        (
            "seeders = [2, 5]\narrivals = [3.0, 1.0]\ntransit = [{ from = 2, to = 1, price = -1.0 }]",
            "multitrack.transit",
        ),
        ("seeders = [2, 5]\narrivals = [3.0, 1.0]\nstep = 0.0", "multitrack.step"),
        ("seeders = [2, 5]\narrivals = [3.0, 1.0]\nfloor = 0.5", "multitrack.floor"),
        ("seeders = [2, 5]\narrivals = [3.0, 1.0]\nsmoothing = 2.0", "multitrack.smoothing"),
        ("seeders = [2, 5]\narrivals = [3.0, 1.0]\nupdate = 0.0", "multitrack.update"),
        ("seeders = [2, 5]\narrivals = [3.0, 1.0]\ndownload_cap = -1.0", "multitrack.download_cap"),
        ("seeders = [2, 5]\narrivals = [3.0, 1.0]\nsharing = -1.0", "multitrack.sharing"),
    ] {
        let (place, msg) = invalid(&minimal(&format!("[defaults.multitrack]\n{bad}"), ""));
        assert_eq!(place.key, key, "{bad}: {msg}");
    }
    let msg = syntax(&minimal(
        "[defaults.multitrack]\nseeders = [2, 5]\narrivals = [3.0, 1.0]\nforwarding = \"sometimes\"",
        "",
    ));
    assert!(msg.contains("sometimes"), "{msg}");
    let both = minimal(
        "",
        "swarms = [2, 2]\nmultitrack = { seeders = [2, 5], arrivals = [3.0, 1.0] }",
    );
    assert_eq!(invalid(&both).0.key, "multitrack");
}

#[test]
fn the_multitrack_preset_is_the_papers_setup() {
    assert!(PRESETS.contains(&"multitrack"));
    let e = preset("multitrack").expect("parses");
    let names: Vec<&str> = e.runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["multitrack", "delay-only", "never"]);
    for r in &e.runs {
        let m = r.multitrack.as_ref().expect("multitrack");
        assert_eq!(m.seeders, vec![200, 5, 5]);
        assert_eq!(m.arrivals, vec![3.0, 5.0, 7.0]);
        assert_eq!(m.price(1, 0), Some(20.0));
        assert_eq!(m.price(2, 0), Some(10.0));
        assert_eq!(m.price(0, 1), None);
        assert_eq!(m.price(1, 2), None);
        assert_eq!(m.update, 8.0);
        assert_eq!(m.forwarding.to_string(), r.name);
        assert!(r.seeds.len() >= 3);
        // 40 updates after the warm-up, as the paper's 320 s at 8 s.
        assert_eq!((r.model.duration - r.model.warmup) / m.update, 40.0);
    }
    // The lab's: the same trackers, prices and updates at a fifth of the
    // arrivals and seeds' upload, real swarms (no flow-model keys).
    let lab = lab_preset("multitrack").expect("parses");
    assert_eq!(lab.runs.len(), 3);
    for r in &lab.runs {
        let m = r.multitrack.as_ref().expect("multitrack");
        assert_eq!(m.arrivals, vec![0.6, 1.0, 1.4]);
        let upload: Vec<f64> = m
            .seeders
            .iter()
            .map(|s| f64::from(*s) * r.model.publisher_rate)
            .collect();
        assert!((upload[0] - 0.2 * 200.0 * 0.7).abs() < 1e-9, "{upload:?}");
        assert!((upload[1] - 0.2 * 5.0 * 0.7).abs() < 1e-9, "{upload:?}");
        assert_eq!((m.price(1, 0), m.price(2, 0)), (Some(20.0), Some(10.0)));
        assert_eq!((m.download_cap, m.sharing), (None, 0.0));
        assert_eq!(m.forwarding.to_string(), r.name);
        assert_eq!((r.model.duration - r.model.warmup) / m.update, 20.0);
    }
}
