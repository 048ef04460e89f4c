//! The presets, embedded in the binary; parsed by the same function as user
//! files, with no preset-specific code.

/// Names of the presets, as `--preset NAME` takes them (lab and
/// simulator; `cpm-tau`, `cpm-allocation` and `cross-credit` are papers
/// 003/004's cross-swarm exchange; `multitrack` has numbers of its own in
/// the lab, [`lab_text`]).
pub const PRESETS: &[&str] = &[
    "missing-piece",
    "three-levers",
    "admission",
    "cpm-tau",
    "cpm-allocation",
    "cross-credit",
    "locality",
    "multitrack",
];

/// Presets for the simulator only: `saturation`, the K = 20, 10,000-peer
/// sweep of `riffle sim --sweep` (populations the lab cannot hold),
/// and paper 004's `cpm-churn` (swarms joining and leaving a host: the
/// lab's swarms stay for the whole run).
pub const SIM_PRESETS: &[&str] = &["saturation", "cpm-churn"];

/// The TOML text of preset `name` as the lab runs it: the simulator's
/// `multitrack` is a flow model with its own physics (a download cap, the
/// leechers' useful upload levelling off); the lab's runs real sessions
/// at a fifth of the paper's arrivals.
pub(super) fn lab_text(name: &str) -> Option<&'static str> {
    match name {
        "multitrack" => Some(include_str!("../../presets/multitrack-lab.toml")),
        _ => text(name),
    }
}

/// The TOML text of preset `name`.
pub(super) fn text(name: &str) -> Option<&'static str> {
    match name {
        "missing-piece" => Some(include_str!("../../presets/missing-piece.toml")),
        "three-levers" => Some(include_str!("../../presets/three-levers.toml")),
        "admission" => Some(include_str!("../../presets/admission.toml")),
        "saturation" => Some(include_str!("../../presets/saturation.toml")),
        "cpm-tau" => Some(include_str!("../../presets/cpm-tau.toml")),
        "cpm-allocation" => Some(include_str!("../../presets/cpm-allocation.toml")),
        "cpm-churn" => Some(include_str!("../../presets/cpm-churn.toml")),
        "cross-credit" => Some(include_str!("../../presets/cross-credit.toml")),
        "locality" => Some(include_str!("../../presets/locality.toml")),
        "multitrack" => Some(include_str!("../../presets/multitrack.toml")),
        _ => None,
    }
}
