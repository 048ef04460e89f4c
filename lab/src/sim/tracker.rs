//! The simulated swarm's tracker: riffle's own sans-IO
//! [`riffle_policies::tracker::Registry`], which decides whom each announce
//! is given (shielding newcomers) and whom it refuses (the population cap).
//! This module only translates simulated peers to announces and back.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use riffle_policies::tracker::{Announce, Registry, TrackerPolicy};
use riffle_protocol::tracker::Event;
use riffle_protocol::types::{InfoHash, PeerId};

/// Announces of one simulated swarm, in model time.
pub(super) struct SimTracker {
    /// The tracker's decisions.
    registry: Registry,
    /// Model time 0 as an `Instant` (policies take `Instant`s; one model
    /// time unit is one second of it).
    base: Instant,
    /// The one torrent of the simulation.
    info_hash: InfoHash,
    /// Bytes of one piece, to report `left` and `downloaded` in bytes.
    piece_bytes: u64,
    /// Pieces in the torrent.
    pieces: u32,
}

/// A peer the tracker handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Listed {
    /// The simulator's peer id.
    pub id: u64,
}

impl SimTracker {
    /// A tracker answering with `policy` (times in model units as
    /// seconds), its random draws seeded by `seed`.
    pub fn new(
        policy: TrackerPolicy,
        seed: u64,
        base: Instant,
        pieces: u32,
        piece_bytes: u64,
    ) -> Self {
        SimTracker {
            registry: Registry::new(policy, seed),
            base,
            info_hash: InfoHash([0x5a; 20]),
            piece_bytes,
            pieces,
        }
    }

    /// Model time `t` as an `Instant`.
    pub fn instant(&self, t: f64) -> Instant {
        self.base + Duration::from_secs_f64(t.max(0.0))
    }

    /// Announce peer `id`, holding `have` pieces, at model time `t`. Ok:
    /// the peers the tracker lists (never `id`); Err: refused (swarm full).
    pub fn announce(
        &mut self,
        t: f64,
        id: u64,
        have: u32,
        event: Event,
        numwant: usize,
    ) -> Result<Vec<Listed>, String> {
        let left = u64::from(self.pieces.saturating_sub(have)) * self.piece_bytes;
        let a = Announce {
            info_hash: self.info_hash,
            peer_id: peer_id(id),
            addr: addr(id),
            left,
            downloaded: u64::from(have) * self.piece_bytes,
            uploaded: 0,
            event,
            numwant: Some(numwant),
        };
        let now = self.instant(t);
        match self.registry.announce(now, &a) {
            Ok(reply) => Ok(reply
                .peers
                .iter()
                .filter_map(|p| id_of(p.addr))
                .filter(|&other| other != id)
                .map(|id| Listed { id })
                .collect()),
            Err(refusal) => Err(refusal.reason),
        }
    }
}

/// The fake address of simulated peer `id`: unique per id (10.x.y.z and a
/// port carrying the higher bits).
fn addr(id: u64) -> SocketAddr {
    let low = u32::try_from(id & 0x00ff_ffff).unwrap_or(0);
    let high = u16::try_from((id >> 24) & 0x7fff).unwrap_or(0);
    SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::from(0x0a00_0000 | low),
        1024 + high,
    ))
}

/// The id behind an address made by [`addr`].
fn id_of(a: SocketAddr) -> Option<u64> {
    match a {
        SocketAddr::V4(v4) => {
            let ip = u32::from(*v4.ip());
            if ip >> 24 != 0x0a || v4.port() < 1024 {
                return None;
            }
            Some(u64::from(ip & 0x00ff_ffff) | (u64::from(v4.port() - 1024) << 24))
        }
        SocketAddr::V6(_) => None,
    }
}

/// A peer id carrying the simulator's id.
fn peer_id(id: u64) -> PeerId {
    let mut b = *b"-SIM000-\0\0\0\0\0\0\0\0\0\0\0\0";
    b[12..20].copy_from_slice(&id.to_be_bytes());
    PeerId(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip() {
        for id in [0u64, 1, 255, 0x00ff_ffff, 0x0100_0000, 123_456_789] {
            assert_eq!(id_of(addr(id)), Some(id));
        }
        assert_ne!(peer_id(1), peer_id(2));
    }
}
