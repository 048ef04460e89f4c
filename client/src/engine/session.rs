//! A session: one listener, session-wide rate buckets and hashing slots,
//! and the torrents running in it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::sync::mpsc;
use crate::watch;
use rand::RngCore;
use riffle_protocol::metainfo::Metainfo;
use riffle_protocol::{InfoHash, PeerId};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinHandle;

use super::listener::{self, Routes};
use super::rate::Bucket;
use super::remove::{delete_torrent_data, DeleteError, Deleted};
use super::slots::ConnectionSlots;
use super::torrent::{self, Command, Input, PolicyUpdate, TorrentOptions};
use super::{SessionConfig, TorrentStatus};

/// Ports tried after the one asked for, when it is busy.
const LISTEN_TRIES: u16 = 50;

/// Why a session or torrent could not start.
#[derive(Debug, Error)]
pub enum SessionError {
    /// No port could be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// The last bind error.
        source: std::io::Error,
    },
    /// The DHT's UDP socket could not be bound.
    #[error(transparent)]
    Dht(#[from] crate::dht::DhtError),
    /// The torrent runs in this session already.
    #[error("torrent {0} is already in the session")]
    Duplicate(String),
}

/// A running session.
pub struct Session {
    /// Shared with every torrent (one copy, not one each).
    config: Arc<SessionConfig>,
    our_id: PeerId,
    listen_addr: SocketAddr,
    routes: Routes,
    up: Arc<Bucket>,
    down: Arc<Bucket>,
    /// What every torrent shares with the session (one allocation).
    links: Arc<torrent::Links>,
    connection_slots: Arc<ConnectionSlots>,
    listener: JoinHandle<()>,
    dht: Option<(crate::dht::Dht, JoinHandle<()>)>,
    torrents: Mutex<HashMap<InfoHash, mpsc::Sender<Box<Input>>>>,
    exchange: Arc<super::exchange::Exchange>,
    allocator: JoinHandle<()>,
    /// Every torrent's trackers, announced from one task.
    announcers: crate::tracker::Announcers,
}

/// Torrents that open their storage and read their resume data at once:
/// a seedbox restarting with 10,000 torrents starts them a few dozen at a
/// time, so start-up's short-lived memory is reused instead of
/// interleaving with what the torrents keep (which leaves the heap full
/// of holes), and the blocking pool is not flooded.
const STARTING_AT_ONCE: usize = 32;

/// What a session keeps running ([`Session::load_counts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadCounts {
    /// Torrents added and not removed.
    pub torrents: usize,
    /// Tasks alive in the runtime, the session's and everything else's:
    /// one per torrent (its control task, which holds its timers: the
    /// tick and a per-piece deadline), one per connected peer, plus the
    /// listener, the DHT, the announce service and the allocator.
    pub tasks: usize,
    /// Tracker tiers waiting for their next announce: entries in the
    /// announce service's one timer queue.
    pub announces_waiting: usize,
    /// Announces in flight (a short task each).
    pub announces_in_flight: usize,
    /// Torrents parked: nothing to do, no running state, no tick.
    pub parked: usize,
}

/// A torrent in a session.
pub struct TorrentHandle {
    /// Its info-hash.
    pub info_hash: InfoHash,
    status: watch::Receiver<TorrentStatus>,
    commands: mpsc::Sender<Box<Input>>,
    task: JoinHandle<()>,
    /// The torrent, so its files can be found to delete on removal.
    meta: Arc<Metainfo>,
    /// Where its data lives.
    save_dir: PathBuf,
}

/// Send a command to a torrent's task; false if the task has ended.
/// Boxed in the channel: tokio allocates 32 slots per channel up front,
/// and a seedbox has a channel per torrent.
async fn order(commands: &mpsc::Sender<Box<Input>>, command: Command) -> bool {
    commands
        .send(Box::new(Input::Command(command)))
        .await
        .is_ok()
}

/// The run-time controls of a torrent, without the ownership of its task:
/// cheap to clone and to hand to another task (a front end applying a
/// limit while the owner keeps the handle).
#[derive(Clone, Debug)]
pub struct TorrentControl {
    commands: mpsc::Sender<Box<Input>>,
}

impl TorrentControl {
    /// See [`TorrentHandle::set_rate_limits`].
    pub async fn set_rate_limits(&self, upload: u64, download: u64) {
        order(&self.commands, Command::SetRateLimits { upload, download }).await;
    }

    /// See [`TorrentHandle::set_policies`].
    pub async fn set_policies(&self, update: PolicyUpdate) {
        order(&self.commands, Command::SetPolicies(update)).await;
    }

    /// Ask the torrent's trackers for peers now.
    pub async fn reannounce(&self) {
        order(&self.commands, Command::Reannounce).await;
    }

    /// See [`TorrentHandle::pause`].
    pub async fn pause(&self) {
        order(&self.commands, Command::Pause).await;
    }

    /// See [`TorrentHandle::resume`].
    pub async fn resume(&self) {
        order(&self.commands, Command::Resume).await;
    }
}

impl TorrentHandle {
    /// Its run-time controls, for another task.
    pub fn control(&self) -> TorrentControl {
        TorrentControl {
            commands: self.commands.clone(),
        }
    }

    /// Snapshots of the torrent, updated a few times a second.
    pub fn status(&self) -> watch::Receiver<TorrentStatus> {
        self.status.clone()
    }

    /// Dial more peers.
    pub async fn add_peers(&self, addrs: Vec<SocketAddr>) {
        order(&self.commands, Command::AddPeers(addrs)).await;
    }

    /// Pause: close every peer, stop dialling and accepting connections
    /// for it, tell its trackers `stopped`; status `Paused`. Verified data
    /// and progress are kept. It stays paused until [`Self::resume`].
    pub async fn pause(&self) {
        order(&self.commands, Command::Pause).await;
    }

    /// Resume a paused torrent: announce `started`, dial, accept.
    pub async fn resume(&self) {
        order(&self.commands, Command::Resume).await;
    }

    /// Switch policies (picker, chokers, one-club rate) in the running
    /// torrent; `TorrentStatus::policies` then describes the new ones.
    pub async fn set_policies(&self, update: PolicyUpdate) {
        order(&self.commands, Command::SetPolicies(update)).await;
    }

    /// Change the torrent's own limits, bytes/s (0: unlimited). While
    /// one-club throttling holds, the upload bucket stays at the reduced
    /// rate and returns to `upload` when it ends.
    pub async fn set_rate_limits(&self, upload: u64, download: u64) {
        order(&self.commands, Command::SetRateLimits { upload, download }).await;
    }

    /// Stop the torrent cleanly and wait until it has.
    pub async fn shutdown(self) {
        let (tx, rx) = oneshot::channel();
        if order(&self.commands, Command::Shutdown(tx)).await {
            let _ = rx.await;
        }
        let _ = self.task.await;
    }

    /// Remove the torrent: stop it cleanly (as [`Self::shutdown`]), then,
    /// if `delete_data`, delete exactly the files of its layout under its
    /// save directory, its resume record and the directories they leave
    /// empty (see [`delete_torrent_data`]). Returns what was deleted.
    pub async fn remove(self, delete_data: bool) -> Result<Option<Deleted>, DeleteError> {
        let meta = self.meta.clone();
        let save_dir = self.save_dir.clone();
        self.shutdown().await;
        if !delete_data {
            return Ok(None);
        }
        tokio::task::spawn_blocking(move || delete_torrent_data(&meta, &save_dir))
            .await
            .map_err(|e| DeleteError::Io {
                path: PathBuf::new(),
                source: std::io::Error::other(e),
            })?
            .map(Some)
    }

    /// The torrent's metainfo.
    pub fn metainfo(&self) -> &Metainfo {
        &self.meta
    }

    /// The directory its data lives under.
    pub fn save_dir(&self) -> &std::path::Path {
        &self.save_dir
    }

    /// Has the task ended (complete without seeding, failed or stopped)?
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Wait for the task to end.
    pub async fn join(self) {
        let _ = self.task.await;
    }
}

impl Session {
    /// Bind the listener and start the session.
    pub async fn start(mut config: SessionConfig) -> Result<Session, SessionError> {
        config.announce.bind_ip = config.announce.bind_ip.or(config.source_ip());
        let listener = bind(&config).await?;
        let listen_addr = listener
            .local_addr()
            .map_err(|source| SessionError::Listen {
                addr: config.listen,
                source,
            })?;
        let routes: Routes = Arc::default();
        let connection_slots = ConnectionSlots::new(config.max_connections);
        let task = tokio::spawn(listener::run(
            listener,
            routes.clone(),
            connection_slots.clone(),
        ));
        let dht = match &config.dht {
            Some(c) => Some(start_dht(listen_addr, c.clone()).await?),
            None => None,
        };
        let mut random = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut random);
        let exchange = super::exchange::Exchange::new(
            config.host_key.unwrap_or_else(rand::random),
            config.cross_swarm_credit,
            config.swarm_allocation,
            config.time_scale,
        );
        exchange.set_fixed_tau(config.cpm_tau.map(|t| config.scaled(t)));
        let up = Bucket::shared_with_burst(config.max_upload_rate, config.burst_bytes);
        let allocator = tokio::spawn(allocate(
            exchange.clone(),
            up.clone(),
            config.scaled(super::exchange::REALLOCATE_EVERY),
            config.time_scale,
        ));
        let our_id = PeerId::generate(random);
        let down = Bucket::shared_with_burst(config.max_download_rate, config.burst_bytes);
        let announcers = crate::tracker::Announcers::start();
        let config = Arc::new(config);
        let links = Arc::new(torrent::Links {
            our_id,
            listen_port: listen_addr.port(),
            session_up: up.clone(),
            session_down: down.clone(),
            hash_slots: Arc::new(Semaphore::new(config.hash_workers.max(1))),
            start_slots: Arc::new(Semaphore::new(STARTING_AT_ONCE)),
            connection_slots: connection_slots.clone(),
            config: config.clone(),
            dht: dht.as_ref().map(|(d, _)| d.clone()),
            exchange: exchange.clone(),
            announcers: announcers.clone(),
            announce: Arc::new(config.announce.clone()),
            parked: Default::default(),
        });
        Ok(Session {
            our_id,
            listen_addr,
            routes,
            up,
            down,
            links,
            connection_slots,
            listener: task,
            dht,
            torrents: Mutex::new(HashMap::new()),
            exchange,
            announcers,
            allocator,
            config,
        })
    }

    /// What the session keeps running, for the debug log: a seedbox whose
    /// idle cost regresses shows it here first.
    pub fn load_counts(&self) -> LoadCounts {
        let (announces_waiting, announces_in_flight) = self.announcers.counts();
        LoadCounts {
            torrents: self.torrents.lock().map(|t| t.len()).unwrap_or(0),
            tasks: tokio::runtime::Handle::try_current()
                .map(|h| h.metrics().num_alive_tasks())
                .unwrap_or(0),
            announces_waiting,
            announces_in_flight,
            parked: self.links.parked.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// What the session shares between its torrents: the credit ledger,
    /// the host key, the upload allocation.
    pub fn exchange(&self) -> &Arc<super::exchange::Exchange> {
        &self.exchange
    }

    /// The address peers reach us on.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen_addr
    }

    /// The session's DHT node, if it runs one.
    pub fn dht(&self) -> Option<&crate::dht::Dht> {
        self.dht.as_ref().map(|(d, _)| d)
    }

    /// Our peer id.
    pub fn peer_id(&self) -> PeerId {
        self.our_id
    }

    /// The session's upload bucket (its rate can be changed at run time).
    pub fn upload_bucket(&self) -> Arc<Bucket> {
        self.up.clone()
    }

    /// The session's download bucket.
    pub fn download_bucket(&self) -> Arc<Bucket> {
        self.down.clone()
    }

    /// Change the session-wide limits, bytes/s (0: unlimited); every
    /// torrent's peers draw from these buckets at once.
    pub fn set_rate_limits(&self, upload: u64, download: u64) {
        self.up.set_rate(upload);
        self.down.set_rate(download);
    }

    /// Fetch the info dictionary of `magnet` (BEP 9) from its `x.pe`
    /// peers, its trackers and `extra`, as this session's peer id; the
    /// bytes hash to its info-hash. `progress` hears (peers tried, best
    /// fraction received).
    pub async fn fetch_metadata(
        &self,
        magnet: &riffle_protocol::magnet::Magnet,
        extra: &[SocketAddr],
        limit: std::time::Duration,
        progress: impl Fn(usize, f64),
    ) -> Result<Vec<u8>, super::magnet::FetchError> {
        let setup = self.fetch_setup(limit);
        super::magnet::fetch_metadata(magnet, extra, &setup, None, progress).await
    }

    /// What a metadata fetch run elsewhere (a task of its own) needs to
    /// know about this session.
    pub fn fetch_setup(&self, limit: std::time::Duration) -> super::magnet::FetchSetup {
        super::magnet::FetchSetup {
            peer_id: self.our_id,
            port: self.listen_addr.port(),
            connect_timeout: self.config.connect_timeout,
            announce: self.config.announce.clone(),
            limit,
            dht: self.dht().cloned(),
        }
    }

    /// Change the session-wide connection limit (0: none). Lowering it
    /// closes nothing; new connections wait until enough have closed.
    pub fn set_max_connections(&self, max: usize) {
        self.connection_slots.set_max(max);
    }

    /// Peer connections open now (accepted or dialled, handshakes
    /// included).
    pub fn connections(&self) -> usize {
        self.connection_slots.in_use()
    }

    /// The session-wide limits now, bytes/s (upload, download; 0:
    /// unlimited).
    pub fn rate_limits(&self) -> (u64, u64) {
        (self.up.rate(), self.down.rate())
    }

    /// Start a torrent. Its data is checked in the background (status
    /// `Checking`) before any peer is contacted.
    pub fn add_torrent(
        &self,
        meta: impl Into<Arc<Metainfo>>,
        options: TorrentOptions,
    ) -> Result<TorrentHandle, SessionError> {
        // Shared, not copied: a seedbox keeps the metainfo once.
        let meta: Arc<Metainfo> = meta.into();
        let info_hash = meta.info_hash;
        let mut torrents = self.torrents.lock().unwrap_or_else(|e| e.into_inner());
        torrents.retain(|_, tx| !tx.is_closed());
        if torrents.contains_key(&info_hash) {
            return Err(SessionError::Duplicate(info_hash.to_hex()));
        }
        // Commands and routed connections, boxed (see `order`).
        let (input_tx, input_rx) = mpsc::channel(32);
        let (status_tx, status_rx) = watch::channel(TorrentStatus {
            name: meta.info.name.clone(),
            info_hash: Some(info_hash),
            total_bytes: meta.info.total_length(),
            piece_count: meta.info.piece_count(),
            ..TorrentStatus::default()
        });
        let save_dir = options.save_dir.clone();
        let task = torrent::spawn(torrent::Spawn {
            meta: meta.clone(),
            options,
            links: self.links.clone(),
            inputs: input_rx,
            status: status_tx,
        });
        if let Ok(mut r) = self.routes.lock() {
            // A hybrid is reached under either of its info-hashes.
            for id in meta.info_hashes() {
                r.insert(id, input_tx.downgrade());
            }
        }
        torrents.insert(info_hash, input_tx.clone());
        Ok(TorrentHandle {
            info_hash,
            status: status_rx,
            commands: input_tx,
            task,
            meta,
            save_dir,
        })
    }

    /// Stop every torrent cleanly (in parallel), then the listener.
    pub async fn shutdown(self) {
        let senders: Vec<mpsc::Sender<Box<Input>>> = self
            .torrents
            .lock()
            .map(|t| t.values().cloned().collect())
            .unwrap_or_default();
        let waits: Vec<JoinHandle<()>> = senders
            .into_iter()
            .map(|tx| {
                tokio::spawn(async move {
                    let (reply, done) = oneshot::channel();
                    if order(&tx, Command::Shutdown(reply)).await {
                        let _ = done.await;
                    }
                })
            })
            .collect();
        for w in waits {
            let _ = w.await;
        }
        if let Some((dht, task)) = self.dht {
            dht.shutdown().await;
            let _ = task.await;
        }
        self.listener.abort();
        self.allocator.abort();
    }
}

/// Split the session's upload limit between its torrents every `every`.
async fn allocate(
    exchange: Arc<super::exchange::Exchange>,
    up: Arc<Bucket>,
    every: std::time::Duration,
    scale: f64,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        exchange.reallocate(up.rate(), scale);
    }
}

async fn bind(config: &SessionConfig) -> Result<TcpListener, SessionError> {
    let mut addr = config.listen;
    let tries = if config.listen_fallback && addr.port() != 0 {
        LISTEN_TRIES
    } else {
        1
    };
    let mut last = None;
    for _ in 0..tries {
        match TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(e) => {
                last = Some(e);
                match addr.port().checked_add(1) {
                    Some(p) => addr.set_port(p),
                    None => break,
                }
            }
        }
    }
    Err(SessionError::Listen {
        addr: config.listen,
        source: last.unwrap_or_else(|| std::io::Error::other("no port to try")),
    })
}

/// Start the DHT on the listening port's number (UDP), or on any free
/// port if that one is taken.
async fn start_dht(
    listen: SocketAddr,
    config: crate::dht::DhtConfig,
) -> Result<(crate::dht::Dht, JoinHandle<()>), SessionError> {
    use crate::dht::Dht;
    match Dht::start(listen, config.clone()).await {
        Ok(d) => Ok(d),
        Err(e) => {
            tracing::debug!("{e}; the DHT takes another port");
            let mut any = listen;
            any.set_port(0);
            Ok(Dht::start(any, config).await?)
        }
    }
}
