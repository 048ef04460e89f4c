//! The manager's task and the handle that talks to it.
//!
//! One task owns every torrent's entry, the queue order, the settings and
//! the session; requests come in on a channel with a reply channel each,
//! so no lock is ever held across an await and a slow request (a torrent
//! shutting down, data being moved) never blocks the others: those run in
//! tasks of their own and report back on an internal channel.
//!
//! Once a second ([`TICK`]) the task folds the running torrents' counters
//! into their records, notices completions, failures and seeding limits,
//! starts what the queue lets start, and saves what changed.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use riffle_client::engine::{
    delete_torrent_data, move_torrent_data, PolicyUpdate, Session, SessionConfig, TorrentOptions,
    TorrentState,
};
use riffle_policies::queue::{self, QueueEntry, Slot, Wants};
use riffle_protocol::metainfo::Metainfo;
use riffle_protocol::{Bitfield, InfoHash};
use riffle_storage::ResumeRecord;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::entry::{AfterStop, Entry, Run, Running};
use crate::error::ManagerError;
use crate::info::{
    AddRequest, Added, Brief, Detail, QueueMove, Select, SessionStats, TorrentChange, TorrentInfo,
    TorrentRef,
};
use crate::record::TorrentRecord;
use crate::settings::{Settings, SettingsChange};
use crate::store::{StateDir, Totals};

/// How often the manager looks at its torrents.
pub const TICK: Duration = Duration::from_secs(1);
/// How often the counters of running torrents are saved (a crash loses at
/// most this much of them).
const SAVE_COUNTERS_EVERY: Duration = Duration::from_secs(60);
/// "Recently active": transferred within this long.
const RECENT: Duration = Duration::from_secs(60);

/// How to start a manager.
#[derive(Clone, Debug)]
pub struct ManagerConfig {
    /// The state directory.
    pub state_dir: PathBuf,
    /// The session's listening address, timeouts and the like.
    pub session: SessionConfig,
    /// Settings for a state directory that has none saved.
    pub defaults: Settings,
    /// Settings that win over the saved ones (the config file and flags).
    pub overrides: SettingsChange,
    /// Engine options every torrent starts from (policies and the like);
    /// the manager sets the save directory, limits and resume directory.
    pub torrent_defaults: TorrentOptions,
}

type Reply<T> = oneshot::Sender<Result<T, ManagerError>>;

/// What the handle asks the task.
enum Request {
    Add(Box<AddRequest>, Reply<Added>),
    Remove(Select, bool, Reply<()>),
    Start(Select, bool, Reply<()>),
    Stop(Select, Reply<()>),
    Verify(Select, Reply<()>),
    Reannounce(Select, Reply<()>),
    Set(Select, Box<TorrentChange>, Reply<()>),
    SetLocation(Select, PathBuf, bool, Reply<()>),
    Queue(Select, QueueMove, Reply<()>),
    Get(Select, Detail, Reply<(Vec<TorrentInfo>, Vec<u32>)>),
    Settings(Reply<Settings>),
    SetSettings(Box<SettingsChange>, Reply<Settings>),
    Stats(Reply<SessionStats>),
    Shutdown(oneshot::Sender<()>),
}

/// What the task's helpers report back.
enum Internal {
    /// A torrent finished shutting down.
    Stopped(InfoHash),
    /// A move finished.
    Moved(InfoHash, PathBuf, Result<(), String>),
    /// A removal (shutdown, data, state files) finished.
    Removed(InfoHash),
}

/// A running manager. Cheap to clone; every clone talks to the same task.
#[derive(Clone)]
pub struct Manager {
    tx: mpsc::Sender<Request>,
    listen: std::net::SocketAddr,
    task: Arc<std::sync::Mutex<Option<JoinHandle<()>>>>,
}

impl Manager {
    /// Open the state directory, start the session and every torrent the
    /// queue lets run.
    pub async fn start(config: ManagerConfig) -> Result<Manager, ManagerError> {
        let state = StateDir::open(&config.state_dir)?;
        let saved = state.load_settings();
        let settings = config
            .overrides
            .apply(saved.as_ref().unwrap_or(&config.defaults));
        settings.validate().map_err(ManagerError::BadArgument)?;
        if saved.as_ref() != Some(&settings) {
            state.save_settings(&settings)?;
        }
        let mut session_config = config.session.clone();
        let (up, down) = settings.rate_limits();
        session_config.max_upload_rate = up;
        session_config.max_download_rate = down;
        session_config.max_connections = settings.peer_limit_global;
        let session = Session::start(session_config)
            .await
            .map_err(|e| ManagerError::Session(e.to_string()))?;
        let listen = session.listen_addr();
        let mut totals = state.load_totals();
        totals.session_count += 1;
        let (tx, rx) = mpsc::channel(64);
        let (internal_tx, internal_rx) = mpsc::channel(256);
        let mut actor = Actor {
            state,
            session: Some(session),
            settings,
            base: config.torrent_defaults,
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
            queue_dirty: false,
        };
        actor.load()?;
        let task = tokio::spawn(actor.run(rx, internal_rx));
        Ok(Manager {
            tx,
            listen,
            task: Arc::new(std::sync::Mutex::new(Some(task))),
        })
    }

    /// The address peers reach the session on.
    pub fn listen_addr(&self) -> std::net::SocketAddr {
        self.listen
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Request) -> Result<T, ManagerError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| ManagerError::Stopped)?;
        rx.await.map_err(|_| ManagerError::Stopped)?
    }

    /// Add a torrent (started unless asked not to, or queued).
    pub async fn add(&self, request: AddRequest) -> Result<Added, ManagerError> {
        self.ask(|r| Request::Add(Box::new(request), r)).await
    }

    /// Remove torrents, deleting their data if asked.
    pub async fn remove(&self, select: Select, delete_data: bool) -> Result<(), ManagerError> {
        self.ask(|r| Request::Remove(select, delete_data, r)).await
    }

    /// Start torrents (through the queue, or at once with `now`).
    pub async fn start_torrents(&self, select: Select, now: bool) -> Result<(), ManagerError> {
        self.ask(|r| Request::Start(select, now, r)).await
    }

    /// Stop torrents.
    pub async fn stop_torrents(&self, select: Select) -> Result<(), ManagerError> {
        self.ask(|r| Request::Stop(select, r)).await
    }

    /// Check torrents' data again, every piece.
    pub async fn verify(&self, select: Select) -> Result<(), ManagerError> {
        self.ask(|r| Request::Verify(select, r)).await
    }

    /// Ask running torrents' trackers for peers now.
    pub async fn reannounce(&self, select: Select) -> Result<(), ManagerError> {
        self.ask(|r| Request::Reannounce(select, r)).await
    }

    /// Change torrents' settings.
    pub async fn set(&self, select: Select, change: TorrentChange) -> Result<(), ManagerError> {
        self.ask(|r| Request::Set(select, Box::new(change), r))
            .await
    }

    /// Point torrents at another directory, moving their data there if
    /// `move_data` (else their data is looked for there).
    pub async fn set_location(
        &self,
        select: Select,
        location: PathBuf,
        move_data: bool,
    ) -> Result<(), ManagerError> {
        self.ask(|r| Request::SetLocation(select, location, move_data, r))
            .await
    }

    /// Move torrents in the queue.
    pub async fn queue_move(&self, select: Select, to: QueueMove) -> Result<(), ManagerError> {
        self.ask(|r| Request::Queue(select, to, r)).await
    }

    /// Snapshots of torrents (in id order), and for `RecentlyActive` the
    /// ids removed recently.
    pub async fn torrents(
        &self,
        select: Select,
        detail: Detail,
    ) -> Result<(Vec<TorrentInfo>, Vec<u32>), ManagerError> {
        self.ask(|r| Request::Get(select, detail, r)).await
    }

    /// The settings now.
    pub async fn settings(&self) -> Result<Settings, ManagerError> {
        self.ask(Request::Settings).await
    }

    /// Change settings; answers the settings now.
    pub async fn set_settings(&self, change: SettingsChange) -> Result<Settings, ManagerError> {
        self.ask(|r| Request::SetSettings(Box::new(change), r))
            .await
    }

    /// Session-wide numbers.
    pub async fn stats(&self) -> Result<SessionStats, ManagerError> {
        self.ask(Request::Stats).await
    }

    /// Stop every torrent cleanly, save everything, stop the session.
    pub async fn shutdown(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Request::Shutdown(reply)).await.is_ok() {
            let _ = rx.await;
        }
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The task's state.
struct Actor {
    state: StateDir,
    /// The engine's session (taken at shutdown).
    session: Option<Session>,
    settings: Settings,
    base: TorrentOptions,
    entries: HashMap<InfoHash, Entry>,
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
    /// The queue order changed since it was last saved.
    queue_dirty: bool,
}

impl Actor {
    /// Bring back every torrent of the state directory, in queue order.
    fn load(&mut self) -> Result<(), ManagerError> {
        let stored = self.state.load_torrents()?;
        let queue = self.state.load_queue();
        let now = unix_now();
        let mut ids_taken = HashSet::new();
        let mut fresh = Vec::new();
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
            self.entries.insert(hash, entry);
        }
        self.next_id = self
            .entries
            .values()
            .map(|e| e.record.id)
            .max()
            .unwrap_or(0)
            + 1;
        for hash in fresh {
            let id = self.next_id;
            self.next_id += 1;
            if let Some(e) = self.entries.get_mut(&hash) {
                e.record.id = id;
                e.dirty = true;
            }
        }
        // The saved queue first, then anything it missed, by position.
        let mut order: Vec<InfoHash> = queue
            .into_iter()
            .filter(|h| self.entries.contains_key(h))
            .collect();
        let listed: HashSet<InfoHash> = order.iter().copied().collect();
        let mut rest: Vec<&Entry> = self
            .entries
            .values()
            .filter(|e| !listed.contains(&e.meta.info_hash))
            .collect();
        rest.sort_by_key(|e| (e.record.queue_position, e.record.id));
        order.extend(rest.iter().map(|e| e.meta.info_hash));
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

    async fn run(
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
                    }) = self.entries.get(&hash)
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
                        TorrentRef::Hash(h) => Some(*h).filter(|h| self.entries.contains_key(h)),
                        TorrentRef::Id(id) => self
                            .entries
                            .values()
                            .find(|e| e.record.id == *id)
                            .map(|e| e.meta.info_hash),
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

    fn add(&mut self, add: AddRequest) -> Result<Added, ManagerError> {
        let meta = Metainfo::from_bytes(&add.metainfo)
            .map_err(|e| ManagerError::BadTorrent(e.to_string()))?;
        let hash = meta.info_hash;
        if let Some(e) = self.entries.get(&hash) {
            return Ok(Added::Duplicate(Brief {
                id: e.record.id,
                name: e.meta.info.name.clone(),
                hash,
            }));
        }
        if self.removing.contains(&hash) {
            return Err(ManagerError::BadArgument(format!(
                "torrent {} is still being removed; add it again in a moment",
                hash.to_hex()
            )));
        }
        let file_count = meta.info.files.len();
        if let Some(bad) = add.files_unwanted.iter().find(|&&i| i >= file_count) {
            return Err(ManagerError::BadArgument(format!(
                "file {bad} is past the last file (the torrent has {file_count})"
            )));
        }
        let dir = add
            .download_dir
            .unwrap_or_else(|| self.settings.download_dir.clone());
        let mut record = TorrentRecord::new(self.next_id, dir, &self.settings, unix_now());
        record.paused = add.paused.unwrap_or(!self.settings.start_added_torrents);
        if let Some(l) = add.peer_limit {
            record.peer_limit = l.max(1);
        }
        record.labels = add.labels;
        if !add.files_unwanted.is_empty() {
            let mut wanted = vec![true; file_count];
            for i in add.files_unwanted {
                wanted[i] = false;
            }
            record.files_wanted = wanted;
        }
        self.state.save_torrent(&hash, &add.metainfo)?;
        self.next_id += 1;
        let brief = Brief {
            id: record.id,
            name: meta.info.name.clone(),
            hash,
        };
        let meta = Arc::new(meta);
        let have = Bitfield::new(meta.info.piece_count());
        let mut entry = Entry::new(meta, record, have);
        entry.dirty = true;
        // Data already there (a torrent re-added, or made here) is checked
        // at once, whatever the queue: it may be a seed, not a download.
        entry.stop_after_check = !entry.record.paused && entry.has_files_on_disk();
        self.entries.insert(hash, entry);
        self.order.push(hash);
        self.renumber();
        self.totals.files_added += 1;
        self.current.files_added += 1;
        self.save_dirty();
        self.schedule();
        tracing::info!(id = brief.id, name = %brief.name, "added a torrent");
        Ok(Added::New(brief))
    }

    fn remove(&mut self, select: &Select, delete: bool) -> Result<(), ManagerError> {
        for hash in self.select(select) {
            let Some(mut entry) = self.entries.remove(&hash) else {
                continue;
            };
            self.order.retain(|h| *h != hash);
            self.queue_dirty = true;
            self.removed.push((entry.record.id, Instant::now()));
            self.removing.insert(hash);
            entry.fold_counters();
            let handle = match std::mem::replace(&mut entry.run, Run::Idle) {
                Run::Running(r) => Some(r.handle),
                _ => None,
            };
            let state = self.state.clone();
            let meta = entry.meta.clone();
            let dir = entry.record.download_dir.clone();
            let tx = self.internal_tx.clone();
            tracing::info!(id = entry.record.id, name = %meta.info.name, delete, "removing a torrent");
            tokio::spawn(async move {
                if let Some(h) = handle {
                    h.shutdown().await;
                }
                let resume = state.resume_path(&meta.info_hash);
                let outcome = tokio::task::spawn_blocking(move || {
                    let _ = state.remove(&meta.info_hash);
                    let _ = std::fs::remove_file(resume);
                    if delete {
                        delete_torrent_data(&meta, &dir).map(|_| ())
                    } else {
                        Ok(())
                    }
                })
                .await;
                if let Ok(Err(e)) = outcome {
                    tracing::warn!("cannot delete a removed torrent's data: {e}");
                }
                let _ = tx.send(Internal::Removed(hash)).await;
            });
        }
        self.renumber();
        self.save_dirty();
        Ok(())
    }

    fn start_request(&mut self, select: &Select, now: bool) -> Result<(), ManagerError> {
        let settings = self.settings.clone();
        for hash in self.select(select) {
            let Some(e) = self.entries.get_mut(&hash) else {
                continue;
            };
            e.record.paused = false;
            e.error = None;
            e.forced = now;
            if e.record.finished {
                // Started by hand past its seed limit: as Transmission, the
                // limit that stopped it no longer applies.
                e.record.finished = false;
                let ratio = queue::ratio(
                    e.record.uploaded_ever,
                    e.record.downloaded_ever,
                    e.have_bytes(),
                );
                if e.record
                    .seed_limits(&settings)
                    .reached(ratio, Duration::ZERO)
                    .is_some()
                {
                    e.record.seed_ratio_mode = crate::LimitMode::Unlimited;
                }
                e.record.seed_idle_mode = crate::LimitMode::Unlimited;
            }
            e.dirty = true;
        }
        self.save_dirty();
        self.schedule();
        Ok(())
    }

    fn verify(&mut self, select: &Select) -> Result<(), ManagerError> {
        for hash in self.select(select) {
            let Some(e) = self.entries.get_mut(&hash) else {
                continue;
            };
            e.verify = true;
            match e.run {
                Run::Running(_) => self.stop(hash, AfterStop::Nothing),
                Run::Idle if e.wants() == Wants::Stopped => {
                    // Check now, then stop again.
                    e.stop_after_check = true;
                    e.error = None;
                    self.start(hash);
                }
                _ => {}
            }
        }
        self.schedule();
        Ok(())
    }

    fn set(&mut self, select: &Select, c: &TorrentChange) -> Result<(), ManagerError> {
        let hashes = self.select(select);
        if let Some(r) = c.seed_ratio_limit {
            if !(r.is_finite() && r >= 0.0) {
                return Err(ManagerError::BadArgument(format!(
                    "seedRatioLimit {r} is not a ratio of 0 or more"
                )));
            }
        }
        for hash in &hashes {
            let Some(e) = self.entries.get(hash) else {
                continue;
            };
            let count = e.meta.info.files.len();
            for list in [&c.files_wanted, &c.files_unwanted].into_iter().flatten() {
                if let Some(bad) = list.iter().find(|&&i| i >= count) {
                    return Err(ManagerError::BadArgument(format!(
                        "file {bad} is past the last file (torrent {} has {count})",
                        e.record.id
                    )));
                }
            }
        }
        let mut restart = Vec::new();
        for hash in &hashes {
            let Some(e) = self.entries.get_mut(hash) else {
                continue;
            };
            let r = &mut e.record;
            macro_rules! set {
                ($($field:ident),*) => {$(
                    if let Some(v) = &c.$field {
                        r.$field = v.clone();
                    }
                )*};
            }
            set!(
                download_limit,
                download_limited,
                upload_limit,
                upload_limited,
                honors_session_limits,
                seed_ratio_mode,
                seed_ratio_limit,
                seed_idle_mode,
                seed_idle_limit,
                labels
            );
            if let Some(l) = c.peer_limit {
                r.peer_limit = l.max(1);
            }
            let count = e.meta.info.files.len();
            let files_before = r.files_wanted.clone();
            for (list, wanted) in [(&c.files_wanted, true), (&c.files_unwanted, false)] {
                if let Some(list) = list {
                    if r.files_wanted.len() != count {
                        r.files_wanted = vec![true; count];
                    }
                    if list.is_empty() {
                        r.files_wanted.iter_mut().for_each(|w| *w = wanted);
                    }
                    for &i in list {
                        r.files_wanted[i] = wanted;
                    }
                }
            }
            e.dirty = true;
            if e.record.files_wanted != files_before {
                e.rewant();
                if e.is_running() {
                    // The engine takes the files wanted at start.
                    restart.push(*hash);
                }
            }
            let r = &mut e.record;
            if c.picker.is_some() {
                r.picker = c.picker;
            }
            if c.seed_choker.is_some() {
                r.seed_choker = c.seed_choker;
            }
            if c.one_club_rate.is_some() {
                r.one_club_rate = c.one_club_rate;
            }
            if let Run::Running(run) = &e.run {
                let (up, down) = e.record.rate_limits();
                let update = PolicyUpdate {
                    picker: c.picker,
                    seed_choker: c.seed_choker,
                    one_club_rate: c.one_club_rate,
                    ..PolicyUpdate::default()
                };
                let policies = update != PolicyUpdate::default();
                // The torrent applies them at once; nobody waits for it.
                let control = run.handle.control();
                tokio::spawn(async move {
                    control.set_rate_limits(up, down).await;
                    if policies {
                        control.set_policies(update).await;
                    }
                });
            }
        }
        for hash in restart {
            self.stop(hash, AfterStop::Nothing);
        }
        if let Some(pos) = c.queue_position {
            for hash in hashes.iter().rev() {
                self.order.retain(|h| h != hash);
                let at = pos.min(self.order.len());
                self.order.insert(at, *hash);
            }
            self.renumber();
        }
        self.save_dirty();
        Ok(())
    }

    fn set_location(
        &mut self,
        select: &Select,
        to: PathBuf,
        move_data: bool,
    ) -> Result<(), ManagerError> {
        if to.as_os_str().is_empty() {
            return Err(ManagerError::BadArgument("the location is empty".into()));
        }
        for hash in self.select(select) {
            let Some(e) = self.entries.get_mut(&hash) else {
                continue;
            };
            if move_data {
                self.stop(hash, AfterStop::Move(to.clone()));
            } else {
                // Look for the data there: check it from scratch.
                e.record.download_dir = to.clone();
                e.verify = true;
                e.dirty = true;
                if e.is_running() {
                    self.stop(hash, AfterStop::Nothing);
                }
            }
        }
        self.save_dirty();
        Ok(())
    }

    fn queue_move(&mut self, select: &Select, to: QueueMove) {
        let hashes = self.select(select);
        match to {
            QueueMove::Top => {
                for h in hashes.iter().rev() {
                    self.order.retain(|x| x != h);
                    self.order.insert(0, *h);
                }
            }
            QueueMove::Bottom => {
                for h in &hashes {
                    self.order.retain(|x| x != h);
                    self.order.push(*h);
                }
            }
            QueueMove::Up => {
                for h in &hashes {
                    if let Some(i) = self.order.iter().position(|x| x == h) {
                        if i > 0 {
                            self.order.swap(i, i - 1);
                        }
                    }
                }
            }
            QueueMove::Down => {
                for h in hashes.iter().rev() {
                    if let Some(i) = self.order.iter().position(|x| x == h) {
                        if i + 1 < self.order.len() {
                            self.order.swap(i, i + 1);
                        }
                    }
                }
            }
        }
        self.renumber();
        self.save_dirty();
    }

    /// Queue positions from the order.
    fn renumber(&mut self) {
        for (i, h) in self.order.iter().enumerate() {
            if let Some(e) = self.entries.get_mut(h) {
                if e.record.queue_position != i {
                    e.record.queue_position = i;
                    self.queue_dirty = true;
                }
            }
        }
    }

    fn get(&self, select: &Select, detail: Detail) -> (Vec<TorrentInfo>, Vec<u32>) {
        let stalled_after = self.settings.stalled_after();
        let now = Instant::now();
        let mut out: Vec<TorrentInfo> = self
            .select(select)
            .iter()
            .filter_map(|h| self.entries.get(h))
            .map(|e| e.info(&self.state, detail, is_stalled(e, stalled_after, now)))
            .collect();
        out.sort_by_key(|t| t.id);
        let removed = match select {
            Select::RecentlyActive => self
                .removed
                .iter()
                .filter(|(_, at)| at.elapsed() <= RECENT)
                .map(|(id, _)| *id)
                .collect(),
            _ => Vec::new(),
        };
        (out, removed)
    }

    fn set_settings(&mut self, change: &SettingsChange) -> Result<Settings, ManagerError> {
        let next = change.apply(&self.settings);
        next.validate().map_err(ManagerError::BadArgument)?;
        self.settings = next;
        let (up, down) = self.settings.rate_limits();
        if let Some(session) = &self.session {
            session.set_rate_limits(up, down);
            session.set_max_connections(self.settings.peer_limit_global);
        }
        self.state.save_settings(&self.settings)?;
        self.schedule();
        Ok(self.settings.clone())
    }

    fn stats(&self) -> SessionStats {
        let mut s = SessionStats {
            torrent_count: self.entries.len(),
            current: self.current,
            cumulative: self.totals,
            ..SessionStats::default()
        };
        for e in self.entries.values() {
            if let Run::Running(r) = &e.run {
                s.active_torrent_count += 1;
                let st = r.status.borrow();
                s.download_speed += st.download_rate;
                s.upload_speed += st.upload_rate;
            } else if e.wants() == Wants::Stopped {
                s.paused_torrent_count += 1;
            }
        }
        s
    }

    /// Start a torrent in the session now.
    fn start(&mut self, hash: InfoHash) {
        let Some(e) = self.entries.get_mut(&hash) else {
            return;
        };
        if !matches!(e.run, Run::Idle) {
            return;
        }
        if e.verify {
            e.verify = false;
            let _ = std::fs::remove_file(self.state.resume_path(&hash));
        }
        let Some(session) = &self.session else {
            return;
        };
        let options = e.options(&self.state, &self.base);
        if let Err(err) = std::fs::create_dir_all(&options.save_dir) {
            e.error = Some(format!(
                "cannot create {}: {err}",
                options.save_dir.display()
            ));
            return;
        }
        match session.add_torrent((*e.meta).clone(), options) {
            Ok(handle) => {
                let status = handle.status();
                tracing::debug!(id = e.record.id, "started");
                let now = Instant::now();
                e.last_download = now;
                e.last_upload = now;
                e.run = Run::Running(Running {
                    handle,
                    status,
                    started: unix_now(),
                    seen_up: 0,
                    seen_down: 0,
                    seen_wasted: 0,
                });
            }
            // Its previous run is still shutting down: the next tick tries
            // again.
            Err(err) => tracing::debug!(id = e.record.id, "cannot start yet: {err}"),
        }
    }

    /// Stop a torrent (if it runs), then do `then`.
    fn stop(&mut self, hash: InfoHash, then: AfterStop) {
        let Some(e) = self.entries.get_mut(&hash) else {
            return;
        };
        e.fold_counters();
        match std::mem::replace(&mut e.run, Run::Idle) {
            Run::Running(r) => {
                {
                    let rx = r.status.clone();
                    let st = rx.borrow();
                    e.refresh_have(&st);
                }
                let seen = (r.seen_up, r.seen_down, r.seen_wasted);
                let status = r.status.clone();
                e.run = Run::Stopping { status, seen, then };
                let tx = self.internal_tx.clone();
                tokio::spawn(async move {
                    r.handle.shutdown().await;
                    let _ = tx.send(Internal::Stopped(hash)).await;
                });
            }
            Run::Stopping {
                status,
                seen,
                then: old,
            } => {
                let then = if then == AfterStop::Nothing {
                    old
                } else {
                    then
                };
                e.run = Run::Stopping { status, seen, then };
            }
            // A second move while one runs: refused by keeping the first.
            Run::Moving => e.run = Run::Moving,
            Run::Idle => self.after_stop(hash, then),
        }
    }

    fn after_stop(&mut self, hash: InfoHash, then: AfterStop) {
        match then {
            AfterStop::Nothing => {}
            AfterStop::Move(to) => {
                let Some(e) = self.entries.get_mut(&hash) else {
                    return;
                };
                // Not started by the queue while its files move.
                e.run = Run::Moving;
                let meta = e.meta.clone();
                let from = e.record.download_dir.clone();
                let tx = self.internal_tx.clone();
                tokio::spawn(async move {
                    let target = to.clone();
                    let outcome = tokio::task::spawn_blocking(move || {
                        std::fs::create_dir_all(&target)
                            .map_err(|e| format!("cannot create {}: {e}", target.display()))?;
                        move_torrent_data(&meta, &from, &target)
                            .map(|_| ())
                            .map_err(|e| e.to_string())
                    })
                    .await
                    .unwrap_or_else(|e| Err(e.to_string()));
                    let _ = tx.send(Internal::Moved(hash, to, outcome)).await;
                });
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
        }
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        let unix = unix_now();
        let settings = self.settings.clone();
        let mut to_stop = Vec::new();
        for (hash, e) in self.entries.iter_mut() {
            let before = (e.record.uploaded_ever, e.record.downloaded_ever);
            let state = e.observe(now, unix);
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
                    to_stop.push(*hash);
                }
                Some(state) if e.stop_after_check && state != TorrentState::Checking => {
                    e.stop_after_check = false;
                    to_stop.push(*hash);
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
                        to_stop.push(*hash);
                    }
                }
                Some(_) => {}
            }
        }
        for hash in to_stop {
            self.stop(hash, AfterStop::Nothing);
        }
        self.totals.seconds_active += TICK.as_secs();
        self.current.seconds_active += TICK.as_secs();
        self.schedule();
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
        }
        self.save_dirty();
        self.removed.retain(|(_, at)| at.elapsed() <= RECENT);
    }

    /// Start what the queue lets start.
    fn schedule(&mut self) {
        let stalled_after = self.settings.stalled_after();
        let now = Instant::now();
        let queue: Vec<QueueEntry<InfoHash>> = self
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
        for (hash, slot) in queue::plan(&queue, self.settings.queue_limits()) {
            if slot == Slot::Start {
                self.start(hash);
            }
        }
    }

    /// Write every changed record, and the queue if it changed.
    fn save_dirty(&mut self) {
        for (hash, e) in self.entries.iter_mut() {
            if e.dirty {
                e.dirty = false;
                e.counters_dirty = false;
                if let Err(err) = self.state.save_record(hash, &e.record) {
                    tracing::warn!("{err}");
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
