//! Snapshots of a torrent for the command line (and later the TUI): plain
//! values published on a watch channel, never references into the running
//! torrent.

use std::net::SocketAddr;

use riffle_protocol::{Bitfield, InfoHash};

/// Where a torrent stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TorrentState {
    /// Checking the data already on disk.
    #[default]
    Checking,
    /// Fetching pieces.
    Downloading,
    /// Holding every piece and serving them.
    Seeding,
    /// Paused by the user: no peer connected, no dial, no incoming
    /// connection, trackers told `stopped`; verified data is kept.
    Paused,
    /// Stopped (shut down).
    Stopped,
    /// Stopped by an error (disk failure).
    Failed(String),
}

/// One piece as the TUI's piece map shows it (whether we hold it is
/// `TorrentStatus::have`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PieceStatus {
    /// How many connected peers hold it (shades the map; the rarest
    /// pieces stand out).
    pub availability: u32,
    /// Blocks of it are requested or received but it is not verified yet.
    pub downloading: bool,
}

/// What a per-piece choker's upload turns came to since start (all zero
/// for a choker that is not per-piece). A turn is one upload opportunity:
/// the choker draws whom to serve one piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TurnCounts {
    /// Turns that unchoked a peer.
    pub drawn: u64,
    /// Turns whose piece went out whole (the rest of `drawn` lapsed: the
    /// peer took nothing before the turn's deadline).
    pub served: u64,
    /// Turns whose drawn peer wanted nothing we have (the random choker:
    /// the slot goes unused, as in the model).
    pub wasted: u64,
    /// Turns with nobody to draw.
    pub idle: u64,
}

/// One connected peer, as shown to the user.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerStatus {
    /// Its address.
    pub addr: SocketAddr,
    /// The client it names in its extended handshake, if any.
    pub client: Option<String>,
    /// Fraction of pieces it holds (0.0 to 1.0).
    pub progress: f64,
    /// Bytes per second it sends us.
    pub download_rate: u64,
    /// Bytes per second we send it.
    pub upload_rate: u64,
    /// We choke it.
    pub am_choking: bool,
    /// We want its pieces.
    pub am_interested: bool,
    /// It chokes us.
    pub peer_choking: bool,
    /// It wants our pieces.
    pub peer_interested: bool,
    /// It has not sent us a block we asked for in a while.
    pub snubbed: bool,
    /// Requests of ours it has not answered yet.
    pub outstanding: usize,
    /// It holds every piece but one (the paper's "one club").
    pub one_club: bool,
}

/// A torrent at one moment. Published only when it differs from the last
/// one: an idle torrent's status stays put (a front end computes
/// countdowns such as the trackers' next announce from the values, see
/// [`TorrentStatus::tracker_lines`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TorrentStatus {
    /// The torrent's name.
    pub name: String,
    /// Its info-hash.
    pub info_hash: Option<InfoHash>,
    /// Total payload bytes.
    pub total_bytes: u64,
    /// Number of pieces.
    pub piece_count: u32,
    /// Pieces verified and held.
    pub have_pieces: u32,
    /// Bytes of the pieces held.
    pub have_bytes: u64,
    /// Where it stands.
    pub state: TorrentState,
    /// At start-up: pieces taken as verified from the resume record
    /// without reading them.
    pub trusted_pieces: u32,
    /// At start-up: pieces whose data was read and hashed.
    pub hashed_pieces: u32,
    /// At start-up: pieces checked so far (trusted or hashed), for progress.
    pub checked_pieces: u32,
    /// Payload bytes received since start (including waste).
    pub downloaded: u64,
    /// Payload bytes sent since start.
    pub uploaded: u64,
    /// Bytes received that were duplicates or failed their hash check.
    pub wasted: u64,
    /// Pieces that failed their hash check.
    pub hash_failures: u32,
    /// Peers banned for sending bad data or breaking the protocol.
    pub banned: u32,
    /// Its fraction of the session's upload limit as the swarm allocation
    /// last split it (None before the first split).
    pub upload_share: Option<f64>,
    /// That share in bytes/s (0: no cap of its own, as under per-peer).
    pub share_rate: u64,
    /// Its content propagation metric: peers that announced a piece
    /// within `cpm_tau` of our sending it, the recipient included (None
    /// until a piece we sent has been followed for tau).
    pub cpm: Option<f64>,
    /// The tau of that estimate.
    pub cpm_tau: std::time::Duration,
    /// Bytes per second received (recent average).
    pub download_rate: u64,
    /// Bytes per second sent (recent average).
    pub upload_rate: u64,
    /// Connected peers.
    pub peers: Vec<PeerStatus>,
    /// Connected peers that hold every piece.
    pub seeds: usize,
    /// Each tracker's state as values (what `trackers` describes), for
    /// front ends that show them field by field (the seedbox's RPC).
    pub tracker_stats: crate::tracker::Board,
    /// The policies it runs ("picker / choker / seed-choker ...").
    pub policies: String,
    /// We hold every piece but one.
    pub one_club: bool,
    /// One-club throttling holds our upload at the reduced rate now.
    pub throttled: bool,
    /// The torrent's own upload limit now, bytes/s (0: unlimited).
    pub upload_limit: u64,
    /// The torrent's own download limit now, bytes/s (0: unlimited).
    pub download_limit: u64,
    /// Time spent holding every piece but one.
    pub one_club_time: std::time::Duration,
    /// Payload bytes sent while throttled.
    pub uploaded_throttled: u64,
    /// What the per-piece choker's turns came to.
    pub turns: TurnCounts,
    /// Which pieces we hold (verified), one bit per piece.
    pub have: Bitfield,
    /// Per piece, in index order: availability among connected peers and
    /// whether it is being downloaded (rebuilt in place at each status
    /// publication, never per message).
    pub pieces: Vec<PieceStatus>,
    /// The policies it runs, as values (what `policies` describes), so a
    /// user interface can show and cycle them.
    pub policy_values: Option<super::Policies>,
    /// The DHT's part, one line (None: the torrent does not use it).
    pub dht: Option<String>,
}

impl TorrentStatus {
    /// Every piece is held.
    pub fn is_complete(&self) -> bool {
        self.piece_count > 0 && self.have_pieces == self.piece_count
    }

    /// Fraction of the payload held (0.0 to 1.0).
    pub fn progress(&self) -> f64 {
        if self.total_bytes == 0 {
            1.0
        } else {
            self.have_bytes as f64 / self.total_bytes as f64
        }
    }

    /// One line per tracker: URL, its last outcome and when it is
    /// announced next, as of now.
    pub fn tracker_lines(&self) -> Vec<String> {
        let now = std::time::Instant::now();
        self.tracker_stats.iter().map(|t| t.line(now)).collect()
    }
}
