//! libtorrent's ranked seed choking algorithms: `fastest_upload` and
//! `anti_leech`.
//!
//! Both sort the interested peers by a score, give the regular slots to the
//! best, and break ties in favour of the peer that has waited longest since
//! its last unchoke (never-unchoked peers first). One more slot is an
//! optimistic unchoke that rotates every `optimistic_interval` to the
//! interested peer outside the regular slots that has waited longest, so
//! every peer is eventually tried, as libtorrent's optimistic unchoke does
//! for seeding torrents.
//!
//! - fastest upload: the score is the rate we upload to the peer (zero for
//!   a choked peer, whose rate is only a residue of its last unchoke). The
//!   peers that take our data fastest keep the slots; the optimistic slot
//!   finds faster ones.
//! - anti-leech (Chow et al., "Improving BitTorrent: a simple approach"):
//!   the score is V-shaped in the peer's progress, highest at 0% and 100%,
//!   lowest halfway: newcomers get started and nearly finished peers get
//!   finished, while peers in the middle get their data from each other.
//!   Progress is the larger of the pieces it claims and the pieces we sent
//!   it since its unchoke, so a peer cannot stay "new" by hiding its
//!   HAVEs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::{Choker, PeerView, Unchoke};
use crate::peer::PeerKey;

/// Which score ranks the peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ranking {
    /// libtorrent's `fastest_upload`: our upload rate to the peer.
    FastestUpload,
    /// libtorrent's `anti_leech`: distance of the peer's progress from 50%.
    AntiLeech,
}

/// Knobs of [`Ranked`]; defaults follow libtorrent's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RankedConfig {
    /// The score.
    pub ranking: Ranking,
    /// Regular upload slots (the optimistic one comes on top).
    pub slots: usize,
    /// How often the caller rechokes.
    pub rechoke_interval: Duration,
    /// How long an optimistic unchoke lasts before it rotates (libtorrent:
    /// every third rechoke, 30 s).
    pub optimistic_interval: Duration,
    /// The torrent's piece length, to turn bytes sent into pieces
    /// (anti-leech).
    pub piece_bytes: u64,
}

impl Default for RankedConfig {
    fn default() -> Self {
        RankedConfig {
            ranking: Ranking::FastestUpload,
            slots: 4,
            rechoke_interval: Duration::from_secs(10),
            optimistic_interval: Duration::from_secs(30),
            piece_bytes: 256 * 1024,
        }
    }
}

/// The fastest-upload / anti-leech seed choker.
pub struct Ranked {
    /// The knobs.
    config: RankedConfig,
    /// When each peer was last unchoked by us (forgotten when it leaves):
    /// the tie-break and the optimistic rotation order.
    last_unchoked: HashMap<PeerKey, Instant>,
    /// The current optimistic unchoke and when it was chosen.
    optimistic: Option<(PeerKey, Instant)>,
    /// Scratch: (sort key, peer), reused across rechokes.
    ranked: Vec<(Rank, PeerKey)>,
}

/// Sort key: best score first, then longest waiting (never-unchoked
/// first), then oldest connection, then key.
type Rank = (std::cmp::Reverse<u64>, Option<Instant>, Instant, PeerKey);

impl Ranked {
    /// A ranked seed choker with these knobs.
    pub fn new(config: RankedConfig) -> Self {
        Ranked {
            config,
            last_unchoked: HashMap::new(),
            optimistic: None,
            ranked: Vec::new(),
        }
    }

    /// The current optimistic unchoke, if any.
    pub fn optimistic(&self) -> Option<PeerKey> {
        self.optimistic.map(|(k, _)| k)
    }

    /// The peer's score under the configured ranking (higher is better).
    pub fn score(&self, p: &PeerView) -> u64 {
        match self.config.ranking {
            Ranking::FastestUpload => {
                if p.unchoked_since.is_some() {
                    p.upload_rate
                } else {
                    0
                }
            }
            Ranking::AntiLeech => anti_leech_score(p, self.config.piece_bytes),
        }
    }

    /// When `p` was last unchoked: now if it is unchoked, else as recorded.
    fn waited_since(&self, p: &PeerView) -> Option<Instant> {
        p.unchoked_since
            .or_else(|| self.last_unchoked.get(&p.key).copied())
    }
}

/// Anti-leech score in `0..=1000`: 1000 at 0% and 100% progress, 0 at 50%.
pub fn anti_leech_score(p: &PeerView, piece_bytes: u64) -> u64 {
    let total = u64::from(p.total_pieces);
    if total == 0 {
        return 0;
    }
    let sent = p.sent_since_unchoke / piece_bytes.max(1);
    let have = u64::from(p.pieces).max(sent).min(total);
    // |2 have - total| / total, scaled to 1000.
    (2 * have).abs_diff(total) * 1000 / total
}

impl Choker for Ranked {
    fn rechoke(&mut self, now: Instant, peers: &[PeerView], out: &mut Unchoke) {
        out.clear();
        self.last_unchoked
            .retain(|key, _| peers.iter().any(|p| p.key == *key));
        let mut ranked = std::mem::take(&mut self.ranked);
        ranked.clear();
        for p in peers.iter().filter(|p| p.interested) {
            let rank = (
                std::cmp::Reverse(self.score(p)),
                self.waited_since(p),
                p.connected_at,
                p.key,
            );
            ranked.push((rank, p.key));
        }
        // `None < Some(_)`: never-unchoked peers first among equals.
        ranked.sort_unstable();
        let regular = self.config.slots.min(ranked.len());
        out.regular
            .extend(ranked[..regular].iter().map(|(_, k)| *k));

        // The optimistic slot: keep it for its interval while its holder is
        // still outside the regular slots; else rotate to the peer outside
        // them that has waited longest, avoiding the previous holder when
        // anyone else qualifies.
        let rest = &ranked[regular..];
        let keep = self.optimistic.filter(|(key, since)| {
            now.saturating_duration_since(*since) < self.config.optimistic_interval
                && rest.iter().any(|(_, k)| k == key)
        });
        self.optimistic = match keep {
            Some(current) => Some(current),
            None => {
                let previous = self.optimistic.map(|(k, _)| k);
                rest.iter()
                    .filter(|(_, k)| rest.len() == 1 || Some(*k) != previous)
                    .min_by_key(|((_, waited, connected, key), _)| (*waited, *connected, *key))
                    .map(|(_, k)| (*k, now))
            }
        };
        out.optimistic = self.optimistic.map(|(k, _)| k);

        for key in out.peers() {
            let since = peers
                .iter()
                .find(|p| p.key == key)
                .and_then(|p| p.unchoked_since)
                .unwrap_or(now);
            self.last_unchoked.insert(key, since);
        }
        self.ranked = ranked;
    }

    fn rechoke_interval(&self) -> Duration {
        self.config.rechoke_interval
    }

    fn max_unchoked(&self) -> usize {
        self.config.slots + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(key: u64, t0: Instant, pieces: u32) -> PeerView {
        let mut p = PeerView::new(PeerKey(key), t0);
        p.interested = true;
        p.wants_ours = true;
        p.pieces = pieces;
        p.total_pieces = 100;
        p
    }

    fn config(ranking: Ranking, slots: usize) -> RankedConfig {
        RankedConfig {
            ranking,
            slots,
            ..RankedConfig::default()
        }
    }

    #[test]
    fn anti_leech_score_is_v_shaped() {
        let t0 = Instant::now();
        let score = |pieces| anti_leech_score(&peer(0, t0, pieces), 1);
        assert_eq!(score(0), 1000);
        assert_eq!(score(100), 1000);
        assert_eq!(score(50), 0);
        assert_eq!(score(25), 500);
        assert_eq!(score(75), 500);
        assert!(score(10) > score(20) && score(90) > score(80));
        // A peer claiming nothing after receiving 60 pieces counts as 60%.
        let mut liar = peer(0, t0, 0);
        liar.sent_since_unchoke = 60 * 1024;
        assert_eq!(anti_leech_score(&liar, 1024), 200);
        // Unknown size and absurd counts do not panic.
        let mut odd = peer(0, t0, u32::MAX);
        assert_eq!(anti_leech_score(&odd, 0), 1000);
        odd.total_pieces = 0;
        assert_eq!(anti_leech_score(&odd, 0), 0);
    }

    #[test]
    fn anti_leech_prefers_the_ends_of_the_download() {
        let t0 = Instant::now();
        let peers: Vec<PeerView> = [50, 0, 45, 98, 60, 5]
            .iter()
            .enumerate()
            .map(|(k, &n)| peer(k as u64, t0, n))
            .collect();
        let mut c = Ranked::new(config(Ranking::AntiLeech, 3));
        let mut out = Unchoke::default();
        c.rechoke(t0, &peers, &mut out);
        assert_eq!(out.regular, vec![PeerKey(1), PeerKey(3), PeerKey(5)]);
        // The optimistic slot goes to one of the others.
        let opt = out.optimistic.expect("optimistic");
        assert!([0, 2, 4].contains(&opt.0), "{opt:?}");
    }

    #[test]
    fn fastest_upload_keeps_the_fastest_unchoked_peers() {
        let t0 = Instant::now();
        let mut peers: Vec<PeerView> = (0..6).map(|k| peer(k, t0, 10)).collect();
        for (k, p) in peers.iter_mut().enumerate() {
            p.unchoked_since = (k < 4).then_some(t0);
            p.upload_rate = 1000 * (k as u64 + 1);
        }
        let mut c = Ranked::new(config(Ranking::FastestUpload, 2));
        let mut out = Unchoke::default();
        c.rechoke(t0, &peers, &mut out);
        // 4 and 5 are choked: their rates are residue and count as zero.
        assert_eq!(out.regular, vec![PeerKey(3), PeerKey(2)]);
        assert!(out.optimistic.is_some_and(|k| ![2, 3].contains(&k.0)));
    }

    #[test]
    fn optimistic_slot_rotates_through_everyone() {
        let t0 = Instant::now();
        let mut peers: Vec<PeerView> = (0..6).map(|k| peer(k, t0, 10)).collect();
        let cfg = config(Ranking::FastestUpload, 1);
        let mut c = Ranked::new(cfg);
        let mut out = Unchoke::default();
        let mut seen = std::collections::BTreeSet::new();
        let mut now = t0;
        let mut last = None;
        for round in 0..(3 * 8) {
            c.rechoke(now, &peers, &mut out);
            assert!(out.len() <= c.max_unchoked());
            let opt = out.optimistic.expect("optimistic");
            if round % 3 != 0 {
                assert_eq!(Some(opt), last, "rotated before its interval");
            }
            last = Some(opt);
            seen.insert(opt);
            // Apply the decision: peer 0 takes our data fastest, the
            // others slowly, while unchoked.
            for p in peers.iter_mut() {
                if out.contains(p.key) {
                    p.unchoked_since.get_or_insert(now);
                    p.upload_rate = if p.key == PeerKey(0) { 10_000 } else { 100 };
                } else {
                    p.unchoked_since = None;
                    p.upload_rate = 0;
                }
            }
            now += cfg.rechoke_interval;
        }
        assert_eq!(out.regular, vec![PeerKey(0)]);
        assert!(
            peers
                .iter()
                .all(|p| p.key == PeerKey(0) || seen.contains(&p.key)),
            "optimistic never reached some peer: {seen:?}"
        );
    }

    #[test]
    fn uninterested_peers_are_never_unchoked() {
        let t0 = Instant::now();
        let mut peers: Vec<PeerView> = (0..4).map(|k| peer(k, t0, 0)).collect();
        for p in &mut peers {
            p.interested = false;
        }
        for ranking in [Ranking::FastestUpload, Ranking::AntiLeech] {
            let mut out = Unchoke::default();
            Ranked::new(config(ranking, 4)).rechoke(t0, &peers, &mut out);
            assert!(out.is_empty());
        }
    }
}
