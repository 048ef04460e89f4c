//! What a lab replicate's peers share and do not change while it runs:
//! the run, the torrent, the time scale, where to put data, the stop
//! signal and the publisher to dial; and from them each peer's and the
//! publisher's session config and torrent options.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use riffle_client::engine::{Policies, SessionConfig, TorrentOptions};
use riffle_client::watch;
use riffle_protocol::metainfo::Metainfo;
use riffle_protocol::BLOCK_SIZE;

use crate::experiment::{RunSpec, Turns};

/// Upload bucket burst under Poisson turns, in blocks. The turn clock
/// already spends blocks at the bucket's own rate on average, so the
/// bucket's level is a critically loaded random walk that runs dry about
/// one turn in `burst` for an uploader that uses every turn (the
/// publisher); a dry bucket then trickles the block out over up to a block
/// time, while the model delivers it at the opportunity. At 16 blocks the
/// publisher kept 0.94U and cap 20 lost 15% of its throughput; at 64 it
/// keeps its U.
pub(super) const POISSON_BURST_BLOCKS: u32 = 64;

/// Everything a replicate needs that does not change while it runs.
pub(super) struct Setup {
    pub(super) spec: RunSpec,
    pub(super) meta: Arc<Metainfo>,
    pub(super) unit: Duration,
    /// Protocol-time speed-up: one model time unit is one protocol second.
    pub(super) time_scale: f64,
    pub(super) dir: PathBuf,
    /// Turns true when the replicate is over: every peer leaves.
    pub(super) stop: watch::Receiver<bool>,
    /// Where the publisher listens: every peer dials it from the start
    /// (the model's publisher reaches every peer; a tracker's random peer
    /// list would leave a newcomer without it whenever the swarm is
    /// larger than the peer's connection cap).
    pub(super) publisher: Option<SocketAddr>,
}

impl Setup {
    /// The setup of a swarm of `spec` sharing `meta` whose peers dial no
    /// publisher of their own (they learn of seeds from the tracker), with
    /// its stop signal.
    pub(super) fn swarm(
        spec: RunSpec,
        meta: Metainfo,
        unit: Duration,
        dir: PathBuf,
    ) -> (Setup, watch::Sender<bool>) {
        let (stop_tx, stop) = watch::channel(false);
        let setup = Setup {
            spec,
            meta: Arc::new(meta),
            unit,
            time_scale: 1.0 / unit.as_secs_f64(),
            dir,
            stop,
            publisher: None,
        };
        (setup, stop_tx)
    }

    /// Bytes per second of `blocks_per_unit` blocks per model time unit.
    pub(super) fn bytes_per_sec(&self, blocks_per_unit: f64) -> u64 {
        (blocks_per_unit * f64::from(BLOCK_SIZE) / self.unit.as_secs_f64()).round() as u64
    }

    /// The upload buckets' burst: one block for fixed turns (a peer that
    /// idled cannot send faster than its rate afterwards); for Poisson
    /// turns enough blocks that the bucket never holds back a turn (the
    /// turn clock sets the rate; a turn is still one piece: the peer task
    /// chokes at its end).
    pub(super) fn burst_bytes(&self) -> u32 {
        match self.spec.model.turns {
            Turns::Fixed => BLOCK_SIZE,
            Turns::Poisson => POISSON_BURST_BLOCKS * BLOCK_SIZE,
        }
    }

    /// A lab peer's torrent options: the run's peer policies, the
    /// connection cap, peer turnover, and the publisher to dial at once.
    /// `seed`: it lingers as a seed once complete.
    pub(super) fn peer_options(&self, dir: &Path, seed: bool, random_seed: u64) -> TorrentOptions {
        let spec = &self.spec;
        let model = spec.model;
        let mut options = TorrentOptions::new(dir);
        options.seed = seed;
        options.durable = false;
        options.max_peers = model.connections as usize;
        options.peers.extend(self.publisher);
        // A newcomer to a full swarm meets as many peers as anyone (the
        // model's uniform meeting): a peer at its cap lets it in by dropping
        // a random idle connection.
        options.peer_turnover = true;
        options.policies = Policies {
            // The publisher's block policy acts at the publisher: it suggests
            // (BEP 6) the piece each peer it serves should take.
            picker: spec.peers.picker,
            seed_picker: None,
            choker: spec.peers.choker,
            seed_choker: spec.publisher.seed_choker,
            one_club_rate: model
                .one_club_rate
                .map_or(0, |r| self.bytes_per_sec(r).max(1)),
            random_seed: Some(random_seed),
            poisson_turns: model.turns == Turns::Poisson,
            ..Policies::default()
        };
        options
    }

    /// The publisher's torrent options: a seed of the data in `dir` with
    /// the run's publisher policies.
    pub(super) fn publisher_options(&self, dir: &Path, random_seed: u64) -> TorrentOptions {
        let spec = &self.spec;
        let model = spec.model;
        let mut options = TorrentOptions::new(dir);
        options.seed = true;
        options.require_complete = true;
        options.durable = false;
        options.max_peers = model.cap.map_or(1000, |c| c as usize + 10).min(2000);
        options.policies = Policies {
            seed_choker: spec.publisher.seed_choker,
            picker: spec.publisher.picker,
            random_seed: Some(random_seed),
            poisson_turns: model.turns == Turns::Poisson,
            ..Policies::default()
        };
        options
    }

    pub(super) fn session_config(&self, upload_blocks_per_unit: f64) -> SessionConfig {
        let mut c = SessionConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            listen_fallback: false,
            max_upload_rate: self.bytes_per_sec(upload_blocks_per_unit),
            burst_bytes: self.burst_bytes(),
            hash_workers: 1,
            stop_announce_timeout: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(2),
            // The model's newcomer meets everyone the moment it arrives:
            // dial the whole tracker list at once (8 at a time, a
            // newcomer to 160 peers took ~0.3 time units to reach 90
            // connections, seen by few peers but at once by the
            // publisher, a partial shielding the model does not have).
            half_open: self.spec.model.connections.max(1) as usize,
            // A lab peer's state stays as the experiment left it: an idle
            // publisher is not rebuilt when a newcomer arrives.
            park_after: None,
            ..SessionConfig::default()
        }
        .with_time_scale(self.time_scale);
        // Early announces (a newcomer's first piece, a lonely peer) may
        // come a twentieth of a model time unit apart: a shielded
        // newcomer's first piece must reach the tracker at once (the model
        // makes it visible when served), the tracker's own min interval
        // still spaces everyone else's.
        c.announce.min_interval = Duration::from_millis(50);
        c.announce.numwant = self.spec.model.connections.max(1);
        c.announce.shuffle_tiers = false;
        c
    }
}
