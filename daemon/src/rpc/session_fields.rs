//! `session-get`, `session-set` and `session-stats` in Transmission's
//! names and units (speeds in kB/s of 1000 bytes, times in minutes).
//! Settings riffle does not have (blocklists, DHT, uTP, incomplete
//! directories, ...) are reported as what riffle does — off — and refused
//! by `session-set` when a client asks to turn them on, rather than
//! accepted and ignored.

use std::path::PathBuf;

use riffle_manager::{SessionStats, Settings, SettingsChange, Totals};
use serde_json::{json, Map, Value};

use super::args::Args;
use super::call::SPEED_UNIT;
use super::{RPC_VERSION, RPC_VERSION_MINIMUM};

/// What `session-get` reports besides the settings.
#[derive(Clone, Debug)]
pub struct SessionFacts {
    /// The CSRF token.
    pub session_id: String,
    /// The state directory (Transmission's `config-dir`).
    pub config_dir: PathBuf,
    /// The port peers reach us on.
    pub peer_port: u16,
    /// Free bytes in the download directory, when known.
    pub download_dir_free_space: Option<u64>,
    /// The session runs a DHT node.
    pub dht_enabled: bool,
}

/// riffle's version as Transmission formats it.
pub fn version() -> String {
    format!("riffle {} (rpc {RPC_VERSION})", env!("CARGO_PKG_VERSION"))
}

/// Every field of `session-get`, or the asked ones.
pub fn get(s: &Settings, facts: &SessionFacts, fields: Option<&[String]>) -> Map<String, Value> {
    let kb = |b: u64| b / SPEED_UNIT;
    let units = json!({
        "speed-units": ["kB/s", "MB/s", "GB/s", "TB/s"],
        "speed-bytes": SPEED_UNIT,
        "size-units": ["kB", "MB", "GB", "TB"],
        "size-bytes": 1000,
        "memory-units": ["KiB", "MiB", "GiB", "TiB"],
        "memory-bytes": 1024,
    });
    let all = json!({
        "alt-speed-down": kb(s.alt_speed_down),
        "alt-speed-enabled": s.alt_speed_enabled,
        "alt-speed-time-begin": 540,
        "alt-speed-time-enabled": false,
        "alt-speed-time-end": 1020,
        "alt-speed-time-day": 127,
        "alt-speed-up": kb(s.alt_speed_up),
        "blocklist-url": "",
        "blocklist-enabled": false,
        "blocklist-size": 0,
        "cache-size-mb": 0,
        "config-dir": facts.config_dir.to_string_lossy(),
        "download-dir": s.download_dir.to_string_lossy(),
        "download-dir-free-space": facts.download_dir_free_space.map_or(-1, |b| b as i64),
        "download-queue-size": s.download_queue_size,
        "download-queue-enabled": s.download_queue_enabled,
        "dht-enabled": facts.dht_enabled,
        "encryption": "tolerated",
        "idle-seeding-limit": s.idle_seeding_limit,
        "idle-seeding-limit-enabled": s.idle_seeding_limit_enabled,
        "incomplete-dir": s.download_dir.to_string_lossy(),
        "incomplete-dir-enabled": false,
        "lpd-enabled": false,
        "peer-limit-global": s.peer_limit_global,
        "peer-limit-per-torrent": s.peer_limit_per_torrent,
        // Every public torrent exchanges peers (BEP 11).
        "pex-enabled": true,
        "peer-port": facts.peer_port,
        "peer-port-random-on-start": false,
        "port-forwarding-enabled": false,
        "queue-stalled-enabled": s.queue_stalled_enabled,
        "queue-stalled-minutes": s.queue_stalled_minutes,
        "rename-partial-files": false,
        "rpc-version": RPC_VERSION,
        "rpc-version-minimum": RPC_VERSION_MINIMUM,
        "script-torrent-done-enabled": false,
        "script-torrent-done-filename": "",
        "seedRatioLimit": s.seed_ratio_limit,
        "seedRatioLimited": s.seed_ratio_limited,
        "seed-queue-size": s.seed_queue_size,
        "seed-queue-enabled": s.seed_queue_enabled,
        "session-id": facts.session_id,
        "speed-limit-down": kb(s.speed_limit_down),
        "speed-limit-down-enabled": s.speed_limit_down_enabled,
        "speed-limit-up": kb(s.speed_limit_up),
        "speed-limit-up-enabled": s.speed_limit_up_enabled,
        "start-added-torrents": s.start_added_torrents,
        "trash-original-torrent-files": false,
        "units": units,
        "utp-enabled": false,
        "version": version(),
    });
    let Value::Object(mut all) = all else {
        unreachable!("a json! object")
    };
    match fields {
        None => all,
        Some(fields) => fields
            .iter()
            .filter_map(|f| all.remove(f).map(|v| (f.clone(), v)))
            .collect(),
    }
}

/// Features riffle does not have: a client may set them off (a no-op),
/// not on.
const ABSENT_FEATURES: &[&str] = &[
    "blocklist-enabled",
    "lpd-enabled",
    "utp-enabled",
    "port-forwarding-enabled",
    "incomplete-dir-enabled",
    "rename-partial-files",
    "script-torrent-done-enabled",
    "alt-speed-time-enabled",
    "trash-original-torrent-files",
    "peer-port-random-on-start",
];

/// Features set in the config file, not at run time: `session-set` may
/// name them with the value they have (Transmission's remote tools send
/// them along), not change them.
pub const FIXED_FEATURES: &[&str] = &["dht-enabled", "pex-enabled"];

/// The [`FIXED_FEATURES`] a `session-set` names, with their values.
pub fn fixed_features(a: &Args) -> Result<Vec<(&'static str, bool)>, String> {
    let mut out = Vec::new();
    for key in FIXED_FEATURES {
        if let Some(v) = a.bool(key)? {
            out.push((*key, v));
        }
    }
    Ok(out)
}

/// The `peer-port` a `session-set` names, if any (the daemon refuses a
/// change: the port is set in the config file).
pub fn peer_port(a: &Args) -> Result<Option<u16>, String> {
    a.u64("peer-port")?
        .map(|p| u16::try_from(p).map_err(|_| format!("peer-port {p} is not a port")))
        .transpose()
}

/// `session-set`'s arguments as changes to the settings.
pub fn parse_set(a: &Args) -> Result<SettingsChange, String> {
    for key in ABSENT_FEATURES {
        if a.bool(key)? == Some(true) {
            return Err(format!("{key}: riffle does not support this yet"));
        }
    }
    if let Some(e) = a.str("encryption")? {
        if e != "tolerated" {
            return Err(format!(
                "encryption {e:?}: riffle speaks only plaintext so far (tolerated)"
            ));
        }
    }
    let speed = |key: &str| -> Result<Option<u64>, String> {
        a.u64(key)?
            .map(|kb| {
                kb.checked_mul(SPEED_UNIT)
                    .ok_or_else(|| format!("{key} is too large"))
            })
            .transpose()
    };
    let download_dir = a
        .str("download-dir")?
        .map(|d| {
            let p = PathBuf::from(d);
            if p.is_absolute() {
                Ok(p)
            } else {
                Err("download directory path is not absolute".to_owned())
            }
        })
        .transpose()?;
    let nonzero = |key: &str| -> Result<Option<usize>, String> {
        match a.count(key)? {
            Some(0) => Err(format!("{key} must be at least 1")),
            other => Ok(other),
        }
    };
    Ok(SettingsChange {
        download_dir,
        speed_limit_down: speed("speed-limit-down")?,
        speed_limit_down_enabled: a.bool("speed-limit-down-enabled")?,
        speed_limit_up: speed("speed-limit-up")?,
        speed_limit_up_enabled: a.bool("speed-limit-up-enabled")?,
        alt_speed_down: speed("alt-speed-down")?,
        alt_speed_up: speed("alt-speed-up")?,
        alt_speed_enabled: a.bool("alt-speed-enabled")?,
        download_queue_enabled: a.bool("download-queue-enabled")?,
        download_queue_size: a.count("download-queue-size")?,
        seed_queue_enabled: a.bool("seed-queue-enabled")?,
        seed_queue_size: a.count("seed-queue-size")?,
        queue_stalled_enabled: a.bool("queue-stalled-enabled")?,
        queue_stalled_minutes: a.u32("queue-stalled-minutes")?,
        seed_ratio_limited: a.bool("seedRatioLimited")?,
        seed_ratio_limit: a.ratio("seedRatioLimit")?,
        idle_seeding_limit_enabled: a.bool("idle-seeding-limit-enabled")?,
        idle_seeding_limit: a.u32("idle-seeding-limit")?,
        peer_limit_global: nonzero("peer-limit-global")?,
        peer_limit_per_torrent: nonzero("peer-limit-per-torrent")?,
        start_added_torrents: a.bool("start-added-torrents")?,
    })
}

fn totals(t: &Totals) -> Value {
    json!({
        "uploadedBytes": t.uploaded_bytes,
        "downloadedBytes": t.downloaded_bytes,
        "filesAdded": t.files_added,
        "sessionCount": t.session_count,
        "secondsActive": t.seconds_active,
    })
}

/// `session-stats`.
pub fn stats(s: &SessionStats) -> Map<String, Value> {
    let Value::Object(m) = json!({
        "activeTorrentCount": s.active_torrent_count,
        "downloadSpeed": s.download_speed,
        "pausedTorrentCount": s.paused_torrent_count,
        "torrentCount": s.torrent_count,
        "uploadSpeed": s.upload_speed,
        "cumulative-stats": totals(&s.cumulative),
        "current-stats": totals(&s.current),
    }) else {
        unreachable!("a json! object")
    };
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> SessionFacts {
        SessionFacts {
            session_id: "abc".into(),
            config_dir: "/state".into(),
            peer_port: 51413,
            download_dir_free_space: Some(5),
            dht_enabled: true,
        }
    }

    #[test]
    fn get_reports_settings_in_transmissions_units() {
        let s = Settings::default();
        let all = get(&s, &facts(), None);
        assert_eq!(all["speed-limit-down"], 100);
        assert_eq!(all["rpc-version"], 16);
        assert_eq!(all["session-id"], "abc");
        assert_eq!(all["peer-port"], 51413);
        let some = get(&s, &facts(), Some(&["version".into(), "nope".into()]));
        assert_eq!(some.len(), 1);
    }

    #[test]
    fn set_converts_and_refuses_what_riffle_lacks() {
        let m = serde_json::json!({"speed-limit-down": 250, "speed-limit-down-enabled": true,
            "download-queue-size": 3, "dht-enabled": false});
        let c = parse_set(&Args(m.as_object().unwrap())).unwrap();
        assert_eq!(c.speed_limit_down, Some(250_000));
        assert_eq!(c.speed_limit_down_enabled, Some(true));
        assert_eq!(c.download_queue_size, Some(3));
        let fixed = serde_json::json!({"dht-enabled": true, "pex-enabled": false});
        assert_eq!(
            fixed_features(&Args(fixed.as_object().unwrap())).unwrap(),
            vec![("dht-enabled", true), ("pex-enabled", false)]
        );
        for bad in [
            serde_json::json!({"utp-enabled": true}),
            serde_json::json!({"encryption": "required"}),
            serde_json::json!({"speed-limit-up": -1}),
            serde_json::json!({"peer-limit-global": 0}),
            serde_json::json!({"download-dir": "relative"}),
        ] {
            assert!(parse_set(&Args(bad.as_object().unwrap())).is_err(), "{bad}");
        }
    }
}
