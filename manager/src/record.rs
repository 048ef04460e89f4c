//! What the manager remembers of each torrent across restarts: its
//! settings, its place in the queue and its lifetime counters, one JSON
//! file per torrent in the state directory (`torrents/<info-hash>.json`,
//! beside `<info-hash>.torrent`).

use std::path::PathBuf;
use std::time::Duration;

use riffle_policies::catalog::{PickerKind, SeedChokerKind};
use riffle_policies::queue::SeedLimits;
use serde::{Deserialize, Serialize};

use crate::settings::Settings;

/// Which seeding limit applies to a torrent (Transmission's
/// `seedRatioMode` and `seedIdleMode`: 0, 1, 2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LimitMode {
    /// The session's.
    #[default]
    Global,
    /// The torrent's own.
    Single,
    /// None.
    Unlimited,
}

impl LimitMode {
    /// Transmission's number for it.
    pub fn code(self) -> u8 {
        match self {
            LimitMode::Global => 0,
            LimitMode::Single => 1,
            LimitMode::Unlimited => 2,
        }
    }

    /// From Transmission's number.
    pub fn from_code(code: i64) -> Option<LimitMode> {
        match code {
            0 => Some(LimitMode::Global),
            1 => Some(LimitMode::Single),
            2 => Some(LimitMode::Unlimited),
            _ => None,
        }
    }
}

/// One torrent's durable state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TorrentRecord {
    /// The manager's id for it (stable across restarts).
    pub id: u32,
    /// Directory its data lives under.
    pub download_dir: PathBuf,
    /// Stopped by the user (or by a seed limit): the queue leaves it.
    #[serde(default)]
    pub paused: bool,
    /// Stopped because a seed limit was reached (Transmission's
    /// `isFinished`).
    #[serde(default)]
    pub finished: bool,
    /// Position in the queue (0 first).
    #[serde(default)]
    pub queue_position: usize,
    /// Free labels.
    #[serde(default)]
    pub labels: Vec<String>,
    /// The torrent's own download limit, bytes/s, when `download_limited`.
    #[serde(default)]
    pub download_limit: u64,
    /// Whether `download_limit` applies.
    #[serde(default)]
    pub download_limited: bool,
    /// The torrent's own upload limit, bytes/s, when `upload_limited`.
    #[serde(default)]
    pub upload_limit: u64,
    /// Whether `upload_limit` applies.
    #[serde(default)]
    pub upload_limited: bool,
    /// Draw on the session's limits too.
    #[serde(default = "yes")]
    pub honors_session_limits: bool,
    /// Peer connections at most.
    pub peer_limit: usize,
    /// Which ratio limit applies.
    #[serde(default)]
    pub seed_ratio_mode: LimitMode,
    /// The torrent's own ratio limit (with [`LimitMode::Single`]).
    #[serde(default = "two")]
    pub seed_ratio_limit: f64,
    /// Which idle limit applies.
    #[serde(default)]
    pub seed_idle_mode: LimitMode,
    /// The torrent's own idle limit, minutes (with [`LimitMode::Single`]).
    #[serde(default = "thirty")]
    pub seed_idle_limit: u32,
    /// Per file, whether to download it (empty: every file).
    #[serde(default)]
    pub files_wanted: Vec<bool>,
    /// Unix time it was added.
    pub added_date: i64,
    /// Unix time it completed (0: not yet).
    #[serde(default)]
    pub done_date: i64,
    /// Unix time of its last transfer (0: never).
    #[serde(default)]
    pub activity_date: i64,
    /// Payload bytes received over its lifetime.
    #[serde(default)]
    pub downloaded_ever: u64,
    /// Payload bytes sent over its lifetime.
    #[serde(default)]
    pub uploaded_ever: u64,
    /// Bytes received that failed their hash check.
    #[serde(default)]
    pub corrupt_ever: u64,
    /// Seconds spent downloading.
    #[serde(default)]
    pub seconds_downloading: u64,
    /// Seconds spent seeding.
    #[serde(default)]
    pub seconds_seeding: u64,
    /// Verified bytes when it last ran (what a stopped torrent shows).
    #[serde(default)]
    pub have_valid: u64,
    /// Its own piece picker (None: the session's).
    #[serde(default)]
    pub picker: Option<PickerKind>,
    /// Its own seed choker (None: the session's).
    #[serde(default)]
    pub seed_choker: Option<SeedChokerKind>,
    /// Its own one-club rate, bytes/s (None: the session's).
    #[serde(default)]
    pub one_club_rate: Option<u64>,
    /// Peers to dial besides its trackers' (a magnet link's `x.pe`).
    #[serde(default)]
    pub extra_peers: Vec<String>,
}

fn yes() -> bool {
    true
}
fn two() -> f64 {
    2.0
}
fn thirty() -> u32 {
    30
}

impl TorrentRecord {
    /// A new torrent's record, with the session's defaults.
    pub fn new(id: u32, download_dir: PathBuf, settings: &Settings, now: i64) -> TorrentRecord {
        TorrentRecord {
            id,
            download_dir,
            paused: false,
            finished: false,
            queue_position: 0,
            labels: Vec::new(),
            download_limit: 100_000,
            download_limited: false,
            upload_limit: 100_000,
            upload_limited: false,
            honors_session_limits: true,
            peer_limit: settings.peer_limit_per_torrent,
            seed_ratio_mode: LimitMode::Global,
            seed_ratio_limit: 2.0,
            seed_idle_mode: LimitMode::Global,
            seed_idle_limit: 30,
            files_wanted: Vec::new(),
            added_date: now,
            done_date: 0,
            activity_date: 0,
            downloaded_ever: 0,
            uploaded_ever: 0,
            corrupt_ever: 0,
            seconds_downloading: 0,
            seconds_seeding: 0,
            have_valid: 0,
            picker: None,
            seed_choker: None,
            one_club_rate: None,
            extra_peers: Vec::new(),
        }
    }

    /// The torrent's own rate limits, bytes/s (upload, download; 0:
    /// unlimited).
    pub fn rate_limits(&self) -> (u64, u64) {
        (
            if self.upload_limited {
                self.upload_limit
            } else {
                0
            },
            if self.download_limited {
                self.download_limit
            } else {
                0
            },
        )
    }

    /// The seeding limits in force, its own or the session's.
    pub fn seed_limits(&self, settings: &Settings) -> SeedLimits {
        let session = settings.seed_limits();
        SeedLimits {
            ratio: match self.seed_ratio_mode {
                LimitMode::Global => session.ratio,
                LimitMode::Single => Some(self.seed_ratio_limit),
                LimitMode::Unlimited => None,
            },
            idle: match self.seed_idle_mode {
                LimitMode::Global => session.idle,
                LimitMode::Single => {
                    Some(Duration::from_secs(u64::from(self.seed_idle_limit) * 60))
                }
                LimitMode::Unlimited => None,
            },
        }
    }

    /// Is file `i` wanted?
    pub fn wanted(&self, i: usize) -> bool {
        self.files_wanted.get(i).copied().unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_the_modes() {
        let settings = Settings {
            seed_ratio_limited: true,
            seed_ratio_limit: 1.5,
            ..Settings::default()
        };
        let mut r = TorrentRecord::new(1, "/d".into(), &settings, 0);
        assert_eq!(r.seed_limits(&settings).ratio, Some(1.5));
        r.seed_ratio_mode = LimitMode::Single;
        r.seed_ratio_limit = 3.0;
        assert_eq!(r.seed_limits(&settings).ratio, Some(3.0));
        r.seed_ratio_mode = LimitMode::Unlimited;
        assert_eq!(r.seed_limits(&settings).ratio, None);
        r.seed_idle_mode = LimitMode::Single;
        r.seed_idle_limit = 2;
        assert_eq!(
            r.seed_limits(&settings).idle,
            Some(Duration::from_secs(120))
        );
        assert_eq!(r.rate_limits(), (0, 0));
        r.upload_limited = true;
        assert_eq!(r.rate_limits(), (100_000, 0));
    }

    #[test]
    fn round_trips_through_json_and_reads_sparse_files() {
        let r = TorrentRecord::new(7, "/data".into(), &Settings::default(), 1_700_000_000);
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<TorrentRecord>(&text).unwrap(), r);
        let sparse: TorrentRecord =
            serde_json::from_str(r#"{"id":3,"download_dir":"/x","peer_limit":10,"added_date":5}"#)
                .unwrap();
        assert!(sparse.honors_session_limits);
        assert!(sparse.wanted(99));
        assert_eq!(LimitMode::from_code(2), Some(LimitMode::Unlimited));
        assert_eq!(LimitMode::from_code(3), None);
    }
}
