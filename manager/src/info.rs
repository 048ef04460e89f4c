//! What the manager is asked and what it answers: which torrents a request
//! names, what adding one takes, what changing one takes, and the
//! snapshot of a torrent a front end shows.

use std::path::PathBuf;

use riffle_client::engine::PeerStatus;
use riffle_client::tracker::TrackerStatus;
use riffle_protocol::{Bitfield, InfoHash};

use crate::record::TorrentRecord;

/// A torrent named by id or by info-hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TorrentRef {
    /// The manager's id.
    Id(u32),
    /// The info-hash.
    Hash(InfoHash),
}

/// Which torrents a request is about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Select {
    /// Every torrent.
    #[default]
    All,
    /// These (unknown ones are skipped, as Transmission does).
    Some(Vec<TorrentRef>),
    /// Those active in the last minute, and those removed since.
    RecentlyActive,
}

/// Adding a torrent.
#[derive(Clone, Debug, Default)]
pub struct AddRequest {
    /// The `.torrent` bytes (empty with `magnet`).
    pub metainfo: Vec<u8>,
    /// A magnet link instead of `metainfo`: its metadata is fetched from
    /// peers, and the torrent shows meanwhile.
    pub magnet: Option<riffle_protocol::magnet::Magnet>,
    /// Where to save it (None: the session's download directory).
    pub download_dir: Option<PathBuf>,
    /// Add it stopped (None: the session's `start_added_torrents`).
    pub paused: Option<bool>,
    /// Peer connections at most (None: the session's default).
    pub peer_limit: Option<usize>,
    /// Files not to download, by index.
    pub files_unwanted: Vec<usize>,
    /// Labels.
    pub labels: Vec<String>,
}

/// A torrent in a few words: what `torrent-add` answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Brief {
    /// Its id.
    pub id: u32,
    /// Its name.
    pub name: String,
    /// Its info-hash.
    pub hash: InfoHash,
}

/// What adding did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Added {
    /// A new torrent.
    New(Brief),
    /// The torrent was there already; nothing changed.
    Duplicate(Brief),
}

/// Changes to torrents (`torrent-set`); each field left `None` is kept.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TorrentChange {
    /// Own download limit, bytes/s.
    pub download_limit: Option<u64>,
    /// Whether it applies.
    pub download_limited: Option<bool>,
    /// Own upload limit, bytes/s.
    pub upload_limit: Option<u64>,
    /// Whether it applies.
    pub upload_limited: Option<bool>,
    /// Draw on the session's limits too.
    pub honors_session_limits: Option<bool>,
    /// Peer connections at most.
    pub peer_limit: Option<usize>,
    /// Which ratio limit applies.
    pub seed_ratio_mode: Option<crate::LimitMode>,
    /// The torrent's own ratio limit.
    pub seed_ratio_limit: Option<f64>,
    /// Which idle limit applies.
    pub seed_idle_mode: Option<crate::LimitMode>,
    /// The torrent's own idle limit, minutes.
    pub seed_idle_limit: Option<u32>,
    /// Labels (replacing the old ones).
    pub labels: Option<Vec<String>>,
    /// Files to download (empty list: every file).
    pub files_wanted: Option<Vec<usize>>,
    /// Files not to download (empty list: every file).
    pub files_unwanted: Option<Vec<usize>>,
    /// New place in the queue.
    pub queue_position: Option<usize>,
    /// Piece picker (riffle's own, beyond Transmission's RPC).
    pub picker: Option<riffle_policies::catalog::PickerKind>,
    /// Seed choker.
    pub seed_choker: Option<riffle_policies::catalog::SeedChokerKind>,
    /// One-club rate, bytes/s (0: off).
    pub one_club_rate: Option<u64>,
}

/// Moving torrents in the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueMove {
    /// To the front.
    Top,
    /// One place forward.
    Up,
    /// One place back.
    Down,
    /// To the back.
    Bottom,
}

/// What a torrent is doing, in Transmission's terms (`status`: 0..6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activity {
    /// Not running: stopped by the user, finished, or failed.
    Stopped,
    /// Waiting to check its data.
    CheckWait,
    /// Checking its data.
    Checking,
    /// Waiting in the download queue.
    DownloadWait,
    /// Downloading.
    Downloading,
    /// Waiting in the seed queue.
    SeedWait,
    /// Seeding.
    Seeding,
}

impl Activity {
    /// Transmission's number for it.
    pub fn code(self) -> u8 {
        match self {
            Activity::Stopped => 0,
            Activity::CheckWait => 1,
            Activity::Checking => 2,
            Activity::DownloadWait => 3,
            Activity::Downloading => 4,
            Activity::SeedWait => 5,
            Activity::Seeding => 6,
        }
    }
}

/// Which heavy parts of a snapshot to fill in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Detail {
    /// Per file: name, length, bytes completed, wanted.
    pub files: bool,
    /// Connected peers.
    pub peers: bool,
    /// The have bitfield and piece availability.
    pub pieces: bool,
    /// Trackers' states.
    pub trackers: bool,
}

impl Detail {
    /// Everything.
    pub fn all() -> Detail {
        Detail {
            files: true,
            peers: true,
            pieces: true,
            trackers: true,
        }
    }
}

/// One file of a torrent as shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileInfo {
    /// Its path inside the save directory, `/`-separated.
    pub name: String,
    /// Length in bytes.
    pub length: u64,
    /// Bytes of it in verified pieces.
    pub bytes_completed: u64,
    /// To be downloaded.
    pub wanted: bool,
}

/// A torrent as a front end shows it.
#[derive(Clone, Debug)]
pub struct TorrentInfo {
    /// Its id.
    pub id: u32,
    /// Its info-hash.
    pub hash: InfoHash,
    /// Its name.
    pub name: String,
    /// Its durable settings and counters (counters include this run's).
    pub record: TorrentRecord,
    /// What it does now.
    pub activity: Activity,
    /// Stalled: running without transfer for the stalled time.
    pub stalled: bool,
    /// The local error that stopped it (storage, disk full, ...).
    pub error: Option<String>,
    /// Total size (every file).
    pub total_size: u64,
    /// Bytes of the wanted files.
    pub size_when_done: u64,
    /// Wanted bytes not yet verified.
    pub left_until_done: u64,
    /// Verified bytes.
    pub have_valid: u64,
    /// Files, BEP 47 pad files left out (they never reach the disk).
    pub file_count: usize,
    /// Per file (as counted in `file_count`): wanted. Empty when every
    /// file is.
    pub files_wanted: Vec<bool>,
    /// Pieces.
    pub piece_count: u32,
    /// Bytes per piece.
    pub piece_size: u32,
    /// Fraction of the data checked, while checking.
    pub recheck_progress: f64,
    /// Fraction of the metadata at hand (below 1 only for a magnet link
    /// still fetching it).
    pub metadata_percent: f64,
    /// At this run's start: pieces the resume record vouched for.
    pub trusted_pieces: u32,
    /// At this run's start: pieces hashed.
    pub hashed_pieces: u32,
    /// Receive rate, bytes/s.
    pub rate_download: u64,
    /// Send rate, bytes/s.
    pub rate_upload: u64,
    /// Connected peers.
    pub peers_connected: usize,
    /// Peers sending to us.
    pub peers_sending_to_us: usize,
    /// Peers we send to.
    pub peers_getting_from_us: usize,
    /// Seconds to completion (None: not downloading or unknown).
    pub eta: Option<u64>,
    /// Unix time this run started (0: not running).
    pub start_date: i64,
    /// Private torrent (BEP 27).
    pub private: bool,
    /// Comment from the metainfo.
    pub comment: String,
    /// Creator from the metainfo.
    pub creator: String,
    /// Creation date from the metainfo.
    pub date_created: i64,
    /// Tracker tiers from the metainfo.
    pub tiers: Vec<Vec<String>>,
    /// Web seeds from the metainfo (listed; not used yet).
    pub webseeds: Vec<String>,
    /// A magnet link for it.
    pub magnet: String,
    /// The `.torrent` in the state directory.
    pub torrent_file: PathBuf,
    /// The policies it runs.
    pub policies: String,
    /// The policies it runs, as values (None: not running).
    pub policy_values: Option<riffle_client::engine::Policies>,
    /// It holds every piece but one (the one club).
    pub one_club: bool,
    /// One-club throttling holds its upload now.
    pub throttled: bool,
    /// Seconds it has spent in the one club this run.
    pub one_club_secs: f64,
    /// Bytes sent while throttled this run.
    pub uploaded_throttled: u64,
    /// Connected peers that hold every piece.
    pub seeds: usize,
    /// What the DHT found for it, one line (None: not running, private,
    /// or no DHT).
    pub dht: Option<String>,
    /// Its fraction of the session's upload limit as last split.
    pub upload_share: Option<f64>,
    /// That share in bytes/s (0: no cap of its own).
    pub share_rate: u64,
    /// Its content propagation metric, once measured.
    pub cpm: Option<f64>,
    /// The tau of that estimate, seconds.
    pub cpm_tau: f64,
    /// Its own rate limits now, bytes/s (upload, download; 0: none).
    pub limits: (u64, u64),
    /// Pieces being downloaded now ([`Detail::pieces`]).
    pub downloading: Vec<bool>,
    /// Files ([`Detail::files`]).
    pub files: Vec<FileInfo>,
    /// Peers ([`Detail::peers`]).
    pub peers: Vec<PeerStatus>,
    /// Verified pieces ([`Detail::pieces`]).
    pub have: Option<Bitfield>,
    /// Copies of each piece among connected peers ([`Detail::pieces`]).
    pub availability: Vec<u32>,
    /// Trackers ([`Detail::trackers`]).
    pub trackers: Vec<TrackerStatus>,
}

impl TorrentInfo {
    /// A torrent known only by its record, hash and name (a magnet link
    /// without its metadata yet): every size and rate zero.
    pub fn empty(record: TorrentRecord, hash: InfoHash, name: String) -> TorrentInfo {
        TorrentInfo {
            id: record.id,
            hash,
            name,
            record,
            activity: Activity::Stopped,
            stalled: false,
            error: None,
            total_size: 0,
            size_when_done: 0,
            left_until_done: 0,
            have_valid: 0,
            file_count: 0,
            files_wanted: Vec::new(),
            piece_count: 0,
            piece_size: 0,
            recheck_progress: 0.0,
            metadata_percent: 0.0,
            trusted_pieces: 0,
            hashed_pieces: 0,
            rate_download: 0,
            rate_upload: 0,
            peers_connected: 0,
            peers_sending_to_us: 0,
            peers_getting_from_us: 0,
            eta: None,
            start_date: 0,
            private: false,
            comment: String::new(),
            creator: String::new(),
            date_created: 0,
            tiers: Vec::new(),
            webseeds: Vec::new(),
            magnet: String::new(),
            torrent_file: PathBuf::new(),
            policies: String::new(),
            policy_values: None,
            one_club: false,
            throttled: false,
            one_club_secs: 0.0,
            uploaded_throttled: 0,
            seeds: 0,
            dht: None,
            upload_share: None,
            share_rate: 0,
            cpm: None,
            cpm_tau: 0.0,
            limits: (0, 0),
            downloading: Vec::new(),
            files: Vec::new(),
            peers: Vec::new(),
            have: None,
            availability: Vec::new(),
            trackers: Vec::new(),
        }
    }
}

/// Session-wide numbers (`session-stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Torrents.
    pub torrent_count: usize,
    /// Torrents running.
    pub active_torrent_count: usize,
    /// Torrents stopped.
    pub paused_torrent_count: usize,
    /// Receive rate, bytes/s.
    pub download_speed: u64,
    /// Send rate, bytes/s.
    pub upload_speed: u64,
    /// Since this manager started.
    pub current: crate::Totals,
    /// Over every run.
    pub cumulative: crate::Totals,
}
