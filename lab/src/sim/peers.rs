//! The simulated peers: what each holds, whom it is connected to, and the
//! policy objects it owns (a picker and a choker from riffle-policies).
//!
//! Slot 0 is the publisher. Per-slot data lives in parallel vectors so the
//! hot loops (building the choker's views of a peer's neighbours) read
//! compact arrays; pieces are kept both as words (fast "does it lack
//! something I have") and as a protocol [`Bitfield`] (what the picker
//! takes).

use std::time::Instant;

use riffle_policies::choker::Choker;
use riffle_policies::picker::{AvailabilityChange, PiecePicker};
use riffle_protocol::{Bitfield, PieceIndex};

/// The publisher's slot.
pub(super) const PUBLISHER: usize = 0;

/// No slot (in a dense link index).
const NONE: u32 = u32::MAX;

/// One end of a connection, as the peer holding it sees it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Link {
    /// The slot of the peer at the other end.
    pub slot: u32,
    /// Its key (its id; fixed while connected, so views need not look it
    /// up).
    pub key: riffle_policies::PeerKey,
    /// When the connection was made (model time).
    pub connected_at: f64,
    /// The same as an `Instant`, as chokers take it.
    pub connected_instant: Instant,
    /// When we unchoked it, if it is unchoked now.
    pub unchoked_since: Option<Instant>,
    /// Bytes sent to it since that unchoke.
    pub sent_since_unchoke: u64,
    /// Blocks we sent it over the connection's life.
    pub sent: u64,
    /// Blocks it sent us over the connection's life.
    pub got: u64,
    /// A block we sent it waits at a capped link between networks (a
    /// locality run): the connection carries one block at a time.
    pub waiting: bool,
}

/// A peer's connections. The publisher, connected to every peer, also
/// keeps a dense slot -> position index so it finds a link in O(1); other
/// peers have at most `connections` links and search them.
#[derive(Clone, Debug, Default)]
pub(super) struct Links {
    /// The links, in no particular order.
    pub list: Vec<Link>,
    /// slot -> position in `list` (publisher only).
    index: Option<Vec<u32>>,
}

impl Links {
    /// Links with a dense index (for the publisher).
    pub fn indexed() -> Self {
        Links {
            list: Vec::new(),
            index: Some(Vec::new()),
        }
    }

    /// Position of the link to `slot`.
    pub fn find(&self, slot: usize) -> Option<usize> {
        match &self.index {
            Some(ix) => ix
                .get(slot)
                .copied()
                .filter(|&p| p != NONE)
                .and_then(|p| usize::try_from(p).ok()),
            None => self.list.iter().position(|l| l.slot as usize == slot),
        }
    }

    /// Add a link (the caller checked there is none to that slot yet).
    pub fn push(&mut self, link: Link) {
        if let Some(ix) = &mut self.index {
            let s = link.slot as usize;
            if ix.len() <= s {
                ix.resize(s + 1, NONE);
            }
            ix[s] = u32::try_from(self.list.len()).unwrap_or(NONE);
        }
        self.list.push(link);
    }

    /// Remove the link to `slot`, if any.
    pub fn remove(&mut self, slot: usize) -> Option<Link> {
        let pos = self.find(slot)?;
        let link = self.list.swap_remove(pos);
        if let Some(ix) = &mut self.index {
            if let Some(e) = ix.get_mut(slot) {
                *e = NONE;
            }
            if let Some(moved) = self.list.get(pos) {
                if let Some(e) = ix.get_mut(moved.slot as usize) {
                    *e = u32::try_from(pos).unwrap_or(NONE);
                }
            }
        }
        Some(link)
    }

    /// Number of links.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Forget every link.
    pub fn clear(&mut self) {
        if let Some(ix) = &mut self.index {
            for l in &self.list {
                if let Some(e) = ix.get_mut(l.slot as usize) {
                    *e = NONE;
                }
            }
        }
        self.list.clear();
    }
}

/// A set of slots with O(1) insert, remove and uniform draw.
#[derive(Clone, Debug, Default)]
pub(super) struct SlotSet {
    /// The members.
    items: Vec<u32>,
    /// slot -> position in `items` (NONE: absent).
    pos: Vec<u32>,
}

impl SlotSet {
    /// Add `slot` (no-op if present).
    pub fn insert(&mut self, slot: usize) {
        if self.pos.len() <= slot {
            self.pos.resize(slot + 1, NONE);
        }
        if self.pos[slot] == NONE {
            self.pos[slot] = u32::try_from(self.items.len()).unwrap_or(NONE);
            self.items.push(u32::try_from(slot).unwrap_or(NONE));
        }
    }

    /// Remove `slot` (no-op if absent).
    pub fn remove(&mut self, slot: usize) {
        let Some(&p) = self.pos.get(slot) else {
            return;
        };
        if p == NONE {
            return;
        }
        let p = p as usize;
        self.items.swap_remove(p);
        self.pos[slot] = NONE;
        if let Some(&moved) = self.items.get(p) {
            self.pos[moved as usize] = u32::try_from(p).unwrap_or(NONE);
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// The member at position `i` (a uniform draw when `i` is uniform).
    pub fn get(&self, i: usize) -> Option<usize> {
        self.items.get(i).map(|&s| s as usize)
    }
}

/// Every simulated peer (and the publisher in slot 0).
pub(super) struct Peers {
    /// Pieces in the torrent (K).
    pub pieces: u32,
    /// u64 words per peer in `words`.
    stride: usize,
    /// Pieces held, `stride` words per slot.
    words: Vec<u64>,
    /// Pieces held, as the picker takes them.
    pub bitfields: Vec<Bitfield>,
    /// Number of pieces held.
    pub counts: Vec<u32>,
    /// The simulator's peer id in each slot (also its `PeerKey`).
    pub ids: Vec<u64>,
    /// Slot in use.
    pub alive: Vec<bool>,
    /// Connections.
    pub links: Vec<Links>,
    /// Each peer's picker (None for the publisher, which never downloads).
    pub pickers: Vec<Option<Box<dyn PiecePicker>>>,
    /// Each peer's choker.
    pub chokers: Vec<Option<Box<dyn Choker>>>,
    /// When each peer arrived.
    pub arrived: Vec<f64>,
    /// Next rechoke of a peer whose choker is not per-piece.
    pub next_rechoke: Vec<f64>,
    /// A re-announce is scheduled.
    pub announce_pending: Vec<bool>,
    /// Free slots for reuse.
    free: Vec<usize>,
}

impl Peers {
    /// A table holding only the publisher (slot 0, every piece, id 0).
    pub fn new(pieces: u32, publisher_choker: Box<dyn Choker>) -> Self {
        let stride = usize::try_from(pieces.div_ceil(64)).unwrap_or(1).max(1);
        let mut p = Peers {
            pieces,
            stride,
            words: Vec::new(),
            bitfields: Vec::new(),
            counts: Vec::new(),
            ids: Vec::new(),
            alive: Vec::new(),
            links: Vec::new(),
            pickers: Vec::new(),
            chokers: Vec::new(),
            arrived: Vec::new(),
            next_rechoke: Vec::new(),
            announce_pending: Vec::new(),
            free: Vec::new(),
        };
        let slot = p.allocate(0, 0.0, None, publisher_choker);
        debug_assert_eq!(slot, PUBLISHER);
        p.links[PUBLISHER] = Links::indexed();
        for i in 0..pieces {
            p.set_piece(PUBLISHER, i);
        }
        p
    }

    /// Put a new peer (holding nothing) in a free slot.
    pub fn allocate(
        &mut self,
        id: u64,
        t: f64,
        picker: Option<Box<dyn PiecePicker>>,
        choker: Box<dyn Choker>,
    ) -> usize {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.words.extend(std::iter::repeat_n(0, self.stride));
                self.bitfields.push(Bitfield::new(self.pieces));
                self.counts.push(0);
                self.ids.push(0);
                self.alive.push(false);
                self.links.push(Links::default());
                self.pickers.push(None);
                self.chokers.push(None);
                self.arrived.push(0.0);
                self.next_rechoke.push(0.0);
                self.announce_pending.push(false);
                self.ids.len() - 1
            }
        };
        self.words[slot * self.stride..(slot + 1) * self.stride].fill(0);
        self.bitfields[slot] = Bitfield::new(self.pieces);
        self.counts[slot] = 0;
        self.ids[slot] = id;
        self.alive[slot] = true;
        self.links[slot].clear();
        self.pickers[slot] = picker;
        self.chokers[slot] = Some(choker);
        self.arrived[slot] = t;
        self.next_rechoke[slot] = t;
        self.announce_pending[slot] = false;
        slot
    }

    /// Free a slot whose links are already gone.
    pub fn release(&mut self, slot: usize) {
        self.alive[slot] = false;
        self.pickers[slot] = None;
        self.chokers[slot] = None;
        self.links[slot].clear();
        self.free.push(slot);
    }

    /// Mark piece `i` held by `slot` (returns false if it already was).
    pub fn set_piece(&mut self, slot: usize, i: u32) -> bool {
        let w = slot * self.stride + (i / 64) as usize;
        let bit = 1u64 << (i % 64);
        if self.words[w] & bit != 0 {
            return false;
        }
        self.words[w] |= bit;
        self.bitfields[slot].set(PieceIndex::new(i), true);
        self.counts[slot] += 1;
        true
    }

    /// Pieces `slot` holds (from its words: one memory access for small
    /// torrents, where the hot loop needs it).
    pub fn count_of(&self, slot: usize) -> u32 {
        self.words[slot * self.stride..(slot + 1) * self.stride]
            .iter()
            .map(|w| w.count_ones())
            .sum()
    }

    /// Does `from` hold a piece `to` lacks?
    pub fn wants(&self, to: usize, from: usize) -> bool {
        let a = &self.words[from * self.stride..(from + 1) * self.stride];
        let b = &self.words[to * self.stride..(to + 1) * self.stride];
        a.iter().zip(b).any(|(x, y)| x & !y != 0)
    }

    /// Are `a` and `b` connected?
    pub fn connected(&self, a: usize, b: usize) -> bool {
        // Search the shorter side (the publisher's side is indexed).
        if a == PUBLISHER || self.links[a].len() <= self.links[b].len() {
            self.links[a].find(b).is_some()
        } else {
            self.links[b].find(a).is_some()
        }
    }

    /// Connect `a` and `b` at `t` (`now` as an `Instant`): both get a link
    /// and each one's picker learns what the other holds (its BITFIELD).
    pub fn connect(&mut self, a: usize, b: usize, t: f64, now: Instant) {
        for (x, y) in [(a, b), (b, a)] {
            let y32 = u32::try_from(y).unwrap_or(NONE);
            self.links[x].push(Link {
                slot: y32,
                key: riffle_policies::PeerKey(self.ids[y]),
                connected_at: t,
                connected_instant: now,
                unchoked_since: None,
                sent_since_unchoke: 0,
                sent: 0,
                got: 0,
                waiting: false,
            });
            if self.counts[y] > 0 {
                let bf = &self.bitfields[y];
                if let Some(p) = self.pickers[x].as_mut() {
                    p.on_availability(AvailabilityChange::Bitfield(bf));
                }
            }
        }
    }

    /// Drop the connection between `a` and `b`: each one's picker forgets
    /// the other's pieces.
    pub fn disconnect(&mut self, a: usize, b: usize) {
        for (x, y) in [(a, b), (b, a)] {
            if self.links[x].remove(y).is_some() {
                let key = riffle_policies::PeerKey(self.ids[y]);
                if let Some(p) = self.pickers[x].as_mut() {
                    p.peer_left(key, &self.bitfields[y]);
                }
            }
        }
    }

    /// Drop every connection of `slot`: each neighbour's picker forgets
    /// its pieces. Returns the former neighbours.
    pub fn disconnect_all(&mut self, slot: usize, out: &mut Vec<usize>) {
        out.clear();
        let links = std::mem::take(&mut self.links[slot].list);
        let key = riffle_policies::PeerKey(self.ids[slot]);
        for l in &links {
            let n = l.slot as usize;
            self.links[n].remove(slot);
            if let Some(p) = self.pickers[n].as_mut() {
                p.peer_left(key, &self.bitfields[slot]);
            }
            out.push(n);
        }
        self.links[slot].list = links;
        self.links[slot].clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_set_insert_remove_draw() {
        let mut s = SlotSet::default();
        for i in [3, 1, 7, 3] {
            s.insert(i);
        }
        assert_eq!(s.len(), 3);
        s.remove(1);
        s.remove(42);
        assert_eq!(s.len(), 2);
        let mut got: Vec<usize> = (0..s.len()).filter_map(|i| s.get(i)).collect();
        got.sort_unstable();
        assert_eq!(got, [3, 7]);
    }

    #[test]
    fn indexed_links_find_after_removals() {
        let mut l = Links::indexed();
        for s in 1..6u32 {
            l.push(Link {
                slot: s,
                key: riffle_policies::PeerKey(u64::from(s)),
                connected_at: 0.0,
                connected_instant: Instant::now(),
                unchoked_since: None,
                sent_since_unchoke: 0,
                sent: 0,
                got: 0,
                waiting: false,
            });
        }
        assert!(l.remove(2).is_some());
        assert!(l.remove(2).is_none());
        for s in [1usize, 3, 4, 5] {
            let p = l.find(s).expect("present");
            assert_eq!(l.list[p].slot as usize, s);
        }
        assert_eq!(l.find(2), None);
    }
}
