//! Choking: who gets our upload slots ("to whom to transmit").
//!
//! Every rechoke interval the torrent's control point describes each
//! connected peer with a [`PeerView`] and asks its [`Choker`] which peers to
//! unchoke; every peer not named is choked. Chokers never touch sockets and
//! never read the clock: `now` is an argument. Randomised chokers take an
//! injected generator so runs are reproducible.
//!
//! [`TitForTat`] is BitTorrent's leecher choker (reciprocation plus an
//! optimistic unchoke), [`RoundRobin`] libtorrent's seeding rotation,
//! [`Ranked`] libtorrent's fastest-upload and anti-leech seed choking. The
//! paper's peer-selection policies re-decide for every piece
//! ([`Choker::per_piece`], [`per_piece`]): [`RandomPeer`] is random peer
//! (RP; needs `wants_ours`, since a slot drawn for a peer that wants
//! nothing is wasted) and random useful peer (RUP), [`MostDeprived`] is the
//! publisher's most deprived peer (MDP; ranks by `pieces`).
//! [`NearOptimistic`] wraps any choker so its optimistic unchoke goes to
//! a peer of our own network with a given share (locality).

pub mod most_deprived;
pub mod near;
pub mod per_piece;
pub mod random;
pub mod ranked;
pub mod round_robin;
pub mod tit_for_tat;

use std::time::{Duration, Instant};

use crate::peer::PeerKey;

pub use most_deprived::MostDeprived;
pub use near::NearOptimistic;
pub use per_piece::PerPieceConfig;
pub use random::RandomPeer;
pub use ranked::{Ranked, RankedConfig, Ranking};
pub use round_robin::{RoundRobin, RoundRobinConfig};
pub use tit_for_tat::{TitForTat, TitForTatConfig};

/// What a choker knows about one connected peer at a rechoke.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PeerView {
    /// Who it is (opaque to the choker).
    pub key: PeerKey,
    /// It told us it is interested in our pieces: only interested peers
    /// can use an unchoke.
    pub interested: bool,
    /// It lacks at least one piece we have. Differs from `interested` while
    /// its INTERESTED message is in flight, and matters for random peer
    /// selection, where a slot drawn for a peer that wants nothing is
    /// wasted.
    pub wants_ours: bool,
    /// Bytes per second it sends us (recent average): the reciprocation
    /// signal of tit-for-tat.
    pub download_rate: u64,
    /// Bytes per second we send it (recent average): for seed policies
    /// that favour peers which take our data fastest.
    pub upload_rate: u64,
    /// Number of pieces it holds: most-deprived-peer and anti-leech
    /// policies rank by this.
    pub pieces: u32,
    /// Number of pieces in the torrent, to turn `pieces` into progress.
    pub total_pieces: u32,
    /// When the connection was established: newcomers get a bigger chance
    /// in the optimistic draw.
    pub connected_at: Instant,
    /// When we last unchoked it, if it is unchoked now (None: choked).
    pub unchoked_since: Option<Instant>,
    /// Bytes we sent it since that unchoke: seeding rotation moves on once
    /// a peer has had its quota.
    pub sent_since_unchoke: u64,
    /// It has sent us nothing for a while although we asked: tit-for-tat
    /// ranks it last.
    pub snubbed: bool,
    /// It holds every piece.
    pub is_seed: bool,
    /// It is in our own network (locality, papers 000 and 001): the
    /// optimistic slot of [`NearOptimistic`] goes to such peers first.
    pub near: bool,
}

impl PeerView {
    /// A choked, idle peer that connected at `now` and holds nothing; for
    /// tests and simulators, which then set the fields they care about.
    pub fn new(key: PeerKey, now: Instant) -> Self {
        PeerView {
            key,
            interested: false,
            wants_ours: false,
            download_rate: 0,
            upload_rate: 0,
            pieces: 0,
            total_pieces: 0,
            connected_at: now,
            unchoked_since: None,
            sent_since_unchoke: 0,
            snubbed: false,
            is_seed: false,
            near: false,
        }
    }

    /// Fraction of the torrent it holds, in `0.0..=1.0` (0 when unknown).
    pub fn progress(&self) -> f64 {
        if self.total_pieces == 0 {
            0.0
        } else {
            f64::from(self.pieces.min(self.total_pieces)) / f64::from(self.total_pieces)
        }
    }

    /// How long it has been unchoked at `now` (zero when choked).
    pub fn unchoked_for(&self, now: Instant) -> Duration {
        self.unchoked_since
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t))
    }
}

/// A choker's answer: the peers to unchoke. Everyone else is choked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unchoke {
    /// Peers unchoked on the policy's merit (tit-for-tat: the best
    /// uploaders to us; round-robin: the peers whose turn it is).
    pub regular: Vec<PeerKey>,
    /// The optimistic unchoke, if the policy uses one; never also in
    /// `regular`.
    pub optimistic: Option<PeerKey>,
}

impl Unchoke {
    /// Empty both sets (chokers reuse the caller's vector).
    pub fn clear(&mut self) {
        self.regular.clear();
        self.optimistic = None;
    }

    /// Every peer to unchoke.
    pub fn peers(&self) -> impl Iterator<Item = PeerKey> + '_ {
        self.regular.iter().copied().chain(self.optimistic)
    }

    /// Is `key` to be unchoked?
    pub fn contains(&self, key: PeerKey) -> bool {
        self.optimistic == Some(key) || self.regular.contains(&key)
    }

    /// Number of peers to unchoke.
    pub fn len(&self) -> usize {
        self.regular.len() + usize::from(self.optimistic.is_some())
    }

    /// True when everyone is to be choked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An upload-slot policy.
pub trait Choker: Send {
    /// Decide, at `now`, which of `peers` to unchoke; the answer replaces
    /// the contents of `out`. The caller applies it (CHOKE/UNCHOKE messages)
    /// and calls again after [`Choker::rechoke_interval`], or sooner when a
    /// peer leaves or becomes interested.
    fn rechoke(&mut self, now: Instant, peers: &[PeerView], out: &mut Unchoke);

    /// How often the caller should call [`Choker::rechoke`] (10 s in
    /// BitTorrent; configurable because the lab scales time).
    fn rechoke_interval(&self) -> Duration;

    /// The most peers this choker ever unchokes at once.
    fn max_unchoked(&self) -> usize;

    /// True for chokers that re-decide after every piece (random peer,
    /// random useful peer, most-deprived peer, as in the paper's model):
    /// the caller rechokes as soon as an unchoked peer has received one
    /// whole piece since its unchoke ([`PeerView::sent_since_unchoke`] >=
    /// the piece length), and, when no piece went out, after one piece time
    /// at the current upload rate (the slot went unused for that piece
    /// time), instead of every [`Choker::rechoke_interval`].
    fn per_piece(&self) -> bool {
        false
    }

    /// For per-piece chokers: did the last [`Choker::rechoke`] spend a
    /// slot on a peer that cannot use it (the random peer's wasted draw)?
    /// The caller then holds that turn for one piece time — events such
    /// as a newly interested peer do not buy a second draw — as in the
    /// model, where an upload opportunity that found nobody is lost.
    fn wasted_turn(&self) -> bool {
        false
    }
}

impl Choker for Box<dyn Choker> {
    fn rechoke(&mut self, now: Instant, peers: &[PeerView], out: &mut Unchoke) {
        (**self).rechoke(now, peers, out)
    }

    fn rechoke_interval(&self) -> Duration {
        (**self).rechoke_interval()
    }

    fn max_unchoked(&self) -> usize {
        (**self).max_unchoked()
    }

    fn per_piece(&self) -> bool {
        (**self).per_piece()
    }

    fn wasted_turn(&self) -> bool {
        (**self).wasted_turn()
    }
}

#[cfg(test)]
mod props;
