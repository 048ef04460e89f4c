//! Making the interop tests' torrents. A torrent's info-hash does not
//! depend on its announce URL, but opentracker must know the info-hash
//! before it starts (its whitelist) and the announce URL names the
//! tracker's port: so a payload is hashed once without a tracker to learn
//! its info-hash, and made again with the tracker's URL once it runs.

use std::path::Path;

use crate::lt_swarm::{info_hash, lt_create};
use crate::riffle;

/// Piece length of the interop torrents made by riffle: 64 KiB, which
/// divides none of the payload files' lengths.
pub const RIFFLE_PIECE_LENGTH: &str = "64KiB";

/// `riffle create DIR -o TORRENT --piece-length 64KiB --format v1
/// [-t TRACKER]`; returns the info-hash (computed by libtorrent). The
/// interop torrents are v1, the one format every client reads:
/// Transmission 3.00 refuses any torrent with a v2 file tree (riffle's
/// default hybrids are tried in v2.rs).
pub fn riffle_create(dir: &Path, torrent: &Path, tracker: Option<&str>) -> String {
    let mut args = vec![
        "create",
        dir.to_str().expect("utf-8 path"),
        "-o",
        torrent.to_str().expect("utf-8 path"),
        "--piece-length",
        RIFFLE_PIECE_LENGTH,
        "--format",
        "v1",
    ];
    if let Some(t) = tracker {
        args.extend(["-t", t]);
    }
    let out = riffle(&args);
    assert!(
        out.status.success(),
        "riffle create {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    info_hash(torrent)
}

/// Who makes a torrent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Maker {
    /// `riffle create --format v1` (64 KiB pieces).
    Riffle,
    /// libtorrent's create_torrent, v1 only, with this piece length.
    Libtorrent(u32),
}

/// The info-hash `maker` gives `dir`, from a throw-away torrent without
/// tracker written to `scratch`.
pub fn hash_of(maker: Maker, dir: &Path, scratch: &Path) -> String {
    make(maker, dir, scratch, None)
}

/// Make the torrent of `dir` at `torrent` with `tracker`; returns its
/// info-hash.
pub fn make(maker: Maker, dir: &Path, torrent: &Path, tracker: Option<&str>) -> String {
    match maker {
        Maker::Riffle => riffle_create(dir, torrent, tracker),
        Maker::Libtorrent(pl) => lt_create(dir, torrent, pl, tracker),
    }
}

/// The torrent of `dir` made by `maker` at `torrent`, announcing to a fresh
/// opentracker that whitelists it, over UDP or HTTP. Returns the tracker
/// (stopped on drop) and the info-hash.
pub fn tracked_torrent(
    maker: Maker,
    dir: &Path,
    torrent: &Path,
    udp: bool,
) -> (crate::opentracker::Opentracker, String) {
    let hash = hash_of(maker, dir, &torrent.with_extension("scratch.torrent"));
    let tracker = crate::opentracker::Opentracker::start(&[&hash]);
    let again = make(maker, dir, torrent, Some(&tracker.announce(udp)));
    assert_eq!(
        again, hash,
        "the announce URL must not change the info-hash"
    );
    (tracker, hash)
}
