//! The named policies a user (or an experiment file) chooses from.
//!
//! Each kind is a small `Copy` enum named as on the command line
//! (kebab-case, also its serde name), with a one-line help text saying what
//! it does and where it comes from, and a builder that returns the policy
//! behind its seam ([`PiecePicker`] or [`Choker`]). The client, the swarm
//! lab and the simulator all build their policies here, so one name always
//! means one behaviour.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use riffle_protocol::{Bitfield, PieceIndex};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::choker::{
    Choker, MostDeprived, PerPieceConfig, RandomPeer, Ranked, RankedConfig, Ranking, RoundRobin,
    RoundRobinConfig, TitForTat, TitForTatConfig,
};
use crate::picker::{
    Picker, PieceGeometry, PieceOrder, PiecePicker, RandomUsefulOrder, RarestOrder,
    SequentialOrder, SplitOrder,
};

/// A policy name that is not in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown {what} '{given}' (valid: {valid})")]
pub struct UnknownPolicy {
    /// Which kind of policy was asked for ("picker", "choker", ...).
    pub what: &'static str,
    /// The name given.
    pub given: String,
    /// The valid names, comma-separated, so the message tells the user
    /// what to type instead.
    pub valid: String,
}

/// Implements `Display`, `FromStr` and the name list for a kind enum
/// from one table of (variant, name).
macro_rules! named {
    ($ty:ident, $what:literal, [$(($variant:ident, $name:literal)),+ $(,)?]) => {
        impl $ty {
            /// Every kind, in the order shown in help texts.
            pub const ALL: &'static [Self] = &[$($ty::$variant),+];

            /// The name on the command line and in experiment files.
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownPolicy;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|k| k.name() == s)
                    .ok_or_else(|| UnknownPolicy {
                        what: $what,
                        given: s.to_owned(),
                        valid: Self::ALL
                            .iter()
                            .map(|k| k.name())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
            }
        }
    };
}

/// Piece pickers, named as on the command line.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PickerKind {
    /// Rarest first block (RFB).
    #[default]
    RarestFirst,
    /// Random useful block (RUB).
    RandomUseful,
    /// Lowest piece index first.
    Sequential,
}

named!(
    PickerKind,
    "picker",
    [
        (RarestFirst, "rarest-first"),
        (RandomUseful, "random-useful"),
        (Sequential, "sequential"),
    ]
);

/// Upload policies while leeching.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChokerKind {
    /// BitTorrent's reciprocation plus an optimistic unchoke.
    #[default]
    TitForTat,
    /// Random peer (RP).
    Random,
    /// Random useful peer (RUP).
    RandomUseful,
}

named!(
    ChokerKind,
    "choker",
    [
        (TitForTat, "tit-for-tat"),
        (Random, "random"),
        (RandomUseful, "random-useful"),
    ]
);

/// Upload policies while seeding.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SeedChokerKind {
    /// libtorrent's round-robin rotation.
    #[default]
    RoundRobin,
    /// libtorrent's fastest-upload.
    FastestUpload,
    /// libtorrent's anti-leech.
    AntiLeech,
    /// Most deprived peer (MDP).
    MostDeprived,
    /// Random peer (RP).
    Random,
}

named!(
    SeedChokerKind,
    "seed choker",
    [
        (RoundRobin, "round-robin"),
        (FastestUpload, "fastest-upload"),
        (AntiLeech, "anti-leech"),
        (MostDeprived, "most-deprived"),
        (Random, "random"),
    ]
);

/// What every choker is built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChokerSettings {
    /// Upload slots; 0 means the kind's [`ChokerKind::default_slots`] /
    /// [`SeedChokerKind::default_slots`].
    pub slots: usize,
    /// How often the caller rechokes: 10 s in a client; the lab scales it,
    /// and every other timer inside the chokers (optimistic interval,
    /// minimum unchoke time...) scales with `rechoke_interval / 10 s`.
    pub rechoke_interval: Duration,
    /// The torrent's piece length in bytes: round-robin's quota is counted
    /// in pieces, and per-piece chokers end a turn after one piece.
    pub piece_bytes: u64,
}

impl Default for ChokerSettings {
    fn default() -> Self {
        ChokerSettings {
            slots: 0,
            rechoke_interval: BASE_RECHOKE,
            piece_bytes: 256 * 1024,
        }
    }
}

/// The rechoke interval every choker's default timers are written for.
const BASE_RECHOKE: Duration = Duration::from_secs(10);

impl ChokerSettings {
    /// `base` (a timer written for a 10 s rechoke interval) scaled to this
    /// rechoke interval (saturating: an absurd interval read from a file
    /// gives the longest duration, not a panic).
    pub fn scaled(&self, base: Duration) -> Duration {
        let factor = self.rechoke_interval.as_secs_f64() / BASE_RECHOKE.as_secs_f64();
        Duration::try_from_secs_f64(base.as_secs_f64() * factor).unwrap_or(Duration::MAX)
    }

    /// `slots`, or `default` when it is 0.
    fn slots_or(&self, default: usize) -> usize {
        if self.slots == 0 {
            default
        } else {
            self.slots
        }
    }

    fn tit_for_tat(&self, slots: usize) -> TitForTatConfig {
        let base = TitForTatConfig::default();
        TitForTatConfig {
            regular_slots: slots,
            rechoke_interval: self.rechoke_interval,
            optimistic_interval: self.scaled(base.optimistic_interval),
            newcomer_weight: base.newcomer_weight,
            newcomer_age: self.scaled(base.newcomer_age),
        }
    }

    fn per_piece(&self, slots: usize) -> PerPieceConfig {
        PerPieceConfig {
            slots,
            rechoke_interval: self.rechoke_interval,
            piece_bytes: self.piece_bytes.max(1),
            max_turn: self.scaled(PerPieceConfig::default().max_turn),
        }
    }

    fn ranked(&self, ranking: Ranking, slots: usize) -> RankedConfig {
        RankedConfig {
            ranking,
            slots,
            rechoke_interval: self.rechoke_interval,
            optimistic_interval: self.scaled(RankedConfig::default().optimistic_interval),
            piece_bytes: self.piece_bytes.max(1),
        }
    }

    fn round_robin(&self, slots: usize) -> RoundRobinConfig {
        let base = RoundRobinConfig::default();
        RoundRobinConfig {
            slots,
            rechoke_interval: self.rechoke_interval,
            min_unchoke_time: self.scaled(base.min_unchoke_time),
            // libtorrent's seeding_piece_quota: 20 pieces.
            quota_bytes: self.piece_bytes.max(1).saturating_mul(20),
            max_unchoke_time: self.scaled(base.max_unchoke_time),
        }
    }
}

impl PickerKind {
    /// As a seed's block selection: the piece to suggest (BEP 6) to a peer
    /// lacking some of ours — see [`crate::picker::suggest`].
    pub fn suggest(
        self,
        ours: &Bitfield,
        remote: &Bitfield,
        availability: impl Fn(PieceIndex) -> u32,
        rng: &mut dyn RngCore,
    ) -> Option<PieceIndex> {
        use crate::picker::suggest;
        match self {
            PickerKind::RarestFirst => suggest::rarest(ours, remote, availability, rng),
            PickerKind::RandomUseful => suggest::random_useful(ours, remote, rng),
            PickerKind::Sequential => suggest::lowest(ours, remote),
        }
    }

    /// One line for `--help`: what it does and where it comes from.
    pub fn help(self) -> &'static str {
        match self {
            PickerKind::RarestFirst => {
                "start the piece with the fewest copies among connected peers, ties at random \
                 (rarest first block, RFB: BitTorrent; swarm scalability paper)"
            }
            PickerKind::RandomUseful => {
                "start a uniformly random piece the remote has and we lack \
                 (random useful block, RUB: swarm scalability paper; Hajek and Zhou)"
            }
            PickerKind::Sequential => {
                "start the lowest-numbered missing piece the remote has \
                 (streaming order, as libtorrent's sequential download)"
            }
        }
    }

    /// A picker of this kind for a torrent of `geometry`, randomised from
    /// `seed`.
    pub fn build(self, geometry: PieceGeometry, seed: u64) -> Box<dyn PiecePicker> {
        let rng = StdRng::seed_from_u64(seed);
        match self {
            PickerKind::RarestFirst => Box::new(Picker::rarest_first(geometry, rng)),
            PickerKind::RandomUseful => Box::new(Picker::random_useful(geometry, rng)),
            PickerKind::Sequential => Box::new(Picker::sequential(geometry, rng)),
        }
    }

    /// Picks with `self` from non-seeds and with `from_seeds` from peers
    /// holding every piece. (In BitTorrent the downloader chooses blocks;
    /// the lab realises the publisher's block policy -- RFB/RUB in the
    /// paper -- as the leechers' picker for requests to seeds.)
    pub fn build_split(
        self,
        from_seeds: PickerKind,
        geometry: PieceGeometry,
        seed: u64,
    ) -> Box<dyn PiecePicker> {
        let n = geometry.piece_count();
        let order = SplitOrder::new(self.order(n), from_seeds.order(n));
        Box::new(Picker::new(geometry, order, StdRng::seed_from_u64(seed)))
    }

    /// An empty order of this kind for `pieces` pieces.
    pub fn order(self, pieces: u32) -> Box<dyn PieceOrder> {
        match self {
            PickerKind::RarestFirst => Box::new(RarestOrder::new(pieces)),
            PickerKind::RandomUseful => Box::new(RandomUsefulOrder::new(pieces)),
            PickerKind::Sequential => Box::new(SequentialOrder::new(pieces)),
        }
    }
}

impl ChokerKind {
    /// One line for `--help`: what it does and where it comes from.
    pub fn help(self) -> &'static str {
        match self {
            ChokerKind::TitForTat => {
                "unchoke the peers that upload to us fastest plus one optimistic unchoke \
                 (BitTorrent's tit-for-tat, Cohen 2003)"
            }
            ChokerKind::Random => {
                "one slot re-drawn for every piece uniformly among all connected peers, wasted \
                 when the drawn peer wants nothing we have (random peer, RP: swarm scalability paper)"
            }
            ChokerKind::RandomUseful => {
                "one slot re-drawn for every piece uniformly among the peers that want something \
                 we have (random useful peer, RUP: swarm scalability paper)"
            }
        }
    }

    /// Upload slots when [`ChokerSettings::slots`] is 0.
    pub fn default_slots(self) -> usize {
        match self {
            ChokerKind::TitForTat => 4,
            ChokerKind::Random | ChokerKind::RandomUseful => 1,
        }
    }

    /// A choker of this kind, randomised from `seed`.
    pub fn build(self, s: &ChokerSettings, seed: u64) -> Box<dyn Choker> {
        let slots = s.slots_or(self.default_slots());
        let rng = StdRng::seed_from_u64(seed);
        match self {
            ChokerKind::TitForTat => Box::new(TitForTat::new(s.tit_for_tat(slots), rng)),
            ChokerKind::Random => Box::new(RandomPeer::random(s.per_piece(slots), rng)),
            ChokerKind::RandomUseful => {
                Box::new(RandomPeer::random_useful(s.per_piece(slots), rng))
            }
        }
    }
}

impl SeedChokerKind {
    /// One line for `--help`: what it does and where it comes from.
    pub fn help(self) -> &'static str {
        match self {
            SeedChokerKind::RoundRobin => {
                "serve interested peers in turn, each for a quota of pieces \
                 (libtorrent's round_robin seed choking)"
            }
            SeedChokerKind::FastestUpload => {
                "unchoke the peers we upload to fastest, one optimistic slot rotating \
                 (libtorrent's fastest_upload seed choking)"
            }
            SeedChokerKind::AntiLeech => {
                "prefer peers that just started or are nearly done over those halfway \
                 (libtorrent's anti_leech seed choking, Chow et al.)"
            }
            SeedChokerKind::MostDeprived => {
                "serve first the interested peers holding the fewest pieces, newcomers first, \
                 re-decided for every piece (most deprived peer, MDP: swarm scalability paper)"
            }
            SeedChokerKind::Random => {
                "one slot re-drawn for every piece uniformly among all connected peers \
                 (random peer, RP: swarm scalability paper)"
            }
        }
    }

    /// Upload slots when [`ChokerSettings::slots`] is 0.
    pub fn default_slots(self) -> usize {
        match self {
            SeedChokerKind::RoundRobin
            | SeedChokerKind::FastestUpload
            | SeedChokerKind::AntiLeech => 4,
            SeedChokerKind::MostDeprived | SeedChokerKind::Random => 1,
        }
    }

    /// A seed choker of this kind, randomised from `seed`.
    pub fn build(self, s: &ChokerSettings, seed: u64) -> Box<dyn Choker> {
        let slots = s.slots_or(self.default_slots());
        let rng = StdRng::seed_from_u64(seed);
        match self {
            SeedChokerKind::RoundRobin => Box::new(RoundRobin::new(s.round_robin(slots))),
            SeedChokerKind::FastestUpload => {
                Box::new(Ranked::new(s.ranked(Ranking::FastestUpload, slots)))
            }
            SeedChokerKind::AntiLeech => Box::new(Ranked::new(s.ranked(Ranking::AntiLeech, slots))),
            SeedChokerKind::MostDeprived => Box::new(MostDeprived::new(s.per_piece(slots), rng)),
            SeedChokerKind::Random => Box::new(RandomPeer::random(s.per_piece(slots), rng)),
        }
    }
}

#[cfg(test)]
mod tests;
