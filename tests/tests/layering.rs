//! The crate layering of docs/ARCHITECTURE.md holds, checked on the
//! resolved graph of normal dependencies (`cargo metadata`):
//!
//! - protocol depends on none of ours; storage and policies on protocol
//!   only; the TUI on none of ours. None of them reaches tokio.
//! - client (the engine) stands on those three and reaches none of the
//!   crates built on it (tracker, lab, cli, tui), nor the libraries of
//!   programs: argument parsing, progress bars, plots, experiment files,
//!   screens.
//! - tracker (the built-in tracker) stands on protocol and policies only.
//! - manager stands on the engine; daemon on the manager; neither reaches
//!   the lab, the binary or the TUI, and the engine reaches neither.
//! - lab stands on the engine and the tracker, and reaches no cli or tui.
//! - cli (the `riffle` binary) is the top: no crate of ours depends on it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Normal (non-dev, non-build) dependency edges of the resolved graph,
/// keyed by package name.
fn normal_graph() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(&manifest)
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
    let names: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let mut graph = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let from = names[node["id"].as_str().unwrap()].to_owned();
        let deps = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["kind"].is_null())
            })
            .map(|d| names[d["pkg"].as_str().unwrap()].to_owned())
            .collect();
        graph.insert(from, deps);
    }
    graph
}

fn reachable(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_owned()];
    while let Some(n) = stack.pop() {
        for d in graph.get(&n).into_iter().flatten() {
            if seen.insert(d.clone()) {
                stack.push(d.clone());
            }
        }
    }
    seen
}

/// riffle's own crates `krate` depends on directly.
fn ours(graph: &BTreeMap<String, BTreeSet<String>>, krate: &str) -> BTreeSet<String> {
    graph
        .get(krate)
        .unwrap_or_else(|| panic!("{krate} is not in the workspace"))
        .iter()
        .filter(|d| d.starts_with("riffle-"))
        .cloned()
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[test]
fn only_the_engine_and_above_reach_tokio() {
    let graph = normal_graph();
    for krate in ["riffle-protocol", "riffle-storage", "riffle-policies"] {
        let deps = reachable(&graph, krate);
        assert!(
            !deps.contains("tokio"),
            "{krate} must not depend on tokio (directly or not)"
        );
        assert!(
            !deps.contains("mio"),
            "{krate} must not depend on an I/O reactor"
        );
    }
    // The terminal UI reads keys through crossterm (which has its own mio
    // poll) but runs no async runtime: the binary drives it.
    assert!(!reachable(&graph, "riffle-tui").contains("tokio"));
    assert!(reachable(&graph, "riffle-client").contains("tokio"));
}

#[test]
fn riffle_crates_depend_one_way() {
    let graph = normal_graph();
    assert!(ours(&graph, "riffle-protocol").is_empty());
    assert!(ours(&graph, "riffle-tui").is_empty());
    assert_eq!(ours(&graph, "riffle-storage"), set(&["riffle-protocol"]));
    assert_eq!(ours(&graph, "riffle-policies"), set(&["riffle-protocol"]));
    assert_eq!(
        ours(&graph, "riffle-client"),
        set(&["riffle-protocol", "riffle-storage", "riffle-policies"])
    );
    assert_eq!(
        ours(&graph, "riffle-tracker"),
        set(&["riffle-protocol", "riffle-policies"])
    );
}

#[test]
fn the_engine_reaches_nothing_built_on_it() {
    let graph = normal_graph();
    let deps = reachable(&graph, "riffle-client");
    for above in ["riffle-tracker", "riffle-lab", "riffle-cli", "riffle-tui"] {
        assert!(
            !deps.contains(above),
            "riffle-client must not reach {above}"
        );
    }
    // The libraries of programs, not of an engine.
    for lib in [
        "clap",
        "indicatif",
        "plotters",
        "toml",
        "ratatui",
        "crossterm",
    ] {
        assert!(!deps.contains(lib), "riffle-client must not reach {lib}");
    }
}

#[test]
fn the_manager_and_the_daemon_sit_on_the_engine() {
    let graph = normal_graph();
    assert_eq!(
        ours(&graph, "riffle-manager"),
        set(&[
            "riffle-protocol",
            "riffle-storage",
            "riffle-policies",
            "riffle-client"
        ])
    );
    assert!(ours(&graph, "riffle-daemon").contains("riffle-manager"));
    for krate in ["riffle-manager", "riffle-daemon"] {
        let deps = reachable(&graph, krate);
        for other in ["riffle-lab", "riffle-cli", "riffle-tui", "riffle-tracker"] {
            assert!(!deps.contains(other), "{krate} must not reach {other}");
        }
        for lib in ["clap", "indicatif", "ratatui", "plotters"] {
            assert!(!deps.contains(lib), "{krate} must not reach {lib}");
        }
    }
    assert!(!reachable(&graph, "riffle-manager").contains("riffle-daemon"));
}

#[test]
fn the_lab_reaches_no_front_end() {
    let graph = normal_graph();
    let deps = reachable(&graph, "riffle-lab");
    assert!(deps.contains("riffle-client") && deps.contains("riffle-tracker"));
    for above in ["riffle-cli", "riffle-tui"] {
        assert!(!deps.contains(above), "riffle-lab must not reach {above}");
    }
    for lib in ["clap", "indicatif", "ratatui"] {
        assert!(!deps.contains(lib), "riffle-lab must not reach {lib}");
    }
}

#[test]
fn nothing_depends_on_the_binary() {
    let graph = normal_graph();
    for (krate, deps) in &graph {
        assert!(
            !deps.contains("riffle-cli"),
            "{krate} depends on riffle-cli, the binary's crate"
        );
    }
}
