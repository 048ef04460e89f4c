//! What a scripted peer saw and did, counted at the peer itself so a test
//! can hold riffle to account from the other end of the wire.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// How one connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// riffle closed it (EOF or reset).
    Remote,
    /// The test ended first.
    Stopped,
    /// The scripted peer gave up (the reason).
    Local(String),
}

/// One moment in a scripted peer's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Connection number `conn` was accepted (riffle dialled us).
    Accepted { conn: u64 },
    /// The script's hostile frame went out on `conn` (huge length prefix,
    /// out-of-range HAVE, bitfield with spare bits).
    HostileSent { conn: u64 },
    /// Connection `conn` ended.
    Closed { conn: u64, ending: Ending },
}

/// Counters shared by all connections of one scripted peer.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Handshakes for our torrent completed.
    pub handshakes: AtomicU64,
    /// PIECE payload bytes written to sockets (headers excluded): what the
    /// peer uploaded, good or bad.
    pub payload_bytes: AtomicU64,
    /// PIECE messages written.
    pub blocks: AtomicU64,
    /// Blocks a subtle liar corrupted (each spoils the piece it is in).
    pub corrupted_blocks: AtomicU64,
    /// REQUEST messages received.
    pub requests: AtomicU64,
    /// CANCEL messages that withdrew a request still queued here.
    pub cancels: AtomicU64,
    /// REQUESTs naming a block outside the torrent (never answered).
    pub bad_requests: AtomicU64,
    /// Connection lifecycle, in order.
    timeline: Mutex<Vec<(Instant, Event)>>,
    /// When the last REQUEST arrived (kept apart from the timeline: there
    /// are thousands).
    last_request: Mutex<Option<Instant>>,
}

impl Stats {
    /// Read a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::SeqCst)
    }

    /// Add to a counter.
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::SeqCst);
    }

    /// Payload bytes uploaded so far.
    pub fn uploaded(&self) -> u64 {
        Stats::get(&self.payload_bytes)
    }

    /// Note an event now.
    pub(crate) fn record(&self, event: Event) {
        if let Ok(mut t) = self.timeline.lock() {
            t.push((Instant::now(), event));
        }
    }

    /// Note a REQUEST now.
    pub(crate) fn request_seen(&self) {
        Stats::add(&self.requests, 1);
        if let Ok(mut l) = self.last_request.lock() {
            *l = Some(Instant::now());
        }
    }

    /// A copy of the timeline.
    pub fn timeline(&self) -> Vec<(Instant, Event)> {
        self.timeline.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// When the last REQUEST arrived.
    pub fn last_request(&self) -> Option<Instant> {
        self.last_request.lock().ok().and_then(|l| *l)
    }

    /// The latest sign of riffle using this peer: a connection accepted or
    /// closed, or a request received.
    pub fn last_activity(&self) -> Option<Instant> {
        self.timeline()
            .iter()
            .map(|(t, _)| *t)
            .chain(self.last_request())
            .max()
    }

    /// `(accepted, closed with its ending)` for every connection, in order
    /// of acceptance (`closed` is `None` while it is still open).
    #[allow(clippy::type_complexity)]
    pub fn connections(&self) -> Vec<(u64, Instant, Option<(Instant, Ending)>)> {
        let t = self.timeline();
        t.iter()
            .filter_map(|(at, e)| match e {
                Event::Accepted { conn } => Some((*conn, *at)),
                _ => None,
            })
            .map(|(conn, at)| {
                let closed = t.iter().find_map(|(c, e)| match e {
                    Event::Closed { conn: n, ending } if *n == conn => Some((*c, ending.clone())),
                    _ => None,
                });
                (conn, at, closed)
            })
            .collect()
    }

    /// When the hostile frame went out on `conn`.
    pub fn hostile_sent(&self, conn: u64) -> Option<Instant> {
        self.timeline().iter().find_map(|(t, e)| match e {
            Event::HostileSent { conn: c } if *c == conn => Some(*t),
            _ => None,
        })
    }
}
