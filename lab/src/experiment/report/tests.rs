//! Report tests: summaries over seeds, the table, JSON, CSV and the SVG
//! files.

use super::*;

fn result(name: &str, seed: u64, thr: f64, dl: f64) -> RunResult {
    let mut policies = BTreeMap::new();
    policies.insert("publisher".to_string(), "random+random-useful".to_string());
    policies.insert("peers".to_string(), "random+random-useful".to_string());
    RunResult {
        name: name.to_string(),
        seed,
        policies,
        throughput_u: thr,
        mean_download_time: dl,
        one_club_peak: u32::try_from(seed).unwrap_or(0) * 10,
        population_mean: thr * 10.0,
        completions: 7,
        cpm: Vec::new(),
        swarms: None,
        cross: None,
        locality: None,
        multitrack: None,
    }
}

fn samples(n: u32) -> Vec<Sample> {
    (0..n)
        .map(|i| Sample {
            t: f64::from(i),
            population: i,
            one_club: i / 2,
            departures: u64::from(i) * 3,
            publisher_rate: 1.0,
            peer_rate: 2.5,
        })
        .collect()
}

#[test]
fn summarize_groups_by_name_in_first_appearance_order() {
    let rs = [
        result("b", 1, 1.0, 10.0),
        result("a", 1, 3.0, 5.0),
        result("b", 2, 2.0, f64::NAN),
        result("b", 3, 3.0, 20.0),
    ];
    let s = summarize(&rs);
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].name, "b");
    assert_eq!(s[0].seeds, vec![1, 2, 3]);
    assert!((s[0].throughput_u.mean - 2.0).abs() < 1e-12);
    assert_eq!(s[0].throughput_u.min, 1.0);
    assert_eq!(s[0].throughput_u.max, 3.0);
    // NaN (no completion in a replicate) is left out of the mean.
    assert!((s[0].mean_download_time.mean - 15.0).abs() < 1e-12);
    assert!((s[0].one_club_peak.mean - 20.0).abs() < 1e-12);
    assert_eq!(s[1].name, "a");
    assert_eq!(s[1].seeds, vec![1]);
    assert_eq!(s[1].throughput_u.min, s[1].throughput_u.max);
    assert!(summarize(&[]).is_empty());
}

#[test]
fn stat_of_nothing_is_nan() {
    let s = Stat::of([f64::NAN]);
    assert!(s.mean.is_nan() && s.min.is_nan() && s.max.is_nan());
}

#[test]
fn table_has_a_header_and_one_aligned_line_per_run() {
    let s = summarize(&[
        result("long-run-name", 1, 1.234, 9.0),
        result("x", 1, 10.5, 2.0),
    ]);
    let t = summary_table(&s);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("run"));
    assert!(lines[1].starts_with("long-run-name") && lines[1].contains("1.23"));
    assert!(lines[2].starts_with("x ") && lines[2].contains("10.50"));
    // Right-aligned numbers end at the same column.
    let col = |l: &str, pat: &str| l.find(pat).map(|i| i + pat.len());
    assert_eq!(col(lines[1], "1.23 "), col(lines[2], "10.50 "));
}

#[test]
fn json_is_a_list_of_runs_with_the_contract_fields() {
    let s = summarize(&[result("a", 1, 2.0, 4.0), result("a", 2, 4.0, f64::NAN)]);
    let v: serde_json::Value = serde_json::from_str(&json_summary(&s)).expect("valid JSON");
    let runs = v.as_array().expect("a list");
    assert_eq!(runs.len(), 1);
    let r = &runs[0];
    for key in [
        "name",
        "policies",
        "throughput_u",
        "mean_download_time",
        "one_club_peak",
        "population_mean",
    ] {
        assert!(r.get(key).is_some(), "missing {key}");
    }
    assert_eq!(r["name"], "a");
    assert_eq!(r["throughput_u"], 3.0);
    assert_eq!(r["throughput_u_min"], 2.0);
    assert_eq!(r["policies"]["publisher"], "random+random-useful");
    assert_eq!(r["mean_download_time"], 4.0);
    // All-NaN becomes null, not invalid JSON.
    let s = summarize(&[result("n", 1, 1.0, f64::NAN)]);
    let v: serde_json::Value = serde_json::from_str(&json_summary(&s)).expect("valid JSON");
    assert!(v[0]["mean_download_time"].is_null());
}

#[test]
fn csv_round_trips_the_samples() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(csv_file_name("a/b, c", 3));
    assert_eq!(
        path.file_name().and_then(|f| f.to_str()),
        Some("a_b__c-seed3.csv")
    );
    let ss = samples(5);
    write_csv(&path, "a, \"b\"", 3, &ss).expect("writes");
    let text = std::fs::read_to_string(&path).expect("reads");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], csv::CSV_HEADER);
    assert_eq!(lines.len(), 6);
    assert!(lines[1].starts_with("\"a, \"\"b\"\"\",3,"), "{}", lines[1]);
    // Numeric columns read back.
    let last: Vec<&str> = lines[5].rsplitn(7, ',').collect();
    assert_eq!(last[4], "4", "population");
    assert_eq!(last[3], "2", "one club");
    assert_eq!(last[2], "12", "departures");
    assert_eq!(last[0].parse::<f64>().ok(), Some(2.5));
}

#[test]
fn outputs_are_written_and_svgs_hold_text_and_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outputs = Outputs {
        results: vec![
            result("run-a", 1, 1.0, 3.0),
            result("run-a", 2, 1.5, 3.0),
            result("run-b", 1, 2.0, 4.0),
        ],
        series: vec![
            ("run-a".into(), 1, samples(20)),
            ("run-a".into(), 2, samples(20)),
            ("run-b".into(), 1, samples(10)),
        ],
    };
    let files = write_outputs(dir.path(), "demo", &outputs).expect("writes");
    let names: Vec<String> = files
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(String::from))
        .collect();
    for n in [
        "summary.txt",
        "summary.json",
        "run-a-seed1.csv",
        "run-a-seed2.csv",
        "run-b-seed1.csv",
        "timeseries.svg",
        "throughput.svg",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} not in {names:?}");
        assert!(dir.path().join(n).is_file());
    }
    let ts = std::fs::read_to_string(dir.path().join("timeseries.svg")).expect("svg");
    assert!(ts.starts_with("<svg") || ts.contains("<svg"));
    assert!(ts.contains("<text") && ts.contains("run-a") && ts.contains("run-b"));
    assert!(ts.contains("<polyline"), "line series drawn");
    let th = std::fs::read_to_string(dir.path().join("throughput.svg")).expect("svg");
    assert!(th.contains("run-a") && th.contains("run-b") && th.contains("<circle"));
    let summary = std::fs::read_to_string(dir.path().join("summary.txt")).expect("txt");
    assert!(summary.contains("run-a") && summary.contains("1.25"));
}

#[test]
fn curves_plot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sweep.svg");
    let curves = [
        Curve {
            label: "sim".into(),
            points: vec![(1.0, 1.0), (2.0, 1.9), (4.0, 3.0)],
            markers: true,
        },
        Curve {
            label: "formula".into(),
            points: vec![(0.0, 0.0), (4.0, 4.0)],
            markers: false,
        },
    ];
    plot_curves(&path, "sweep", "lambda", "throughput", &curves).expect("plots");
    let svg = std::fs::read_to_string(&path).expect("svg");
    assert!(svg.contains("formula") && svg.contains("lambda") && svg.contains("<circle"));
}
