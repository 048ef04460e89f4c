//! The simulated swarm's tracker: riffle's own sans-IO
//! [`riffle_policies::tracker::Registry`], which decides whom each announce
//! is given (shielding newcomers) and whom it refuses (the population cap).
//! This module only translates simulated peers to announces and back.
//!
//! In a locality run (`pids` > 0) peer `id` lives in network
//! [`network_of`] at the address the lab would give it
//! ([`crate::experiment::networks`]), so the registry's near-first draw
//! ([`Registry::set_locality`]) sees its network.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use riffle_policies::locality::Locality;
use riffle_policies::tracker::{Announce, Registry, TrackerPolicy};
use riffle_protocol::tracker::Event;
use riffle_protocol::types::{InfoHash, PeerId};

use crate::experiment::networks;

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
    /// Networks of a locality run (0: none; peers get 10/8 addresses).
    pids: u32,
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
            pids: 0,
        }
    }

    /// Put the peers in `pids` networks (see the module's documentation);
    /// with `locality` the registry draws its lists near-first.
    pub fn set_networks(&mut self, pids: u32, locality: Option<Locality>) {
        self.pids = pids;
        self.registry.set_locality(locality);
    }

    /// The address of peer `id`.
    pub fn addr_of(&self, id: u64) -> SocketAddr {
        network_addr(id, self.pids).unwrap_or_else(|| addr(id))
    }

    /// The peer at address `a`.
    fn id_at(&self, a: SocketAddr) -> Option<u64> {
        network_id(a, self.pids).or_else(|| id_of(a))
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
            addr: self.addr_of(id),
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
                .filter_map(|p| self.id_at(p.addr))
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

/// Port of every peer in a locality run (each has its own address).
const NETWORK_PORT: u16 = 6881;

/// The network of peer `id` in a run of `pids` networks: the publisher
/// (id 0) in network 0, peer i (id i + 1, from 0) in network i % pids.
pub(super) fn network_of(id: u64, pids: u32) -> u32 {
    match id.checked_sub(1) {
        None => 0,
        Some(i) => u32::try_from(i % u64::from(pids.max(1))).unwrap_or(0),
    }
}

/// The lab's address of peer `id` in a run of `pids` networks: peer i
/// is host i / pids of its network (None with no networks, or past a
/// network's /24: such a peer gets a 10/8 address, in no network).
fn network_addr(id: u64, pids: u32) -> Option<SocketAddr> {
    if pids == 0 {
        return None;
    }
    let ip = match id.checked_sub(1) {
        None => networks::PUBLISHER_IP,
        Some(i) => {
            let h = u32::try_from(i / u64::from(pids)).ok()?;
            networks::host_v4(network_of(id, pids), h)?
        }
    };
    Some(SocketAddr::V4(SocketAddrV4::new(ip, NETWORK_PORT)))
}

/// The id behind an address made by [`network_addr`].
fn network_id(a: SocketAddr, pids: u32) -> Option<u64> {
    let SocketAddr::V4(v4) = a else { return None };
    if pids == 0 || v4.port() != NETWORK_PORT {
        return None;
    }
    if *v4.ip() == networks::PUBLISHER_IP {
        return Some(0);
    }
    let [a, b, net, host] = v4.ip().octets();
    if (a, b) != (127, 0) || net == 0 || host < 2 || u32::from(net) > pids {
        return None;
    }
    let (pid, h) = (u64::from(net) - 1, u64::from(host) - 2);
    Some(h * u64::from(pids) + pid + 1)
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

    #[test]
    fn network_addresses_round_trip() {
        for pids in [1u32, 2, 3, 7, 200] {
            for id in [0u64, 1, 2, 3, 4, 29, 30, 31, 250 * u64::from(pids)] {
                let a = network_addr(id, pids).expect("within the /24s");
                assert_eq!(network_id(a, pids), Some(id), "{pids} networks, id {id}");
                assert!(network_of(id, pids) < pids);
            }
            // Past the /24: no network address, and no panic.
            let far = 254 * u64::from(pids) + 1;
            assert_eq!(network_addr(far, pids), None);
        }
        assert_eq!(network_addr(5, 0), None);
        assert_eq!(network_of(5, 0), 0);
    }
}
