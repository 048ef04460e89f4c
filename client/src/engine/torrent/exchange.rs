//! A torrent's part in the session's cross-swarm exchange
//! ([`crate::engine::exchange`]): it feeds the credit ledger with what
//! each host gave and took here, ranks its leecher choker's views by the
//! hosts' credit over every torrent, measures its own CPM (pieces we sent,
//! HAVEs that followed) and tells the allocator what it asks for.

use std::sync::Arc;

use riffle_policies::choker::PeerView;
use riffle_policies::exchange::{CpmEstimator, HostId};
use riffle_policies::PeerKey;
use riffle_protocol::PieceIndex;
use tokio::time::Instant;

use super::Torrent;
use crate::engine::exchange::{Exchange, SwarmSlot};

/// The torrent's link to the exchange.
#[derive(Debug)]
pub(crate) struct SwarmLink {
    pub exchange: Arc<Exchange>,
    pub slot: SwarmSlot,
    pub cpm: CpmEstimator,
    /// The exchange's epoch the samples belong to.
    pub epoch: u64,
}

impl SwarmLink {
    pub fn new(exchange: Arc<Exchange>, burst: u32) -> SwarmLink {
        let slot = exchange.join(burst);
        let cpm = CpmEstimator::new(exchange.tau());
        let epoch = exchange.epoch();
        SwarmLink {
            exchange,
            slot,
            cpm,
            epoch,
        }
    }
}

impl Torrent {
    /// The ledger's name for peer `key`'s host.
    fn host_of(&self, key: PeerKey) -> Option<HostId> {
        self.peers
            .get(&key)
            .map(|e| HostId::of(e.host_key, e.addr.ip()))
    }

    /// Once a tick: bytes to the ledger, demand to the allocator, tau from
    /// the session.
    pub(super) fn exchange_tick(&mut self, now: Instant) {
        let mut flows = Vec::new();
        for e in self.peers.values_mut() {
            if e.credit_down > 0 || e.credit_up > 0 {
                flows.push((
                    HostId::of(e.host_key, e.addr.ip()),
                    std::mem::take(&mut e.credit_down),
                    std::mem::take(&mut e.credit_up),
                ));
            }
        }
        let link = &mut self.swarm;
        link.exchange.record(&flows, now.into_std());
        let tau = link.exchange.tau();
        let epoch = link.exchange.epoch();
        if tau != link.cpm.tau() || epoch != link.epoch {
            // A new tau, or torrents came or went: measure again.
            link.cpm.set_tau(tau);
            link.cpm.reset_samples();
            link.epoch = epoch;
        }
        link.cpm.close(now.into_std());
        let interested = self
            .peers
            .values()
            .filter(|e| e.peer_interested && e.link == super::peers::Link::Connected)
            .count() as u32;
        let link = &self.swarm;
        link.slot.report(
            interested,
            link.cpm.fresh_estimate(now.into_std()),
            link.cpm.hop_time(),
        );
        let (share, rate) = link.slot.share();
        self.status.upload_share = Some(share);
        self.status.share_rate = rate;
        self.status.cpm = link.cpm.estimate();
        self.status.cpm_tau = link.cpm.tau();
    }

    /// Rank the leecher choker's views by cross-swarm credit (when on).
    pub(super) fn rank_by_credit(&self, views: &mut [PeerView], now: Instant) {
        self.swarm
            .exchange
            .rank(views, |k| self.host_of(k), now.into_std());
    }

    /// A seed's unchoke: hosts with cross-swarm credit first (when on).
    pub(super) fn serve_credited_first(
        &self,
        views: &[PeerView],
        now: Instant,
        unchoke: &mut riffle_policies::choker::Unchoke,
    ) {
        self.swarm
            .exchange
            .serve_first(views, |k| self.host_of(k), now.into_std(), unchoke);
    }

    /// `key` announced `piece`: for the CPM, its possible senders are the
    /// other neighbours holding it.
    pub(super) fn follow_have(&mut self, key: PeerKey, piece: PieceIndex, now: Instant) {
        if !self.swarm.cpm.follows(piece.get()) {
            return;
        }
        let holders: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(k, e)| **k != key && e.has.has(piece))
            .map(|(k, _)| *k)
            .collect();
        self.swarm
            .cpm
            .have(key, piece.get(), now.into_std(), &holders);
    }

    /// `key` left: what it gave and took goes to the ledger, its copies
    /// spread no more.
    pub(super) fn exchange_peer_gone(&mut self, key: PeerKey, e: &super::peers::PeerEntry) {
        self.swarm.cpm.peer_gone(key);
        if e.credit_down > 0 || e.credit_up > 0 {
            let host = HostId::of(e.host_key, e.addr.ip());
            self.swarm.exchange.record(
                &[(host, e.credit_down, e.credit_up)],
                std::time::Instant::now(),
            );
        }
    }

    /// We sent `piece` whole to `key`.
    pub(super) fn on_piece_sent(&mut self, key: PeerKey, piece: PieceIndex, now: Instant) {
        self.swarm.cpm.piece_sent(key, piece.get(), now.into_std());
    }
}
