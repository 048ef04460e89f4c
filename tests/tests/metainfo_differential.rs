//! Differential test of `.torrent` parsing: riffle against libtorrent 2.0.
//!
//! A few hundred torrents — valid ones of every shape, one for each
//! validation rule broken, hostile paths, and seeded random mutations and
//! truncations of valid ones — are written to a temporary directory. One
//! python process loads them all with `lt.torrent_info`
//! (`tests/scripts/lt_info.py`); `riffle info --json` reads each. Both must
//! accept and refuse the same files, and for accepted ones agree on the
//! info-hash, name, total length, piece length and count, and the list of
//! files (paths after sanitization and duplicate renaming, and lengths).
//! Pad files are left out of the file lists on both sides (`riffle info`
//! does not list them; they still count in the total length).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use riffle_tests::{require_libtorrent, riffle_bin, script};
use serde_json::Value as Json;

/// Fixed seed: the run is reproducible.
const SEED: u64 = 0x005e_ed0f_7a11;

#[path = "metainfo_differential/build.rs"]
mod build;
#[path = "metainfo_differential/cases.rs"]
mod cases;

use build::Rng;
use cases::{
    builder_cases, hostile_cases, hybrid_cases, malformed_cases, mutations, random_path_cases,
    valid_cases,
};

/// What libtorrent made of one file.
fn lt_results(python: &str, dir: &Path) -> HashMap<String, Json> {
    let out = Command::new(python)
        .arg(script("lt_info.py"))
        .arg(dir)
        .output()
        .expect("could not run the libtorrent helper");
    assert!(
        out.status.success(),
        "lt_info.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Json>(l).expect("lt_info.py printed bad JSON"))
        .map(|v| (v["file"].as_str().unwrap_or_default().to_owned(), v))
        .collect()
}

/// Compare one torrent; `Err` describes the disagreement.
fn compare(name: &str, path: &Path, lt: &Json) -> Result<bool, String> {
    let out = Command::new(riffle_bin())
        .arg("info")
        .arg(path)
        .arg("--json")
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lt_ok = lt["ok"].as_bool().unwrap_or(false);
    if !out.status.success() {
        if out.status.code() != Some(2) || stderr.contains("panicked") {
            return Err(format!(
                "{name}: riffle failed badly ({:?}): {stderr}",
                out.status
            ));
        }
        return if lt_ok {
            Err(format!(
                "{name}: libtorrent accepts, riffle refuses: {}",
                stderr.trim()
            ))
        } else {
            Ok(false)
        };
    }
    if !lt_ok {
        return Err(format!(
            "{name}: riffle accepts, libtorrent refuses: {}",
            lt["error"]
        ));
    }
    let r: Json =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("{name}: riffle JSON: {e}"))?;
    // A v2-only torrent has no SHA-1 info-hash: libtorrent says none, riffle
    // names its swarm by the truncated SHA-256 (as BEP 52 has it on the wire).
    let lt_v1 = match (&lt["info_hash"], lt["info_hash_v2"].as_str()) {
        (Json::Null, Some(v2)) => Json::from(&v2[..40]),
        (v1, _) => v1.clone(),
    };
    let checks = [
        ("info_hash", r["info_hash"].clone(), lt_v1),
        (
            "info_hash_v2",
            r["info_hash_v2"].clone(),
            lt["info_hash_v2"].clone(),
        ),
        ("name", r["name"].clone(), lt["name"].clone()),
        (
            "total_length",
            r["total_length"].clone(),
            lt["total_size"].clone(),
        ),
        (
            "piece_length",
            r["piece_length"].clone(),
            lt["piece_length"].clone(),
        ),
        (
            "piece_count",
            r["piece_count"].clone(),
            lt["num_pieces"].clone(),
        ),
    ];
    for (what, ours, theirs) in checks {
        if ours != theirs {
            return Err(format!(
                "{name}: {what} differs: riffle {ours} libtorrent {theirs}"
            ));
        }
    }
    let ours: Vec<(String, u64)> = r["files"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f["path"].as_str().unwrap_or_default().to_owned(),
                f["length"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect();
    let theirs: Vec<(String, u64)> = lt["files"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| !f["pad"].as_bool().unwrap_or(false))
        .map(|f| {
            (
                f["path"].as_str().unwrap_or_default().to_owned(),
                f["size"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect();
    if ours != theirs {
        return Err(format!(
            "{name}: files differ:\n  riffle     {ours:?}\n  libtorrent {theirs:?}"
        ));
    }
    Ok(true)
}

#[test]
fn metainfo_matches_libtorrent() {
    let python = require_libtorrent();
    let mut rng = Rng(SEED);
    let valid = valid_cases(&mut rng);
    let mut cases = valid.clone();
    cases.extend(hostile_cases());
    cases.extend(hybrid_cases());
    cases.extend(builder_cases(&mut rng));
    cases.extend(random_path_cases(&mut rng, 150));
    let hostile_and_valid: Vec<_> = cases
        .iter()
        .filter(|c| !c.0.starts_with("diverge-"))
        .cloned()
        .collect();
    cases.extend(malformed_cases());
    cases.extend(mutations(&hostile_and_valid, &mut rng, 300));

    let dir = tempfile::tempdir().expect("tempdir");
    // RIFFLE_KEEP_TORRENTS=<dir>: keep the generated files there to debug.
    let keep = std::env::var_os("RIFFLE_KEEP_TORRENTS");
    for (i, (name, data)) in cases.iter().enumerate() {
        std::fs::write(dir.path().join(format!("{i:04}-{name}.torrent")), data)
            .expect("write torrent");
    }
    if let Some(keep) = &keep {
        let _ = std::fs::create_dir_all(keep);
        for entry in std::fs::read_dir(dir.path())
            .expect("read tempdir")
            .flatten()
        {
            let _ = std::fs::copy(entry.path(), Path::new(keep).join(entry.file_name()));
        }
    }
    let lt = lt_results(python, dir.path());
    assert_eq!(lt.len(), cases.len(), "libtorrent helper skipped files");

    let (mut accepted, mut refused, mut compared) = (0, 0, 0);
    let mut failures = Vec::new();
    let mut names: Vec<&String> = lt.keys().collect();
    names.sort();
    for name in names {
        match compare(name, &dir.path().join(name), &lt[name]) {
            Ok(true) => {
                accepted += 1;
                compared += 1;
            }
            Ok(false) => {
                refused += 1;
                compared += 1;
            }
            Err(e) => failures.push(e),
        }
    }
    println!(
        "metainfo differential (seed {SEED:#x}): {} torrents, {accepted} accepted by both, {refused} refused by both, {compared} agree, {} disagree",
        cases.len(),
        failures.len()
    );
    assert!(
        accepted > 50 && refused > 50,
        "the generated mix should exercise both sides"
    );
    assert!(
        failures.is_empty(),
        "riffle and libtorrent disagree on {} torrents:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
