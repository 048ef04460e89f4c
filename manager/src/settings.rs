//! Session-wide settings a user changes while the manager runs (what
//! Transmission's `session-set` reaches), kept in `settings.json` in the
//! state directory. Defaults are Transmission 3.00's, so a user moving a
//! seedbox over finds what they know.

use std::path::PathBuf;
use std::time::Duration;

use riffle_policies::queue::{QueueLimits, SeedLimits};
use serde::{Deserialize, Serialize};

/// Session-wide settings. Rates are bytes per second.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Where added torrents are saved unless told otherwise.
    pub download_dir: PathBuf,
    /// Session download limit, honoured when `speed_limit_down_enabled`.
    pub speed_limit_down: u64,
    /// Whether `speed_limit_down` applies.
    pub speed_limit_down_enabled: bool,
    /// Session upload limit, honoured when `speed_limit_up_enabled`.
    pub speed_limit_up: u64,
    /// Whether `speed_limit_up` applies.
    pub speed_limit_up_enabled: bool,
    /// Alternative ("turtle") download limit.
    pub alt_speed_down: u64,
    /// Alternative upload limit.
    pub alt_speed_up: u64,
    /// The alternative limits apply instead of the normal ones.
    pub alt_speed_enabled: bool,
    /// Limit the number of active downloads.
    pub download_queue_enabled: bool,
    /// Active downloads at most.
    pub download_queue_size: usize,
    /// Limit the number of active seeds.
    pub seed_queue_enabled: bool,
    /// Active seeds at most.
    pub seed_queue_size: usize,
    /// Idle torrents do not count toward the queue sizes.
    pub queue_stalled_enabled: bool,
    /// Minutes without transfer after which a torrent is stalled.
    pub queue_stalled_minutes: u32,
    /// Stop seeds at `seed_ratio_limit` by default.
    pub seed_ratio_limited: bool,
    /// The default share ratio at which seeds stop.
    pub seed_ratio_limit: f64,
    /// Stop seeds idle for `idle_seeding_limit` minutes by default.
    pub idle_seeding_limit_enabled: bool,
    /// Minutes without upload after which an idle seed stops.
    pub idle_seeding_limit: u32,
    /// Peer connections across all torrents at most.
    pub peer_limit_global: usize,
    /// Peer connections per torrent at most (for torrents added later).
    pub peer_limit_per_torrent: usize,
    /// Start torrents as they are added.
    pub start_added_torrents: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            download_dir: PathBuf::from("."),
            speed_limit_down: 100_000,
            speed_limit_down_enabled: false,
            speed_limit_up: 100_000,
            speed_limit_up_enabled: false,
            alt_speed_down: 50_000,
            alt_speed_up: 50_000,
            alt_speed_enabled: false,
            download_queue_enabled: true,
            download_queue_size: 5,
            seed_queue_enabled: false,
            seed_queue_size: 10,
            queue_stalled_enabled: true,
            queue_stalled_minutes: 30,
            seed_ratio_limited: false,
            seed_ratio_limit: 2.0,
            idle_seeding_limit_enabled: false,
            idle_seeding_limit: 30,
            peer_limit_global: 200,
            peer_limit_per_torrent: 50,
            start_added_torrents: true,
        }
    }
}

impl Settings {
    /// The session's rate limits in force, bytes/s (upload, download; 0:
    /// unlimited).
    pub fn rate_limits(&self) -> (u64, u64) {
        if self.alt_speed_enabled {
            return (self.alt_speed_up, self.alt_speed_down);
        }
        (
            if self.speed_limit_up_enabled {
                self.speed_limit_up
            } else {
                0
            },
            if self.speed_limit_down_enabled {
                self.speed_limit_down
            } else {
                0
            },
        )
    }

    /// The queue's limits.
    pub fn queue_limits(&self) -> QueueLimits {
        QueueLimits {
            downloads: self
                .download_queue_enabled
                .then_some(self.download_queue_size),
            seeds: self.seed_queue_enabled.then_some(self.seed_queue_size),
        }
    }

    /// How long without transfer makes a torrent stalled (None: never).
    pub fn stalled_after(&self) -> Option<Duration> {
        self.queue_stalled_enabled
            .then(|| Duration::from_secs(u64::from(self.queue_stalled_minutes) * 60))
    }

    /// The seed limits a torrent that follows the session's gets.
    pub fn seed_limits(&self) -> SeedLimits {
        SeedLimits {
            ratio: self.seed_ratio_limited.then_some(self.seed_ratio_limit),
            idle: self
                .idle_seeding_limit_enabled
                .then(|| Duration::from_secs(u64::from(self.idle_seeding_limit) * 60)),
        }
    }

    /// Refuse values no client should send (negative sizes cannot reach
    /// here: they are unsigned; a NaN or negative ratio can).
    pub fn validate(&self) -> Result<(), String> {
        if !(self.seed_ratio_limit.is_finite() && self.seed_ratio_limit >= 0.0) {
            return Err(format!(
                "seedRatioLimit {} is not a ratio of 0 or more",
                self.seed_ratio_limit
            ));
        }
        if self.peer_limit_global == 0 || self.peer_limit_per_torrent == 0 {
            return Err("peer limits must be at least 1".into());
        }
        Ok(())
    }
}

/// Changes to [`Settings`]: each field left `None` is kept.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SettingsChange {
    /// See [`Settings::download_dir`].
    pub download_dir: Option<PathBuf>,
    /// See [`Settings::speed_limit_down`].
    pub speed_limit_down: Option<u64>,
    /// See [`Settings::speed_limit_down_enabled`].
    pub speed_limit_down_enabled: Option<bool>,
    /// See [`Settings::speed_limit_up`].
    pub speed_limit_up: Option<u64>,
    /// See [`Settings::speed_limit_up_enabled`].
    pub speed_limit_up_enabled: Option<bool>,
    /// See [`Settings::alt_speed_down`].
    pub alt_speed_down: Option<u64>,
    /// See [`Settings::alt_speed_up`].
    pub alt_speed_up: Option<u64>,
    /// See [`Settings::alt_speed_enabled`].
    pub alt_speed_enabled: Option<bool>,
    /// See [`Settings::download_queue_enabled`].
    pub download_queue_enabled: Option<bool>,
    /// See [`Settings::download_queue_size`].
    pub download_queue_size: Option<usize>,
    /// See [`Settings::seed_queue_enabled`].
    pub seed_queue_enabled: Option<bool>,
    /// See [`Settings::seed_queue_size`].
    pub seed_queue_size: Option<usize>,
    /// See [`Settings::queue_stalled_enabled`].
    pub queue_stalled_enabled: Option<bool>,
    /// See [`Settings::queue_stalled_minutes`].
    pub queue_stalled_minutes: Option<u32>,
    /// See [`Settings::seed_ratio_limited`].
    pub seed_ratio_limited: Option<bool>,
    /// See [`Settings::seed_ratio_limit`].
    pub seed_ratio_limit: Option<f64>,
    /// See [`Settings::idle_seeding_limit_enabled`].
    pub idle_seeding_limit_enabled: Option<bool>,
    /// See [`Settings::idle_seeding_limit`].
    pub idle_seeding_limit: Option<u32>,
    /// See [`Settings::peer_limit_global`].
    pub peer_limit_global: Option<usize>,
    /// See [`Settings::peer_limit_per_torrent`].
    pub peer_limit_per_torrent: Option<usize>,
    /// See [`Settings::start_added_torrents`].
    pub start_added_torrents: Option<bool>,
}

impl SettingsChange {
    /// `settings` with these changes applied.
    pub fn apply(&self, settings: &Settings) -> Settings {
        let mut s = settings.clone();
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(v) = &self.$field {
                    s.$field = v.clone();
                }
            )*};
        }
        set!(
            download_dir,
            speed_limit_down,
            speed_limit_down_enabled,
            speed_limit_up,
            speed_limit_up_enabled,
            alt_speed_down,
            alt_speed_up,
            alt_speed_enabled,
            download_queue_enabled,
            download_queue_size,
            seed_queue_enabled,
            seed_queue_size,
            queue_stalled_enabled,
            queue_stalled_minutes,
            seed_ratio_limited,
            seed_ratio_limit,
            idle_seeding_limit_enabled,
            idle_seeding_limit,
            peer_limit_global,
            peer_limit_per_torrent,
            start_added_torrents
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alt_speeds_win_and_disabled_limits_are_unlimited() {
        let mut s = Settings::default();
        assert_eq!(s.rate_limits(), (0, 0));
        s.speed_limit_up_enabled = true;
        assert_eq!(s.rate_limits(), (100_000, 0));
        s.alt_speed_enabled = true;
        assert_eq!(s.rate_limits(), (50_000, 50_000));
        assert_eq!(s.queue_limits().downloads, Some(5));
        assert_eq!(s.queue_limits().seeds, None);
    }

    #[test]
    fn old_files_load_with_defaults_for_missing_keys() {
        let s: Settings = serde_json::from_str(r#"{"download_dir":"/data"}"#).unwrap();
        assert_eq!(s.download_dir, PathBuf::from("/data"));
        assert_eq!(s.peer_limit_global, 200);
        let change = SettingsChange {
            seed_ratio_limit: Some(f64::NAN),
            download_queue_size: Some(2),
            ..SettingsChange::default()
        };
        let changed = change.apply(&s);
        assert_eq!(changed.download_queue_size, 2);
        assert_eq!(changed.download_dir, s.download_dir);
        assert!(changed.validate().is_err());
    }
}
