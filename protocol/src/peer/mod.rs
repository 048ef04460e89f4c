//! The peer-connection state machine, sans I/O (in the shape of
//! quinn-proto's `Connection`).
//!
//! A [`PeerConnection`] holds everything one BitTorrent connection must
//! remember — handshake phase, the four choke/interest flags, the peer's
//! bitfield, our outstanding requests and the peer's requests to us, which
//! extensions both sides speak, byte counters — and it never touches a
//! socket or reads the clock. The task that owns the socket drives it:
//!
//! - **input**: bytes read from the socket ([`PeerConnection::handle_read`]
//!   or [`PeerConnection::handle_bytes`]), the passage of time
//!   ([`PeerConnection::handle_timeout`]), and commands from the torrent
//!   (`request_block`, `choke_peer`, `send_block`, ...). Every input takes
//!   `now: Instant`.
//! - **output**: bytes to write ([`PeerConnection::poll_transmit`], in
//!   order; PIECE payloads come out as their own [`Bytes`] chunk so they are
//!   written without a copy), things the torrent must know
//!   ([`PeerConnection::poll_event`]), and the next instant at which
//!   `handle_timeout` must be called ([`PeerConnection::poll_timeout`]).
//!
//! A protocol violation makes the `handle_*` call return a
//! [`ConnectionError`]; the connection is then dead and the client drops
//! (or bans) the peer. Nothing panics on any input. Because time is passed
//! in, tests drive two connections against each other through simulated
//! time (see `tests.rs`).

mod incoming;
mod types;

#[cfg(test)]
mod hostile;
#[cfg(test)]
mod tests;

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::geometry::PieceGeometry;
use crate::types::{Bitfield, BlockRef, InfoHash, PeerId, PieceIndex};
use crate::wire::{
    write_piece_header, ExtendedHandshake, Framer, Handshake, Message, RawBlock, Reserved,
};

pub use types::{CommandError, ConnectionError, Event, Offer, PeerConfig, PeerSetup, Stats};

/// Most cancelled requests remembered while their answer is due (see
/// `PeerConnection::cancelled`); past it the oldest is forgotten, so a peer
/// that never answers cannot grow the list. Far above any request
/// pipeline.
/// BEP 52 hash requests of ours in flight at once on one connection.
pub const MAX_HASH_REQUESTS: usize = 8;

pub const MAX_CANCELLED_AWAITING: usize = 1024;

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the peer's handshake.
    Handshaking,
    /// Handshakes exchanged; messages flow.
    Connected,
    /// Closed by us or failed; inputs are ignored.
    Closed,
}

/// One of our requests awaiting its block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outstanding {
    /// The block asked for.
    pub block: BlockRef,
    /// When the REQUEST was queued: for timeouts and snub detection.
    pub sent_at: Instant,
    /// Already reported as timed out (reported once).
    pub timed_out: bool,
}

/// The state of one peer connection. See the module docs.
#[derive(Debug)]
pub struct PeerConnection {
    /// Our torrent, checked against the peer's handshake.
    info_hash: InfoHash,
    /// A hybrid's other identity (see [`PeerSetup::alt_info_hash`]).
    alt_info_hash: Option<InfoHash>,
    /// Our id, to detect connections to ourselves.
    our_id: PeerId,
    /// To validate indices and block ranges the peer sends.
    geometry: PieceGeometry,
    /// Timeouts and limits.
    config: PeerConfig,
    /// Extensions we offer.
    offer: Offer,
    /// Whether we sent our handshake first.
    initiator: bool,
    /// Handshake phase.
    phase: Phase,
    /// The error that killed the connection, returned again on later input.
    error: Option<ConnectionError>,
    /// When the connection started (handshake deadline).
    started: Instant,
    /// Last time anything arrived (idle timeout).
    last_recv: Instant,
    /// Last time we queued anything (keep-alive).
    last_send: Instant,
    /// Splits frames off the receive buffer.
    framer: Framer,
    /// Bytes received through `handle_bytes` not yet forming a frame.
    recv: BytesMut,
    /// Control messages being coalesced into one write.
    out_buf: BytesMut,
    /// Chunks ready to write, in order (piece payloads are separate chunks).
    out_chunks: VecDeque<Bytes>,
    /// Events for the torrent.
    events: VecDeque<Event>,
    /// The peer's id and extension bits, once its handshake arrived.
    peer: Option<(PeerId, Reserved)>,
    /// The pieces we hold (requests for others are not served).
    our_pieces: Bitfield,
    /// The pieces the peer holds.
    peer_pieces: Bitfield,
    /// We refuse to serve the peer.
    am_choking: bool,
    /// We want pieces from the peer.
    am_interested: bool,
    /// The peer refuses to serve us.
    peer_choking: bool,
    /// The peer wants pieces from us.
    peer_interested: bool,
    /// Both sides set the fast bit.
    fast: bool,
    /// Both sides set the extension-protocol bit.
    extended: bool,
    /// The peer's extended handshake(s), merged.
    peer_extended: Option<ExtendedHandshake>,
    /// Pieces the peer lets us request while choked.
    allowed_fast: HashSet<PieceIndex>,
    /// Our requests awaiting data, oldest first.
    outstanding: Vec<Outstanding>,
    /// Requests we cancelled under BEP 6 whose answer is still due: a
    /// fast peer answers every request, cancelled or not, with a PIECE or
    /// a REJECT. The first answer for such a block belongs to the
    /// cancelled request, so a REJECT must not kill a re-request of the
    /// same block (libtorrent rejects cancelled requests it still has
    /// queued). Oldest first, at most [`MAX_CANCELLED_AWAITING`].
    cancelled: VecDeque<BlockRef>,
    /// BEP 52 hash requests of ours awaiting an answer (at most
    /// [`MAX_HASH_REQUESTS`]); only answers to these are reported.
    hash_requests: HashSet<crate::wire::HashRange>,
    /// The peer's requests awaiting our data, in arrival order.
    peer_requests: VecDeque<BlockRef>,
    /// Byte counters.
    stats: Stats,
}

impl PeerConnection {
    /// A new connection at `now`. An initiator queues its handshake at
    /// once; an accepting side waits for the peer's. (A multi-torrent
    /// listener may parse the peer's handshake itself with
    /// [`Handshake::decode`] to find the torrent, then feed the same bytes
    /// to a connection built for it.)
    pub fn new(now: Instant, setup: PeerSetup) -> Self {
        let pieces = setup.geometry.piece_count();
        let bitfield_frame = pieces.div_ceil(8).saturating_add(1);
        let mut our_pieces = setup.bitfield;
        if our_pieces.len() != pieces {
            // A mismatched bitfield is the caller's bug; hold nothing
            // rather than advertise the wrong length.
            our_pieces = Bitfield::new(pieces);
        }
        let mut conn = PeerConnection {
            info_hash: setup.info_hash,
            alt_info_hash: setup.alt_info_hash,
            our_id: setup.our_id,
            geometry: setup.geometry,
            framer: Framer::new(setup.config.max_frame_len.max(bitfield_frame)),
            config: setup.config,
            offer: setup.offer,
            initiator: setup.initiator,
            phase: Phase::Handshaking,
            error: None,
            started: now,
            last_recv: now,
            last_send: now,
            recv: BytesMut::new(),
            out_buf: BytesMut::new(),
            out_chunks: VecDeque::new(),
            events: VecDeque::new(),
            peer: None,
            our_pieces,
            peer_pieces: Bitfield::new(pieces),
            am_choking: true,
            am_interested: false,
            peer_choking: true,
            peer_interested: false,
            fast: false,
            extended: false,
            peer_extended: None,
            allowed_fast: HashSet::new(),
            outstanding: Vec::new(),
            cancelled: VecDeque::new(),
            hash_requests: HashSet::new(),
            peer_requests: VecDeque::new(),
            stats: Stats::default(),
        };
        if conn.initiator {
            conn.send_handshake(now);
        }
        conn
    }

    // ----- output -----

    /// The next chunk of bytes to write, in order. Control messages are
    /// coalesced; a PIECE payload is its own chunk (the `Bytes` the torrent
    /// handed to [`PeerConnection::send_block`]). Call until `None`.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if let Some(chunk) = self.out_chunks.pop_front() {
            return Some(chunk);
        }
        if self.out_buf.is_empty() {
            None
        } else {
            Some(self.out_buf.split().freeze())
        }
    }

    /// Every chunk ready to write, appended to `out` in order: one call
    /// per socket write, for `write_vectored`.
    pub fn poll_transmit_all(&mut self, out: &mut Vec<Bytes>) {
        while let Some(chunk) = self.poll_transmit() {
            out.push(chunk);
        }
    }

    /// The next event for the torrent.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must next be called (`None` once closed).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let cfg = &self.config;
        let candidates = match self.phase {
            Phase::Closed => return None,
            Phase::Handshaking => [
                after(self.started, cfg.handshake_timeout),
                after(self.last_recv, cfg.idle_timeout),
                None,
            ],
            Phase::Connected => [
                after(self.last_recv, cfg.idle_timeout),
                after(self.last_send, cfg.keep_alive_interval),
                // Oldest first: the first not yet reported is the earliest.
                self.outstanding
                    .iter()
                    .find(|r| !r.timed_out)
                    .and_then(|r| after(r.sent_at, cfg.request_timeout)),
            ],
        };
        candidates.into_iter().flatten().min()
    }

    /// Time has passed: enforce the handshake and idle timeouts (an error
    /// ends the connection), send a keep-alive after send silence, report
    /// requests that have timed out.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), ConnectionError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let timeout = self.config.handshake_timeout;
        match self.phase {
            Phase::Closed => return Ok(()),
            Phase::Handshaking if reached(now, self.started, timeout) => {
                return Err(self.fail(ConnectionError::HandshakeTimeout(timeout)));
            }
            _ => {}
        }
        if reached(now, self.last_recv, self.config.idle_timeout) {
            let silent = now.saturating_duration_since(self.last_recv);
            return Err(self.fail(ConnectionError::Idle(silent)));
        }
        if self.phase != Phase::Connected {
            return Ok(());
        }
        if reached(now, self.last_send, self.config.keep_alive_interval) {
            self.send(now, &Message::KeepAlive);
        }
        for r in &mut self.outstanding {
            if !r.timed_out && reached(now, r.sent_at, self.config.request_timeout) {
                r.timed_out = true;
                self.events.push_back(Event::RequestTimedOut(r.block));
            }
        }
        Ok(())
    }

    // ----- commands from the torrent -----

    /// Ask the peer for `block`. Refused (not sent) when the peer lacks the
    /// piece, is choking us and the piece is not allowed fast, or the block
    /// is already outstanding: a request the peer would drop only wastes
    /// the pipeline.
    pub fn request_block(&mut self, now: Instant, block: BlockRef) -> Result<(), CommandError> {
        self.check_connected()?;
        let raw = raw(block);
        if types::check_block(&self.geometry, raw).is_err() {
            return Err(CommandError::InvalidBlock);
        }
        if !self.peer_pieces.has(block.piece) {
            return Err(CommandError::PeerLacksPiece);
        }
        if self.peer_choking && !(self.fast && self.allowed_fast.contains(&block.piece)) {
            return Err(CommandError::Choked);
        }
        if self.outstanding.iter().any(|r| r.block == block) {
            return Err(CommandError::AlreadyRequested);
        }
        self.outstanding.push(Outstanding {
            block,
            sent_at: now,
            timed_out: false,
        });
        self.send(now, &Message::Request(raw));
        Ok(())
    }

    /// Withdraw a request (end-game, or it came from another peer). Returns
    /// whether it was outstanding; if the data still arrives it is counted
    /// as unrequested. The block may be requested again at once: with the
    /// fast extension the peer's answer to the cancelled request (its
    /// REJECT, or the PIECE already on its way) is told apart from the
    /// answer to the new one.
    pub fn cancel_block(&mut self, now: Instant, block: BlockRef) -> bool {
        let Some(pos) = self.outstanding.iter().position(|r| r.block == block) else {
            return false;
        };
        self.outstanding.remove(pos);
        if self.phase == Phase::Connected {
            self.send(now, &Message::Cancel(raw(block)));
            if self.fast {
                if self.cancelled.len() >= MAX_CANCELLED_AWAITING {
                    self.cancelled.pop_front();
                }
                self.cancelled.push_back(block);
            }
        }
        true
    }

    /// Stop serving the peer. Its queued requests are dropped; with the
    /// fast extension each is explicitly rejected, as BEP 6 requires.
    pub fn choke_peer(&mut self, now: Instant) -> Result<(), CommandError> {
        self.check_connected()?;
        if self.am_choking {
            return Ok(());
        }
        self.am_choking = true;
        self.send(now, &Message::Choke);
        let dropped: Vec<BlockRef> = self.peer_requests.drain(..).collect();
        if self.fast {
            for block in dropped {
                self.send(now, &Message::RejectRequest(raw(block)));
            }
        }
        Ok(())
    }

    /// Start serving the peer.
    pub fn unchoke_peer(&mut self, now: Instant) -> Result<(), CommandError> {
        self.check_connected()?;
        if self.am_choking {
            self.am_choking = false;
            self.send(now, &Message::Unchoke);
        }
        Ok(())
    }

    /// Tell the peer whether we want anything from it (sent on change only).
    pub fn set_interested(&mut self, now: Instant, interested: bool) -> Result<(), CommandError> {
        self.check_connected()?;
        if self.am_interested != interested {
            self.am_interested = interested;
            let msg = if interested {
                Message::Interested
            } else {
                Message::NotInterested
            };
            self.send(now, &msg);
        }
        Ok(())
    }

    /// We completed `piece`: remember it and send HAVE. Before the
    /// handshake completes only the bitfield is updated (it goes out in the
    /// first BITFIELD).
    pub fn announce_have(&mut self, now: Instant, piece: PieceIndex) -> Result<(), CommandError> {
        if self.phase == Phase::Closed {
            return Err(CommandError::Closed);
        }
        if piece.get() >= self.geometry.piece_count() {
            return Err(CommandError::InvalidBlock);
        }
        self.our_pieces.set(piece, true);
        if self.phase == Phase::Connected {
            self.send(now, &Message::Have(piece.get()));
        }
        Ok(())
    }

    /// Suggest that the peer download `piece` next (BEP 6 SUGGEST PIECE):
    /// a seed uses it to choose which piece a peer it serves gets. Needs
    /// the fast extension on both sides and a piece we have.
    pub fn suggest_piece(&mut self, now: Instant, piece: PieceIndex) -> Result<(), CommandError> {
        self.check_connected()?;
        if !self.fast {
            return Err(CommandError::FastNotNegotiated);
        }
        if piece.get() >= self.geometry.piece_count() {
            return Err(CommandError::InvalidBlock);
        }
        if !self.our_pieces.has(piece) {
            return Err(CommandError::WeLackPiece);
        }
        self.send(now, &Message::SuggestPiece(piece.get()));
        Ok(())
    }

    /// Answer a request of the peer with `data`. `NotRequested` means the
    /// request is gone (cancelled, or we choked since): drop the data.
    pub fn send_block(
        &mut self,
        now: Instant,
        block: BlockRef,
        data: Bytes,
    ) -> Result<(), CommandError> {
        self.check_connected()?;
        if u32::try_from(data.len()).ok() != Some(block.length) {
            return Err(CommandError::WrongDataLength);
        }
        let Some(pos) = self.peer_requests.iter().position(|b| *b == block) else {
            return Err(CommandError::NotRequested);
        };
        self.peer_requests.remove(pos);
        write_piece_header(
            &mut self.out_buf,
            block.piece.get(),
            block.offset,
            block.length,
        );
        self.stats.protocol_up += crate::wire::PIECE_HEADER_LEN as u64;
        self.stats.payload_up += u64::from(block.length);
        if !self.out_buf.is_empty() {
            self.out_chunks.push_back(self.out_buf.split().freeze());
        }
        self.out_chunks.push_back(data);
        self.last_send = now;
        Ok(())
    }

    /// Refuse a request of the peer (disk error, upload slot policy). With
    /// the fast extension the peer is told; without it the request is
    /// silently dropped. Returns whether the request was pending.
    pub fn reject_request(&mut self, now: Instant, block: BlockRef) -> bool {
        let Some(pos) = self.peer_requests.iter().position(|b| *b == block) else {
            return false;
        };
        self.peer_requests.remove(pos);
        if self.fast {
            self.send(now, &Message::RejectRequest(raw(block)));
        }
        true
    }

    /// BEP 52: ask for hashes (at most [`MAX_HASH_REQUESTS`] in flight;
    /// the answer comes as [`Event::Hashes`] or [`Event::HashRejected`]).
    pub fn request_hashes(
        &mut self,
        now: Instant,
        range: crate::wire::HashRange,
    ) -> Result<(), CommandError> {
        self.check_connected()?;
        if self.hash_requests.len() >= MAX_HASH_REQUESTS || !self.hash_requests.insert(range) {
            return Err(CommandError::TooManyHashRequests);
        }
        self.send(now, &Message::HashRequest(range));
        Ok(())
    }

    /// BEP 52: answer a hash request.
    pub fn send_hashes(
        &mut self,
        now: Instant,
        range: crate::wire::HashRange,
        hashes: &[[u8; 32]],
    ) {
        if self.phase == Phase::Connected {
            let hashes = Bytes::from(hashes.concat());
            self.send(now, &Message::Hashes { range, hashes });
        }
    }

    /// BEP 52: refuse a hash request.
    pub fn reject_hashes(&mut self, now: Instant, range: crate::wire::HashRange) {
        if self.phase == Phase::Connected {
            self.send(now, &Message::HashReject(range));
        }
    }

    /// Hash requests of ours not answered yet.
    pub fn hash_requests_in_flight(&self) -> usize {
        self.hash_requests.len()
    }

    /// Send an extension message; `id` comes from the peer's `m` dictionary
    /// ([`PeerConnection::peer_extended`]).
    pub fn send_extended(
        &mut self,
        now: Instant,
        id: u8,
        payload: Bytes,
    ) -> Result<(), CommandError> {
        self.check_connected()?;
        if !self.extended {
            return Err(CommandError::ExtensionNotNegotiated);
        }
        self.send(now, &Message::Extended { id, payload });
        Ok(())
    }

    /// Close the connection: nothing more is sent or reported. Outstanding
    /// requests are left for the torrent to re-assign
    /// ([`PeerConnection::outstanding`]).
    pub fn close(&mut self) {
        self.phase = Phase::Closed;
        self.out_buf.clear();
        self.out_chunks.clear();
        self.peer_requests.clear();
        self.cancelled.clear();
    }

    // ----- state for the torrent -----

    /// Handshake phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }
    /// The peer's id and extension bits, after its handshake.
    pub fn peer(&self) -> Option<(PeerId, Reserved)> {
        self.peer
    }
    /// We are choking the peer.
    pub fn am_choking(&self) -> bool {
        self.am_choking
    }
    /// We are interested in the peer.
    pub fn am_interested(&self) -> bool {
        self.am_interested
    }
    /// The peer is choking us.
    pub fn peer_choking(&self) -> bool {
        self.peer_choking
    }
    /// The peer is interested in us.
    pub fn peer_interested(&self) -> bool {
        self.peer_interested
    }
    /// The pieces the peer holds.
    pub fn peer_pieces(&self) -> &Bitfield {
        &self.peer_pieces
    }
    /// The pieces we hold, as this connection knows them.
    pub fn our_pieces(&self) -> &Bitfield {
        &self.our_pieces
    }
    /// Both sides speak BEP 6.
    pub fn fast(&self) -> bool {
        self.fast
    }
    /// Both sides speak BEP 10.
    pub fn extension_protocol(&self) -> bool {
        self.extended
    }
    /// The peer's extended handshake, merged over re-sends.
    pub fn peer_extended(&self) -> Option<&ExtendedHandshake> {
        self.peer_extended.as_ref()
    }
    /// Pieces the peer allows us to request while choked.
    pub fn allowed_fast(&self) -> &HashSet<PieceIndex> {
        &self.allowed_fast
    }
    /// Our requests awaiting data, oldest first.
    pub fn outstanding(&self) -> &[Outstanding] {
        &self.outstanding
    }
    /// The peer's requests awaiting our data.
    pub fn peer_requests(&self) -> impl Iterator<Item = &BlockRef> {
        self.peer_requests.iter()
    }
    /// Byte counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    // ----- internals -----

    fn check_connected(&self) -> Result<(), CommandError> {
        match self.phase {
            Phase::Connected => Ok(()),
            Phase::Handshaking => Err(CommandError::NotConnected),
            Phase::Closed => Err(CommandError::Closed),
        }
    }

    /// Record a fatal error and close.
    fn fail(&mut self, e: ConnectionError) -> ConnectionError {
        self.close();
        self.error = Some(e.clone());
        e
    }

    /// Queue a control message.
    fn send(&mut self, now: Instant, msg: &Message) {
        msg.encode(&mut self.out_buf);
        self.stats.protocol_up += msg.encoded_len() as u64;
        self.last_send = now;
    }

    fn send_handshake(&mut self, now: Instant) {
        let hs = Handshake {
            reserved: self.offer.reserved(),
            info_hash: self.info_hash,
            peer_id: self.our_id,
        };
        self.out_buf.extend_from_slice(&hs.encode());
        self.stats.protocol_up += crate::wire::HANDSHAKE_LEN as u64;
        self.last_send = now;
    }
}

/// `t + d`, or `None` ("never") if that overflows the clock.
fn after(t: Instant, d: Duration) -> Option<Instant> {
    t.checked_add(d)
}

/// Has the deadline `t + d` passed at `now`? Never, if it overflows.
fn reached(now: Instant, t: Instant, d: Duration) -> bool {
    after(t, d).is_some_and(|deadline| now >= deadline)
}

/// The wire form of a block.
fn raw(block: BlockRef) -> RawBlock {
    RawBlock {
        piece: block.piece.get(),
        offset: block.offset,
        length: block.length,
    }
}
