//! How peers come and meet: arrivals admitted (or lost) by the tracker,
//! the links to the publisher and to the peers it lists, peer turnover at
//! the connection cap, and the periodic re-announces of peers with room.

use std::cmp::Reverse;

use rand::Rng;
use riffle_protocol::tracker::Event;

use super::{sub_seed, Sim, GONE};
use crate::sim::peers::PUBLISHER;
use crate::sim::tracker::Listed;
use crate::sim::SimError;

/// A scheduled re-announce.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Timer {
    /// When (model time).
    pub(super) t: f64,
    /// Whose (slot, checked against `id` when it fires).
    pub(super) slot: usize,
    /// The peer's id, so a timer of a departed peer is ignored.
    pub(super) id: u64,
    /// Not a re-announce: a block waiting at a link between networks
    /// lands (its key; see [`super::locality`]).
    pub(super) delivery: Option<u64>,
}

impl Eq for Timer {}

impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timer {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.t.total_cmp(&other.t).then(self.id.cmp(&other.id))
    }
}

impl Sim<'_> {
    /// The connection cap of peers.
    pub(super) fn cap_links(&self) -> usize {
        usize::try_from(self.spec.model.connections).unwrap_or(usize::MAX)
    }

    /// Room for more connections at `slot`.
    pub(super) fn room(&self, slot: usize) -> usize {
        self.cap_links()
            .saturating_sub(self.peers.links[slot].len())
    }

    /// A Poisson arrival (or a closed system's replacement): ask the
    /// tracker; if admitted, join with a picker and a choker from the
    /// catalog and connect to the publisher and to the peers listed.
    pub(super) fn arrive(&mut self) -> Result<(), SimError> {
        self.join(false)
    }

    /// A peer joins: empty (an arrival), or (`one_club`) holding every
    /// piece but piece 0, as the initial one club of `--one-club`.
    pub(super) fn join(&mut self, one_club: bool) -> Result<(), SimError> {
        let id = self.next_id;
        let numwant = self.cap_links().saturating_sub(1).max(1);
        let have = if one_club { self.k - 1 } else { 0 };
        let listed = match self
            .tracker
            .announce(self.t, id, have, Event::Started, numwant)
        {
            Ok(l) => l,
            Err(_) => {
                self.stats.lost_arrivals += u64::from(!one_club);
                return Ok(());
            }
        };
        self.next_id += 1;
        self.stats.arrivals += u64::from(!one_club);
        if let Some(c) = self.credit.as_mut() {
            c.arrived(id);
        }
        let pol = self.spec.peers;
        let picker = pol.picker.build(self.geometry, sub_seed(self.seed, id, 1));
        let mut choker = pol
            .choker
            .build(&self.choker_settings, sub_seed(self.seed, id, 2));
        if let Some(l) = self.loc.as_mut() {
            choker = l.wrap(choker, sub_seed(self.seed, id, 6));
            l.joined(id, &self.tracker);
        }
        let slot = self.peers.allocate(id, self.t, Some(picker), choker);
        if self.class_of.len() <= slot {
            self.class_of.resize(slot + 1, None);
        }
        self.class_of[slot] = None;
        let idx = usize::try_from(id).map_err(|_| SimError::Model("too many peers".into()))?;
        if self.slot_of.len() <= idx {
            self.slot_of.resize(idx + 1, GONE);
        }
        self.slot_of[idx] = u32::try_from(slot).unwrap_or(GONE);
        self.population += 1;
        if one_club {
            for i in 1..self.k {
                if let Some(p) = self.peers.pickers[slot].as_mut() {
                    p.we_have(riffle_protocol::PieceIndex::new(i))
                        .map_err(|e| SimError::Policy(e.to_string()))?;
                }
                self.peers.set_piece(slot, i);
            }
            self.one_club += 1;
            self.set_class(slot);
        }
        // The publisher is every peer's neighbour (it accepts every
        // connection and, in the model, sees every peer).
        // In a locality run peers meet it through the tracker's lists, as
        // the lab's hosts do.
        if self.loc.is_none() {
            let now = self.instant();
            self.peers.connect(slot, PUBLISHER, self.t, now);
        }
        self.connect_listed(slot, &listed, true);
        self.schedule_announce(slot);
        Ok(())
    }

    /// Connect `slot` to the listed peers. A listed peer at its connection
    /// cap accepts only with `turnover` (a newcomer joining the mesh), and
    /// then drops one of its other peer connections at random to make room
    /// (peer turnover, as libtorrent does at its connection limit): without
    /// it a swarm much larger than the cap freezes into a fixed graph whose
    /// newcomers find nobody with room, and meet only the publisher, unlike
    /// the model's uniform random contacts.
    pub(super) fn connect_listed(&mut self, slot: usize, listed: &[Listed], turnover: bool) {
        let cap = self.cap_links();
        // The publisher has no cap; it is every peer's neighbour from the
        // start, except in a locality run.
        let pinned = self.loc.is_none();
        for l in listed {
            if slot != PUBLISHER && self.peers.links[slot].len() >= cap {
                break;
            }
            let Some(&s) = usize::try_from(l.id).ok().and_then(|i| self.slot_of.get(i)) else {
                continue;
            };
            if s == GONE {
                continue;
            }
            let other = s as usize;
            if other == slot || (other == PUBLISHER && pinned) || self.peers.connected(slot, other)
            {
                continue;
            }
            if other != PUBLISHER
                && self.peers.links[other].len() >= cap
                && (!turnover || !self.make_room(other))
            {
                continue;
            }
            let now = self.instant();
            self.peers.connect(slot, other, self.t, now);
        }
    }

    /// Drop a random peer connection of `slot` (never the publisher's);
    /// the dropped peer looks for another. False if it has none.
    pub(super) fn make_room(&mut self, slot: usize) -> bool {
        if self.loc.is_some() {
            return self.make_room_near(slot);
        }
        let n = self.peers.links[slot].len();
        if n == 0 {
            return false;
        }
        // A few draws suffice: at most one link is the publisher's.
        for _ in 0..4 {
            let i = self.rng.gen_range(0..n);
            let victim = self.peers.links[slot].list[i].slot as usize;
            if victim != PUBLISHER {
                self.peers.disconnect(slot, victim);
                self.schedule_announce(victim);
                return true;
            }
        }
        false
    }

    /// Re-announce later if `slot` has room for more connections and no
    /// announce is scheduled yet.
    pub(super) fn schedule_announce(&mut self, slot: usize) {
        if slot == PUBLISHER || self.peers.announce_pending[slot] || self.room(slot) == 0 {
            return;
        }
        self.peers.announce_pending[slot] = true;
        // A hair past the interval, so a shield of exactly that length has
        // lapsed when the tracker looks.
        let t = self.t + self.reannounce * (1.0 + 1e-9) + 1e-9;
        self.timers.push(Reverse(Timer {
            t,
            slot,
            id: self.peers.ids[slot],
            delivery: None,
        }));
    }

    /// A regular announce of a peer with room: connect to whom the tracker
    /// lists.
    pub(super) fn on_timer(&mut self, timer: Timer) -> Result<(), SimError> {
        if let Some(key) = timer.delivery {
            return self.land_waiting(key);
        }
        if timer.slot == PUBLISHER {
            return self.publisher_announce();
        }
        let live = self.peers.alive.get(timer.slot).copied().unwrap_or(false)
            && self.peers.ids[timer.slot] == timer.id;
        if !live {
            return Ok(());
        }
        self.peers.announce_pending[timer.slot] = false;
        self.announce(timer.slot, false);
        self.schedule_announce(timer.slot);
        Ok(())
    }

    /// Announce `slot` now (no event) and connect to whom it is given
    /// (`turnover`: see [`Sim::connect_listed`]).
    pub(super) fn announce(&mut self, slot: usize, turnover: bool) {
        let room = self.room(slot);
        if room == 0 {
            return;
        }
        let id = self.peers.ids[slot];
        let have = self.peers.counts[slot];
        if let Ok(listed) = self.tracker.announce(self.t, id, have, Event::None, room) {
            self.connect_listed(slot, &listed, turnover);
        }
    }
}
