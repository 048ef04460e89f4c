//! Bytes from the peer: the handshake, then one message at a time, each
//! checked against the protocol state before it changes anything.

use std::time::Instant;

use bytes::{Buf, BytesMut};

use super::types::{check_block, check_piece};
use super::{ConnectionError, Event, Outstanding, PeerConnection, Phase};
use crate::types::{Bitfield, BlockRef, PieceIndex};
use crate::wire::{ExtendedHandshake, Handshake, Message, RawBlock, HANDSHAKE_LEN};

impl PeerConnection {
    /// Feed bytes read from the socket, copying them into the connection's
    /// own buffer (a partial frame waits there for the next call). Prefer
    /// [`PeerConnection::handle_read`] to avoid the copy.
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) -> Result<(), ConnectionError> {
        let mut buf = std::mem::take(&mut self.recv);
        buf.extend_from_slice(bytes);
        let r = self.handle_read(now, &mut buf);
        self.recv = buf;
        r
    }

    /// Consume every complete frame at the start of the socket's read
    /// buffer, leaving a partial frame in it for the next read (so the
    /// driver reads straight into `buf` and calls this after each read).
    /// Piece data in events are views of `buf`'s memory (no copy).
    pub fn handle_read(&mut self, now: Instant, buf: &mut BytesMut) -> Result<(), ConnectionError> {
        if !self.recv.is_empty() {
            // Bytes left over from `handle_bytes` come first: join them so
            // the two entry points can be mixed without reordering.
            let mut joined = std::mem::take(&mut self.recv);
            joined.extend_from_slice(buf);
            buf.clear();
            let r = self.handle_read(now, &mut joined);
            // What remains is a partial frame; hand it back to the caller's
            // buffer, which now owns the stream.
            buf.extend_from_slice(&joined);
            return r;
        }
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.phase == Phase::Closed {
            buf.clear();
            return Ok(());
        }
        if !buf.is_empty() {
            self.last_recv = now;
        }
        match self.process(now, buf) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.fail(e)),
        }
    }

    fn process(&mut self, now: Instant, buf: &mut BytesMut) -> Result<(), ConnectionError> {
        if self.phase == Phase::Handshaking {
            let Some(hs) = Handshake::decode(buf)? else {
                return Ok(());
            };
            buf.advance(HANDSHAKE_LEN);
            self.stats.protocol_down += HANDSHAKE_LEN as u64;
            self.on_handshake(now, hs)?;
        }
        while self.phase == Phase::Connected {
            let Some(msg) = self.framer.parse(buf)? else {
                break;
            };
            let len = msg.encoded_len() as u64;
            match &msg {
                Message::Piece { data, .. } => {
                    self.stats.protocol_down += len - data.len() as u64;
                }
                _ => self.stats.protocol_down += len,
            }
            self.on_message(now, msg)?;
        }
        Ok(())
    }

    fn on_handshake(&mut self, now: Instant, hs: Handshake) -> Result<(), ConnectionError> {
        if hs.info_hash != self.info_hash {
            if Some(hs.info_hash) != self.alt_info_hash {
                return Err(ConnectionError::WrongInfoHash {
                    expected: self.info_hash,
                    got: hs.info_hash,
                });
            }
            // The hybrid's other identity: the connection goes on under it.
            self.alt_info_hash = Some(self.info_hash);
            self.info_hash = hs.info_hash;
        }
        if hs.peer_id == self.our_id {
            return Err(ConnectionError::ConnectedToSelf);
        }
        if !self.initiator {
            self.send_handshake(now);
        }
        let ours = self.offer.reserved();
        self.fast = ours.fast() && hs.reserved.fast();
        self.extended = ours.extension_protocol() && hs.reserved.extension_protocol();
        self.peer = Some((hs.peer_id, hs.reserved));
        self.phase = Phase::Connected;
        self.events.push_back(Event::HandshakeCompleted {
            peer_id: hs.peer_id,
            reserved: hs.reserved,
        });
        self.send_opening(now);
        Ok(())
    }

    /// What follows our handshake: our pieces, extended handshake, DHT port.
    fn send_opening(&mut self, now: Instant) {
        let count = self.our_pieces.count_ones();
        if self.fast && count == self.geometry.piece_count() {
            self.send(now, &Message::HaveAll);
        } else if self.fast && count == 0 {
            self.send(now, &Message::HaveNone);
        } else if count > 0 {
            let bits = self.our_pieces.to_bytes();
            self.send(now, &Message::Bitfield(bits.into()));
        }
        if self.extended {
            if let Some(ext) = &self.offer.extended {
                let payload = ext.encode().into();
                self.send(now, &Message::Extended { id: 0, payload });
            }
        }
        if let (Some(port), Some((_, theirs))) = (self.offer.dht_port, self.peer) {
            if theirs.dht() {
                self.send(now, &Message::Port(port));
            }
        }
    }

    fn require_fast(&self, what: &'static str) -> Result<(), ConnectionError> {
        if self.fast {
            Ok(())
        } else {
            Err(ConnectionError::FastNotNegotiated(what))
        }
    }

    fn on_message(&mut self, now: Instant, msg: Message) -> Result<(), ConnectionError> {
        match msg {
            Message::KeepAlive => {}
            Message::Choke => {
                if !self.peer_choking {
                    self.peer_choking = true;
                    if !self.fast {
                        // BEP 3: a choke discards every pending request.
                        for r in self.outstanding.drain(..) {
                            self.events.push_back(Event::RequestRejected(r.block));
                        }
                    }
                    self.events.push_back(Event::Choked);
                }
            }
            Message::Unchoke => {
                if self.peer_choking {
                    self.peer_choking = false;
                    self.events.push_back(Event::Unchoked);
                }
            }
            Message::Interested => {
                if !self.peer_interested {
                    self.peer_interested = true;
                    self.events.push_back(Event::Interested);
                }
            }
            Message::NotInterested => {
                if self.peer_interested {
                    self.peer_interested = false;
                    self.events.push_back(Event::NotInterested);
                }
            }
            Message::Have(index) => {
                let piece = check_piece(&self.geometry, index)?;
                if !self.peer_pieces.set(piece, true) {
                    self.events.push_back(Event::Have(piece));
                }
            }
            Message::Bitfield(bytes) => {
                let bits = Bitfield::from_bytes(&bytes, self.geometry.piece_count())
                    .map_err(ConnectionError::Bitfield)?;
                self.peer_pieces = bits.clone();
                self.events.push_back(Event::Bitfield(bits));
            }
            Message::HaveAll => {
                self.require_fast("HAVE ALL")?;
                self.peer_pieces = Bitfield::full(self.geometry.piece_count());
                self.events.push_back(Event::HaveAll);
            }
            Message::HaveNone => {
                self.require_fast("HAVE NONE")?;
                self.peer_pieces = Bitfield::new(self.geometry.piece_count());
                self.events.push_back(Event::HaveNone);
            }
            Message::Request(raw) => {
                let block = check_block(&self.geometry, raw)?;
                self.on_request(now, block);
            }
            Message::Piece {
                piece,
                offset,
                data,
            } => {
                let index = check_piece(&self.geometry, piece)?;
                let size = self.geometry.length_of(index);
                let len = u32::try_from(data.len()).ok();
                let end = len.and_then(|l| l.checked_add(offset));
                if end.is_none_or(|end| end > size) {
                    return Err(ConnectionError::PieceDataOutsidePiece {
                        piece,
                        offset,
                        len: data.len(),
                    });
                }
                let block = BlockRef {
                    piece: index,
                    offset,
                    length: len.unwrap_or(0),
                };
                // The answer to a cancelled request may come as its data:
                // it settles that request, and still serves a re-request.
                if let Some(pos) = self.cancelled.iter().position(|b| *b == block) {
                    self.cancelled.remove(pos);
                }
                match self.take_outstanding(block) {
                    Some(_) => {
                        self.stats.payload_down += data.len() as u64;
                        self.events.push_back(Event::BlockReceived { block, data });
                    }
                    None => self.stats.unrequested_down += data.len() as u64,
                }
            }
            Message::Cancel(raw) => {
                let found = self.find_peer_request(raw);
                match found {
                    Some(pos) => {
                        if let Some(block) = self.peer_requests.remove(pos) {
                            // BEP 6: every request gets a PIECE or a REJECT.
                            if self.fast {
                                self.send(now, &Message::RejectRequest(raw));
                            }
                            self.events.push_back(Event::RequestCancelled(block));
                        }
                    }
                    None => self.stats.ignored_messages += 1,
                }
            }
            Message::Port(port) => self.events.push_back(Event::DhtPort(port)),
            Message::SuggestPiece(index) => {
                self.require_fast("SUGGEST PIECE")?;
                let piece = check_piece(&self.geometry, index)?;
                self.events.push_back(Event::Suggest(piece));
            }
            Message::RejectRequest(raw) => {
                self.require_fast("REJECT REQUEST")?;
                // The peer's answer to a request we cancelled, not to a
                // re-request of the same block that may be outstanding.
                if let Some(pos) = self.cancelled.iter().position(|b| raw_eq(*b, raw)) {
                    self.cancelled.remove(pos);
                    self.stats.ignored_messages += 1;
                    return Ok(());
                }
                let pos = self.outstanding.iter().position(|r| raw_eq(r.block, raw));
                match pos {
                    Some(pos) => {
                        let r = self.outstanding.remove(pos);
                        self.events.push_back(Event::RequestRejected(r.block));
                    }
                    None => self.stats.ignored_messages += 1,
                }
            }
            Message::AllowedFast(index) => {
                self.require_fast("ALLOWED FAST")?;
                let piece = check_piece(&self.geometry, index)?;
                if self.allowed_fast.insert(piece) {
                    self.events.push_back(Event::AllowedFast(piece));
                }
            }
            Message::Extended { id, payload } => {
                if !self.extended {
                    return Err(ConnectionError::ExtensionNotNegotiated);
                }
                if id == 0 {
                    let hs = ExtendedHandshake::decode(&payload)?;
                    match &mut self.peer_extended {
                        Some(old) => old.merge(hs.clone()),
                        None => self.peer_extended = Some(hs.clone()),
                    }
                    self.events.push_back(Event::ExtendedHandshake(hs));
                } else {
                    self.events
                        .push_back(Event::ExtendedMessage { id, payload });
                }
            }
            Message::HashRequest(range) => {
                if self.offer.v2 {
                    self.events.push_back(Event::HashRequest(range));
                } else {
                    // Not a v2 torrent here: nothing to give, say so.
                    self.send(now, &Message::HashReject(range));
                }
            }
            Message::Hashes { range, hashes } => {
                if self.offer.v2 && self.hash_requests.remove(&range) {
                    self.events.push_back(Event::Hashes { range, hashes });
                } else {
                    self.stats.ignored_messages += 1;
                }
            }
            Message::HashReject(range) => {
                if self.hash_requests.remove(&range) {
                    self.events.push_back(Event::HashRejected(range));
                } else {
                    self.stats.ignored_messages += 1;
                }
            }
            Message::Unknown { .. } => self.stats.ignored_messages += 1,
        }
        Ok(())
    }

    /// A valid request: queue it if we serve it, else reject (fast) or drop.
    fn on_request(&mut self, now: Instant, block: BlockRef) {
        let serve = !self.am_choking
            && self.our_pieces.has(block.piece)
            && self.peer_requests.len() < self.config.max_peer_requests
            && !self.peer_requests.contains(&block);
        if serve {
            self.peer_requests.push_back(block);
            self.events.push_back(Event::BlockRequested(block));
            return;
        }
        self.stats.ignored_requests += 1;
        if self.fast && !self.peer_requests.contains(&block) {
            self.send(now, &Message::RejectRequest(super::raw(block)));
        }
    }

    fn take_outstanding(&mut self, block: BlockRef) -> Option<Outstanding> {
        let pos = self.outstanding.iter().position(|r| r.block == block)?;
        Some(self.outstanding.remove(pos))
    }

    fn find_peer_request(&self, raw: RawBlock) -> Option<usize> {
        self.peer_requests.iter().position(|b| raw_eq(*b, raw))
    }
}

fn raw_eq(block: BlockRef, raw: RawBlock) -> bool {
    block.piece == PieceIndex::new(raw.piece)
        && block.offset == raw.offset
        && block.length == raw.length
}
