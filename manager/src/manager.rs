//! The handle that talks to the manager's task (`actor/`).
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

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use riffle_client::engine::{Session, SessionConfig, TorrentOptions};
use riffle_protocol::InfoHash;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::actor::Actor;
use crate::error::ManagerError;
use crate::info::{
    AddRequest, Added, Detail, QueueMove, Select, SessionStats, TorrentChange, TorrentInfo,
};
use crate::settings::{Settings, SettingsChange};
use crate::store::StateDir;

/// How often the manager looks at its torrents.
pub const TICK: Duration = Duration::from_secs(1);

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
    /// Which waiting seeds start first when seed slots are limited.
    pub seed_priority: riffle_policies::queue::SeedPriority,
    /// With scarcity priority: how often the trackers are scraped.
    pub scrape_every: std::time::Duration,
}

/// Default time between scrapes for seed priority.
pub const DEFAULT_SCRAPE_EVERY: std::time::Duration = std::time::Duration::from_secs(30 * 60);

pub(crate) type Reply<T> = oneshot::Sender<Result<T, ManagerError>>;

/// What the handle asks the task (answered in `actor/`).
pub(crate) enum Request {
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
pub(crate) enum Internal {
    /// A torrent finished shutting down.
    Stopped(InfoHash),
    /// A move finished.
    Moved(InfoHash, PathBuf, Result<(), String>),
    /// A removal (shutdown, data, state files) finished.
    Removed(InfoHash),
    /// A magnet link's metadata arrived (it hashes to the info-hash).
    Fetched(InfoHash, Vec<u8>),
    /// Seeds per torrent from the trackers' scrapes.
    Scraped(Vec<(InfoHash, u32)>),
}

/// A running manager. Cheap to clone; every clone talks to the same task.
#[derive(Clone)]
pub struct Manager {
    tx: mpsc::Sender<Request>,
    listen: std::net::SocketAddr,
    dht: Option<riffle_client::dht::Dht>,
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
        let dht = session.dht().cloned();
        let mut totals = state.load_totals();
        totals.session_count += 1;
        let (tx, rx) = mpsc::channel(64);
        let (internal_tx, internal_rx) = mpsc::channel(256);
        let mut actor = Actor::new(
            state,
            session,
            settings,
            config.torrent_defaults,
            totals,
            internal_tx,
        );
        actor.scarcity =
            crate::actor::scarcity::Scarcity::new(config.seed_priority, config.scrape_every);
        actor.load()?;
        let task = tokio::spawn(actor.run(rx, internal_rx));
        Ok(Manager {
            tx,
            listen,
            dht,
            task: Arc::new(std::sync::Mutex::new(Some(task))),
        })
    }

    /// The session's DHT node, if it runs one.
    pub fn dht(&self) -> Option<&riffle_client::dht::Dht> {
        self.dht.as_ref()
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

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
