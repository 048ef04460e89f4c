//! The multitracker tier list (BEP 12) as a small pure state.
//!
//! A torrent's `announce-list` is a list of tiers, each a list of tracker
//! URLs. Each tier is shuffled once when the torrent is loaded (the
//! shuffle is injected, so tests are deterministic); an announce walks the
//! tiers in order, each tier's URLs in order, until one answers; the one
//! that answered moves to the front of its tier so it is tried first next
//! time. The state is just the lists and a cursor: the caller does the
//! network I/O and reports each outcome with [`TrackerTiers::on_success`]
//! or [`TrackerTiers::on_failure`].

use std::collections::HashSet;

/// Tiers of tracker URLs and which one to try now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrackerTiers {
    /// Non-empty tiers of distinct URLs, in order of preference.
    tiers: Vec<Vec<String>>,
    /// The URL to try now, as (tier, position in tier).
    cursor: (usize, usize),
}

impl TrackerTiers {
    /// Build the tiers, shuffling each one once with `shuffle` (typically
    /// `|t| t.shuffle(&mut rng)`). Empty URLs, repeats of a URL already
    /// seen (in any tier) and tiers left empty are dropped.
    pub fn new<T, U>(tiers: T, mut shuffle: impl FnMut(&mut [String])) -> TrackerTiers
    where
        T: IntoIterator<Item = U>,
        U: IntoIterator<Item = String>,
    {
        let mut seen = HashSet::new();
        let tiers = tiers
            .into_iter()
            .map(|tier| {
                let mut urls: Vec<String> = tier
                    .into_iter()
                    .filter(|u| !u.is_empty() && seen.insert(u.clone()))
                    .collect();
                shuffle(&mut urls);
                urls
            })
            .filter(|t| !t.is_empty())
            .collect();
        TrackerTiers {
            tiers,
            cursor: (0, 0),
        }
    }

    /// The tiers for a torrent: its `announce-list` when it has a
    /// non-empty one (BEP 12 says to ignore `announce` then), otherwise its
    /// single `announce` URL as the only tier.
    pub fn from_metainfo(
        announce: Option<&str>,
        announce_list: &[Vec<String>],
        shuffle: impl FnMut(&mut [String]),
    ) -> TrackerTiers {
        let list = TrackerTiers::new(announce_list.iter().cloned(), shuffle);
        if !list.is_empty() {
            return list;
        }
        TrackerTiers::new(announce.map(|a| vec![a.to_owned()]), |_| {})
    }

    /// The URL to announce to now, or `None` with no trackers at all.
    pub fn current(&self) -> Option<&str> {
        let (tier, pos) = self.cursor;
        self.tiers.get(tier)?.get(pos).map(String::as_str)
    }

    /// The current URL answered: move it to the front of its tier, and
    /// start the next announce from the first tier again (BEP 12).
    pub fn on_success(&mut self) {
        let (tier, pos) = self.cursor;
        if let Some(urls) = self.tiers.get_mut(tier) {
            if pos < urls.len() {
                let url = urls.remove(pos);
                urls.insert(0, url);
            }
        }
        self.cursor = (0, 0);
    }

    /// The current URL failed: move on to the next one and return it, or
    /// return `None` when every URL of every tier has now been tried — the
    /// cursor is then back at the first, for the next round after a wait.
    pub fn on_failure(&mut self) -> Option<&str> {
        let (tier, pos) = self.cursor;
        let tier_len = self.tiers.get(tier).map_or(0, Vec::len);
        self.cursor = if pos + 1 < tier_len {
            (tier, pos + 1)
        } else {
            (tier + 1, 0)
        };
        if self.cursor.0 >= self.tiers.len() {
            self.cursor = (0, 0);
            return None;
        }
        self.current()
    }

    /// Start the next announce from the first URL of the first tier
    /// without reporting an outcome (after a failed round's wait, say).
    pub fn restart(&mut self) {
        self.cursor = (0, 0);
    }

    /// The tiers, in their current order.
    pub fn tiers(&self) -> &[Vec<String>] {
        &self.tiers
    }

    /// Every URL in the order an announce would try them.
    pub fn urls(&self) -> impl Iterator<Item = &str> {
        self.tiers.iter().flatten().map(String::as_str)
    }

    /// Number of URLs over all tiers.
    pub fn len(&self) -> usize {
        self.tiers.iter().map(Vec::len).sum()
    }

    /// True with no trackers.
    pub fn is_empty(&self) -> bool {
        self.tiers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(v: &[&[&str]]) -> Vec<Vec<String>> {
        v.iter()
            .map(|t| t.iter().map(|u| u.to_string()).collect())
            .collect()
    }

    /// A deterministic Fisher-Yates shuffle from a seed (splitmix64).
    fn seeded(mut seed: u64) -> impl FnMut(&mut [String]) {
        move |urls: &mut [String]| {
            for i in (1..urls.len()).rev() {
                seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = seed;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^= z >> 31;
                urls.swap(i, (z % (i as u64 + 1)) as usize);
            }
        }
    }

    #[test]
    fn shuffles_each_tier_once_and_only_within_it() {
        let input = s(&[&["a", "b", "c"], &["d", "e"]]);
        let t = TrackerTiers::new(input.clone(), |urls| urls.reverse());
        assert_eq!(t.tiers(), s(&[&["c", "b", "a"], &["e", "d"]]));
        let mut calls = 0;
        let _ = TrackerTiers::new(input.clone(), |_| calls += 1);
        assert_eq!(calls, 2);
        // Same seed, same order.
        let a = TrackerTiers::new(input.clone(), seeded(7));
        let b = TrackerTiers::new(input, seeded(7));
        assert_eq!(a, b);
    }

    #[test]
    fn walks_tiers_in_order_then_gives_up() {
        let mut t = TrackerTiers::new(s(&[&["a", "b"], &["c"]]), |_| {});
        assert_eq!(t.current(), Some("a"));
        assert_eq!(t.on_failure(), Some("b"));
        assert_eq!(t.on_failure(), Some("c"));
        assert_eq!(t.on_failure(), None);
        assert_eq!(t.current(), Some("a"), "next round starts at the top");
    }

    #[test]
    fn success_moves_url_to_front_of_its_tier() {
        let mut t = TrackerTiers::new(s(&[&["a", "b", "c"], &["d", "e"]]), |_| {});
        t.on_failure();
        t.on_failure();
        assert_eq!(t.current(), Some("c"));
        t.on_success();
        assert_eq!(t.tiers(), s(&[&["c", "a", "b"], &["d", "e"]]));
        assert_eq!(t.current(), Some("c"));
        // A second-tier success reorders only that tier; the next announce
        // still starts with the first tier.
        for _ in 0..4 {
            t.on_failure();
        }
        assert_eq!(t.current(), Some("e"));
        t.on_success();
        assert_eq!(t.tiers(), s(&[&["c", "a", "b"], &["e", "d"]]));
        assert_eq!(t.current(), Some("c"));
    }

    #[test]
    fn drops_empty_and_duplicate_entries() {
        let t = TrackerTiers::new(s(&[&[], &["a", "", "a"], &["a"], &["b"]]), |_| {});
        assert_eq!(t.tiers(), s(&[&["a"], &["b"]]));
        assert_eq!(t.len(), 2);
        let mut empty = TrackerTiers::new(Vec::<Vec<String>>::new(), |_| {});
        assert!(empty.is_empty());
        assert_eq!(empty.current(), None);
        assert_eq!(empty.on_failure(), None);
        empty.on_success();
    }

    #[test]
    fn metainfo_prefers_announce_list() {
        let list = s(&[&["http://x/announce"]]);
        let t = TrackerTiers::from_metainfo(Some("http://y/announce"), &list, |_| {});
        assert_eq!(t.urls().collect::<Vec<_>>(), ["http://x/announce"]);
        let t = TrackerTiers::from_metainfo(Some("http://y/announce"), &[], |_| {});
        assert_eq!(t.urls().collect::<Vec<_>>(), ["http://y/announce"]);
        assert!(TrackerTiers::from_metainfo(None, &[], |_| {}).is_empty());
    }

    proptest! {
        #[test]
        fn outcomes_keep_the_same_urls_per_tier(
            sizes in proptest::collection::vec(1usize..5, 0..5),
            seed in any::<u64>(),
            outcomes in proptest::collection::vec(any::<bool>(), 0..40),
        ) {
            let mut n = 0;
            let tiers: Vec<Vec<String>> = sizes.iter().map(|&k| {
                (0..k).map(|_| { n += 1; format!("u{n}") }).collect()
            }).collect();
            let mut t = TrackerTiers::new(tiers.clone(), seeded(seed));
            let mut tried_in_round = 0;
            for ok in outcomes {
                let Some(cur) = t.current().map(str::to_owned) else {
                    prop_assert!(t.is_empty());
                    break;
                };
                if ok {
                    let tier = t.tiers().iter().position(|tr| tr.contains(&cur)).unwrap();
                    t.on_success();
                    prop_assert_eq!(&t.tiers()[tier][0], &cur);
                    tried_in_round = 0;
                } else {
                    tried_in_round += 1;
                    let gave_up = t.on_failure().is_none();
                    prop_assert_eq!(gave_up, tried_in_round == t.len());
                    if gave_up {
                        tried_in_round = 0;
                    }
                }
                // Each tier still holds exactly its original URLs.
                for (now, orig) in t.tiers().iter().zip(&tiers) {
                    let mut a = now.clone(); a.sort();
                    let mut b = orig.clone(); b.sort();
                    prop_assert_eq!(a, b);
                }
            }
        }
    }
}
