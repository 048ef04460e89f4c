//! One tier of trackers (BEP 12): announce to its trackers in order until
//! one answers, keep using that one (moved to the front of the tier), and
//! start again from the front after backoff when all of them failed.

use std::sync::Arc;
use std::time::Duration;

use riffle_protocol::tracker::Event;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::shared::Shared;
use super::status::TrackerState;
use super::{announce_once, AnnounceOutcome, AnnounceRequest, TrackerError};

/// What the tier remembers about one of its trackers.
#[derive(Debug, Default)]
struct Tracker {
    /// Its announce URL.
    url: String,
    /// Its entry on the status board.
    status: usize,
    /// It accepted `started` (or one is in flight to it).
    started: bool,
    /// `completed` is owed to it.
    completed_due: bool,
    /// It accepted `completed`: never owed again.
    completed_sent: bool,
    /// Its `tracker id`, echoed back in later announces.
    tracker_id: Option<Vec<u8>>,
    /// Its `min interval`.
    min_interval: Option<Duration>,
    /// Its failures since its last success (to log only the first).
    failures: u32,
    /// When we last sent it an announce.
    last_announce: Option<Instant>,
}

/// One tier's state, driven by the announce service ([`super::service`]).
pub(super) struct Tier {
    /// Tier number, for logs.
    index: usize,
    /// Its trackers, in the order to try them (BEP 12: the one that
    /// answered moves to the front). A plain list: a tier holds a few.
    trackers: Vec<Tracker>,
    /// The one to try now.
    cursor: usize,
    /// The torrent.
    shared: Arc<Shared>,
    /// Whole-tier failures in a row, for the backoff.
    failures: u32,
    /// The announce in flight, if any: which tracker (its place in
    /// `trackers`, which moves only when a flight lands), which event
    /// (kept when the flight is abandoned at a stop: a `started` may have
    /// reached the tracker).
    in_flight: Option<(usize, Event)>,
}

impl Tier {
    /// A tier of `urls` (already shuffled and de-duplicated), whose status
    /// entries start at `first_status`.
    pub(super) fn new(
        index: usize,
        urls: Vec<String>,
        first_status: usize,
        shared: Arc<Shared>,
    ) -> Tier {
        let trackers = urls
            .into_iter()
            .enumerate()
            .map(|(i, url)| Tracker {
                url,
                status: first_status + i,
                ..Tracker::default()
            })
            .collect();
        Tier {
            index,
            trackers,
            cursor: 0,
            shared,
            failures: 0,
            in_flight: None,
        }
    }

    /// The announce knobs.
    pub(super) fn config(&self) -> &super::AnnounceConfig {
        &self.shared.config
    }

    /// The announce [`begin`](Self::begin) started has come back: record
    /// it; returns when to announce next.
    pub(super) fn landed(&mut self, result: Result<AnnounceOutcome, TrackerError>) -> Instant {
        let Some((at, event)) = self.in_flight.take() else {
            return Instant::now();
        };
        match result {
            Ok(outcome) => self.on_success(at, event, outcome),
            Err(e) => self.on_failure(at, event, e),
        }
    }

    /// The tracker to announce to now.
    fn current(&self) -> Option<&Tracker> {
        self.trackers.get(self.cursor)
    }

    /// Its URL.
    #[cfg(test)]
    fn current_url(&self) -> Option<&str> {
        self.current().map(|t| t.url.as_str())
    }

    /// Start an announce to the current tracker: pick its event
    /// (`started` until it took one, then `completed` when owed, else a
    /// regular announce) and build the request with the latest counters.
    pub(super) fn begin(&mut self) -> Option<(String, Event, AnnounceRequest)> {
        let at = self.cursor;
        let t = self.trackers.get_mut(at)?;
        let url = t.url.clone();
        let event = if !t.started {
            Event::Started
        } else if t.completed_due {
            Event::Completed
        } else {
            Event::None
        };
        if event == Event::Started {
            // From now on the tracker may know us: it is owed `stopped`.
            t.started = true;
        }
        let now = Instant::now();
        t.last_announce = Some(now);
        self.shared.update(t.status, |s| {
            s.state = TrackerState::Announcing;
            s.last_announce = Some(now.into_std());
            s.next_announce = None;
        });
        let req = self.shared.request(event, t.tracker_id.clone());
        tracing::debug!(tier = self.index, %url, ?event, left = req.left, "announcing");
        self.in_flight = Some((at, event));
        Some((url, event, req))
    }

    /// Mark `completed` owed to every tracker that got `started` and has
    /// not had it; true if the current tracker is owed it (then it should
    /// be told at once).
    pub(super) fn owe_completed(&mut self) -> bool {
        for t in &mut self.trackers {
            if t.started && !t.completed_sent {
                t.completed_due = true;
            }
        }
        self.current().is_some_and(|t| t.completed_due)
    }

    /// The soonest a `want_more_peers` may make the current tracker's
    /// next announce: its minimum gap after the last one, and never during
    /// a backoff.
    pub(super) fn earliest_early_announce(&self) -> Instant {
        let now = Instant::now();
        if self.failures > 0 {
            return now + self.shared.config.backoff(self.failures);
        }
        let Some(t) = self.current() else {
            return now;
        };
        match t.last_announce {
            Some(last) => (last + self.shared.config.min_gap(t.min_interval)).max(now),
            None => now,
        }
    }

    /// Put `next_at` on the current tracker's status, clear it elsewhere.
    pub(super) fn show_next(&self, next_at: Instant) {
        for (i, t) in self.trackers.iter().enumerate() {
            let next = (i == self.cursor).then(|| next_at.into_std());
            self.shared.update(t.status, |s| s.next_announce = next);
        }
    }

    /// Record a reply; returns when to announce next.
    fn on_success(&mut self, at: usize, event: Event, outcome: AnnounceOutcome) -> Instant {
        let now = Instant::now();
        self.failures = 0;
        let cfg = &self.shared.config;
        let interval = cfg.next_interval(outcome.interval, outcome.min_interval);
        if at >= self.trackers.len() {
            return now + interval;
        }
        // It answered: it moves to the front of the tier, and the next
        // announce starts from it (BEP 12).
        let answered = self.trackers.remove(at);
        self.trackers.insert(0, answered);
        self.cursor = 0;
        let t = &mut self.trackers[0];
        let url = t.url.as_str();
        if event == Event::Completed {
            t.completed_due = false;
            t.completed_sent = true;
        }
        if outcome.tracker_id.is_some() {
            t.tracker_id = outcome.tracker_id.clone();
        }
        t.min_interval = outcome.min_interval;
        if t.failures > 0 {
            tracing::info!(%url, "tracker is working again");
        }
        t.failures = 0;
        let owe_completed = t.completed_due;
        let n = outcome.peers.len();
        tracing::debug!(tier = self.index, %url, ?event, peers = n, ?interval, "announce worked");
        if let Some(w) = &outcome.warning {
            tracing::info!(%url, warning = %w, "tracker warning");
        }
        self.shared.update(t.status, |s| {
            s.state = TrackerState::Working;
            s.last_success = Some(now.into_std());
            s.last_peers = n;
            s.peers_seen = s.peers_seen.saturating_add(n as u64);
            s.seeders = outcome.seeders;
            s.leechers = outcome.leechers;
            s.interval = Some(interval);
            s.last_error = None;
            s.failure_reason = None;
            s.warning = outcome.warning.clone();
            s.consecutive_failures = 0;
            s.started = true;
            s.completed_sent |= event == Event::Completed;
        });
        self.shared.deliver(outcome.peers, outcome.external_ip);
        if owe_completed {
            now
        } else {
            now + interval
        }
    }

    /// Record a failure; returns when to announce next: at once to the
    /// tier's next tracker, or after backoff when the whole tier failed.
    fn on_failure(&mut self, at: usize, event: Event, e: TrackerError) -> Instant {
        let now = Instant::now();
        if let Some(t) = self.trackers.get_mut(at) {
            let url = t.url.as_str();
            if t.failures == 0 {
                tracing::info!(%url, error = %e, "tracker announce failed");
            } else {
                tracing::debug!(tier = self.index, %url, ?event, error = %e, "announce failed");
            }
            t.failures = t.failures.saturating_add(1);
            if event == Event::Started {
                // It most likely never heard of us: start it afresh next time
                // rather than owing it a `stopped`.
                t.started = false;
                t.completed_due = false;
            }
            let reason = e.failure_reason().map(str::to_owned);
            let error = e.to_string();
            self.shared.update(t.status, |s| {
                s.state = TrackerState::Failed;
                s.last_error = Some(error);
                s.failure_reason = reason;
                s.consecutive_failures = s.consecutive_failures.saturating_add(1);
            });
        }
        // On to the tier's next tracker; after the last, a wait, then the
        // first again.
        if self.cursor + 1 < self.trackers.len() {
            self.cursor += 1;
            return now;
        }
        self.cursor = 0;
        self.failures = self.failures.saturating_add(1);
        let wait = self.shared.config.backoff(self.failures);
        tracing::debug!(
            tier = self.index,
            ?wait,
            "every tracker of the tier failed; backing off"
        );
        now + wait
    }

    /// Send `stopped` to every tracker that got (or may have got)
    /// `started`, in parallel, giving up at `deadline`.
    pub(super) async fn stop(mut self, deadline: Instant) {
        let in_flight = self.in_flight.take();
        let mut set = JoinSet::new();
        for (i, t) in self.trackers.iter().enumerate() {
            let maybe_started = t.started
                || in_flight
                    .as_ref()
                    .is_some_and(|(at, e)| *at == i && *e == Event::Started);
            if !maybe_started {
                continue;
            }
            let req = self.shared.request(Event::Stopped, t.tracker_id.clone());
            // A download that stops right after completing still owes its
            // `completed` (trackers count downloads by it): send it first.
            let completed = (t.completed_due && !t.completed_sent)
                .then(|| self.shared.request(Event::Completed, t.tracker_id.clone()));
            let shared = self.shared.clone();
            let url = t.url.clone();
            let status = t.status;
            set.spawn(async move {
                let cfg = shared.config.clone();
                if let Some(done) = completed {
                    let sent =
                        tokio::time::timeout_at(deadline, announce_once(&url, &done, &cfg)).await;
                    let ok = matches!(sent, Ok(Ok(_)));
                    tracing::debug!(%url, ok, "completed announce on the way out");
                    if ok {
                        shared.update(status, |s| s.completed_sent = true);
                    }
                }
                let result =
                    tokio::time::timeout_at(deadline, announce_once(&url, &req, &cfg)).await;
                let error = match result {
                    Ok(Ok(_)) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(_) => Some("stopped announce timed out".to_owned()),
                };
                tracing::debug!(%url, ?error, "stopped announce");
                shared.update(status, |s| {
                    s.state = TrackerState::Stopped;
                    s.started = false;
                    s.next_announce = None;
                    if error.is_some() {
                        s.last_error = error;
                    }
                });
            });
        }
        let _ =
            tokio::time::timeout_at(deadline, async { while set.join_next().await.is_some() {} })
                .await;
        for t in &mut self.trackers {
            t.started = false;
            self.shared.update(t.status, |s| {
                s.state = TrackerState::Stopped;
                s.next_announce = None;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::status::TrackerStatus;
    use crate::tracker::{AnnounceConfig, Transfer};
    use crate::watch;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use tokio::sync::mpsc;

    fn tier(n: usize) -> (Tier, watch::Receiver<crate::tracker::Board>) {
        let urls: Vec<String> = (0..n).map(|i| format!("http://t{i}/announce")).collect();
        let (status, board) = watch::channel(Arc::new(
            urls.iter()
                .map(|u| TrackerStatus::new(u.clone(), 0))
                .collect(),
        ));
        let (_transfer_tx, transfer) = watch::channel(Transfer::default());
        let (peers, _peers_rx) = mpsc::channel(1);
        let shared = Arc::new(Shared {
            info_hash: riffle_protocol::InfoHash([1; 20]),
            peer_id: riffle_protocol::PeerId([2; 20]),
            port: 1,
            key: *b"00000001",
            config: AnnounceConfig::default().into(),
            transfer,
            peers: peers.into(),
            status,
        });
        (Tier::new(0, urls, 0, shared), board)
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Announce to the current tracker; it answers or fails.
        Announce(bool),
        /// The download completed.
        Completed,
    }

    proptest! {
        #[test]
        fn every_tracker_sees_a_valid_event_sequence(
            n in 1usize..4,
            ops in proptest::collection::vec(
                prop_oneof![any::<bool>().prop_map(Op::Announce), Just(Op::Completed)],
                0..60,
            ),
        ) {
            let (mut tier, board) = tier(n);
            let mut log: HashMap<String, Vec<(Event, bool)>> = HashMap::new();
            let mut completed = false;
            for op in ops {
                match op {
                    Op::Completed => {
                        completed = true;
                        tier.owe_completed();
                    }
                    Op::Announce(ok) => {
                        let (url, event, req) = tier.begin().expect("a current tracker");
                        prop_assert_eq!(req.event, event);
                        if ok {
                            tier.landed(Ok(AnnounceOutcome::default()));
                            prop_assert_eq!(tier.current_url(), Some(url.as_str()));
                        } else {
                            tier.landed(Err(TrackerError::Timeout(Duration::ZERO)));
                        }
                        log.entry(url).or_default().push((event, ok));
                    }
                }
            }
            for (url, tries) in &log {
                let accepted: Vec<Event> =
                    tries.iter().filter(|(_, ok)| *ok).map(|(e, _)| *e).collect();
                // Nothing but `started` until a `started` was accepted.
                let first_ok = tries.iter().position(|(_, ok)| *ok).unwrap_or(tries.len());
                prop_assert!(tries.iter().take(first_ok + 1).all(|(e, _)| *e == Event::Started));
                prop_assert!(accepted.iter().filter(|e| **e == Event::Started).count() <= 1);
                prop_assert!(accepted.iter().filter(|e| **e == Event::Completed).count() <= 1);
                prop_assert!(completed || tries.iter().all(|(e, _)| *e != Event::Completed));
                let status = board.borrow().iter().find(|s| &s.url == url).cloned();
                let status = status.expect("every tracker has a status");
                prop_assert_eq!(status.completed_sent, accepted.contains(&Event::Completed));
                prop_assert_eq!(status.started, !accepted.is_empty());
            }
        }
    }
}
