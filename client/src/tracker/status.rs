//! What the announcer tells the rest of the program about each tracker:
//! the material of status lines and the TUI's tracker list.

use std::time::{Duration, Instant};

/// Where one tracker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrackerState {
    /// Not tried yet (later in its tier than a working tracker, or the
    /// announcer has just started).
    #[default]
    Idle,
    /// An announce is in flight.
    Announcing,
    /// Its last announce worked.
    Working,
    /// Its last announce failed (see `last_error`).
    Failed,
    /// It got `stopped` (or the announcer ended).
    Stopped,
}

/// One tracker's state, as of the announcer's last step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerStatus {
    /// The announce URL.
    pub url: String,
    /// Its tier (0 first), as in the torrent's announce-list.
    pub tier: usize,
    /// Where it stands.
    pub state: TrackerState,
    /// When we last sent it an announce (whatever came of it).
    pub last_announce: Option<Instant>,
    /// When it last answered successfully.
    pub last_success: Option<Instant>,
    /// Peers in its last successful reply.
    pub last_peers: usize,
    /// Peers it handed out since the announcer started, counting repeats.
    pub peers_seen: u64,
    /// Seeds in the swarm by its last reply, when it says.
    pub seeders: Option<u64>,
    /// Leechers in the swarm by its last reply, when it says.
    pub leechers: Option<u64>,
    /// The (scaled) interval it asked for, as we clamped it.
    pub interval: Option<Duration>,
    /// When the next announce to it is due, if it is the tier's current
    /// tracker and one is scheduled.
    pub next_announce: Option<Instant>,
    /// The last error, transport or tracker, cleared by a success.
    pub last_error: Option<String>,
    /// The tracker's own `failure reason` (or UDP error text) when its
    /// last announce was refused.
    pub failure_reason: Option<String>,
    /// Its last `warning message` (kept until a reply without one).
    pub warning: Option<String>,
    /// Announce failures since its last success.
    pub consecutive_failures: u32,
    /// It accepted our `started` and has not been sent `stopped`.
    pub started: bool,
    /// It accepted our `completed`.
    pub completed_sent: bool,
}

impl TrackerStatus {
    /// A tracker nobody has talked to yet.
    pub fn new(url: String, tier: usize) -> TrackerStatus {
        TrackerStatus {
            url,
            tier,
            state: TrackerState::Idle,
            last_announce: None,
            last_success: None,
            last_peers: 0,
            peers_seen: 0,
            seeders: None,
            leechers: None,
            interval: None,
            next_announce: None,
            last_error: None,
            failure_reason: None,
            warning: None,
            consecutive_failures: 0,
            started: false,
            completed_sent: false,
        }
    }

    /// One human line for status output and logs, e.g.
    /// `udp://t.example:6969/announce: working, 50 peers (3 seeds, 9 leechers), next in 29m58s`.
    pub fn line(&self, now: Instant) -> String {
        let mut out = format!("{}: ", self.url);
        match self.state {
            TrackerState::Idle => out.push_str("not contacted"),
            TrackerState::Announcing => out.push_str("announcing"),
            TrackerState::Stopped => out.push_str("stopped"),
            TrackerState::Working => {
                out.push_str(&format!("working, {} peers", self.last_peers));
                if let (Some(s), Some(l)) = (self.seeders, self.leechers) {
                    out.push_str(&format!(" ({s} seeds, {l} leechers)"));
                }
            }
            TrackerState::Failed => {
                let why = self
                    .failure_reason
                    .as_deref()
                    .or(self.last_error.as_deref())
                    .unwrap_or("failed");
                out.push_str(&format!("error ({}x): {why}", self.consecutive_failures));
            }
        }
        if let Some(w) = &self.warning {
            out.push_str(&format!(", warning: {w}"));
        }
        if let Some(next) = self.next_announce {
            let secs = next.saturating_duration_since(now).as_secs();
            out.push_str(&format!(", next in {}", short_duration(secs)));
        }
        out
    }
}

/// `95` -> `1m35s`, `3700` -> `1h01m`.
fn short_duration(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_well() {
        let now = Instant::now();
        let mut s = TrackerStatus::new("udp://t.example:6969/announce".into(), 0);
        assert_eq!(s.line(now), "udp://t.example:6969/announce: not contacted");
        s.state = TrackerState::Working;
        s.last_peers = 50;
        s.seeders = Some(3);
        s.leechers = Some(9);
        s.next_announce = Some(now + Duration::from_secs(1798));
        assert_eq!(
            s.line(now),
            "udp://t.example:6969/announce: working, 50 peers (3 seeds, 9 leechers), next in 29m58s"
        );
        s.state = TrackerState::Failed;
        s.consecutive_failures = 2;
        s.last_error = Some("network error: connection refused".into());
        s.next_announce = Some(now + Duration::from_secs(3700));
        assert_eq!(
            s.line(now),
            "udp://t.example:6969/announce: error (2x): network error: connection refused, next in 1h01m"
        );
        s.failure_reason = Some("unregistered".into());
        s.next_announce = None;
        s.warning = Some("slow down".into());
        assert_eq!(
            s.line(now),
            "udp://t.example:6969/announce: error (2x): unregistered, warning: slow down"
        );
        assert_eq!(short_duration(0), "0s");
        assert_eq!(short_duration(60), "1m00s");
    }
}
