//! Splitting a host's upload limit between its swarms.
//!
//! - `per-peer`: no split of our own: every peer of every torrent draws
//!   from the one session bucket, so a torrent gets upload in proportion
//!   to the peers asking (BitTorrent's behaviour, and riffle's before
//!   this). [`Allocator::weights`] reports that share (by interested
//!   peers) for the simulator.
//! - `equal`: each swarm with interested peers gets the same share.
//! - `cpm`: upload moves toward the swarms where it propagates most
//!   (paper 004's V-Formation): each swarm claims by its interested peers
//!   times [`contrast`] of its CPM's ratio to the best (a swarm not
//!   measured yet claims as the best, so it gets measured): gently within
//!   [`STRUCTURAL`] of the best, steeply below. Each call moves the shares
//!   [`SMOOTHING`] of the way to that target, so a noisy estimate does not
//!   swing the split.
//!
//! Every mode keeps a floor: [`FLOOR`] of the limit split evenly over all
//! swarms, so no swarm starves and its estimate stays alive.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// Part of the limit spread over every swarm whatever the mode.
pub const FLOOR: f64 = 0.05;
/// Below this ratio to the best CPM a swarm's difference is taken as
/// structural and followed steeply; above it, gently (see [`contrast`]).
pub const STRUCTURAL: f64 = 0.35;
/// Fraction of the way to the target moved per call (cpm).
pub const SMOOTHING: f64 = 0.5;

/// The part of its interested peers' claim a swarm keeps in cpm mode, at
/// `ratio` = its CPM / the best CPM: the square root of the ratio down to
/// [`STRUCTURAL`], then falling with the ratio's fourth power.
///
/// Why two slopes: a swarm's CPM depends on the share we give it. A closed
/// swarm we starve sits one piece short and reads lower (measured: 1.9 at
/// 0.05 blocks per unit against 4.3 at 1, a ratio of 0.44), so following
/// every difference steeply feeds back on itself and starves one of
/// identical swarms. Differences of structure are larger (a single peer
/// has no neighbour to pass our blocks to: CPM 1 against 4-5 in a
/// 20-peer swarm, a ratio near 0.2) and are followed.
pub fn contrast(ratio: f64) -> f64 {
    let ratio = ratio.clamp(0.0, 1.0);
    if ratio >= STRUCTURAL {
        ratio.sqrt()
    } else {
        STRUCTURAL.sqrt() * (ratio / STRUCTURAL).powi(4)
    }
}

/// How a session's upload limit is split between its torrents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SwarmAllocation {
    /// Shared by interested peers (one session bucket, no split).
    #[default]
    PerPeer,
    /// The same share for each torrent with interested peers.
    Equal,
    /// Toward the torrents where our upload propagates most.
    Cpm,
}

impl SwarmAllocation {
    /// Every mode, for help texts.
    pub const ALL: [SwarmAllocation; 3] = [
        SwarmAllocation::PerPeer,
        SwarmAllocation::Equal,
        SwarmAllocation::Cpm,
    ];

    /// One line of help.
    pub fn help(self) -> &'static str {
        match self {
            SwarmAllocation::PerPeer => "one session bucket shared by every interested peer",
            SwarmAllocation::Equal => "the same share for each torrent with interested peers",
            SwarmAllocation::Cpm => {
                "shares follow each swarm's content propagation metric (paper 004)"
            }
        }
    }
}

impl fmt::Display for SwarmAllocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SwarmAllocation::PerPeer => "per-peer",
            SwarmAllocation::Equal => "equal",
            SwarmAllocation::Cpm => "cpm",
        })
    }
}

impl FromStr for SwarmAllocation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        SwarmAllocation::ALL
            .into_iter()
            .find(|m| m.to_string() == s)
            .ok_or_else(|| format!("unknown swarm allocation {s:?} (per-peer, equal, cpm)"))
    }
}

/// What the allocator knows of one swarm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SwarmDemand {
    /// A stable id (the torrent's).
    pub id: u64,
    /// Peers interested in our pieces.
    pub interested: u32,
    /// The swarm's CPM estimate, once measured.
    pub cpm: Option<f64>,
}

/// The allocator: its mode and, for cpm, the shares it moves.
#[derive(Debug, Clone, Default)]
pub struct Allocator {
    mode: SwarmAllocation,
    shares: HashMap<u64, f64>,
}

impl Allocator {
    /// An allocator in `mode`.
    pub fn new(mode: SwarmAllocation) -> Allocator {
        Allocator {
            mode,
            shares: HashMap::new(),
        }
    }

    /// The mode.
    pub fn mode(&self) -> SwarmAllocation {
        self.mode
    }

    /// Switch mode (cpm starts again from its target).
    pub fn set_mode(&mut self, mode: SwarmAllocation) {
        if mode != self.mode {
            self.mode = mode;
            self.shares.clear();
        }
    }

    /// Each swarm's fraction of the limit, in the order given (summing to
    /// 1 when there is a swarm). For cpm, one step of the move toward the
    /// target.
    pub fn weights(&mut self, swarms: &[SwarmDemand]) -> Vec<f64> {
        let n = swarms.len();
        if n == 0 {
            self.shares.clear();
            return Vec::new();
        }
        let floor = FLOOR / n as f64;
        let active: Vec<bool> = swarms.iter().map(|s| s.interested > 0).collect();
        let any_active = active.iter().any(|a| *a);
        // Who shares the part above the floors, and in what proportion.
        let claim: Vec<f64> = match self.mode {
            SwarmAllocation::PerPeer if any_active => {
                swarms.iter().map(|s| f64::from(s.interested)).collect()
            }
            SwarmAllocation::Cpm if any_active => {
                let best = swarms
                    .iter()
                    .zip(&active)
                    .filter(|(_, a)| **a)
                    .filter_map(|(s, _)| s.cpm)
                    .fold(f64::NEG_INFINITY, f64::max);
                swarms
                    .iter()
                    .zip(&active)
                    .map(|(s, a)| match (a, s.cpm) {
                        (false, _) => 0.0,
                        // Not measured yet: claims as the best, to be measured.
                        (true, None) => f64::from(s.interested),
                        (true, Some(c)) => {
                            let ratio = if best > 0.0 { (c / best).max(0.0) } else { 1.0 };
                            f64::from(s.interested) * contrast(ratio)
                        }
                    })
                    .collect()
            }
            _ if any_active => active.iter().map(|a| f64::from(u8::from(*a))).collect(),
            _ => vec![1.0; n],
        };
        let total_claim: f64 = claim.iter().sum();
        let target: Vec<f64> = claim
            .iter()
            .map(|c| floor + (1.0 - FLOOR) * c / total_claim)
            .collect();
        if self.mode != SwarmAllocation::Cpm {
            self.shares.clear();
            return target;
        }
        let mut out: Vec<f64> = swarms
            .iter()
            .zip(&target)
            .map(|(s, t)| {
                let old = self.shares.get(&s.id).copied().unwrap_or(*t);
                old + SMOOTHING * (t - old)
            })
            .collect();
        let sum: f64 = out.iter().sum();
        for w in &mut out {
            *w /= sum;
        }
        self.shares = swarms
            .iter()
            .map(|s| s.id)
            .zip(out.iter().copied())
            .collect();
        out
    }

    /// The upload rate of each swarm (bytes/s) out of `limit` (0 =
    /// unlimited), in the order given; None: no cap of its own (per-peer,
    /// or no limit to split).
    pub fn split(&mut self, limit: u64, swarms: &[SwarmDemand]) -> Vec<Option<u64>> {
        let weights = self.weights(swarms);
        if limit == 0 || self.mode == SwarmAllocation::PerPeer {
            return vec![None; swarms.len()];
        }
        weights
            .iter()
            .map(|w| Some(((limit as f64 * w).round() as u64).max(1)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn swarm(id: u64, interested: u32, cpm: Option<f64>) -> SwarmDemand {
        SwarmDemand {
            id,
            interested,
            cpm,
        }
    }

    /// paper 004's experiment: one 20-peer swarm, ten single peers.
    fn big_and_singles(big: f64) -> Vec<SwarmDemand> {
        let mut s = vec![swarm(0, 20, Some(big))];
        s.extend((1..=10).map(|i| swarm(i, 1, Some(1.0))));
        s
    }

    #[test]
    fn names_round_trip() {
        for m in SwarmAllocation::ALL {
            assert_eq!(m.to_string().parse::<SwarmAllocation>(), Ok(m));
        }
        assert!("fair".parse::<SwarmAllocation>().is_err());
    }

    #[test]
    fn per_peer_and_equal_shares() {
        let s = big_and_singles(5.0);
        let mut per = Allocator::new(SwarmAllocation::PerPeer);
        let w = per.weights(&s);
        assert!((w[0] - (0.05 / 11.0 + 0.95 * 20.0 / 30.0)).abs() < 1e-9);
        assert_eq!(per.split(1000, &s), vec![None; 11]);
        let mut eq = Allocator::new(SwarmAllocation::Equal);
        let w = eq.weights(&s);
        assert!(w.iter().all(|x| (x - 1.0 / 11.0).abs() < 1e-9));
        let split = eq.split(11_000, &s);
        assert!(split.iter().all(|x| *x == Some(1000)));
    }

    #[test]
    fn cpm_moves_to_the_swarm_that_spreads_and_keeps_floors() {
        let s = big_and_singles(5.0);
        let mut a = Allocator::new(SwarmAllocation::Cpm);
        let mut w = a.weights(&s);
        for _ in 0..20 {
            w = a.weights(&s);
        }
        // The singles (ratio 0.2, structural) keep 0.063 of their claim each.
        let single = contrast(0.2);
        let floor = FLOOR / 11.0;
        let big = floor + (1.0 - FLOOR) * 20.0 / (20.0 + 10.0 * single);
        assert!((w[0] - big).abs() < 1e-6, "{w:?}");
        assert!(w[0] > 0.9);
        assert!(w[1..]
            .iter()
            .all(|x| (x - w[1]).abs() < 1e-9 && *x >= floor));
        // The first step is only part of the way from the target itself.
        let mut fresh = Allocator::new(SwarmAllocation::Cpm);
        assert!(
            (fresh.weights(&s)[0] - w[0]).abs() < 1e-9,
            "starts at the target"
        );
    }

    #[test]
    fn contrast_is_gentle_near_the_best_and_steep_below() {
        assert_eq!(contrast(1.0), 1.0);
        assert!((contrast(0.64) - 0.8).abs() < 1e-12);
        // Continuous at the knee, steep under it.
        let knee = STRUCTURAL.sqrt();
        assert!((contrast(STRUCTURAL) - knee).abs() < 1e-12);
        assert!((contrast(STRUCTURAL - 1e-9) - knee).abs() < 1e-6);
        assert!(contrast(0.2) < 0.1 && contrast(0.1) < 0.01);
        assert_eq!(contrast(-1.0), 0.0);
        assert_eq!(contrast(3.0), 1.0);
        // Monotone.
        let mut last = 0.0;
        for i in 0..=100 {
            let c = contrast(f64::from(i) / 100.0);
            assert!(c >= last);
            last = c;
        }
    }

    #[test]
    fn similar_swarms_split_by_peers_and_unmeasured_claim_as_the_best() {
        let mut a = Allocator::new(SwarmAllocation::Cpm);
        // Two measured swarms near each other, one new, one idle.
        let s = [
            swarm(1, 5, Some(4.0)),
            swarm(2, 5, Some(3.0)),
            swarm(3, 5, None),
            swarm(4, 0, Some(9.0)),
        ];
        let w = a.weights(&s);
        assert!((w[0] - w[2]).abs() < 1e-9, "unmeasured claims as the best");
        // 3.0 / 4.0 keeps sqrt(0.75) of its claim: a gentle difference.
        let ratio = (w[1] - FLOOR / 4.0) / (w[0] - FLOOR / 4.0);
        assert!((ratio - 0.75f64.sqrt()).abs() < 1e-9, "{w:?}");
        assert!((w[3] - FLOOR / 4.0).abs() < 1e-9, "idle: the floor only");
        // More peers, more claim, at equal CPM.
        let mut b = Allocator::new(SwarmAllocation::Cpm);
        let w = b.weights(&[swarm(1, 30, Some(4.0)), swarm(2, 10, Some(4.0))]);
        assert!(((w[0] - FLOOR / 2.0) / (w[1] - FLOOR / 2.0) - 3.0).abs() < 1e-9);
    }

    proptest! {
        /// Whatever the swarms: weights sum to 1, each at least the floor,
        /// rates at least 1 byte/s, and a swarm with no interested peer
        /// never gets more than one with some (equal and cpm).
        #[test]
        fn weights_are_a_split_with_floors(
            raw in proptest::collection::vec((0u32..30, proptest::option::of(1.0f64..20.0)), 1..20),
            mode in 0usize..3,
            steps in 1usize..6,
        ) {
            let mode = SwarmAllocation::ALL[mode];
            let swarms: Vec<SwarmDemand> = raw
                .iter()
                .enumerate()
                .map(|(i, (n, c))| swarm(i as u64, *n, *c))
                .collect();
            let mut a = Allocator::new(mode);
            let mut w = Vec::new();
            for _ in 0..steps {
                w = a.weights(&swarms);
            }
            let floor = FLOOR / swarms.len() as f64;
            prop_assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            prop_assert!(w.iter().all(|x| *x >= floor - 1e-9));
            if mode != SwarmAllocation::PerPeer {
                let idle = swarms.iter().zip(&w).filter(|(s, _)| s.interested == 0).map(|(_, w)| *w).fold(0.0, f64::max);
                let busy_min = swarms.iter().zip(&w).filter(|(s, _)| s.interested > 0).map(|(_, w)| *w).fold(f64::INFINITY, f64::min);
                if mode == SwarmAllocation::Equal {
                    prop_assert!(idle <= busy_min + 1e-9);
                }
                for r in a.split(1_000_000, &swarms) {
                    prop_assert!(r.is_some_and(|r| r >= 1));
                }
            }
        }
    }
}
