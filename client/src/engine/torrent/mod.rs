//! One torrent's control task: the single owner of its policy state — the
//! piece picker, the chokers, who holds what — and of its peers' orders.
//!
//! It never touches piece data: peer tasks write and read storage
//! themselves and report in batches; hashing runs on the blocking pool.
//! The task reacts to four inputs (peer reports, hash results, new
//! connections, commands) and a periodic tick (rates, choking, dialling,
//! status).
//!
//! - `peers.rs`: peer reports, requests, interest, choking.
//! - `pieces.rs`: hash checks, completion, banning liars.
//! - `dial.rs`: peer addresses, dialling, incoming connections.
//! - `startup.rs`: opening storage and checking what is on disk.
//! - `park.rs`: a torrent with nothing to do keeps a compact record and
//!   no running state until something wakes it.
//! - `status.rs`: the snapshots published to the user.
//! - `dht.rs`: lookups in the session's DHT.
//! - `control.rs`: run-time controls (pause/resume, policies, limits) and
//!   the piece map.

mod choking;
mod control;
mod dht;
mod dial;
mod exchange;
mod layers;
mod park;
mod peers;
mod pieces;
mod startup;
pub mod status;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::sync::mpsc;
use crate::watch;
use riffle_policies::catalog::{ChokerKind, PickerKind, SeedChokerKind};
use riffle_policies::choker::Choker;
use riffle_policies::picker::PiecePicker;
use riffle_policies::PeerKey;
use riffle_protocol::metainfo::Metainfo;
use riffle_protocol::{Bitfield, PeerId, PieceIndex};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, Semaphore};
use tokio::time::Instant;

use self::dial::Candidates;
use self::peers::PeerEntry;
use self::status::{TorrentState, TorrentStatus};
use super::announce::{self, Announcer, Progress};
use super::lazy_channel::LazyChannel;
use super::peer::FromPeer;
use super::rate::Bucket;
use super::shared::TorrentShared;

pub use self::control::PolicyUpdate;
pub use self::startup::resume_path;

/// How often the torrent looks at its clock (divided by the time scale).
const TICK: Duration = Duration::from_millis(250);
/// How often a torrent with no peer looks at its clock: nothing changes
/// then but what it is woken for (a connection, tracker peers, a
/// command), so a seedbox of thousands of idle torrents costs almost no
/// CPU. A candidate due sooner (a pinned peer's re-dial) brings the tick
/// forward.
const IDLE_TICK: Duration = Duration::from_secs(5);
/// How often a complete torrent with no peer looks at its clock: it wants
/// nothing of anyone, so only its DHT announce and its status lines (the
/// tracker's next announce) need it; a seedbox of 10,000 such torrents
/// wakes ~170 times a second in all.
const SEED_IDLE_TICK: Duration = Duration::from_secs(60);
/// The shortest tick, however fast the lab runs time.
const MIN_TICK: Duration = Duration::from_millis(20);
/// Capacity of the channel peer tasks report on.
const FROM_PEERS: usize = 1024;

/// How a torrent runs; set by the command line (and by the lab).
#[derive(Debug, Clone)]
pub struct TorrentOptions {
    /// Directory the torrent's file or folder lives under.
    pub save_dir: PathBuf,
    /// Peers to dial directly, and re-dial with backoff when they drop.
    pub peers: Vec<SocketAddr>,
    /// Keep running once complete (seeding); otherwise the torrent stops
    /// itself when complete.
    pub seed: bool,
    /// Only seed: refuse to start unless the data on disk is complete.
    pub require_complete: bool,
    /// Upload limit of this torrent in bytes per second (0 = unlimited).
    pub max_upload_rate: u64,
    /// Download limit of this torrent in bytes per second (0 = unlimited).
    pub max_download_rate: u64,
    /// Most connected peers.
    pub max_peers: usize,
    /// Peer turnover: at `max_peers`, a new incoming connection is let in
    /// by closing a random connected peer that neither side is serving
    /// (not a seed), instead of being refused. Newcomers to a full swarm
    /// then meet as many peers as everyone else (the swarm lab's random
    /// meeting); off by default, as in most clients.
    pub peer_turnover: bool,
    /// Use the trackers named in the torrent.
    pub use_trackers: bool,
    /// The decisions this torrent makes: picker, chokers, service rate.
    pub policies: Policies,
    /// Sync the data to disk and save a resume record on completion and
    /// at shutdown (a client always does; the swarm lab's throw-away
    /// peers do not).
    pub durable: bool,
    /// Draw on the session's rate limits as well as the torrent's own
    /// (Transmission's `honorsSessionLimits`; true by default).
    pub honor_session_limits: bool,
    /// Per file (metainfo order), whether to download it (None: every
    /// file). A skipped file is never created: pieces wholly inside
    /// skipped files are not requested, and the bytes of skipped files in
    /// pieces shared with wanted ones go to a part file beside the resume
    /// record. The torrent counts as complete (seeding) once every wanted
    /// piece is held.
    pub wanted_files: Option<Vec<bool>>,
    /// Where the resume record lives (None: `save_dir/.riffle/`, beside
    /// the data, as `riffle download` keeps it). The seedbox keeps every
    /// record in its state directory instead.
    pub resume_dir: Option<PathBuf>,
}

/// Which policies a torrent runs, named as on the command line
/// (`--picker`, `--choker`, `--seed-choker`, ...).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policies {
    /// Which pieces to request.
    pub picker: PickerKind,
    /// Picker for requests to peers that hold every piece (None: `picker`).
    /// In BitTorrent the downloader chooses blocks, so the lab realises a
    /// publisher's block policy (the paper's RFB or RUB) as its leechers'
    /// picker towards seeds.
    pub seed_picker: Option<PickerKind>,
    /// Whom to upload to while downloading.
    pub choker: ChokerKind,
    /// Whom to upload to once complete.
    pub seed_choker: SeedChokerKind,
    /// Upload slots (0: the policy's default).
    pub upload_slots: usize,
    /// One-club throttling: upload rate while holding all pieces but one,
    /// bytes/s (0: off).
    pub one_club_rate: u64,
    /// Upload limit per peer, bytes/s (0: unlimited).
    pub peer_upload_rate: u64,
    /// Download limit per peer, bytes/s (0: unlimited).
    pub peer_download_rate: u64,
    /// Seed of the policies' random draws (None: from the OS), so lab runs
    /// can be repeated.
    pub random_seed: Option<u64>,
    /// Per-piece turns (random peer, random useful peer, most deprived)
    /// come at exponential intervals, a Poisson process at the upload rate
    /// as in paper 002's model, instead of one block time apart. The swarm
    /// lab sets it; the upload bucket then needs a burst of a few blocks so
    /// that short gaps are not held back.
    pub poisson_turns: bool,
}

impl Policies {
    /// "picker / choker / seed-choker" plus any throttling, for status
    /// lines and the TUI.
    pub fn describe(&self) -> String {
        let mut s = format!("{} / {} / {}", self.picker, self.choker, self.seed_choker);
        if let Some(p) = self.seed_picker {
            s.push_str(&format!(" (from seeds: {p})"));
        }
        if self.one_club_rate > 0 {
            s.push_str(" / one-club");
        }
        s
    }
}

impl TorrentOptions {
    /// Defaults for a download into `save_dir`.
    pub fn new(save_dir: impl Into<PathBuf>) -> TorrentOptions {
        TorrentOptions {
            save_dir: save_dir.into(),
            peers: Vec::new(),
            seed: false,
            require_complete: false,
            max_upload_rate: 0,
            max_download_rate: 0,
            max_peers: 60,
            peer_turnover: false,
            use_trackers: true,
            policies: Policies::default(),
            durable: true,
            honor_session_limits: true,
            wanted_files: None,
            resume_dir: None,
        }
    }

    /// Where the bytes of skipped files in shared pieces are kept.
    pub fn parts_path(&self, info_hash: &riffle_protocol::InfoHash) -> PathBuf {
        self.resume_path(info_hash).with_extension("parts")
    }

    /// The resume record's path for the torrent `info_hash` run with these
    /// options.
    pub fn resume_path(&self, info_hash: &riffle_protocol::InfoHash) -> PathBuf {
        match &self.resume_dir {
            Some(dir) => dir.join(format!("{}.resume", info_hash.to_hex())),
            None => resume_path(&self.save_dir, info_hash),
        }
    }
}

/// A connection accepted by the session's listener whose handshake named
/// this torrent; the handshake bytes were consumed from the socket.
#[derive(Debug)]
pub struct Incoming {
    /// The socket.
    pub stream: TcpStream,
    /// The remote address.
    pub addr: SocketAddr,
    /// The 68 handshake bytes read so far.
    pub handshake: Vec<u8>,
    /// Its place under the session's connection limit.
    pub slot: super::slots::Slot,
}

/// What reaches a torrent's task from outside, on one channel: a command,
/// or a connection the listener routed to it.
#[derive(Debug)]
pub enum Input {
    /// From the torrent's handle or controls.
    Command(Command),
    /// From the session's listener.
    Incoming(Incoming),
}

/// What the outside can ask of a running torrent.
#[derive(Debug)]
pub enum Command {
    /// Stop: close peers, send the `stopped` announce (bounded), save the
    /// resume record; the reply comes when done.
    Shutdown(oneshot::Sender<()>),
    /// Dial these peers too.
    AddPeers(Vec<SocketAddr>),
    /// Close every peer, stop dialling and accepting, announce `stopped`.
    Pause,
    /// Announce `started` again, dial and accept.
    Resume,
    /// Switch policies in the running torrent.
    SetPolicies(PolicyUpdate),
    /// Ask the trackers for peers now.
    Reannounce,
    /// The torrent's own limits, bytes/s (0: unlimited).
    SetRateLimits {
        /// Upload limit (mu of the one-club policy).
        upload: u64,
        /// Download limit.
        download: u64,
    },
}

/// What a session shares with every torrent in it: one allocation for
/// all of them, held by each torrent, running or parked.
pub(crate) struct Links {
    pub our_id: PeerId,
    pub listen_port: u16,
    pub session_up: Arc<Bucket>,
    pub session_down: Arc<Bucket>,
    pub hash_slots: Arc<Semaphore>,
    /// Torrents starting at once (see `STARTING_AT_ONCE` in the session).
    pub start_slots: Arc<Semaphore>,
    pub connection_slots: Arc<super::slots::ConnectionSlots>,
    pub config: Arc<super::SessionConfig>,
    pub dht: Option<crate::dht::Dht>,
    pub exchange: Arc<super::exchange::Exchange>,
    pub announcers: crate::tracker::Announcers,
    /// The announce knobs, shared by every announcer of the session.
    pub announce: Arc<crate::tracker::AnnounceConfig>,
    /// Torrents parked now (see `park.rs`), for the session's load counts.
    pub parked: std::sync::atomic::AtomicUsize,
}

/// What the session hands a new torrent, and what a parked torrent keeps
/// of it.
pub(crate) struct Spawn {
    pub meta: Arc<Metainfo>,
    pub options: TorrentOptions,
    pub links: Arc<Links>,
    /// Commands and routed connections (boxed: tokio allocates a
    /// channel's first block of 32 slots up front, and a seedbox has a
    /// channel per torrent).
    pub inputs: mpsc::Receiver<Box<Input>>,
    pub status: watch::Sender<TorrentStatus>,
}

/// The running torrent.
pub(crate) struct Torrent {
    meta: Arc<Metainfo>,
    options: TorrentOptions,
    /// What it shares with its session.
    links: Arc<Links>,
    shared: Arc<TorrentShared>,
    picker: Box<dyn PiecePicker>,
    leech_choker: Box<dyn Choker>,
    seed_choker: Box<dyn Choker>,
    /// This torrent's own upload bucket (second in `shared.up`): the
    /// one-club policy changes its rate.
    torrent_up: Arc<Bucket>,
    /// This torrent's own download bucket (second in `shared.down`), so
    /// its limit can be changed at run time.
    torrent_down: Arc<Bucket>,
    /// Paused by the user: no peers, no dials, no incoming connections.
    paused: bool,
    /// One-club throttling state.
    service: choking::Service,
    /// When a per-piece choker decides again if no piece goes out first.
    per_piece_deadline: Option<Instant>,
    /// Under Poisson turns, the upload opportunity after the turn being
    /// served, drawn when the turn started: the piece's round trip is
    /// part of the gap, not added to it.
    next_opportunity: Option<Instant>,
    /// A per-piece turn holds until `per_piece_deadline` (see
    /// `Torrent::turn_running`).
    turn_held: bool,
    /// Random draws of the torrent's own decisions (which piece a seed
    /// suggests), seeded like the policies.
    rng: rand::rngs::SmallRng,
    /// Pieces verified and held.
    have: Bitfield,
    /// Pieces held or not wanted (every file they touch is skipped): a
    /// peer is interesting if it has a piece outside this.
    done: Bitfield,
    /// Bytes of wanted pieces not held yet (what trackers hear as `left`).
    wanted_left: u64,
    /// Wanted pieces not held yet (0: complete as far as the user asked).
    wanted_missing: u32,
    peers: HashMap<PeerKey, PeerEntry>,
    next_key: u64,
    candidates: Candidates,
    /// Peers whose blocks are in each piece being downloaded (writers
    /// only), to blame the right peers when a piece fails.
    contributors: HashMap<PieceIndex, Vec<PeerKey>>,
    /// Peers that asked for work since the last refill.
    dirty: HashSet<PeerKey>,
    /// Hash checks' results (made at the first check).
    hash_results: LazyChannel<(PieceIndex, Result<bool, String>)>,
    /// Peer tasks' reports (made at the first peer).
    from_peers: LazyChannel<FromPeer>,
    inputs: mpsc::Receiver<Box<Input>>,
    status_tx: watch::Sender<TorrentStatus>,
    status: TorrentStatus,
    announcer: Option<Announcer>,
    transfer_tx: watch::Sender<Progress>,
    tracker_peers: Option<crate::tracker::PeerInbox>,
    /// The session's DHT, for this torrent (None: private, or no DHT).
    dht: Option<dht::TorrentDht>,
    /// BEP 52 piece layers still to fetch from peers (None: all known).
    layers: Option<layers::LayerFetch>,
    /// Its part in the session's cross-swarm exchange.
    swarm: exchange::SwarmLink,
    last_rechoke: Instant,
    /// When we last asked the trackers for peers early.
    last_want_peers: Instant,
    /// When peer rates were last folded.
    status_rate_at: Instant,
    /// Since when the torrent has had nothing to do (no peer): it parks
    /// after the session's `park_after` of it.
    idle_since: Instant,
    rechoke_soon: bool,
    /// A dial slot came free (a dial ended, in a handshake or a failure):
    /// dial the next candidates now, not at the next tick.
    dial_soon: bool,
    /// With peer turnover: dialling to fill up to `max_peers` (see
    /// `Torrent::dial`).
    filling: bool,
    /// Our address on a connection (the first one seen): our network,
    /// for near-first dialling and turnover.
    local_ip: Option<std::net::IpAddr>,
    completed: bool,
    stopping: bool,
    /// Resume saves started in the background; shutdown waits for them so
    /// none writes after the torrent has stopped (a removal deleting the
    /// record must not race one).
    resume_saves: tokio::task::JoinSet<()>,
}

/// Start a torrent's task. Storage is opened and checked inside the task
/// (status `Checking`); an error there ends the task with status `Failed`.
pub(crate) fn spawn(s: Spawn) -> tokio::task::JoinHandle<()> {
    // Boxed: the task's future holds a pointer, not the whole of `Spawn`.
    let s = Box::new(s);
    use tracing::Instrument;
    // Every line the torrent logs names it by its listening port: in a
    // session with many torrents, or a lab with many sessions, that is
    // what tells them apart.
    let span = tracing::debug_span!("torrent", port = s.links.listen_port);
    tokio::spawn(
        async move {
            let status_tx = s.status.clone();
            // A turn among the torrents starting (see `STARTING_AT_ONCE`);
            // the permit goes once start-up is over.
            let permit = s.links.start_slots.clone().acquire_owned().await;
            // Boxed, each (`Spawn`, start-up's future, the `Torrent` it
            // makes): the task's future then holds pointers and the run
            // loop's own state (~0.6 KiB), not start-up's and the running
            // torrent's state machines together (~10 KiB per torrent, which
            // a seedbox of 10,000 pays while they idle), and start-up's
            // memory goes back once it is done.
            let started = Box::pin(startup::start(s)).await;
            drop(permit);
            match started {
                Ok(startup::Started::Running(torrent)) => run_and_park(torrent, None).await,
                // Complete, and nothing to do yet: it starts parked.
                Ok(startup::Started::Parked(parked)) => {
                    if let park::Woken::Run(torrent, wake) = Box::pin(parked.wait()).await {
                        run_and_park(torrent, Some(wake)).await;
                    }
                }
                Err(e) => {
                    // The status carries it to the user; a log line would say
                    // it twice.
                    tracing::debug!("torrent failed to start: {e:#}");
                    status_tx.send_modify(|st| st.state = TorrentState::Failed(format!("{e:#}")));
                }
            }
        }
        .instrument(span),
    )
}

/// Run the torrent; while it is parked, wait for what wakes it, then run
/// it again.
async fn run_and_park(mut torrent: Box<Torrent>, mut woken_by: Option<park::Wake>) {
    loop {
        // Boxed, as the wait below: the task's own future holds pointers,
        // not the running loop's state while parked.
        match Box::pin(torrent.run(woken_by.take())).await {
            Ended::Stopped => return,
            Ended::Parked(parked) => match Box::pin(parked.wait()).await {
                park::Woken::Run(t, wake) => {
                    torrent = t;
                    woken_by = Some(wake);
                }
                park::Woken::Ended => return,
            },
        }
    }
}

/// How a run of the torrent ended.
enum Ended {
    /// Stopped: shut down, or a plain download complete.
    Stopped,
    /// Nothing to do: it waits parked.
    Parked(Box<park::Parked>),
}

impl Torrent {
    /// Set up a fresh torrent's trackers, DHT and peers; a woken one has
    /// them already and handles what woke it.
    fn begin(&mut self, woken_by: Option<park::Wake>) -> Option<Option<oneshot::Sender<()>>> {
        let Some(wake) = woken_by else {
            // The first announce must carry what we still need: a leecher
            // that said `left=0` would be taken for a seed and given no
            // seeds.
            self.report_progress();
            self.start_trackers();
            self.dht_tick(Instant::now());
            self.candidates.add_pinned(&self.options.peers.clone());
            self.status.policies = self.options.policies.describe();
            self.apply_service_rate(Instant::now());
            if self.wanted_missing == 0 {
                self.on_complete();
            }
            return None;
        };
        self.apply_service_rate(Instant::now());
        match wake {
            park::Wake::Input(input) => return self.on_input(input),
            park::Wake::TrackerPeers(addrs) | park::Wake::DhtPeers(addrs) => {
                self.candidates.add_discovered(&addrs);
                self.dial(Instant::now());
            }
            park::Wake::Due => self.dial(Instant::now()),
        }
        None
    }

    /// Take a connection or carry out a command (None: every sender is
    /// gone); `Some` when it stops the torrent (with the shutdown's reply,
    /// if one is owed).
    fn on_input(&mut self, input: Option<Box<Input>>) -> Option<Option<oneshot::Sender<()>>> {
        match input.map(|i| *i) {
            Some(Input::Incoming(inc)) => {
                self.accept(inc);
                None
            }
            Some(Input::Command(c)) => self.on_command(Some(c)),
            None => self.on_command(None),
        }
    }

    /// Carry out a command; `Some` when it stops the torrent (with the
    /// shutdown's reply, if one is owed).
    fn on_command(&mut self, cmd: Option<Command>) -> Option<Option<oneshot::Sender<()>>> {
        match cmd {
            Some(Command::Shutdown(reply)) => return Some(Some(reply)),
            Some(Command::AddPeers(addrs)) => {
                self.candidates.add_pinned(&addrs);
                self.dial(Instant::now());
            }
            Some(Command::Pause) => self.pause(),
            Some(Command::Resume) => self.resume(),
            Some(Command::SetPolicies(u)) => self.set_policies(u),
            Some(Command::Reannounce) => {
                if let Some(a) = &self.announcer {
                    a.want_more_peers();
                }
                self.dht_now();
                self.dht_tick(Instant::now());
            }
            Some(Command::SetRateLimits { upload, download }) => {
                self.set_rate_limits(upload, download)
            }
            None => return Some(None),
        }
        None
    }

    /// Boxed: a seedbox keeps thousands of these waiting, and an `async
    /// fn` taking the torrent by value would hold it twice in its future.
    async fn run(mut self: Box<Self>, woken_by: Option<park::Wake>) -> Ended {
        let mut shutdown_reply: Option<oneshot::Sender<()>> = None;
        let mut stop = self.begin(woken_by);
        let busy_tick = self.links.config.scaled(TICK).max(MIN_TICK);
        let idle_tick = self.links.config.scaled(IDLE_TICK).max(busy_tick);
        let seed_idle_tick = self.links.config.scaled(SEED_IDLE_TICK).max(idle_tick);
        let mut next_tick = Instant::now() + busy_tick;
        let mut park = false;
        loop {
            if let Some(reply) = stop.take() {
                shutdown_reply = reply;
                break;
            }
            if self.completed && !self.options.seed && !self.stopping {
                // A plain download ends once complete.
                break;
            }
            if !self.peers.is_empty() || self.status.state == TorrentState::Checking {
                // Busy again: the next tick comes at the busy pace.
                next_tick = next_tick.min(Instant::now() + busy_tick);
            }
            tokio::select! {
                Some(msg) = self.from_peers.recv() => {
                    self.on_peer_msg(msg);
                    // Take whatever else is queued before refilling.
                    for _ in 0..256 {
                        match self.from_peers.try_recv() {
                            Some(m) => self.on_peer_msg(m),
                            None => break,
                        }
                    }
                    if self.rechoke_soon {
                        // An interested peer and a free slot: do not make it
                        // wait for the tick.
                        self.rechoke(Instant::now());
                    }
                    if self.dial_soon {
                        self.dial_soon = false;
                        self.dial(Instant::now());
                    }
                    self.refill_dirty();
                }
                Some((piece, result)) = self.hash_results.recv() => {
                    self.on_hash_result(piece, result);
                    self.refill_dirty();
                }
                addrs = inbox_recv(&self.tracker_peers) => {
                    self.candidates.add_discovered(&addrs);
                    // Dial now, not at the next tick.
                    self.dial(Instant::now());
                }
                found = dht::recv_found(&mut self.dht) => self.on_dht_found(found),
                input = self.inputs.recv() => stop = self.on_input(input),
                _ = tokio::time::sleep_until(next_tick) => {
                    self.on_tick();
                    let now = Instant::now();
                    if self.parkable(now) {
                        park = true;
                        break;
                    }
                    next_tick = if self.peers.is_empty() {
                        let idle = if self.completed { seed_idle_tick } else { idle_tick };
                        let due = self.candidates.next_due().map(|d| d.max(now + busy_tick));
                        // Look again when it may park (a torrent that
                        // could not at that moment tries at its next tick).
                        let park_at = self
                            .links
                            .config
                            .park_after
                            .filter(|_| self.paused || (self.completed && self.options.seed))
                            .map(|a| self.idle_since + a)
                            .filter(|at| *at > now);
                        [due, park_at].into_iter().flatten().fold(now + idle, Instant::min)
                    } else {
                        now + busy_tick
                    };
                }
                _ = sleep_until_opt(self.per_piece_deadline) => {
                    self.rechoke(Instant::now());
                }
            }
        }
        if park {
            return Ended::Parked(self.park());
        }
        // Boxed: its state (the stopped announces, the last resume save)
        // would otherwise sit in every running torrent's future.
        Box::pin(self.shutdown()).await;
        if let Some(reply) = shutdown_reply {
            let _ = reply.send(());
        }
        Ended::Stopped
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        if !self.peers.is_empty() {
            self.idle_since = now;
        }
        self.update_rates(now);
        self.keep_turn_clock(now);
        if self.rechoke_soon || now >= self.next_rechoke() {
            self.rechoke(now);
        }
        self.check_snubs(now);
        self.send_pex(now);
        self.dht_tick(now);
        self.fetch_layers(now);
        self.exchange_tick(now);
        self.dial(now);
        for key in self.peers.keys().copied().collect::<Vec<_>>() {
            self.fill_requests(key);
        }
        self.publish_status();
        if !self.completed
            && !self.paused
            && self.peers.is_empty()
            && now >= self.last_want_peers + Duration::from_secs(5)
        {
            if let Some(a) = &self.announcer {
                self.last_want_peers = now;
                a.want_more_peers();
            }
        }
        self.report_progress();
    }

    /// Tell the announcer the byte counts it will send next.
    pub(super) fn report_progress(&self) {
        use super::shared::Counters;
        let c = &self.shared.counters;
        let left = self.wanted_left;
        self.transfer_tx.send_replace(Progress {
            uploaded: Counters::get(&c.uploaded),
            downloaded: Counters::get(&c.downloaded),
            left,
        });
    }

    fn start_trackers(&mut self) {
        let (announcer, inbox) = start_trackers(
            &self.meta,
            &self.options,
            &self.links,
            self.transfer_tx.subscribe(),
        );
        self.announcer = announcer;
        self.tracker_peers = inbox;
    }

    /// Close every peer, announce `stopped` (bounded), save resume data.
    async fn shutdown(&mut self) {
        self.stopping = true;
        for e in self.peers.values() {
            e.mailbox.post(|o| o.close = Some("shutting down".into()));
        }
        self.report_progress();
        let announcer = self.announcer.take();
        let within = self.links.config.stop_announce_timeout;
        let announce = async move {
            if let Some(a) = announcer {
                a.stop(within).await;
            }
        };
        while self.resume_saves.join_next().await.is_some() {}
        let save = self.save_resume();
        let (_, saved) = tokio::join!(announce, save);
        if let Err(e) = saved {
            tracing::warn!("could not save resume data: {e:#}");
        }
        self.status.state = TorrentState::Stopped;
        self.publish_status();
    }

    fn choker_interval(&self) -> Duration {
        if self.completed {
            self.seed_choker.rechoke_interval()
        } else {
            self.leech_choker.rechoke_interval()
        }
    }

    fn publish_status(&mut self) {
        use super::shared::Counters;
        let c = &self.shared.counters;
        self.status.downloaded = Counters::get(&c.downloaded);
        self.status.uploaded = Counters::get(&c.uploaded);
        self.status.wasted = Counters::get(&c.wasted);
        self.status.have_pieces = self.have.count_ones();
        if self.status.have != self.have {
            self.status.have = self.have.clone();
        }
        self.status.peers = self.peer_statuses();
        self.status.seeds = self.peers.values().filter(|e| e.is_seed()).count();
        self.status.download_rate = self.peers.values().map(|e| e.rate_down.rate()).sum();
        self.status.upload_rate = self.peers.values().map(|e| e.rate_up.rate()).sum();
        if let Some(a) = &self.announcer {
            a.statuses_into(&mut self.status.tracker_stats);
        }
        let now = Instant::now();
        self.status.one_club = self.service.club_since.is_some();
        self.status.throttled = self.service.throttled;
        self.status.upload_limit = self.torrent_up.rate();
        self.status.download_limit = self.torrent_down.rate();
        if self.status.policy_values.as_ref() != Some(&self.options.policies) {
            self.status.policy_values = Some(self.options.policies.clone());
        }
        self.refresh_piece_map();
        self.status.one_club_time = self.service.time_in_club(now);
        self.status.uploaded_throttled = self.service.throttled_bytes;
        // Only a change is published: watchers (the seedbox's manager
        // among them) then skip idle torrents without looking.
        let now_status = &self.status;
        self.status_tx.send_if_modified(|old| {
            let changed = old != now_status;
            if changed {
                old.clone_from(now_status);
            }
            changed
        });
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

async fn inbox_recv(inbox: &Option<crate::tracker::PeerInbox>) -> Vec<SocketAddr> {
    match inbox {
        Some(i) => i.recv().await,
        None => std::future::pending().await,
    }
}

/// Start announcing the torrent to its trackers (none if it names none or
/// the options say not to): its announcer, and the inbox its peers come
/// to.
fn start_trackers(
    meta: &Metainfo,
    options: &TorrentOptions,
    links: &Links,
    progress: watch::Receiver<Progress>,
) -> (Option<Announcer>, Option<crate::tracker::PeerInbox>) {
    if !options.use_trackers || meta.trackers.is_empty() {
        return (None, None);
    }
    let inbox = crate::tracker::PeerInbox::new();
    let setup = announce::Setup {
        tiers: meta.trackers.clone(),
        info_hash: meta.info_hash,
        also: meta.alt_info_hash().into_iter().collect(),
        peer_id: links.our_id,
        port: links.listen_port,
        config: links.announce.clone(),
    };
    let announcer = Announcer::start(&links.announcers, setup, progress, inbox.clone());
    let inbox = announcer.is_some().then_some(inbox);
    (announcer, inbox)
}
