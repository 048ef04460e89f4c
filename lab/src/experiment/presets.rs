//! The presets, embedded in the binary; parsed by the same function as user
//! files, with no preset-specific code.

/// Names of the presets, as `--preset NAME` takes them.
pub const PRESETS: &[&str] = &["missing-piece", "three-levers", "admission", "cpm-tau"];

/// Presets for the simulator only (populations the lab cannot hold):
/// `saturation`, the K = 20, 10,000-peer sweep of `riffle sim --sweep`.
pub const SIM_PRESETS: &[&str] = &["saturation"];

/// The TOML text of preset `name`.
pub(super) fn text(name: &str) -> Option<&'static str> {
    match name {
        "missing-piece" => Some(include_str!("../../presets/missing-piece.toml")),
        "three-levers" => Some(include_str!("../../presets/three-levers.toml")),
        "admission" => Some(include_str!("../../presets/admission.toml")),
        "saturation" => Some(include_str!("../../presets/saturation.toml")),
        "cpm-tau" => Some(include_str!("../../presets/cpm-tau.toml")),
        _ => None,
    }
}
