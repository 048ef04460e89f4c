//! The crate layering of DESIGN.md holds: only `riffle-client` reaches
//! tokio, and riffle's own crates depend one way (protocol on none of ours,
//! storage and policies on protocol only).

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

#[test]
fn only_the_client_depends_on_tokio() {
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
    assert!(reachable(&graph, "riffle-client").contains("tokio"));
}

#[test]
fn riffle_crates_depend_one_way() {
    let graph = normal_graph();
    let ours = |krate: &str| -> BTreeSet<String> {
        graph[krate]
            .iter()
            .filter(|d| d.starts_with("riffle-"))
            .cloned()
            .collect()
    };
    assert!(ours("riffle-protocol").is_empty());
    let only_protocol: BTreeSet<String> = ["riffle-protocol".to_owned()].into();
    assert_eq!(ours("riffle-storage"), only_protocol);
    assert_eq!(ours("riffle-policies"), only_protocol);
}
