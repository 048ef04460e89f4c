//! The manager's task: one owner of every torrent's entry, the queue
//! order, the settings and the session (see `manager.rs` for the handle
//! that talks to it).
//!
//! - this file: the state, the loop, requests dispatched, what helpers
//!   report back, the once-a-second tick, the queue, saving;
//! - `ops.rs`: each request carried out (add, remove, start, stop,
//!   verify, set, move, queue moves, snapshots, settings), and starting
//!   and stopping a torrent in the session.

mod magnets;
mod ops;
pub(crate) mod scarcity;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use riffle_client::engine::{Session, TorrentOptions, TorrentState};
use riffle_policies::queue::{self, QueueEntry, Slot};
use riffle_protocol::metainfo::Metainfo;
use riffle_protocol::{Bitfield, InfoHash};
use riffle_storage::ResumeRecord;
use tokio::sync::mpsc;

use crate::entry::{AfterStop, Entry, Run};
use crate::error::ManagerError;
use crate::info::{Select, TorrentRef};
use crate::manager::{unix_now, Internal, Request, TICK};
use crate::record::TorrentRecord;
use crate::settings::Settings;
use crate::store::{StateDir, Totals};

/// How often the counters of running torrents are saved (a crash loses at
/// most this much of them).
const SAVE_COUNTERS_EVERY: Duration = Duration::from_secs(60);
/// Ticks between two plannings of the queue when no torrent changed
/// state (what time alone changes: a torrent turning stalled). Planning
/// is a pass over every torrent.
const SCHEDULE_EVERY_TICKS: u64 = 30;
/// A torrent that published nothing new is looked at once in this many
/// ticks (a tenth of them each tick, in queue order); one that did is
/// looked at every tick until it has been quiet for [`QUIET_LOOKS`]
/// looks. On a virtual machine, touching the memory of each of 10,000
/// idle torrents every second cost more than everything else they did.
const LOOK_EVERY_TICKS: u64 = 10;
/// How often the load counts go to the debug log (ticks are seconds).
const LOG_COUNTS_EVERY_TICKS: u64 = 60;
/// Quiet looks before a torrent leaves the every-tick set.
const QUIET_LOOKS: u32 = 3;
/// "Recently active": transferred within this long.
pub(crate) const RECENT: Duration = Duration::from_secs(60);

/// The task's state.
pub(crate) struct Actor {
    state: StateDir,
    /// The engine's session (taken at shutdown).
    session: Option<Session>,
    settings: Settings,
    base: TorrentOptions,
    /// Boxed: the map of a seedbox's thousands of torrents stays small (and
    /// cheap to grow), the entries where they are.
    entries: HashMap<InfoHash, Box<Entry>>,
    /// The queue, first first.
    order: Vec<InfoHash>,
    next_id: u32,
    /// Torrents being removed: not to be added again until done.
    removing: HashSet<InfoHash>,
    /// Ids removed, with when (for "recently-active").
    removed: Vec<(u32, Instant)>,
    totals: Totals,
    current: Totals,
    internal_tx: mpsc::Sender<Internal>,
    last_counters_save: Instant,
    /// Ticks so far.
    ticks: u64,
    /// A torrent could not start (its previous run was still shutting
    /// down): plan the queue again at the next tick.
    start_again: bool,
    /// Torrents looked at every tick (they published something lately).
    active: HashSet<InfoHash>,
    /// The queue order changed since it was last saved.
    queue_dirty: bool,
    /// Magnet links still fetching their metadata (in `order` too).
    pending: HashMap<InfoHash, magnets::Pending>,
    /// Seed priority and what the trackers said of other seeds.
    pub(crate) scarcity: scarcity::Scarcity,
}

impl Actor {
    /// The task's state before the state directory is loaded.
    pub(crate) fn new(
        state: StateDir,
        session: Session,
        settings: Settings,
        base: TorrentOptions,
        totals: Totals,
        internal_tx: mpsc::Sender<Internal>,
    ) -> Actor {
        Actor {
            state,
            session: Some(session),
            settings,
            base,
            entries: HashMap::new(),
            order: Vec::new(),
            next_id: 1,
            removing: HashSet::new(),
            removed: Vec::new(),
            totals,
            current: Totals {
                session_count: 1,
                ..Totals::default()
            },
            internal_tx,
            last_counters_save: Instant::now(),
            ticks: 0,
            start_again: false,
            active: HashSet::new(),
            queue_dirty: false,
            pending: HashMap::new(),
            scarcity: scarcity::Scarcity::new(
                queue::SeedPriority::Queue,
                crate::manager::DEFAULT_SCRAPE_EVERY,
            ),
        }
    }

    /// Bring back every torrent of the state directory, in queue order.
    pub(crate) fn load(&mut self) -> Result<(), ManagerError> {
        let stored = self.state.load_torrents()?;
        let queue = self.state.load_queue();
        let now = unix_now();
        let mut ids_taken = HashSet::new();
        let mut fresh = Vec::new();
        // Sized once: growing a map of thousands of entries leaves the
        // smaller tables behind as holes in the heap.
        self.entries.reserve(stored.len());
        for s in stored {
            let hash = s.meta.info_hash;
            let record = match s.record {
                Some(r) if ids_taken.insert(r.id) => r,
                other => {
                    // No record, or an id taken twice: a new id, the
                    // session's settings.
                    fresh.push(hash);
                    let dir = other
                        .map(|r| r.download_dir)
                        .unwrap_or_else(|| self.settings.download_dir.clone());
                    TorrentRecord::new(0, dir, &self.settings, now)
                }
            };
            let meta = Arc::new(s.meta);
            let have = self.saved_have(&meta);
            let mut entry = Entry::new(meta, record, have);
            entry.error = None;
            self.entries.insert(hash, Box::new(entry));
        }
        // Magnet links still waiting for their metadata.
        let mut magnets = Vec::new();
        for (magnet, record) in self.state.load_magnets() {
            let record = match record {
                Some(r) if ids_taken.insert(r.id) => r,
                other => {
                    fresh.push(magnet.info_hash);
                    let dir = other
                        .map(|r| r.download_dir)
                        .unwrap_or_else(|| self.settings.download_dir.clone());
                    TorrentRecord::new(0, dir, &self.settings, now)
                }
            };
            magnets.push((magnet, record));
        }
        self.next_id = ids_taken.iter().max().copied().unwrap_or(0) + 1;
        for hash in fresh {
            let id = self.next_id;
            self.next_id += 1;
            if let Some(e) = self.entries.get_mut(&hash) {
                e.record.id = id;
                e.dirty = true;
            }
            if let Some((_, r)) = magnets.iter_mut().find(|(m, _)| m.info_hash == hash) {
                r.id = id;
            }
        }
        let mut positions: Vec<(usize, u32, InfoHash)> = self
            .entries
            .values()
            .map(|e| (e.record.queue_position, e.record.id, e.meta.info_hash))
            .collect();
        positions.extend(
            magnets
                .iter()
                .map(|(m, r)| (r.queue_position, r.id, m.info_hash)),
        );
        for (magnet, record) in magnets {
            self.restore_magnet(magnet, record);
        }
        // The saved queue first, then anything it missed, by position.
        let known = |h: &InfoHash| self.entries.contains_key(h) || self.pending.contains_key(h);
        let mut order: Vec<InfoHash> = queue.into_iter().filter(known).collect();
        let listed: HashSet<InfoHash> = order.iter().copied().collect();
        positions.retain(|(_, _, h)| !listed.contains(h));
        positions.sort();
        order.extend(positions.into_iter().map(|(_, _, h)| h));
        self.order = order;
        self.renumber();
        tracing::info!(torrents = self.entries.len(), "loaded the state directory");
        self.save_dirty();
        Ok(())
    }

    /// What a stopped torrent's resume record says it holds (no hashing:
    /// the engine checks again when it starts).
    fn saved_have(&self, meta: &Metainfo) -> Bitfield {
        let count = meta.info.piece_count();
        match ResumeRecord::load(&self.state.resume_path(&meta.info_hash)) {
            Ok(r) if r.info_hash == meta.info_hash && r.have.len() == count => r.have,
            _ => Bitfield::new(count),
        }
    }

    pub(crate) async fn run(
        mut self,
        mut requests: mpsc::Receiver<Request>,
        mut internal: mpsc::Receiver<Internal>,
    ) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let shutdown_reply = loop {
            tokio::select! {
                req = requests.recv() => match req {
                    Some(Request::Shutdown(reply)) => break Some(reply),
                    Some(req) => self.handle(req),
                    None => break None,
                },
                Some(msg) = internal.recv() => self.on_internal(msg),
                _ = tick.tick() => self.on_tick(),
            }
        };
        self.shutdown(&mut internal).await;
        if let Some(reply) = shutdown_reply {
            let _ = reply.send(());
        }
    }

    fn handle(&mut self, req: Request) {
        match req {
            Request::Add(add, reply) => {
                let _ = reply.send(self.add(*add));
            }
            Request::Remove(select, delete, reply) => {
                let _ = reply.send(self.remove(&select, delete));
            }
            Request::Start(select, now, reply) => {
                let _ = reply.send(self.start_request(&select, now));
            }
            Request::Stop(select, reply) => {
                for hash in self.select(&select) {
                    if self.pending.contains_key(&hash) {
                        self.pause_pending(hash, true);
                        continue;
                    }
                    if let Some(e) = self.entries.get_mut(&hash) {
                        e.record.paused = true;
                        e.forced = false;
                        e.dirty = true;
                    }
                    self.stop(hash, AfterStop::Nothing);
                }
                self.save_dirty();
                let _ = reply.send(Ok(()));
            }
            Request::Verify(select, reply) => {
                let _ = reply.send(self.verify(&select));
            }
            Request::Reannounce(select, reply) => {
                for hash in self.select(&select) {
                    if let Some(Entry {
                        run: Run::Running(r),
                        ..
                    }) = self.entries.get(&hash).map(|e| &**e)
                    {
                        let control = r.handle.control();
                        tokio::spawn(async move { control.reannounce().await });
                    }
                }
                let _ = reply.send(Ok(()));
            }
            Request::Set(select, change, reply) => {
                let _ = reply.send(self.set(&select, &change));
            }
            Request::SetLocation(select, to, move_data, reply) => {
                let _ = reply.send(self.set_location(&select, to, move_data));
            }
            Request::Queue(select, to, reply) => {
                self.queue_move(&select, to);
                let _ = reply.send(Ok(()));
            }
            Request::Get(select, detail, reply) => {
                let _ = reply.send(Ok(self.get(&select, detail)));
            }
            Request::Settings(reply) => {
                let _ = reply.send(Ok(self.settings.clone()));
            }
            Request::SetSettings(change, reply) => {
                let _ = reply.send(self.set_settings(&change));
            }
            Request::Stats(reply) => {
                let _ = reply.send(Ok(self.stats()));
            }
            Request::Shutdown(_) => unreachable!("handled by the loop"),
        }
    }

    /// The entries `select` names, in queue order.
    fn select(&self, select: &Select) -> Vec<InfoHash> {
        match select {
            Select::All => self.order.clone(),
            Select::RecentlyActive => {
                let now = unix_now();
                self.order
                    .iter()
                    .filter(|h| {
                        self.entries.get(h).is_some_and(|e| {
                            e.is_running()
                                || now - e.record.activity_date <= RECENT.as_secs() as i64
                        })
                    })
                    .copied()
                    .collect()
            }
            Select::Some(refs) => {
                let mut out = Vec::new();
                for r in refs {
                    let hash = match r {
                        TorrentRef::Hash(h) => Some(*h).filter(|h| {
                            self.entries.contains_key(h) || self.pending.contains_key(h)
                        }),
                        TorrentRef::Id(id) => self
                            .entries
                            .values()
                            .find(|e| e.record.id == *id)
                            .map(|e| e.meta.info_hash)
                            .or_else(|| {
                                self.pending
                                    .iter()
                                    .find(|(_, p)| p.record.id == *id)
                                    .map(|(h, _)| *h)
                            }),
                    };
                    if let Some(h) = hash {
                        if !out.contains(&h) {
                            out.push(h);
                        }
                    }
                }
                out
            }
        }
    }

    fn on_internal(&mut self, msg: Internal) {
        match msg {
            Internal::Stopped(hash) => {
                let Some(e) = self.entries.get_mut(&hash) else {
                    return;
                };
                if let Run::Stopping { status, seen, then } =
                    std::mem::replace(&mut e.run, Run::Idle)
                {
                    let st = status.borrow().clone();
                    let up = st.uploaded.saturating_sub(seen.0);
                    let down = st.downloaded.saturating_sub(seen.1);
                    e.record.uploaded_ever += up;
                    e.record.downloaded_ever += down;
                    e.record.corrupt_ever += st.wasted.saturating_sub(seen.2);
                    self.totals.uploaded_bytes += up;
                    self.totals.downloaded_bytes += down;
                    self.current.uploaded_bytes += up;
                    self.current.downloaded_bytes += down;
                    e.refresh_have(&st);
                    e.dirty = true;
                    tracing::debug!(id = e.record.id, "stopped");
                    self.after_stop(hash, then);
                }
                self.save_dirty();
                self.schedule();
            }
            Internal::Moved(hash, to, outcome) => {
                if let Some(e) = self.entries.get_mut(&hash) {
                    if matches!(e.run, Run::Moving) {
                        e.run = Run::Idle;
                    }
                    match outcome {
                        Ok(()) => {
                            tracing::info!(id = e.record.id, to = %to.display(), "moved the data");
                            e.record.download_dir = to;
                        }
                        Err(err) => {
                            tracing::warn!(id = e.record.id, "cannot move the data: {err}");
                            e.error = Some(format!("cannot move the data: {err}"));
                        }
                    }
                    e.dirty = true;
                }
                self.save_dirty();
                self.schedule();
            }
            Internal::Removed(hash) => {
                self.removing.remove(&hash);
            }
            Internal::Fetched(hash, info) => self.on_fetched(hash, info),
            Internal::Scraped(found) => self.on_scraped(found),
        }
    }

    /// What the seedbox keeps running, once a minute in the debug log:
    /// an idle cost that regresses (a task or a timer per idle torrent
    /// again) shows as counts that grow with the torrents.
    fn log_counts(&self) {
        let Some(session) = &self.session else {
            return;
        };
        let c = session.load_counts();
        tracing::debug!(
            torrents = self.entries.len(),
            running = c.torrents,
            parked = c.parked,
            looked_at_each_second = self.active.len(),
            tasks = c.tasks,
            announces_waiting = c.announces_waiting,
            announces_in_flight = c.announces_in_flight,
            "load"
        );
    }

    fn on_tick(&mut self) {
        self.scrape_if_due();
        self.ticks += 1;
        if self.ticks.is_multiple_of(LOG_COUNTS_EVERY_TICKS) {
            self.log_counts();
        }
        let now = Instant::now();
        let unix = unix_now();
        let settings = self.settings.clone();
        let mut to_stop = Vec::new();
        let mut changed = false;
        let looked = self.to_look_at();
        for &hash in &looked {
            let Some(e) = self.entries.get_mut(&hash) else {
                self.active.remove(&hash);
                continue;
            };
            let before = (e.record.uploaded_ever, e.record.downloaded_ever);
            let state = match e.observe(now, unix, self.ticks) {
                Some(look) => {
                    changed |= look.changed;
                    if look.fresh {
                        self.active.insert(hash);
                    } else if e.quiet_looks >= QUIET_LOOKS {
                        self.active.remove(&hash);
                    }
                    Some(look.state)
                }
                None => {
                    self.active.remove(&hash);
                    None
                }
            };
            let up = e.record.uploaded_ever - before.0;
            let down = e.record.downloaded_ever - before.1;
            self.totals.uploaded_bytes += up;
            self.totals.downloaded_bytes += down;
            self.current.uploaded_bytes += up;
            self.current.downloaded_bytes += down;
            match state {
                None => {}
                Some(TorrentState::Failed(err)) => {
                    tracing::warn!(id = e.record.id, "torrent failed: {err}");
                    e.error = Some(err);
                    e.dirty = true;
                    to_stop.push(hash);
                }
                Some(state) if e.stop_after_check && state != TorrentState::Checking => {
                    e.stop_after_check = false;
                    to_stop.push(hash);
                }
                Some(TorrentState::Seeding) => {
                    let ratio = queue::ratio(
                        e.record.uploaded_ever,
                        e.record.downloaded_ever,
                        e.record.have_valid,
                    );
                    let idle = now.duration_since(e.last_upload);
                    if let Some(why) = e.record.seed_limits(&settings).reached(ratio, idle) {
                        tracing::info!(id = e.record.id, ?why, "seed limit reached: stopping");
                        e.record.paused = true;
                        e.record.finished = true;
                        e.dirty = true;
                        to_stop.push(hash);
                    }
                }
                Some(_) => {}
            }
        }
        changed |= !to_stop.is_empty();
        for hash in to_stop {
            self.stop(hash, AfterStop::Nothing);
        }
        self.totals.seconds_active += TICK.as_secs();
        self.current.seconds_active += TICK.as_secs();
        // The first tick starts what the queue lets start; a start that
        // failed (its previous run still shutting down) is tried again on
        // the next.
        let retry = std::mem::take(&mut self.start_again);
        if changed || retry || self.ticks == 1 || self.ticks.is_multiple_of(SCHEDULE_EVERY_TICKS) {
            self.schedule();
        }
        if now.duration_since(self.last_counters_save) >= SAVE_COUNTERS_EVERY {
            self.last_counters_save = now;
            for e in self.entries.values_mut() {
                if e.counters_dirty {
                    e.dirty = true;
                }
            }
            if let Err(e) = self.state.save_totals(&self.totals) {
                tracing::warn!("{e}");
            }
            self.save_dirty();
        } else if self.ticks.is_multiple_of(LOOK_EVERY_TICKS) {
            self.save_dirty();
        } else {
            // What this tick changed is in the torrents it looked at;
            // commands save what they change themselves.
            self.save_dirty_among(&looked);
        }
        self.removed.retain(|(_, at)| at.elapsed() <= RECENT);
    }

    /// Write the changed records among `hashes`, and the queue if it
    /// changed.
    fn save_dirty_among(&mut self, hashes: &[InfoHash]) {
        for hash in hashes {
            if let Some(e) = self.entries.get_mut(hash) {
                if e.dirty {
                    e.dirty = false;
                    e.counters_dirty = false;
                    if let Err(err) = self.state.save_record(hash, &e.record) {
                        tracing::warn!("{err}");
                    }
                }
            }
        }
        if self.queue_dirty {
            self.queue_dirty = false;
            if let Err(err) = self.state.save_queue(&self.order) {
                tracing::warn!("{err}");
            }
        }
    }

    /// The torrents to look at this tick: the active ones and a tenth of
    /// the rest, in queue order.
    fn to_look_at(&self) -> Vec<InfoHash> {
        let n = self.order.len() as u64;
        let k = self.ticks % LOOK_EVERY_TICKS;
        let (lo, hi) = (
            (n * k / LOOK_EVERY_TICKS) as usize,
            (n * (k + 1) / LOOK_EVERY_TICKS) as usize,
        );
        let mut look: Vec<InfoHash> = self.active.iter().copied().collect();
        look.extend(
            self.order[lo..hi]
                .iter()
                .filter(|h| !self.active.contains(*h))
                .copied(),
        );
        look
    }

    /// Start what the queue lets start.
    fn schedule(&mut self) {
        let stalled_after = self.settings.stalled_after();
        let now = Instant::now();
        let mut queue: Vec<QueueEntry<InfoHash>> = self
            .order
            .iter()
            .filter_map(|h| self.entries.get(h))
            .map(|e| QueueEntry {
                key: e.meta.info_hash,
                wants: e.wants(),
                running: !matches!(e.run, Run::Idle),
                stalled: is_stalled(e, stalled_after, now),
                forced: e.forced || e.stop_after_check,
            })
            .collect();
        if self.scarcity.priority == queue::SeedPriority::Scarcity {
            queue::by_scarcity(&mut queue, |h| self.other_seeds(h));
        }
        for (hash, slot) in queue::plan(&queue, self.settings.queue_limits()) {
            if slot == Slot::Start {
                self.start(hash);
            }
        }
    }

    /// Write every changed record, and the queue if it changed.
    fn save_dirty(&mut self) {
        let all: Vec<InfoHash> = self.entries.keys().copied().collect();
        self.save_dirty_among(&all);
    }

    async fn shutdown(&mut self, internal: &mut mpsc::Receiver<Internal>) {
        let running: Vec<InfoHash> = self
            .entries
            .iter()
            .filter(|(_, e)| e.is_running())
            .map(|(h, _)| *h)
            .collect();
        for hash in running {
            self.stop(hash, AfterStop::Nothing);
        }
        // Wait for every stop, move and removal in flight.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self
            .entries
            .values()
            .any(|e| matches!(e.run, Run::Stopping { .. } | Run::Moving))
            || !self.removing.is_empty()
        {
            match tokio::time::timeout_at(deadline, internal.recv()).await {
                Ok(Some(msg)) => self.on_internal(msg),
                _ => break,
            }
        }
        self.save_dirty();
        if let Err(e) = self.state.save_totals(&self.totals) {
            tracing::warn!("{e}");
        }
        if let Some(session) = self.session.take() {
            session.shutdown().await;
        }
    }
}

fn is_stalled(e: &Entry, stalled_after: Option<Duration>, now: Instant) -> bool {
    let Some(after) = stalled_after else {
        return false;
    };
    if !e.is_running() {
        return false;
    }
    let last = if e.complete() {
        e.last_upload
    } else {
        e.last_download
    };
    now.duration_since(last) >= after
}
