//! `null_leecher`: the fastest possible downloader, used by
//! `scripts/bench.sh` to measure a seeder's ceiling on this machine.
//!
//! It connects to one seeder, handshakes (no extensions), says interested
//! and, once unchoked, keeps a deep pipeline of REQUESTs for every block in
//! torrent order. The data is discarded: no hashing, no writing, no
//! per-block allocation (frames are cut in place out of one large read
//! buffer). It exits 0 once every block has arrived and prints one line
//! with the bytes received and the rate.
//!
//! Usage: `null_leecher TORRENT ADDR:PORT [--depth BLOCKS]`

use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use riffle_protocol::geometry::PieceGeometry;
use riffle_protocol::metainfo::Metainfo;
use riffle_protocol::types::{InfoHash, PeerId, PieceIndex, BLOCK_SIZE};
use riffle_protocol::wire::message::id;
use riffle_protocol::wire::{Frame, Framer, Handshake, Message, RawBlock, Reserved, HANDSHAKE_LEN};

/// Requests kept in flight unless `--depth` says otherwise: 8 MiB of 16 KiB
/// blocks, far more than loopback's bandwidth-delay product, and below
/// libtorrent's default per-peer request queue limit (500).
const DEFAULT_DEPTH: u32 = 500;

/// Size of the read buffer: several maximum-size frames, so one `read`
/// call can bring in many blocks at once.
const READ_BUF: usize = 4 << 20;

/// Why the null leecher stopped before receiving every block.
#[derive(Debug)]
enum Error {
    /// Bad command line.
    Usage(String),
    /// The torrent file could not be read or parsed.
    Torrent(String),
    /// A socket operation failed.
    Io(std::io::Error),
    /// The seeder sent something that breaks the protocol or the torrent.
    Protocol(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) => write!(
                f,
                "{m}\nusage: null_leecher TORRENT ADDR:PORT [--depth BLOCKS]"
            ),
            Error::Torrent(m) => write!(f, "torrent: {m}"),
            Error::Io(e) => write!(f, "i/o: {e}"),
            Error::Protocol(m) => write!(f, "protocol: {m}"),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

/// What the command line asks for.
struct Args {
    /// Path of the `.torrent` file (gives the info-hash and the geometry).
    torrent: String,
    /// The seeder to download from.
    peer: SocketAddr,
    /// Requests kept in flight.
    depth: u32,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, Error> {
    let mut positional = Vec::new();
    let mut depth = DEFAULT_DEPTH;
    while let Some(a) = args.next() {
        if a == "--depth" {
            let v = args
                .next()
                .ok_or_else(|| Error::Usage("--depth needs a value".into()))?;
            depth = v
                .parse()
                .ok()
                .filter(|d| *d > 0)
                .ok_or_else(|| Error::Usage(format!("bad --depth {v:?}")))?;
        } else {
            positional.push(a);
        }
    }
    let [torrent, peer] = <[String; 2]>::try_from(positional)
        .map_err(|_| Error::Usage("expected TORRENT and ADDR:PORT".into()))?;
    let peer = peer
        .parse()
        .map_err(|_| Error::Usage(format!("bad peer address {peer:?}")))?;
    Ok(Args {
        torrent,
        peer,
        depth,
    })
}

/// Which blocks are wanted, requested and received, walked in torrent
/// order. Global block number = `piece * blocks_per_piece + offset / 16 KiB`.
struct Schedule {
    /// The torrent's shape (block lengths, the short last piece).
    geometry: PieceGeometry,
    /// One bit per global block number: received.
    received: Vec<u64>,
    /// Blocks received so far (each counted once).
    received_count: u64,
    /// Blocks in the torrent.
    total: u64,
    /// Next block to request: piece and block within it.
    next: (u32, u32),
    /// Requests sent and not yet answered.
    in_flight: u32,
}

impl Schedule {
    fn new(geometry: PieceGeometry) -> Self {
        let slots = u64::from(geometry.piece_count()) * u64::from(geometry.blocks_per_piece());
        let words = usize::try_from(slots.div_ceil(64)).unwrap_or(0);
        Schedule {
            geometry,
            received: vec![0; words],
            received_count: 0,
            total: geometry.total_blocks(),
            next: (0, 0),
            in_flight: 0,
        }
    }

    fn done(&self) -> bool {
        self.received_count == self.total
    }

    fn slot(&self, piece: u32, block: u32) -> u64 {
        u64::from(piece) * u64::from(self.geometry.blocks_per_piece()) + u64::from(block)
    }

    fn is_received(&self, slot: u64) -> bool {
        let word = usize::try_from(slot / 64).unwrap_or(usize::MAX);
        self.received
            .get(word)
            .is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }

    /// The next block to request, skipping blocks already received (they
    /// only exist after a choke restarted the walk).
    fn next_request(&mut self) -> Option<RawBlock> {
        loop {
            let (piece, block) = self.next;
            if piece >= self.geometry.piece_count() {
                return None;
            }
            let p = PieceIndex::new(piece);
            if block + 1 >= self.geometry.blocks_of(p) {
                self.next = (piece + 1, 0);
            } else {
                self.next = (piece, block + 1);
            }
            if !self.is_received(self.slot(piece, block)) {
                let b = self.geometry.block(p, block);
                return Some(RawBlock {
                    piece,
                    offset: b.offset,
                    length: b.length,
                });
            }
        }
    }

    /// Account a PIECE frame carrying `length` bytes at `piece`/`offset`.
    fn receive(&mut self, piece: u32, offset: u32, length: u32) -> Result<(), Error> {
        let p = self
            .geometry
            .check_piece(piece)
            .map_err(|e| Error::Protocol(format!("PIECE for {e}")))?;
        let block = offset / BLOCK_SIZE;
        let expected = self.geometry.block(p, block);
        if !offset.is_multiple_of(BLOCK_SIZE) || block >= self.geometry.blocks_of(p) {
            return Err(Error::Protocol(format!(
                "PIECE at bad offset {offset} of piece {piece}"
            )));
        }
        if length != expected.length {
            return Err(Error::Protocol(format!(
                "PIECE {piece}/{offset} has {length} bytes, expected {}",
                expected.length
            )));
        }
        let slot = self.slot(piece, block);
        if !self.is_received(slot) {
            let word = usize::try_from(slot / 64).unwrap_or(usize::MAX);
            if let Some(w) = self.received.get_mut(word) {
                *w |= 1 << (slot % 64);
            }
            self.received_count += 1;
        }
        self.in_flight = self.in_flight.saturating_sub(1);
        Ok(())
    }

    /// The seeder choked us: without BEP 6 it drops every queued request,
    /// so restart the walk from the start (received blocks are skipped).
    fn choked(&mut self) {
        self.in_flight = 0;
        self.next = (0, 0);
    }
}

/// A peer id in Azureus style that says what this program is.
fn peer_id() -> PeerId {
    let mut id = *b"-NL0100-000000000000";
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id();
    for (i, slot) in id[8..].iter_mut().enumerate() {
        let digit = (nanos >> ((i % 8) * 4)) & 0xf;
        *slot = b"0123456789abcdef"[digit as usize];
    }
    PeerId(id)
}

/// The connection: one blocking socket and one read buffer cut in place.
struct Conn {
    sock: TcpStream,
    /// Read buffer; live bytes are `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Outgoing REQUESTs, reused for every batch.
    out: BytesMut,
}

impl Conn {
    /// Read more bytes from the socket, compacting the buffer first when
    /// `want` more bytes after `start` would not fit.
    fn fill(&mut self, want: usize) -> Result<(), Error> {
        if self.start + want > self.buf.len() || self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = self.sock.read(&mut self.buf[self.end..])?;
        if n == 0 {
            return Err(Error::Protocol("seeder closed the connection".into()));
        }
        self.end += n;
        Ok(())
    }

    /// Top the pipeline up to `depth` requests, in one write.
    fn request(&mut self, sched: &mut Schedule, depth: u32) -> Result<(), Error> {
        self.out.clear();
        while sched.in_flight < depth {
            let Some(block) = sched.next_request() else {
                break;
            };
            Message::Request(block).encode(&mut self.out);
            sched.in_flight += 1;
        }
        if !self.out.is_empty() {
            self.sock.write_all(&self.out)?;
        }
        Ok(())
    }
}

fn run(args: &Args) -> Result<u64, Error> {
    let data = std::fs::read(&args.torrent)
        .map_err(|e| Error::Torrent(format!("{}: {e}", args.torrent)))?;
    let meta = Metainfo::from_bytes(&data).map_err(|e| Error::Torrent(e.to_string()))?;
    let geometry = meta
        .info
        .geometry()
        .map_err(|e| Error::Torrent(e.to_string()))?;
    let info_hash: InfoHash = meta.info_hash;

    let sock = TcpStream::connect(args.peer)?;
    sock.set_nodelay(true)?;
    let mut conn = Conn {
        sock,
        buf: vec![0; READ_BUF],
        start: 0,
        end: 0,
        out: BytesMut::with_capacity(64 * 1024),
    };
    let ours = Handshake {
        reserved: Reserved::empty(),
        info_hash,
        peer_id: peer_id(),
    };
    conn.sock.write_all(&ours.encode())?;
    let theirs = loop {
        match Handshake::decode(&conn.buf[..conn.end]) {
            Ok(Some(h)) => break h,
            Ok(None) => conn.fill(HANDSHAKE_LEN)?,
            Err(e) => return Err(Error::Protocol(e.to_string())),
        }
    };
    if theirs.info_hash != info_hash {
        return Err(Error::Protocol(
            "seeder answered for another torrent".into(),
        ));
    }
    conn.start = HANDSHAKE_LEN;
    let mut hello = BytesMut::new();
    Message::Interested.encode(&mut hello);
    conn.sock.write_all(&hello)?;

    let framer = Framer::default();
    let mut sched = Schedule::new(geometry);
    let mut unchoked = false;
    let mut bytes: u64 = 0;
    while !sched.done() {
        // Cut every complete frame out of the buffer.
        loop {
            let live = &conn.buf[conn.start..conn.end];
            let total = match framer.check(live) {
                Ok(Frame::Complete(total)) => total,
                Ok(Frame::Incomplete { .. }) => break,
                Err(e) => return Err(Error::Protocol(e.to_string())),
            };
            let body = &live[4..total];
            if body.first() == Some(&id::PIECE) {
                let header = body
                    .get(1..9)
                    .ok_or_else(|| Error::Protocol("short PIECE".into()))?;
                let piece = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
                let offset = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
                let len = u32::try_from(body.len() - 9).unwrap_or(u32::MAX);
                sched.receive(piece, offset, len)?;
                bytes += u64::from(len);
            } else {
                match Message::decode(Bytes::copy_from_slice(body)) {
                    Ok(Message::Unchoke) => unchoked = true,
                    Ok(Message::Choke) => {
                        unchoked = false;
                        sched.choked();
                    }
                    Ok(_) => {}
                    Err(e) => return Err(Error::Protocol(e.to_string())),
                }
            }
            conn.start += total;
        }
        if sched.done() {
            break;
        }
        if unchoked {
            // Refill only once a quarter of the pipeline has drained, so
            // requests go out in batches rather than one write per block.
            if sched.in_flight <= args.depth - args.depth / 4 {
                conn.request(&mut sched, args.depth)?;
            }
        }
        let needed = match framer.check(&conn.buf[conn.start..conn.end]) {
            Ok(Frame::Incomplete { needed }) => needed,
            _ => 4,
        };
        conn.fill(needed)?;
    }
    Ok(bytes)
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("null_leecher: {e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    match run(&args) {
        Ok(bytes) => {
            let secs = started.elapsed().as_secs_f64();
            let mib = bytes as f64 / (1024.0 * 1024.0);
            println!(
                "null leecher: {bytes} bytes in {secs:.3} s ({:.0} MiB/s)",
                mib / secs.max(1e-9)
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("null_leecher: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(total: u64, piece: u32) -> Schedule {
        Schedule::new(PieceGeometry::from_total(total, piece).expect("geometry"))
    }

    #[test]
    fn walks_every_block_in_order_with_a_short_tail() {
        // 2 full pieces of 2 blocks, then a last piece of one 100-byte block.
        let mut s = sched(u64::from(4 * BLOCK_SIZE) + 100, 2 * BLOCK_SIZE);
        let mut got = Vec::new();
        while let Some(b) = s.next_request() {
            got.push((b.piece, b.offset, b.length));
        }
        assert_eq!(
            got,
            vec![
                (0, 0, BLOCK_SIZE),
                (0, BLOCK_SIZE, BLOCK_SIZE),
                (1, 0, BLOCK_SIZE),
                (1, BLOCK_SIZE, BLOCK_SIZE),
                (2, 0, 100),
            ]
        );
        assert_eq!(s.total, 5);
    }

    #[test]
    fn done_only_when_every_block_arrived_once() {
        let mut s = sched(u64::from(2 * BLOCK_SIZE) + 7, 2 * BLOCK_SIZE);
        s.receive(0, 0, BLOCK_SIZE).expect("block 0");
        s.receive(0, 0, BLOCK_SIZE).expect("duplicate is harmless");
        assert!(!s.done());
        s.receive(0, BLOCK_SIZE, BLOCK_SIZE).expect("block 1");
        assert!(!s.done());
        s.receive(1, 0, 7).expect("tail");
        assert!(s.done());
        assert_eq!(s.received_count, 3);
    }

    #[test]
    fn rejects_blocks_outside_the_torrent() {
        let mut s = sched(u64::from(2 * BLOCK_SIZE) + 7, 2 * BLOCK_SIZE);
        assert!(s.receive(2, 0, BLOCK_SIZE).is_err(), "piece past the end");
        assert!(s.receive(0, 5, BLOCK_SIZE).is_err(), "unaligned offset");
        assert!(s.receive(0, 0, 10).is_err(), "wrong length");
        assert!(s.receive(1, BLOCK_SIZE, 7).is_err(), "block past the piece");
        assert!(s.receive(1, 0, BLOCK_SIZE).is_err(), "tail is 7 bytes");
        assert_eq!(s.received_count, 0);
    }

    #[test]
    fn choke_restarts_the_walk_but_skips_received_blocks() {
        let mut s = sched(u64::from(3 * BLOCK_SIZE), BLOCK_SIZE);
        for _ in 0..3 {
            assert!(s.next_request().is_some());
        }
        s.in_flight = 3;
        s.receive(1, 0, BLOCK_SIZE).expect("middle block");
        s.choked();
        assert_eq!(s.in_flight, 0);
        let again: Vec<u32> = std::iter::from_fn(|| s.next_request())
            .map(|b| b.piece)
            .collect();
        assert_eq!(again, vec![0, 2]);
    }

    #[test]
    fn command_line() {
        let a = parse_args(
            ["t.torrent", "127.0.0.1:5", "--depth", "9"]
                .map(String::from)
                .into_iter(),
        )
        .expect("valid");
        assert_eq!(
            (a.torrent.as_str(), a.peer.port(), a.depth),
            ("t.torrent", 5, 9)
        );
        assert!(parse_args(["t.torrent"].map(String::from).into_iter()).is_err());
        assert!(parse_args(
            ["t", "127.0.0.1:5", "--depth", "0"]
                .map(String::from)
                .into_iter()
        )
        .is_err());
        assert!(parse_args(["t", "nowhere"].map(String::from).into_iter()).is_err());
    }
}
