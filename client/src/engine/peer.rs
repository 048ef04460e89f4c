//! One task per peer connection: it owns the socket and the core's
//! [`PeerConnection`], writes received blocks to storage itself, serves the
//! peer's requests from storage under the rate buckets, and reports what
//! the torrent needs to know in batches.
//!
//! The torrent steers it through a [`Mailbox`] (requests, cancels, HAVEs,
//! choke, interest, close); it answers through a bounded channel, so a
//! torrent that falls behind slows its peers' reading instead of queueing
//! without bound.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use riffle_policies::peer::PeerKey;
use riffle_protocol::peer::{Event, PeerConnection, Phase};
use riffle_protocol::wire::Reserved;
use riffle_protocol::{Bitfield, BlockRef, PeerId, PieceIndex};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::mailbox::{Mailbox, Orders};
use super::rate::{Bucket, Debt, Take};
use super::shared::{Counters, TorrentShared};

/// Bytes read from the socket per round before other work gets a turn.
const READ_ROUND: usize = 1 << 20;
/// Room reserved in the read buffer before each read.
const READ_CHUNK: usize = 256 * 1024;
/// Room a new connection starts with: a block and its header. It doubles
/// up to [`READ_CHUNK`] while reads fill it, so idle and short-lived
/// connections (the lab makes thousands) do not each map 256 KiB.
const FIRST_READ: usize = 32 * 1024;
/// Stop serving uploads while this much is waiting to be written.
const WRITE_HIGH_WATER: usize = 2 << 20;
/// Most buffers handed to one vectored write.
const MAX_IOV: usize = 64;
/// Most bytes read from storage at once to answer a run of requests in
/// one piece (one read instead of one per block).
const READ_AHEAD: u32 = 1 << 20;
/// Bytes read at once under a download limit (at most a bucket's burst).
const LIMITED_READ: usize = 16 * 1024;

/// What a peer task tells its torrent.
#[derive(Debug)]
pub enum FromPeer {
    /// A batch of events of one peer, in order.
    Events {
        /// Which peer.
        key: PeerKey,
        /// What happened.
        events: Vec<PeerEvent>,
    },
    /// The connection ended (or never started).
    Down {
        /// Which peer.
        key: PeerKey,
        /// Why, for logs and status.
        reason: String,
        /// The peer broke the protocol (do not dial it again).
        misbehaved: bool,
    },
}

/// One thing that happened on a connection.
#[derive(Debug)]
pub enum PeerEvent {
    /// The peer (a seed choosing what we take from it) suggests a piece.
    Suggest(PieceIndex),
    /// Handshakes exchanged.
    Handshake {
        /// The peer's id.
        peer_id: PeerId,
        /// Its extension bits.
        reserved: Reserved,
        /// Our address on this connection (which network we are in).
        local: Option<std::net::IpAddr>,
    },
    /// The peer's BITFIELD.
    Bitfield(Bitfield),
    /// HAVE ALL (BEP 6).
    HaveAll,
    /// HAVE NONE (BEP 6).
    HaveNone,
    /// HAVE.
    Have(PieceIndex),
    /// The peer choked us (requests not served; the fast extension tells
    /// us which with REJECTs).
    Choked,
    /// The peer unchoked us.
    Unchoked,
    /// The peer is interested in our pieces.
    Interested,
    /// The peer is no longer interested.
    NotInterested,
    /// A block we asked for arrived. `written`: this copy was the first and
    /// is on disk; otherwise it was a duplicate and dropped.
    Block {
        /// Which block.
        block: BlockRef,
        /// Whether this copy was stored.
        written: bool,
    },
    /// Storing a block failed (disk full, permissions).
    WriteFailed {
        /// Which block.
        block: BlockRef,
        /// The storage error.
        error: String,
    },
    /// Reading a block the peer asked for failed (files deleted, truncated
    /// or unreadable under a seed): the data we vouched for is not there.
    ReadFailed {
        /// Which block.
        block: BlockRef,
        /// The storage error.
        error: String,
    },
    /// A request will not be answered (rejected, dropped by a choke, or
    /// could not be sent): return it to the picker.
    Returned(BlockRef),
    /// A request has gone unanswered for the request timeout (it stays
    /// outstanding at the connection; the data may still come).
    TimedOut(BlockRef),
    /// The peer's extended handshake: its request queue size and client.
    Extended {
        /// `reqq`.
        reqq: Option<u32>,
        /// `v`.
        client: Option<String>,
        /// `p`: the port it listens on (an incoming connection comes from
        /// another port).
        listen_port: Option<u16>,
        /// It speaks peer exchange (BEP 11).
        pex: bool,
        /// A riffle host's key (cross-swarm credit).
        host_key: Option<[u8; 16]>,
    },
    /// Peers it told us of by peer exchange (BEP 11).
    Pex(Vec<SocketAddr>),
    /// BEP 52 hashes we asked it for (not checked yet).
    Hashes {
        /// What we asked.
        range: riffle_protocol::wire::HashRange,
        /// Base nodes then proof.
        hashes: Bytes,
    },
    /// BEP 52: it refused a hash request of ours.
    HashRejected(riffle_protocol::wire::HashRange),
    /// Payload bytes sent since the last report.
    Uploaded(u64),
    /// The last block of a piece went out (the piece is taken as sent
    /// whole: peers ask for a piece's blocks in order).
    PieceSent(PieceIndex),
}

/// What a peer task shares with its torrent: everything but the socket
/// and the protocol state.
pub struct PeerLinks {
    /// Storage, claims and buckets of the torrent.
    pub shared: Arc<TorrentShared>,
    /// Orders from the torrent.
    pub mailbox: Arc<Mailbox>,
    /// Reports to the torrent.
    pub to_torrent: mpsc::Sender<FromPeer>,
    /// This peer's own upload bucket (0 = unlimited).
    pub peer_up: Arc<Bucket>,
    /// This peer's own download bucket.
    pub peer_down: Arc<Bucket>,
    /// The peer class of its network: its bucket joins the upload chain
    /// and its byte count grows with every block sent.
    pub class: Option<Arc<super::locality::PeerClass>>,
}

impl PeerLinks {
    /// Upload buckets in the order they are paid: the peer's class first
    /// (a link shared by many connections may keep a block waiting long;
    /// paid first, that wait holds no tokens of the session's, which then
    /// go to the other peers), then session, torrent, peer.
    fn up(&self) -> impl Iterator<Item = &Bucket> {
        self.class
            .as_ref()
            .map(|c| &c.up)
            .into_iter()
            .chain(self.shared.up.iter())
            .chain([&self.peer_up])
            .map(|b| &**b)
    }

    /// Download buckets, likewise.
    fn down(&self) -> impl Iterator<Item = &Bucket> {
        self.shared
            .down
            .iter()
            .chain([&self.peer_down])
            .map(|b| &**b)
    }
}

/// A running connection.
pub struct PeerTask {
    /// The torrent's key for this peer.
    pub key: PeerKey,
    /// The remote address (for logs).
    pub addr: SocketAddr,
    /// The socket.
    pub stream: TcpStream,
    /// The protocol state machine.
    pub conn: PeerConnection,
    /// The torrent's side.
    pub links: PeerLinks,
}

/// Working state of the loop (kept apart from the setup fields).
struct Io {
    rbuf: BytesMut,
    pending: VecDeque<Bytes>,
    pending_bytes: usize,
    uploads: VecDeque<BlockRef>,
    up_debt: Debt,
    down_debt: Debt,
    read_paused_until: Option<Instant>,
    upload_paused_until: Option<Instant>,
    /// Bytes left in the peer's per-piece turn (None: no limit).
    turn_left: Option<u64>,
    events: Vec<PeerEvent>,
    uploaded_unreported: u64,
    /// Bytes reserved before each read (grows while reads fill it).
    read_size: usize,
    /// The last range read from storage for uploads: (piece, offset, data).
    read_cache: Option<(PieceIndex, u32, Bytes)>,
    /// Metadata pieces sent to this peer (bounded: see `metadata::allowance`).
    metadata_served: usize,
}

/// Why the loop ended.
struct End {
    reason: String,
    misbehaved: bool,
}

impl End {
    fn fine(reason: impl Into<String>) -> End {
        End {
            reason: reason.into(),
            misbehaved: false,
        }
    }
}

impl PeerTask {
    /// Run the connection until it ends, then tell the torrent.
    pub async fn run(mut self) {
        let _ = self.stream.set_nodelay(true);
        let mut io = Io {
            rbuf: BytesMut::with_capacity(FIRST_READ),
            read_size: FIRST_READ,
            pending: VecDeque::new(),
            pending_bytes: 0,
            uploads: VecDeque::new(),
            up_debt: Debt::default(),
            down_debt: Debt::default(),
            read_paused_until: None,
            upload_paused_until: None,
            turn_left: None,
            events: Vec::new(),
            uploaded_unreported: 0,
            read_cache: None,
            metadata_served: 0,
        };
        let end = match self.drive(&mut io).await {
            Ok(()) => End::fine("closed"),
            Err(e) => e,
        };
        // Report what was done before the end (blocks written, uploads).
        if io.uploaded_unreported > 0 {
            io.events.push(PeerEvent::Uploaded(io.uploaded_unreported));
        }
        if !io.events.is_empty() {
            let events = std::mem::take(&mut io.events);
            let _ = self
                .links
                .to_torrent
                .send(FromPeer::Events {
                    key: self.key,
                    events,
                })
                .await;
        }
        tracing::debug!(peer = %self.addr, reason = %end.reason, "connection ended");
        let _ = self
            .links
            .to_torrent
            .send(FromPeer::Down {
                key: self.key,
                reason: end.reason,
                misbehaved: end.misbehaved,
            })
            .await;
    }

    async fn drive(&mut self, io: &mut Io) -> Result<(), End> {
        loop {
            let now = Instant::now();
            self.pump(io, now)?;
            // Report at least once a piece (at most 1 MiB): a per-piece
            // choker decides again as soon as a piece has gone.
            let every = u64::from(self.links.shared.geometry.piece_length()).min(1 << 20);
            if io.uploaded_unreported > 0
                && (io.uploaded_unreported >= every || io.uploads.is_empty())
            {
                io.events.push(PeerEvent::Uploaded(io.uploaded_unreported));
                io.uploaded_unreported = 0;
            }
            if !io.events.is_empty() {
                let events = std::mem::take(&mut io.events);
                self.links
                    .to_torrent
                    .send(FromPeer::Events {
                        key: self.key,
                        events,
                    })
                    .await
                    .map_err(|_| End::fine("torrent stopped"))?;
            }
            if self.conn.phase() == Phase::Closed && io.pending.is_empty() {
                return Ok(());
            }
            let now = Instant::now();
            let mut wake = self.conn.poll_timeout().map(Instant::from_std);
            for t in [io.read_paused_until, io.upload_paused_until]
                .into_iter()
                .flatten()
            {
                wake = Some(wake.map_or(t, |w| w.min(t)));
            }
            let can_read = io.read_paused_until.is_none_or(|t| t <= now);
            let want_write = !io.pending.is_empty();
            let sleep_until = wake.unwrap_or(now + Duration::from_secs(3600));
            tokio::select! {
                _ = self.links.mailbox.wait() => {
                    let orders = self.links.mailbox.take();
                    self.apply(io, orders)?;
                }
                r = self.stream.readable(), if can_read => {
                    r.map_err(|e| End::fine(format!("read: {e}")))?;
                    self.read(io)?;
                }
                r = self.stream.writable(), if want_write => {
                    r.map_err(|e| End::fine(format!("write: {e}")))?;
                    self.write(io)?;
                }
                _ = tokio::time::sleep_until(sleep_until) => {
                    let now = Instant::now();
                    if io.read_paused_until.is_some_and(|t| t <= now) {
                        io.read_paused_until = None;
                    }
                    if io.upload_paused_until.is_some_and(|t| t <= now) {
                        io.upload_paused_until = None;
                    }
                    self.conn
                        .handle_timeout(now.into_std())
                        .map_err(|e| End::fine(e.to_string()))?;
                }
            }
        }
    }

    /// Drain the connection's events and output, serve uploads.
    fn pump(&mut self, io: &mut Io, now: Instant) -> Result<(), End> {
        while let Some(ev) = self.conn.poll_event() {
            self.on_event(io, ev)?;
        }
        self.serve_uploads(io, now);
        while let Some(chunk) = self.conn.poll_transmit() {
            io.pending_bytes += chunk.len();
            io.pending.push_back(chunk);
        }
        Ok(())
    }

    fn on_event(&mut self, io: &mut Io, ev: Event) -> Result<(), End> {
        let shared = &self.links.shared;
        let out = match ev {
            Event::HandshakeCompleted { peer_id, reserved } => PeerEvent::Handshake {
                peer_id,
                reserved,
                local: self.stream.local_addr().ok().map(|a| a.ip().to_canonical()),
            },
            Event::Bitfield(b) => PeerEvent::Bitfield(b),
            Event::HaveAll => PeerEvent::HaveAll,
            Event::HaveNone => PeerEvent::HaveNone,
            Event::Have(p) => PeerEvent::Have(p),
            Event::Choked => {
                // With the fast extension a choke keeps our requests alive
                // until the peer REJECTs them, and some peers never do
                // (they would sit in our pipeline until the request
                // timeout). Withdraw them: they go back to the picker now.
                if self.conn.fast() {
                    let now = Instant::now().into_std();
                    let pending: Vec<BlockRef> =
                        self.conn.outstanding().iter().map(|o| o.block).collect();
                    for b in pending {
                        if self.conn.cancel_block(now, b) {
                            io.events.push(PeerEvent::Returned(b));
                        }
                    }
                }
                PeerEvent::Choked
            }
            Event::Unchoked => PeerEvent::Unchoked,
            Event::Interested => PeerEvent::Interested,
            Event::NotInterested => PeerEvent::NotInterested,
            Event::BlockReceived { block, data } => {
                let len = data.len() as u64;
                Counters::add(&shared.counters.downloaded, len);
                if shared.claims.claim(block) {
                    if let Err(e) = shared.storage.write_block(block.piece, block.offset, &data) {
                        // Let another copy be written later.
                        shared.claims.clear_piece(block.piece);
                        PeerEvent::WriteFailed {
                            block,
                            error: e.to_string(),
                        }
                    } else {
                        PeerEvent::Block {
                            block,
                            written: true,
                        }
                    }
                } else {
                    Counters::add(&shared.counters.wasted, len);
                    PeerEvent::Block {
                        block,
                        written: false,
                    }
                }
            }
            Event::BlockRequested(block) => {
                if shared.verified.get(block.piece.idx()) {
                    io.uploads.push_back(block);
                } else {
                    self.conn.reject_request(Instant::now().into_std(), block);
                }
                return Ok(());
            }
            Event::RequestCancelled(block) => {
                io.uploads.retain(|b| *b != block);
                return Ok(());
            }
            Event::RequestRejected(block) => PeerEvent::Returned(block),
            Event::RequestTimedOut(block) => PeerEvent::TimedOut(block),
            Event::ExtendedHandshake(h) => PeerEvent::Extended {
                pex: h.id_of(riffle_protocol::wire::UT_PEX).is_some(),
                reqq: h.reqq,
                client: h.client,
                listen_port: h.listen_port,
                host_key: h.host_key,
            },
            Event::Suggest(piece) => PeerEvent::Suggest(piece),
            Event::ExtendedMessage { id, payload } => {
                if id == super::metadata::OUR_UT_METADATA {
                    self.serve_metadata(io, &payload);
                    return Ok(());
                }
                if id != super::pex::OUR_UT_PEX {
                    return Ok(());
                }
                match riffle_protocol::wire::PexMessage::decode(&payload) {
                    Ok(m) if !m.added.is_empty() => {
                        PeerEvent::Pex(m.added.into_iter().map(|(a, _)| a).collect())
                    }
                    _ => return Ok(()),
                }
            }
            Event::DhtPort(port) => {
                if let (Some(dht), true) = (&shared.dht, port != 0) {
                    dht.add_node(SocketAddr::new(self.addr.ip(), port));
                }
                return Ok(());
            }
            Event::AllowedFast(_) => return Ok(()),
            Event::HashRequest(range) => {
                // BEP 52: served from the torrent's hashes, or refused.
                let answer = shared.v2.read().ok().and_then(|v2| v2.answer(&range));
                let now = std::time::Instant::now();
                match answer {
                    Some(hashes) => self.conn.send_hashes(now, range, &hashes),
                    None => self.conn.reject_hashes(now, range),
                }
                return Ok(());
            }
            Event::Hashes { range, hashes } => PeerEvent::Hashes { range, hashes },
            Event::HashRejected(range) => PeerEvent::HashRejected(range),
        };
        io.events.push(out);
        Ok(())
    }

    /// Answer queued requests while the buckets allow and the socket keeps
    /// up.
    fn serve_uploads(&mut self, io: &mut Io, now: Instant) {
        if io.upload_paused_until.is_some_and(|t| t > now) {
            return;
        }
        io.upload_paused_until = None;
        while let Some(&block) = io.uploads.front() {
            if io.pending_bytes >= WRITE_HIGH_WATER {
                return;
            }
            if !io.up_debt.is_owed() {
                io.up_debt = Debt::new(block.length);
            }
            if let Take::Wait(d) = io.up_debt.pay(self.links.up()) {
                io.upload_paused_until = Some(now + d);
                return;
            }
            io.uploads.pop_front();
            let shared = &self.links.shared;
            let data = match read_for_upload(shared, &mut io.read_cache, &io.uploads, block) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(peer = %self.addr, %e, "cannot read a requested block");
                    self.conn.reject_request(now.into_std(), block);
                    io.events.push(PeerEvent::ReadFailed {
                        block,
                        error: e.to_string(),
                    });
                    continue;
                }
            };
            if self.conn.send_block(now.into_std(), block, data).is_ok() {
                Counters::add(&shared.counters.uploaded, u64::from(block.length));
                if let Some(c) = &self.links.class {
                    c.count(u64::from(block.length));
                }
                io.uploaded_unreported += u64::from(block.length);
                if block.offset + block.length == shared.geometry.length_of(block.piece) {
                    io.events.push(PeerEvent::PieceSent(block.piece));
                }
                if let Some(left) = &mut io.turn_left {
                    *left = left.saturating_sub(u64::from(block.length));
                    if *left == 0 {
                        // The turn is over: choke now, before the bucket
                        // lets another block out.
                        io.turn_left = None;
                        let _ = self.conn.choke_peer(now.into_std());
                        io.uploads.clear();
                    }
                }
            }
            while let Some(chunk) = self.conn.poll_transmit() {
                io.pending_bytes += chunk.len();
                io.pending.push_back(chunk);
            }
        }
    }

    fn apply(&mut self, io: &mut Io, o: Orders) -> Result<(), End> {
        let now = Instant::now().into_std();
        if let Some(reason) = o.close {
            self.conn.close();
            return Err(End::fine(reason));
        }
        for c in o.cancels {
            self.conn.cancel_block(now, c);
        }
        if let Some(i) = o.interested {
            let _ = self.conn.set_interested(now, i);
        }
        // Before an UNCHOKE, so the peer knows what we would like it to
        // take when it starts requesting.
        if let Some(p) = o.suggest {
            // Advisory: a peer without the fast extension just misses it.
            let _ = self.conn.suggest_piece(now, p);
        }
        match o.choke {
            Some(true) => {
                let _ = self.conn.choke_peer(now);
                io.uploads.clear();
                io.turn_left = None;
            }
            Some(false) => {
                let _ = self.conn.unchoke_peer(now);
                io.turn_left = o.turn_bytes;
            }
            None => {}
        }
        for h in o.haves {
            let _ = self.conn.announce_have(now, h);
        }
        if let Some(payload) = o.pex {
            let theirs = self
                .conn
                .peer_extended()
                .and_then(|h| h.id_of(riffle_protocol::wire::UT_PEX));
            if let Some(id) = theirs {
                let _ = self.conn.send_extended(now, id, payload);
            }
        }
        for range in o.hash_requests {
            if self.conn.request_hashes(now, range).is_err() {
                io.events.push(PeerEvent::HashRejected(range));
            }
        }
        for r in o.requests {
            if self.conn.request_block(now, r).is_err() {
                io.events.push(PeerEvent::Returned(r));
            }
        }
        Ok(())
    }

    fn read(&mut self, io: &mut Io) -> Result<(), End> {
        let limited = self.links.down().any(Bucket::is_limited);
        let now = Instant::now();
        if limited && self.pay_download(io, now) {
            return Ok(());
        }
        let mut total = 0usize;
        loop {
            let got = if limited {
                // One bucket-sized bite at a time, paid before the next.
                let mut bite = [0u8; LIMITED_READ];
                self.stream
                    .try_read(&mut bite)
                    .inspect(|&n| io.rbuf.extend_from_slice(&bite[..n]))
            } else {
                io.rbuf.reserve(io.read_size);
                let room = io.rbuf.capacity() - io.rbuf.len();
                let got = self.stream.try_read_buf(&mut io.rbuf);
                if matches!(got, Ok(n) if n == room) {
                    io.read_size = (io.read_size * 2).min(READ_CHUNK);
                }
                got
            };
            match got {
                Ok(0) => {
                    // Process what came before the end of stream.
                    let _ = self
                        .conn
                        .handle_read(Instant::now().into_std(), &mut io.rbuf);
                    return Err(End::fine("peer closed the connection"));
                }
                Ok(n) => {
                    total += n;
                    if limited || total >= READ_ROUND {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(End::fine(format!("read: {e}"))),
            }
        }
        if total == 0 {
            return Ok(());
        }
        self.conn
            .handle_read(now.into_std(), &mut io.rbuf)
            .map_err(|e| End {
                reason: e.to_string(),
                misbehaved: misbehaved(&e),
            })?;
        if limited {
            io.down_debt = Debt::new(u32::try_from(total).unwrap_or(u32::MAX));
            self.pay_download(io, now);
        }
        Ok(())
    }

    /// Pay what was read against the download buckets; while they cannot
    /// pay, reading pauses (returns true).
    fn pay_download(&mut self, io: &mut Io, now: Instant) -> bool {
        match io.down_debt.pay(self.links.down()) {
            Take::Done => false,
            Take::Wait(d) => {
                io.read_paused_until = Some(now + d);
                true
            }
        }
    }

    fn write(&mut self, io: &mut Io) -> Result<(), End> {
        loop {
            if io.pending.is_empty() {
                return Ok(());
            }
            let slices: Vec<IoSlice<'_>> = io
                .pending
                .iter()
                .take(MAX_IOV)
                .map(|b| IoSlice::new(b))
                .collect();
            let n = match self.stream.try_write_vectored(&slices) {
                Ok(0) => return Err(End::fine("socket closed")),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(End::fine(format!("write: {e}"))),
            };
            io.pending_bytes = io.pending_bytes.saturating_sub(n);
            let mut left = n;
            while left > 0 {
                let Some(front) = io.pending.front_mut() else {
                    break;
                };
                if front.len() <= left {
                    left -= front.len();
                    io.pending.pop_front();
                } else {
                    front.advance(left);
                    left = 0;
                }
            }
        }
    }
}

impl PeerTask {
    /// Answer a `ut_metadata` request from the torrent's info dictionary
    /// (BEP 9): the piece, or a reject past the end or past this peer's
    /// allowance. A payload that is not a valid message is ignored.
    fn serve_metadata(&mut self, io: &mut Io, payload: &Bytes) {
        use riffle_protocol::wire::{MetadataMessage, UT_METADATA};
        let Ok(MetadataMessage::Request { piece }) = MetadataMessage::decode(payload) else {
            return;
        };
        let Some(their_id) = self.conn.peer_extended().and_then(|h| h.id_of(UT_METADATA)) else {
            return;
        };
        let info = &self.links.shared.info_bytes;
        let reply = match super::metadata::piece_of(info, piece) {
            Some(data) if io.metadata_served < super::metadata::allowance(info.len()) => {
                io.metadata_served += 1;
                MetadataMessage::Data {
                    piece,
                    total_size: info.len() as u64,
                    data,
                }
            }
            _ => MetadataMessage::Reject { piece },
        };
        let now = std::time::Instant::now();
        let _ = self
            .conn
            .send_extended(now, their_id, Bytes::from(reply.encode()));
    }
}

/// The bytes of `block`, from the read cache or from storage. A miss reads
/// from the block to the end of the furthest queued request in the same
/// piece (at most [`READ_AHEAD`]), so a peer asking for a piece block by
/// block costs one read.
fn read_for_upload(
    shared: &TorrentShared,
    cache: &mut Option<(PieceIndex, u32, Bytes)>,
    queued: &VecDeque<BlockRef>,
    block: BlockRef,
) -> Result<Bytes, riffle_storage::StorageError> {
    let end = block.offset + block.length;
    if let Some((piece, start, data)) = cache {
        if *piece == block.piece
            && block.offset >= *start
            && end as usize <= *start as usize + data.len()
        {
            let from = (block.offset - *start) as usize;
            return Ok(data.slice(from..from + block.length as usize));
        }
    }
    let furthest = queued
        .iter()
        .filter(|b| b.piece == block.piece && b.offset >= block.offset)
        .map(|b| b.offset + b.length)
        .max()
        .unwrap_or(end)
        .max(end)
        .min(block.offset.saturating_add(READ_AHEAD).max(end));
    let mut buf = BytesMut::zeroed((furthest - block.offset) as usize);
    shared
        .storage
        .read_block(block.piece, block.offset, &mut buf)?;
    let data = buf.freeze();
    let out = data.slice(0..block.length as usize);
    *cache = Some((block.piece, block.offset, data));
    Ok(out)
}

/// Errors that show the peer broke the protocol (as opposed to going
/// quiet or hanging up): such a peer is not dialled again.
fn misbehaved(e: &riffle_protocol::peer::ConnectionError) -> bool {
    use riffle_protocol::peer::ConnectionError as E;
    !matches!(
        e,
        E::Idle(_) | E::HandshakeTimeout(_) | E::WrongInfoHash { .. }
    )
}
