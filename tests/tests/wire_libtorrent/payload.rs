//! The payload every wire test moves: about 3 MiB in nested files made
//! into a torrent by `riffle create`, and the connection setup we offer
//! libtorrent.

use std::path::{Path, PathBuf};

use riffle_protocol::metainfo::Metainfo;
use riffle_protocol::peer::{Offer, PeerConfig, PeerSetup};
use riffle_protocol::wire::ExtendedHandshake;
use riffle_protocol::PieceGeometry;
use riffle_protocol::{Bitfield, PeerId};
use riffle_storage::Layout;
use riffle_tests::riffle;

/// 32 KiB pieces: two blocks each, so block and piece boundaries differ.
pub const PIECE_LENGTH: u32 = 32 * 1024;
/// What we call ourselves in the extended handshake.
pub const OUR_CLIENT: &str = "riffle test";

/// A payload on disk, its torrent, and the bytes it must contain.
pub struct Payload {
    /// Holds everything; removed on drop.
    pub tmp: tempfile::TempDir,
    /// The `.torrent` made by `riffle create`.
    pub torrent: PathBuf,
    /// The torrent parsed by riffle's own parser.
    pub meta: Metainfo,
    /// Each file's relative path (as libtorrent lays it out) and bytes.
    pub files: Vec<(PathBuf, Vec<u8>)>,
}

impl Payload {
    /// Directory the torrent's top folder lives in (libtorrent's save path).
    pub fn save_path(&self) -> &Path {
        self.tmp.path()
    }

    /// All files end to end: the torrent's byte stream.
    pub fn concatenated(&self) -> Vec<u8> {
        self.files
            .iter()
            .flat_map(|f| f.1.iter().copied())
            .collect()
    }

    pub fn layout(&self) -> Layout {
        let lengths = self.meta.info.files.iter().map(|f| f.length).collect();
        Layout::new(lengths, self.meta.info.piece_length).expect("layout of the payload")
    }

    pub fn geometry(&self) -> PieceGeometry {
        self.meta.info.geometry().expect("geometry of the payload")
    }

    pub fn setup(&self, bitfield: Bitfield, initiator: bool, ext: Extensions) -> PeerSetup {
        PeerSetup {
            info_hash: self.meta.info_hash,
            alt_info_hash: None,
            our_id: PeerId::generate(*b"wirelibtorrt"),
            geometry: self.geometry(),
            bitfield,
            offer: ext.offer(),
            initiator,
            config: PeerConfig::default(),
        }
    }
}

/// Which extensions we offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extensions {
    /// BEP 6 fast extension and BEP 10 extension protocol.
    On,
    /// Plain BEP 3: libtorrent must fall back to BITFIELD, and a choke
    /// drops every request.
    Off,
}

impl Extensions {
    pub fn offer(self) -> Offer {
        match self {
            Extensions::On => Offer {
                fast: true,
                extended: Some(ExtendedHandshake {
                    client: Some(OUR_CLIENT.to_owned()),
                    reqq: Some(500),
                    ..ExtendedHandshake::default()
                }),
                dht_port: None,
                v2: false,
            },
            Extensions::Off => Offer::default(),
        }
    }
}

/// Deterministic bytes (xorshift), so a failure is reproducible.
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// About 3 MiB in nested files, one empty, no size a multiple of the
/// piece length, and its torrent made by `riffle create`.
pub fn make_payload() -> Payload {
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = tmp.path().join("payload");
    let spec: &[(&str, usize)] = &[
        ("a/first.bin", 1_000_003),
        ("a/b/c/deep.dat", 777_777),
        ("a/empty", 0),
        ("notes.txt", 12_345),
        ("z/tail.bin", 1_357_913),
    ];
    for (i, (rel, len)) in spec.iter().enumerate() {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, pseudo_random(*len, i as u64 + 11)).expect("write payload");
    }
    let torrent = tmp.path().join("payload.torrent");
    let out = riffle(&[
        "create",
        root.to_str().expect("utf-8 path"),
        "-o",
        torrent.to_str().expect("utf-8 path"),
        "--piece-length",
        "32KiB",
        "--format",
        "v1",
    ]);
    assert!(
        out.status.success(),
        "riffle create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta = Metainfo::from_bytes(&std::fs::read(&torrent).expect("read torrent"))
        .expect("riffle parses its own torrent");
    assert_eq!(meta.info.piece_length, PIECE_LENGTH);
    // Read the files back in torrent order (riffle create sorts them).
    let files = (0..meta.info.files.len())
        .map(|i| {
            let rel: PathBuf = meta.info.file_path(i).iter().collect();
            let bytes = std::fs::read(tmp.path().join(&rel)).expect("read payload file");
            (rel, bytes)
        })
        .collect::<Vec<_>>();
    assert_eq!(files.len(), spec.len(), "every file is in the torrent");
    Payload {
        tmp,
        torrent,
        meta,
        files,
    }
}
