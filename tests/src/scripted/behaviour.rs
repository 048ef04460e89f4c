//! What each scripted peer does once the handshake is done: serve blocks
//! (honestly or not), or send one hostile frame and watch what riffle does.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use riffle_protocol::wire::{Message, RawBlock, Reserved};
use riffle_protocol::BLOCK_SIZE;

use super::content::Content;
use super::rate::RateLimit;
use super::stats::{Event, Stats};
use super::stream::{End, PeerStream};

/// The script a peer follows on every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Advertise every piece, unchoke at once, serve every valid REQUEST in
    /// order (honouring CANCEL) at the peer's rate limit, if any.
    Seeder,
    /// Like [`Behaviour::Seeder`], but every byte of every block is wrong
    /// (inverted); the lengths are right, so only the hash check catches it.
    Liar,
    /// A turncoat: serves its first [`TURNCOAT_HONEST_BLOCKS`] blocks
    /// honestly (so riffle comes to trust it), then flips one byte in the
    /// first block of every piece. Blocks from it mixed with an honest
    /// peer's spoil a piece without saying who lied, so only parole (a
    /// failed piece fetched again from one peer alone) can expose it. Each
    /// corrupted block is counted in [`Stats::corrupted_blocks`].
    SubtleLiar,
    /// Advertises every piece but answers every REQUEST with a block that
    /// was not asked for, in turn: the right block one byte too long, one
    /// byte too short, or the same length at the next block's offset (past
    /// the piece's end for its last block).
    Mangler,
    /// Advertises every piece and unchokes, then, once requests arrive,
    /// chokes (plain BEP 3: every queued request is dropped) and never
    /// unchokes again, holding the connection open.
    Choker,
    /// Advertises every piece and unchokes, then swallows every request
    /// without an answer and without choking.
    BlackHole,
    /// Offers no extensions, then sends HAVE_ALL (BEP 6 says a peer that
    /// did not negotiate the fast extension MUST close the connection).
    HaveAllUnnegotiated,
    /// Offers the fast extension and abuses it: HAVE_NONE, then
    /// SUGGEST_PIECE(u32::MAX), ALLOWED_FAST for the index past the end,
    /// and REJECT_REQUEST for a block riffle never asked for.
    FastNonsense,
    /// After the handshake, a frame whose length prefix is 2^31 − 1, then
    /// one byte every 100 ms for as long as the socket stays open.
    HugeFrame,
    /// After the handshake, HAVE for the first index past the last piece,
    /// then HAVE(u32::MAX); holds no real piece.
    HaveOutOfRange,
    /// After the handshake, a BITFIELD of the right length whose real bits
    /// are all clear and whose spare bits (past the last piece) are set.
    SpareBitfieldBits,
}

/// Blocks a [`Behaviour::SubtleLiar`] serves honestly before it turns:
/// 8 pieces of 256 KiB.
pub const TURNCOAT_HONEST_BLOCKS: u64 = 128;

/// Longest a blocks-free read waits, so stop is noticed promptly.
const IDLE_WAIT: Duration = Duration::from_millis(20);
/// Most requests queued per connection; more are dropped (a real client
/// would reject them; riffle's pipeline is far shorter).
const MAX_QUEUE: usize = 4096;
/// Blocks sent between two looks at the socket, so CANCELs are seen soon.
const BLOCKS_PER_TURN: usize = 8;

/// What a connection's script needs from its peer.
pub(crate) struct Ctx<'a> {
    /// The torrent served.
    pub content: &'a Content,
    /// Shared counters.
    pub stats: &'a Stats,
    /// The peer's upload limit.
    pub rate: Option<&'a RateLimit>,
    /// This connection's number in the timeline.
    pub conn: u64,
    /// Has the test ended?
    pub stop: &'a dyn Fn() -> bool,
}

/// Run `behaviour` on a connection whose handshake is done, until riffle
/// hangs up, the script gives up, or the test ends.
pub(crate) fn run(behaviour: Behaviour, ps: &mut PeerStream, ctx: &Ctx<'_>) -> Result<(), End> {
    match behaviour {
        Behaviour::Seeder => serve(ps, ctx, Answer::Honest),
        Behaviour::Liar => serve(ps, ctx, Answer::WrongBytes),
        Behaviour::Mangler => serve(ps, ctx, Answer::WrongBlock),
        Behaviour::SubtleLiar => serve(ps, ctx, Answer::FirstBlockFlipped),
        Behaviour::HugeFrame => huge_frame(ps, ctx),
        Behaviour::Choker => {
            ps.send(&Message::Bitfield(
                full_bitfield(ctx.content.piece_count()).into(),
            ))?;
            ps.send(&Message::Unchoke)?;
            while Stats::get(&ctx.stats.requests) == 0 {
                if (ctx.stop)() {
                    return Err(End::Stopped);
                }
                if let Some(Message::Request(_)) = ps.next(IDLE_WAIT)? {
                    ctx.stats.request_seen();
                }
            }
            // Let the rest of riffle's first batch arrive, then drop it.
            let until = Instant::now() + Duration::from_millis(100);
            while Instant::now() < until {
                if let Some(Message::Request(_)) = ps.next(IDLE_WAIT)? {
                    ctx.stats.request_seen();
                }
            }
            ps.send(&Message::Choke)?;
            ctx.stats.record(Event::HostileSent { conn: ctx.conn });
            idle(ps, ctx)
        }
        Behaviour::HaveAllUnnegotiated => {
            ps.send(&Message::HaveAll)?;
            ctx.stats.record(Event::HostileSent { conn: ctx.conn });
            idle(ps, ctx)
        }
        Behaviour::FastNonsense => {
            let count = ctx.content.piece_count();
            ps.send(&Message::HaveNone)?;
            ctx.stats.record(Event::HostileSent { conn: ctx.conn });
            ps.send(&Message::SuggestPiece(u32::MAX))?;
            ps.send(&Message::AllowedFast(count))?;
            ps.send(&Message::RejectRequest(RawBlock {
                piece: 0,
                offset: 0,
                length: BLOCK_SIZE,
            }))?;
            idle(ps, ctx)
        }
        Behaviour::BlackHole => {
            ps.send(&Message::Bitfield(
                full_bitfield(ctx.content.piece_count()).into(),
            ))?;
            ps.send(&Message::Unchoke)?;
            idle(ps, ctx)
        }
        Behaviour::HaveOutOfRange => {
            ps.send(&Message::Have(ctx.content.piece_count()))?;
            ctx.stats.record(Event::HostileSent { conn: ctx.conn });
            ps.send(&Message::Have(u32::MAX))?;
            idle(ps, ctx)
        }
        Behaviour::SpareBitfieldBits => {
            ps.send(&Message::Bitfield(
                spare_bits_only(ctx.content.piece_count()).into(),
            ))?;
            ctx.stats.record(Event::HostileSent { conn: ctx.conn });
            idle(ps, ctx)
        }
    }
}

impl Behaviour {
    /// The extension bits the peer offers in its handshake.
    pub fn reserved(self) -> Reserved {
        match self {
            Behaviour::FastNonsense => Reserved::empty().with(Reserved::FAST, true),
            _ => Reserved::empty(),
        }
    }
}

/// A bitfield for `pieces` pieces with only the spare bits set; when there
/// are no spare bits, one byte too long (equally invalid).
pub fn spare_bits_only(pieces: u32) -> Vec<u8> {
    let len = pieces.div_ceil(8) as usize;
    let mut bytes = vec![0u8; len];
    let used = pieces % 8;
    match bytes.last_mut() {
        Some(last) if used != 0 => *last = 0xFF >> used,
        _ => bytes.push(0xFF),
    }
    bytes
}

fn full_bitfield(pieces: u32) -> Vec<u8> {
    let mut bytes = vec![0xFFu8; pieces.div_ceil(8) as usize];
    let used = pieces % 8;
    if let Some(last) = bytes.last_mut() {
        if used != 0 {
            *last = 0xFF << (8 - used);
        }
    }
    bytes
}

/// How a seeding script answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// The block asked for.
    Honest,
    /// The block's length, every byte inverted.
    WrongBytes,
    /// A block that was not asked for (see [`Behaviour::Mangler`]).
    WrongBlock,
    /// Honest, but one byte flipped in each piece's first block.
    FirstBlockFlipped,
}

/// Seed: bitfield, unchoke, then answer requests in order.
fn serve(ps: &mut PeerStream, ctx: &Ctx<'_>, answer: Answer) -> Result<(), End> {
    let c = ctx.content;
    ps.send(&Message::Bitfield(full_bitfield(c.piece_count()).into()))?;
    ps.send(&Message::Unchoke)?;
    let mut queue: VecDeque<RawBlock> = VecDeque::new();
    let mut throttled = false;
    loop {
        if (ctx.stop)() {
            return Err(End::Stopped);
        }
        let mut wait = if queue.is_empty() {
            IDLE_WAIT
        } else if throttled {
            Duration::from_millis(2)
        } else {
            Duration::ZERO
        };
        while let Some(msg) = ps.next(wait)? {
            wait = Duration::ZERO;
            match msg {
                Message::Request(b) => {
                    ctx.stats.request_seen();
                    if c.block(b.piece, b.offset, b.length).is_none() {
                        Stats::add(&ctx.stats.bad_requests, 1);
                    } else if queue.len() < MAX_QUEUE {
                        queue.push_back(b);
                    }
                }
                Message::Cancel(b) => {
                    if let Some(at) = queue.iter().position(|q| *q == b) {
                        queue.remove(at);
                        Stats::add(&ctx.stats.cancels, 1);
                    }
                }
                // Interest, choking, HAVEs and keep-alives change nothing
                // for a seeder that unchokes everyone.
                _ => {}
            }
        }
        throttled = false;
        for _ in 0..BLOCKS_PER_TURN {
            let Some(&b) = queue.front() else { break };
            if ctx.rate.is_some_and(|r| !r.try_take(b.length)) {
                throttled = true;
                break;
            }
            queue.pop_front();
            let Some(data) = c.block(b.piece, b.offset, b.length) else {
                continue;
            };
            let sent = match answer {
                Answer::Honest => {
                    ps.send_piece(b.piece, b.offset, data)?;
                    data.len()
                }
                Answer::WrongBytes => {
                    let bad: Vec<u8> = data.iter().map(|x| !x).collect();
                    ps.send_piece(b.piece, b.offset, &bad)?;
                    bad.len()
                }
                Answer::FirstBlockFlipped => {
                    let mut bad = data.to_vec();
                    let turned = Stats::get(&ctx.stats.blocks) >= TURNCOAT_HONEST_BLOCKS;
                    if turned && b.offset == 0 {
                        let middle = bad.len() / 2;
                        if let Some(x) = bad.get_mut(middle) {
                            *x ^= 0x01;
                        }
                        Stats::add(&ctx.stats.corrupted_blocks, 1);
                    }
                    ps.send_piece(b.piece, b.offset, &bad)?;
                    bad.len()
                }
                Answer::WrongBlock => {
                    let turn = Stats::get(&ctx.stats.blocks) % 3;
                    let mut bad = data.to_vec();
                    let offset = match turn {
                        0 => {
                            bad.push(0);
                            b.offset
                        }
                        1 => {
                            bad.pop();
                            b.offset
                        }
                        _ => b.offset.saturating_add(b.length),
                    };
                    ps.send_piece(b.piece, offset, &bad)?;
                    bad.len()
                }
            };
            Stats::add(&ctx.stats.payload_bytes, sent as u64);
            Stats::add(&ctx.stats.blocks, 1);
        }
    }
}

/// The 2 GiB frame: announce it, then trickle its body.
fn huge_frame(ps: &mut PeerStream, ctx: &Ctx<'_>) -> Result<(), End> {
    ps.write_raw(&0x7FFF_FFFFu32.to_be_bytes())?;
    ctx.stats.record(Event::HostileSent { conn: ctx.conn });
    loop {
        if (ctx.stop)() {
            return Err(End::Stopped);
        }
        ps.drain(Duration::from_millis(100))?;
        ps.write_raw(&[0])?;
    }
}

/// Hold the connection open, counting requests, answering nothing.
fn idle(ps: &mut PeerStream, ctx: &Ctx<'_>) -> Result<(), End> {
    loop {
        if (ctx.stop)() {
            return Err(End::Stopped);
        }
        if let Some(Message::Request(_)) = ps.next(IDLE_WAIT)? {
            ctx.stats.request_seen();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use riffle_protocol::Bitfield;

    #[test]
    fn bitfields_have_the_bits_we_mean() {
        for pieces in [1u32, 7, 8, 9, 45, 64] {
            let full = Bitfield::from_bytes(&full_bitfield(pieces), pieces).expect("valid");
            assert!(full.is_full(), "{pieces}");
            let spare = spare_bits_only(pieces);
            assert!(
                Bitfield::from_bytes(&spare, pieces).is_err(),
                "riffle-protocol rejects spare bits for {pieces} pieces"
            );
            // Every real bit is clear.
            for i in 0..pieces {
                let byte = spare.get((i / 8) as usize).copied().unwrap_or(0);
                assert_eq!(byte & (0x80 >> (i % 8)), 0, "piece {i} of {pieces}");
            }
        }
    }
}
