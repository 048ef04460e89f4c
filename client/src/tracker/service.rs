//! The announce service: every tier of every torrent of a session driven
//! from one tokio task, so a seedbox of 10,000 torrents keeps no task per
//! torrent or per tier while it waits for their next announces.
//!
//! Each tier's next announce sits in one ordered set of due times; an
//! announce in flight is a short-lived task of its own (its network I/O,
//! bounded by the announce timeouts), at most [`MAX_IN_FLIGHT`] at once so
//! that 10,000 `started` announces do not open 10,000 sockets together.
//! The times the tiers come back with are spread by up to a tenth of the
//! wait ([`spread`]), so torrents started together, or failing together
//! against one dead tracker, do not stay in step for ever.
//!
//! The tier's rules (BEP 12 order, events, intervals, backoff) are
//! [`Tier`]'s; this file only decides when each tier runs.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use riffle_protocol::tracker::Event;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;

use super::tier::Tier;
use super::{announce_once, AnnounceOutcome, TrackerError};

/// Most announces in flight at once, across every torrent of the service.
pub const MAX_IN_FLIGHT: usize = 128;

/// What a handle asks of the service.
pub(super) enum Request {
    /// Announce these tiers of a new announcer, starting now.
    Register { id: u64, tiers: Vec<Tier> },
    /// The download finished: `completed` is owed.
    Completed(u64),
    /// Announce early (within the trackers' minimum intervals).
    WantMorePeers(u64),
    /// Send `stopped` where `started` went, before `deadline`; `done`
    /// answers when every tier has.
    Stop {
        id: u64,
        deadline: Instant,
        done: oneshot::Sender<()>,
    },
    /// The handle went away: end its announces silently.
    Forget(u64),
}

/// The session's announce service; clones share it. The task ends when
/// every clone and every announcer handle is gone.
#[derive(Clone)]
pub struct Announcers {
    tx: mpsc::UnboundedSender<Request>,
    next_id: Arc<AtomicU64>,
    counts: Arc<Counts>,
}

/// What the service holds, for the debug log (a regression in idle cost
/// shows as a count that grows).
#[derive(Default)]
struct Counts {
    waiting: AtomicUsize,
    in_flight: AtomicUsize,
}

impl std::fmt::Debug for Announcers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Announcers").finish_non_exhaustive()
    }
}

impl Announcers {
    /// Start the service's task. Must be called inside a tokio runtime.
    pub fn start() -> Announcers {
        let (tx, rx) = mpsc::unbounded_channel();
        let counts = Arc::new(Counts::default());
        let service = Service {
            counts: counts.clone(),
            ..Service::default()
        };
        tokio::spawn(service.run(rx));
        Announcers {
            tx,
            next_id: Arc::new(AtomicU64::new(0)),
            counts,
        }
    }

    /// Tiers waiting for their next announce (one timer entry each, in
    /// one task) and announces in flight (a task each).
    pub fn counts(&self) -> (usize, usize) {
        (
            self.counts.waiting.load(Ordering::Relaxed),
            self.counts.in_flight.load(Ordering::Relaxed),
        )
    }

    /// Register tiers under a fresh id; the sender for the handle.
    pub(super) fn register(&self, tiers: Vec<Tier>) -> (u64, mpsc::UnboundedSender<Request>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.send(Request::Register { id, tiers });
        (id, self.tx.clone())
    }
}

/// One tier of one announcer.
struct Slot {
    tier: Tier,
    /// When it announces next (meaningful while no flight is running and
    /// the announcer is not stopping).
    next_at: Instant,
    /// Its announce in flight.
    flight: Option<Flight>,
}

struct Flight {
    event: Event,
    abort: AbortHandle,
}

/// One announcer's tiers.
struct Entry {
    slots: Vec<Slot>,
    /// Stopping, waiting for a `completed` in flight to land first.
    stopping: Option<(Instant, oneshot::Sender<()>)>,
}

type Landed = (u64, usize, Result<AnnounceOutcome, TrackerError>);

#[derive(Default)]
struct Service {
    entries: HashMap<u64, Entry>,
    /// (when, announcer, tier) of every tier waiting for its next announce.
    due: BTreeSet<(Instant, u64, usize)>,
    flights: JoinSet<Landed>,
    counts: Arc<Counts>,
}

impl Service {
    async fn run(mut self, mut requests: mpsc::UnboundedReceiver<Request>) {
        loop {
            let wake = self
                .due
                .first()
                .map(|d| d.0)
                .filter(|_| self.flights.len() < MAX_IN_FLIGHT);
            tokio::select! {
                req = requests.recv() => match req {
                    Some(r) => self.on_request(r),
                    None => break,
                },
                Some(landed) = self.flights.join_next(), if !self.flights.is_empty() => {
                    // An aborted flight (its announcer stopped or went away)
                    // joins as an error: nothing to record.
                    if let Ok((id, t, result)) = landed {
                        self.on_landed(id, t, result);
                    }
                }
                _ = sleep_until_opt(wake) => self.start_due(),
            }
            self.counts.waiting.store(self.due.len(), Ordering::Relaxed);
            self.counts
                .in_flight
                .store(self.flights.len(), Ordering::Relaxed);
        }
        // Every handle is gone: dropping `flights` aborts what is in flight.
    }

    fn on_request(&mut self, req: Request) {
        let now = Instant::now();
        match req {
            Request::Register { id, tiers } => {
                let slots = tiers
                    .into_iter()
                    .enumerate()
                    .map(|(t, tier)| {
                        self.due.insert((now, id, t));
                        tier.show_next(now);
                        Slot {
                            tier,
                            next_at: now,
                            flight: None,
                        }
                    })
                    .collect();
                let entry = Entry {
                    slots,
                    stopping: None,
                };
                self.entries.insert(id, entry);
            }
            Request::Completed(id) => self.each_waiting(id, |tier| {
                // With an announce in flight the tier sends `completed` when
                // it lands (its reply handling sees the debt).
                tier.owe_completed().then_some(now)
            }),
            Request::WantMorePeers(id) => {
                self.each_waiting(id, |tier| Some(tier.earliest_early_announce()))
            }
            Request::Stop { id, deadline, done } => self.stop(id, deadline, done),
            Request::Forget(id) => {
                if let Some(entry) = self.entries.remove(&id) {
                    for (t, slot) in entry.slots.iter().enumerate() {
                        self.due.remove(&(slot.next_at, id, t));
                        if let Some(f) = &slot.flight {
                            f.abort.abort();
                        }
                    }
                }
            }
        }
    }

    /// For each tier of `id` waiting for its next announce, bring that
    /// announce forward to what `sooner` says (never later).
    fn each_waiting(&mut self, id: u64, mut sooner: impl FnMut(&mut Tier) -> Option<Instant>) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        if entry.stopping.is_some() {
            return;
        }
        for (t, slot) in entry.slots.iter_mut().enumerate() {
            let Some(at) = sooner(&mut slot.tier) else {
                continue;
            };
            if slot.flight.is_some() || at >= slot.next_at {
                continue;
            }
            self.due.remove(&(slot.next_at, id, t));
            slot.next_at = at;
            self.due.insert((at, id, t));
            slot.tier.show_next(at);
        }
    }

    /// Start the announces that are due, as many as the cap allows.
    fn start_due(&mut self) {
        let now = Instant::now();
        while self.flights.len() < MAX_IN_FLIGHT {
            let Some(&(at, id, t)) = self.due.first() else {
                break;
            };
            if at > now {
                break;
            }
            self.due.remove(&(at, id, t));
            let Some(slot) = self.entries.get_mut(&id).and_then(|e| e.slots.get_mut(t)) else {
                continue;
            };
            // No current tracker: the tier has nothing to announce to.
            let Some((url, event, req)) = slot.tier.begin() else {
                continue;
            };
            let cfg = slot.tier.config().clone();
            let abort = self.flights.spawn(async move {
                let result = announce_once(&url, &req, &cfg).await;
                (id, t, result)
            });
            slot.flight = Some(Flight { event, abort });
        }
    }

    fn on_landed(&mut self, id: u64, t: usize, result: Result<AnnounceOutcome, TrackerError>) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        let Some(slot) = entry.slots.get_mut(t) else {
            return;
        };
        slot.flight = None;
        let next = slot.tier.landed(result);
        if entry.stopping.is_some() {
            if !waits_for_completed(entry) {
                self.launch_stop(id);
            }
            return;
        }
        let next = spread(Instant::now(), next);
        slot.next_at = next;
        slot.tier.show_next(next);
        self.due.insert((next, id, t));
    }

    /// Stop an announcer: its regular announces end now; a `completed` in
    /// flight lands first (rather than being sent twice), then every tier
    /// sends `stopped`.
    fn stop(&mut self, id: u64, deadline: Instant, done: oneshot::Sender<()>) {
        let Some(entry) = self.entries.get_mut(&id) else {
            let _ = done.send(());
            return;
        };
        for (t, slot) in entry.slots.iter_mut().enumerate() {
            self.due.remove(&(slot.next_at, id, t));
            let keep = slot
                .flight
                .as_ref()
                .is_some_and(|f| f.event == Event::Completed);
            if !keep {
                // The tier remembers what was in flight: a `started` may
                // have reached the tracker and is owed a `stopped`.
                if let Some(f) = slot.flight.take() {
                    f.abort.abort();
                }
            }
        }
        entry.stopping = Some((deadline, done));
        if !waits_for_completed(entry) {
            self.launch_stop(id);
        }
    }

    /// Hand a stopping announcer's tiers to a task of their own that sends
    /// the `stopped` announces (in parallel, bounded by the deadline).
    fn launch_stop(&mut self, id: u64) {
        let Some(entry) = self.entries.remove(&id) else {
            return;
        };
        let Some((deadline, done)) = entry.stopping else {
            return;
        };
        let tiers: Vec<Tier> = entry.slots.into_iter().map(|s| s.tier).collect();
        tokio::spawn(async move {
            let mut set = JoinSet::new();
            for tier in tiers {
                set.spawn(tier.stop(deadline));
            }
            let all = async { while set.join_next().await.is_some() {} };
            if tokio::time::timeout_at(deadline, all).await.is_err() {
                tracing::debug!("some tracker did not take our stop in time");
            }
            let _ = done.send(());
        });
    }
}

/// Whether a stopping announcer still has a `completed` in flight.
fn waits_for_completed(entry: &Entry) -> bool {
    entry.slots.iter().any(|s| s.flight.is_some())
}

/// `next`, moved later by a random part (up to a tenth) of the wait from
/// `now`: announces that fell due together (torrents started together, or
/// backing off from the same dead tracker) drift apart.
pub fn spread(now: Instant, next: Instant) -> Instant {
    let wait = next.saturating_duration_since(now);
    if wait.is_zero() {
        return next;
    }
    let extra = wait.mul_f64(rand::thread_rng().gen_range(0.0..0.1));
    next + extra.min(Duration::from_secs(600))
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_only_delays_and_by_at_most_a_tenth() {
        let now = Instant::now();
        let mut moved = 0;
        for _ in 0..200 {
            let next = now + Duration::from_secs(100);
            let s = spread(now, next);
            assert!(
                s >= next && s <= next + Duration::from_secs(10),
                "{:?}",
                s - next
            );
            moved += usize::from(s > next);
        }
        assert!(moved > 150, "announces due together must drift apart");
        assert_eq!(spread(now, now), now);
        let past = now.checked_sub(Duration::from_secs(1)).unwrap_or(now);
        assert_eq!(spread(now, past), past);
    }
}
