//! The snapshot model: plain data the client fills from its session state.
//!
//! The TUI never sees session internals; it only draws what is here.

/// Piece-picker names, exactly as the CLI's `--picker` values (cycle order).
pub const PICKERS: [&str; 3] = ["rarest-first", "random-useful", "sequential"];

/// Seed-choker names, exactly as the CLI's `--seed-choker` values (cycle order).
pub const SEED_CHOKERS: [&str; 5] = [
    "round-robin",
    "fastest-upload",
    "anti-leech",
    "most-deprived",
    "random",
];

/// Everything the TUI draws, sent by the client on each refresh.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Snapshot {
    /// The torrents in display order.
    pub torrents: Vec<TorrentView>,
    /// Session-wide download limit, bytes/s (0 = unlimited).
    pub download_limit: u64,
    /// Session-wide upload limit, bytes/s (0 = unlimited).
    pub upload_limit: u64,
    /// Where the session listens ("127.0.0.1:6881"), shown in the header.
    pub listen: String,
}

/// Lifecycle state of one torrent.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum TorrentState {
    /// Verifying existing data.
    #[default]
    Checking,
    /// Fetching pieces.
    Downloading,
    /// Complete and uploading.
    Seeding,
    /// Paused by the user.
    Paused,
    /// Stopped (shut down).
    Stopped,
    /// Failed, with the reason shown to the user.
    Failed(String),
}

/// One torrent as the list and detail screens show it.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TorrentView {
    /// Stable key chosen by the client; commands refer to it.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// Total size, bytes.
    pub size: u64,
    /// Completion, 0..=1.
    pub progress: f64,
    /// Current download rate, bytes/s.
    pub download_rate: u64,
    /// Current upload rate, bytes/s.
    pub upload_rate: u64,
    /// Payload bytes downloaded this session (for the ratio).
    pub downloaded: u64,
    /// Payload bytes uploaded this session (for the ratio).
    pub uploaded: u64,
    /// Connected peers.
    pub peers: usize,
    /// Of the connected peers, how many are seeds.
    pub seeds: usize,
    /// Lifecycle state.
    pub state: TorrentState,
    /// The experimental policies in force.
    pub policies: PolicyView,
    /// We hold every piece but one.
    pub one_club: bool,
    /// One-club throttling is active now.
    pub throttled: bool,
    /// This torrent's upload limit now, bytes/s (0 = none).
    pub upload_limit: u64,
    /// This torrent's download limit now, bytes/s (0 = none).
    pub download_limit: u64,
    /// Seconds spent in the one club.
    pub one_club_time_secs: f64,
    /// Bytes uploaded while throttled.
    pub uploaded_throttled: u64,
    /// Connected peers, for the detail table.
    pub peer_list: Vec<PeerRow>,
    /// One cell per piece, index order, for the piece map.
    pub pieces: Vec<PieceCell>,
    /// Tracker status lines.
    pub trackers: Vec<String>,
    /// What the DHT found for it, one line (None: it does not use it, or
    /// the daemon does not say).
    pub dht: Option<String>,
    /// Its upload share and content propagation metric, one line (None:
    /// not capped and not measured yet).
    pub exchange: Option<String>,
}

/// The policies in force on a torrent.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PolicyView {
    /// Piece picker name (one of [`PICKERS`]).
    pub picker: String,
    /// Leecher choker name.
    pub choker: String,
    /// Seed choker name (one of [`SEED_CHOKERS`]).
    pub seed_choker: String,
    /// One-club service rate, bytes/s (0 = off).
    pub one_club_rate: u64,
}

/// One connected peer.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PeerRow {
    /// Socket address.
    pub addr: String,
    /// Client name from the peer id.
    pub client: String,
    /// The peer's completion, 0..=1.
    pub progress: f64,
    /// Rate we download from it, bytes/s.
    pub download_rate: u64,
    /// Rate we upload to it, bytes/s.
    pub upload_rate: u64,
    /// We choke it.
    pub am_choking: bool,
    /// We are interested in it.
    pub am_interested: bool,
    /// It chokes us.
    pub peer_choking: bool,
    /// It is interested in us.
    pub peer_interested: bool,
    /// It has sent us nothing for a while.
    pub snubbed: bool,
    /// It holds every piece but one.
    pub one_club: bool,
}

/// Whether we hold a piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PieceState {
    /// Verified and stored.
    Have,
    /// Being fetched now.
    Downloading,
    /// Not held.
    #[default]
    Missing,
}

/// One piece in the piece map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PieceCell {
    /// Whether we hold it.
    pub state: PieceState,
    /// Copies among connected peers.
    pub availability: u32,
}
