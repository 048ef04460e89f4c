//! The presets, embedded in the binary; parsed by the same function as user
//! files, with no preset-specific code.

/// Names of the presets, as `--preset NAME` takes them (lab and
/// simulator; `cpm-tau`, `cpm-allocation` and `cross-credit` are papers
/// 003/004's cross-swarm exchange).
pub const PRESETS: &[&str] = &[
    "missing-piece",
    "three-levers",
    "admission",
    "cpm-tau",
    "cpm-allocation",
    "cross-credit",
    "locality",
];

/// Presets for the simulator only: `saturation`, the K = 20, 10,000-peer
/// sweep of `riffle sim --sweep` (populations the lab cannot hold),
/// paper 004's `cpm-churn` (swarms joining and leaving a host: the lab's
/// swarms stay for the whole run) and paper 000's `multitrack` (trackers
/// forwarding arrivals between three ISPs' swarms, a flow-level model).
pub const SIM_PRESETS: &[&str] = &["saturation", "cpm-churn", "multitrack"];

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
