//! Parking: a torrent with nothing to do — complete and seeding, or
//! paused, with no peer for a while — gives up its running state (picker,
//! chokers, storage, block claims, buckets, its status copy) and keeps a
//! compact record: its pieces, counters, announcer, DHT and candidates.
//! Its task then waits on its inputs alone, with no tick. A command, a
//! connection, peers from a tracker or the DHT, or a re-dial coming due
//! wakes it: it is rebuilt from the record without a recheck (nothing is
//! read from disk) and handles what woke it.
//!
//! A seedbox of 10,000 idle torrents keeps 10,000 parked records, not
//! 10,000 running torrents.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use crate::watch;
use rand::rngs::{SmallRng, StdRng};
use rand::{RngCore, SeedableRng};
use riffle_protocol::metainfo::V2Hashes;
use tokio::time::Instant;

use super::announce::{Announcer, Progress};
use super::dht::{self, TorrentDht};
use super::dial::Candidates;
use super::startup::{self, Pieces};
use super::status::TorrentState;
use super::{Command, Input, Spawn, Torrent};
use crate::dht::Found;
use crate::engine::shared::Counters;

/// What a parked torrent keeps.
pub(crate) struct Parked {
    /// What the session handed it, channels and status included.
    spawn: Spawn,
    pieces: Pieces,
    /// The v2 hashes when the metainfo does not hold them all (layers
    /// fetched from peers, for a torrent that came by a magnet link);
    /// None: rebuilt from the metainfo on waking (a hybrid's piece layers
    /// and merkle trees are ~1.3 KiB a torrent).
    v2: Option<V2Hashes>,
    /// Byte counters: downloaded, uploaded, wasted.
    counts: [u64; 3],
    announcer: Option<Announcer>,
    transfer_tx: watch::Sender<Progress>,
    tracker_peers: Option<crate::tracker::PeerInbox>,
    dht: Option<TorrentDht>,
    /// Known addresses and their schedule; None when it knows none (the
    /// usual idle seed: an empty one is ~170 bytes).
    candidates: Option<Box<Candidates>>,
    paused: bool,
    completed: bool,
    club_time: Duration,
    throttled_bytes: u64,
    rng: SmallRng,
}

/// What woke a parked torrent; it handles it first once running again.
pub(super) enum Wake {
    /// A command or a connection (None: every sender is gone).
    Input(Option<Box<Input>>),
    /// Peers from its trackers.
    TrackerPeers(Vec<SocketAddr>),
    /// Peers from its DHT lookup.
    DhtPeers(Vec<SocketAddr>),
    /// A candidate's re-dial came due.
    Due,
}

/// What `Parked::poll_event` saw.
enum Event {
    /// A command or a connection (None: every sender is gone).
    Input(Option<Box<Input>>),
    /// Peers from its trackers.
    TrackerPeers(Vec<SocketAddr>),
    /// A tracker's state changed.
    Board,
    /// Word from its DHT lookup.
    Dht(Option<Found>),
    /// Its timer fired.
    Timer,
}

/// How a parked torrent's wait ended.
pub(super) enum Woken {
    /// It has something to do: run it again.
    Run(Box<Torrent>, Wake),
    /// It was shut down while parked (the reply sent), or could not come
    /// back (its status says why).
    Ended,
}

impl Torrent {
    /// Can the torrent park now? Only when nothing runs for it — no peer
    /// task, hash check or resume save (they hold its shared state), no
    /// DHT lookup, no v2 layer still to fetch, no piece in progress — and
    /// nothing has happened for the session's `park_after`.
    pub(super) fn parkable(&mut self, now: Instant) -> bool {
        let Some(after) = self.links.config.park_after else {
            return false;
        };
        // Saves that have finished are reaped first.
        while self.resume_saves.try_join_next().is_some() {}
        let idle = self.paused || (self.completed && self.options.seed);
        idle && !self.stopping
            && self.peers.is_empty()
            && now >= self.idle_since + after
            && Arc::strong_count(&self.shared) == 1
            && self.resume_saves.is_empty()
            && self
                .layers
                .as_ref()
                .is_none_or(|l| l.is_done() && l.parked.is_empty())
            && self.contributors.is_empty()
            && self.picker.book().downloading().is_empty()
            && self.dht.as_ref().is_none_or(|d| !d.looking())
            && self
                .candidates
                .next_due()
                .is_none_or(|due| due > now + after)
    }

    /// Park: keep the record, drop the rest.
    pub(super) fn park(self: Box<Self>) -> Box<Parked> {
        let mut t = *self;
        t.inputs.shrink();
        let c = &t.shared.counters;
        let counts = [
            Counters::get(&c.downloaded),
            Counters::get(&c.uploaded),
            Counters::get(&c.wasted),
        ];
        // Nothing else holds the shared state now (see `parkable`).
        let v2 = match Arc::try_unwrap(t.shared) {
            Ok(shared) => shared.v2.into_inner().unwrap_or_else(|e| e.into_inner()),
            Err(shared) => shared.v2.read().unwrap_or_else(|e| e.into_inner()).clone(),
        };
        let from_meta = V2Hashes::new(&t.meta.info, &t.meta.piece_layers).0;
        let v2 = (from_meta.missing().count() > 0).then_some(v2);
        let now = Instant::now();
        t.links.parked.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(name = %t.meta.info.name, "parked");
        Box::new(Parked {
            spawn: Spawn {
                meta: t.meta,
                options: t.options,
                links: t.links,
                inputs: t.inputs,
                status: t.status_tx,
            },
            pieces: Pieces {
                have: t.have,
                done: t.done,
                wanted_left: t.wanted_left,
                wanted_missing: t.wanted_missing,
            },
            v2,
            counts,
            announcer: t.announcer,
            transfer_tx: t.transfer_tx,
            tracker_peers: t.tracker_peers,
            dht: t.dht,
            candidates: (!t.candidates.is_empty()).then(|| Box::new(t.candidates)),
            paused: t.paused,
            completed: t.completed,
            club_time: t.service.time_in_club(now),
            throttled_bytes: t.service.throttled_bytes,
            rng: t.rng,
        })
    }
}

impl Parked {
    /// The record of a torrent that starts parked: complete, seeding,
    /// announced to its trackers (`started`) and looked up in the DHT as
    /// a running one would be.
    /// Its v2 hashes are the metainfo's (it fetches no layer).
    pub(super) fn at_start(spawn: Spawn, pieces: Pieces, seed: u64) -> Box<Parked> {
        let (transfer_tx, _) = watch::channel(Progress {
            uploaded: 0,
            downloaded: 0,
            left: pieces.wanted_left,
        });
        let (announcer, tracker_peers) = super::start_trackers(
            &spawn.meta,
            &spawn.options,
            &spawn.links,
            transfer_tx.subscribe(),
        );
        // BEP 27: a private torrent finds peers through its trackers only.
        let dht = (!spawn.meta.info.private)
            .then(|| spawn.links.dht.clone())
            .flatten()
            .map(TorrentDht::new);
        // What a running torrent's first status would say.
        let options = &spawn.options;
        let pieces_count = pieces.have.len() as usize;
        spawn.status.send_modify(|st| {
            st.policies = options.policies.describe();
            st.policy_values = Some(options.policies.clone());
            st.upload_limit = options.max_upload_rate;
            st.download_limit = options.max_download_rate;
            st.pieces.resize(pieces_count, Default::default());
        });
        spawn.links.parked.fetch_add(1, Ordering::Relaxed);
        Box::new(Parked {
            spawn,
            pieces,
            v2: None,
            counts: [0; 3],
            announcer,
            transfer_tx,
            tracker_peers,
            dht,
            candidates: None,
            paused: false,
            completed: true,
            club_time: Duration::ZERO,
            throttled_bytes: 0,
            rng: SmallRng::seed_from_u64(seed),
        })
    }

    /// When a known address is next due for a dial.
    fn next_dial(&self) -> Option<Instant> {
        self.candidates.as_ref().and_then(|c| c.next_due())
    }

    /// Wait, with no tick, until something needs the running torrent;
    /// then rebuild it. A DHT round runs while parked (only peers it finds
    /// wake the torrent), and a shutdown is served from the record.
    ///
    /// Its sources are polled in place ([`Parked::poll_event`]) rather
    /// than raced with `select!`: that future held each source's waiting
    /// state at once (~600 bytes for each of a seedbox's idle torrents);
    /// this one holds the record's pointer and one timer.
    pub(super) async fn wait(mut self: Box<Self>) -> Woken {
        let timer = tokio::time::sleep_until(Instant::now());
        tokio::pin!(timer);
        let wake = loop {
            let now = Instant::now();
            if let Some(w) = self.dht_round(now) {
                break w;
            }
            let due = [
                self.next_dial(),
                self.dht
                    .as_ref()
                    .filter(|_| !self.paused)
                    .and_then(TorrentDht::next_due),
            ]
            .into_iter()
            .flatten()
            .min();
            if let Some(at) = due {
                timer.as_mut().reset(at);
            }
            let mut armed = due.map(|_| timer.as_mut());
            let event =
                std::future::poll_fn(|cx| self.poll_event(cx, armed.as_mut().map(|t| t.as_mut())))
                    .await;
            match event {
                Event::Input(input) => match input.map(|i| *i) {
                    Some(Input::Command(Command::Shutdown(reply))) => {
                        // Boxed: the announces' state is not kept in
                        // every parked torrent's wait.
                        Box::pin(self.shutdown()).await;
                        let _ = reply.send(());
                        return Woken::Ended;
                    }
                    other => break Wake::Input(other.map(Box::new)),
                },
                Event::TrackerPeers(addrs) => break Wake::TrackerPeers(addrs),
                Event::Board => self.mirror_trackers(),
                Event::Dht(found) => {
                    if let Some(w) = self.on_dht_found(found) {
                        break w;
                    }
                }
                Event::Timer => {
                    if self.next_dial().is_some_and(|d| d <= Instant::now()) {
                        break Wake::Due;
                    }
                }
            }
        };
        let status = self.spawn.status.clone();
        match self.wake() {
            Ok(t) => Woken::Run(t, wake),
            Err(e) => {
                tracing::debug!("a parked torrent could not come back: {e:#}");
                status.send_modify(|st| st.state = TorrentState::Failed(format!("{e:#}")));
                Woken::Ended
            }
        }
    }

    /// The next thing that happened to the parked torrent; pending (each
    /// source keeping `cx`'s waker) while nothing has. `timer` is polled
    /// when the torrent has something due.
    fn poll_event(
        &mut self,
        cx: &mut std::task::Context<'_>,
        timer: Option<Pin<&mut tokio::time::Sleep>>,
    ) -> Poll<Event> {
        if let Poll::Ready(input) = self.spawn.inputs.poll_recv(cx) {
            return Poll::Ready(Event::Input(input));
        }
        if let Some(inbox) = &self.tracker_peers {
            if let Poll::Ready(addrs) = inbox.poll_recv(cx) {
                return Poll::Ready(Event::TrackerPeers(addrs));
            }
        }
        if let Some(a) = &mut self.announcer {
            if a.poll_board_changed(cx).is_ready() {
                return Poll::Ready(Event::Board);
            }
        }
        if let Poll::Ready(found) = dht::poll_found(&mut self.dht, cx) {
            return Poll::Ready(Event::Dht(found));
        }
        match timer.map(|t| t.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Event::Timer),
            _ => Poll::Pending,
        }
    }

    /// Copy the trackers' states into the status (as a running torrent's
    /// status shows them), publishing only a change.
    fn mirror_trackers(&self) {
        let Some(a) = &self.announcer else {
            return;
        };
        self.spawn.status.send_if_modified(|st| {
            let before = st.tracker_stats.clone();
            a.statuses_into(&mut st.tracker_stats);
            !Arc::ptr_eq(&before, &st.tracker_stats)
        });
    }

    /// Start the DHT round if one is due (the status says so); a parked
    /// torrent's round finds no one most of the time.
    fn dht_round(&mut self, now: Instant) -> Option<Wake> {
        if self.paused {
            return None;
        }
        let d = self.dht.as_mut()?;
        let ids = self.spawn.meta.info_hashes();
        if d.start_if_due(now, ids, self.spawn.links.listen_port) {
            let line = d.describe(now);
            self.spawn
                .status
                .send_modify(|st| st.dht = Some(line.clone()));
        }
        None
    }

    /// A lookup's word: peers wake the torrent; the round's end schedules
    /// the next.
    fn on_dht_found(&mut self, found: Option<Found>) -> Option<Wake> {
        let d = self.dht.as_mut()?;
        let now = Instant::now();
        let hungry = !self.completed;
        let wait = self.spawn.links.config.scaled(dht::round_wait(hungry));
        let addrs = d.on_found(found, now, wait);
        if !addrs.is_empty() {
            return Some(Wake::DhtPeers(addrs));
        }
        if !d.looking() {
            let line = d.describe(now);
            self.spawn.status.send_modify(|st| st.dht = Some(line));
        }
        None
    }

    /// Stop from the record: tell the trackers `stopped` (bounded). The
    /// resume record needs no new save: nothing changed on disk since the
    /// torrent last saved it (on completion, pause or start-up).
    async fn shutdown(&mut self) {
        self.spawn.links.parked.fetch_sub(1, Ordering::Relaxed);
        if let Some(a) = self.announcer.take() {
            a.stop(self.spawn.links.config.stop_announce_timeout).await;
        }
        self.spawn
            .status
            .send_modify(|st| st.state = TorrentState::Stopped);
    }

    /// Rebuild the running torrent (no recheck: the pieces are known).
    fn wake(self: Box<Self>) -> anyhow::Result<Box<Torrent>> {
        let p = *self;
        p.spawn.links.parked.fetch_sub(1, Ordering::Relaxed);
        let files = startup::open_files(&p.spawn.meta, &p.spawn.options)?;
        let mut rng = p.rng;
        let seeds = StdRng::seed_from_u64(rng.next_u64());
        let v2 = p.v2.unwrap_or_else(|| startup::v2_hashes(&p.spawn.meta));
        let mut t = startup::assemble(p.spawn, files, v2, None, p.pieces, seeds)?;
        let c = &t.shared.counters;
        let [downloaded, uploaded, wasted] = p.counts;
        Counters::add(&c.downloaded, downloaded);
        Counters::add(&c.uploaded, uploaded);
        Counters::add(&c.wasted, wasted);
        t.rng = rng;
        t.announcer = p.announcer;
        t.transfer_tx = p.transfer_tx;
        t.tracker_peers = p.tracker_peers;
        t.dht = p.dht;
        t.candidates = p.candidates.map(|c| *c).unwrap_or_default();
        t.paused = p.paused;
        t.completed = p.completed;
        t.service.club_time = p.club_time;
        t.service.throttled_bytes = p.throttled_bytes;
        tracing::debug!(name = %t.meta.info.name, "woke");
        Ok(t)
    }
}
