//! The seedbox's queue and seeding limits: which torrents run, which wait,
//! and when a seed has seeded enough.
//!
//! A manager of many torrents keeps them in one order (the queue). Each
//! wants to be stopped, to download, or to seed. At most `downloads`
//! downloads and `seeds` seeds are active at once; the rest wait in queue
//! order. [`plan`] decides, from the torrents in queue order, which of the
//! ones not running start now:
//!
//! - only starts are decided: a running torrent is never told to wait (a
//!   lowered limit takes effect as torrents stop, as in Transmission, so a
//!   download is never cut off half way by a setting);
//! - a *stalled* torrent (running, but no transfer for a while) does not
//!   count toward its limit, so a dead swarm does not hold a slot forever;
//! - a *forced* torrent (Transmission's "start now") starts whatever the
//!   limits, and counts toward them while it runs.
//!
//! One pass over the torrents: O(n) time, the answer the only allocation.
//!
//! [`SeedLimits`] and [`ratio`] decide when a seed stops: a share ratio
//! (uploaded over downloaded) reached, or no upload for an idle time.

use std::time::Duration;

/// What a torrent wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wants {
    /// Stopped by the user, or finished: never started by the queue.
    Stopped,
    /// Incomplete and not stopped.
    Download,
    /// Complete and not stopped.
    Seed,
}

/// One torrent as the queue sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueEntry<K> {
    /// The caller's key for it.
    pub key: K,
    /// What it wants.
    pub wants: Wants,
    /// Running now.
    pub running: bool,
    /// Running but idle long enough not to count toward its limit.
    pub stalled: bool,
    /// Started by "start now": runs whatever the limits.
    pub forced: bool,
}

/// How many torrents may be active at once (None: no limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueLimits {
    /// Active downloads.
    pub downloads: Option<usize>,
    /// Active seeds.
    pub seeds: Option<usize>,
}

/// What [`plan`] says of a torrent that is not running and wants to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Start it now.
    Start,
    /// Keep it waiting: its kind's slots are taken.
    Wait,
}

/// Decide, for every torrent of `queue` (in queue order) that is not
/// running and wants to download or seed, whether it starts now or waits.
/// Running and stopped torrents are left out of the answer.
pub fn plan<K: Copy>(queue: &[QueueEntry<K>], limits: QueueLimits) -> Vec<(K, Slot)> {
    let counts = |wants: Wants| {
        queue
            .iter()
            .filter(|e| e.running && !e.stalled && e.wants == wants)
            .count()
    };
    let mut downloads = counts(Wants::Download);
    let mut seeds = counts(Wants::Seed);
    let mut out = Vec::new();
    for e in queue.iter().filter(|e| !e.running) {
        let (active, limit) = match e.wants {
            Wants::Stopped => continue,
            Wants::Download => (&mut downloads, limits.downloads),
            Wants::Seed => (&mut seeds, limits.seeds),
        };
        if e.forced || limit.is_none_or(|l| *active < l) {
            *active += 1;
            out.push((e.key, Slot::Start));
        } else {
            out.push((e.key, Slot::Wait));
        }
    }
    out
}

/// Which waiting seeds the queue starts first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SeedPriority {
    /// Queue order.
    #[default]
    Queue,
    /// The torrents with the fewest other seeds first (paper 003: seeds
    /// staying for the torrents that are dying multiply their life).
    Scarcity,
}

impl std::str::FromStr for SeedPriority {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "queue" => Ok(SeedPriority::Queue),
            "scarcity" => Ok(SeedPriority::Scarcity),
            _ => Err(format!("unknown seed priority {s:?} (queue, scarcity)")),
        }
    }
}

/// Reorder `queue` for [`plan`] so that, among the torrents that want to
/// seed and are not running, those with the fewest other seeds
/// (`other_seeds`, from the trackers' scrapes; unknown counts last) come
/// first. Those torrents take the places they held between the others, so
/// downloads keep their order; ties keep queue order.
pub fn by_scarcity<K: Copy>(queue: &mut [QueueEntry<K>], other_seeds: impl Fn(&K) -> Option<u32>) {
    let places: Vec<usize> = (0..queue.len())
        .filter(|&i| queue[i].wants == Wants::Seed && !queue[i].running)
        .collect();
    let mut waiting: Vec<QueueEntry<K>> = places.iter().map(|&i| queue[i]).collect();
    waiting.sort_by_key(|e| other_seeds(&e.key).unwrap_or(u32::MAX));
    for (&i, e) in places.iter().zip(waiting) {
        queue[i] = e;
    }
}

/// A torrent's share ratio as Transmission reports it: uploaded over
/// downloaded (or, for data that was never downloaded, over the verified
/// bytes held). `None` when nothing was uploaded against nothing held; an
/// upload against nothing is infinite.
pub fn ratio(uploaded: u64, downloaded: u64, have: u64) -> Option<f64> {
    let base = if downloaded > 0 { downloaded } else { have };
    if base > 0 {
        Some(uploaded as f64 / base as f64)
    } else if uploaded > 0 {
        Some(f64::INFINITY)
    } else {
        None
    }
}

/// When a seed stops by itself.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SeedLimits {
    /// Stop once the share ratio reaches this.
    pub ratio: Option<f64>,
    /// Stop after seeding this long without uploading.
    pub idle: Option<Duration>,
}

/// Why a seed stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedLimitReached {
    /// Its share ratio reached the limit.
    Ratio,
    /// It uploaded nothing for the idle limit.
    Idle,
}

impl SeedLimits {
    /// Has a seed with this `ratio` that has been idle for `idle_for` seeded
    /// enough?
    pub fn reached(&self, ratio: Option<f64>, idle_for: Duration) -> Option<SeedLimitReached> {
        if let (Some(limit), Some(r)) = (self.ratio, ratio) {
            if r >= limit {
                return Some(SeedLimitReached::Ratio);
            }
        }
        match self.idle {
            Some(limit) if idle_for >= limit => Some(SeedLimitReached::Idle),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(key: u32, wants: Wants, running: bool) -> QueueEntry<u32> {
        QueueEntry {
            key,
            wants,
            running,
            stalled: false,
            forced: false,
        }
    }

    #[test]
    fn waiting_torrents_start_in_queue_order_as_slots_allow() {
        use Wants::*;
        let queue = [
            entry(1, Download, true),
            entry(2, Download, false),
            entry(3, Seed, false),
            entry(4, Download, false),
            entry(5, Stopped, false),
            entry(6, Seed, false),
        ];
        let limits = QueueLimits {
            downloads: Some(2),
            seeds: Some(1),
        };
        assert_eq!(
            plan(&queue, limits),
            [
                (2, Slot::Start),
                (3, Slot::Start),
                (4, Slot::Wait),
                (6, Slot::Wait)
            ]
        );
        assert!(plan(&queue, QueueLimits::default())
            .iter()
            .all(|(_, s)| *s == Slot::Start));
    }

    #[test]
    fn a_stalled_download_frees_its_slot_and_a_forced_one_ignores_limits() {
        use Wants::*;
        let mut stalled = entry(1, Download, true);
        stalled.stalled = true;
        let mut forced = entry(3, Download, false);
        forced.forced = true;
        let queue = [stalled, entry(2, Download, false), forced];
        let limits = QueueLimits {
            downloads: Some(1),
            seeds: None,
        };
        assert_eq!(plan(&queue, limits), [(2, Slot::Start), (3, Slot::Start)]);
    }

    #[test]
    fn ratio_and_idle_limits() {
        assert_eq!(ratio(0, 0, 0), None);
        assert_eq!(ratio(10, 0, 0), Some(f64::INFINITY));
        assert_eq!(ratio(10, 0, 20), Some(0.5));
        assert_eq!(ratio(30, 10, 20), Some(3.0));
        let limits = SeedLimits {
            ratio: Some(2.0),
            idle: Some(Duration::from_secs(600)),
        };
        assert_eq!(limits.reached(Some(1.9), Duration::ZERO), None);
        assert_eq!(
            limits.reached(Some(2.0), Duration::ZERO),
            Some(SeedLimitReached::Ratio)
        );
        assert_eq!(
            limits.reached(None, Duration::from_secs(600)),
            Some(SeedLimitReached::Idle)
        );
        assert_eq!(
            SeedLimits::default().reached(Some(99.0), Duration::MAX),
            None
        );
    }

    fn arb_entry() -> impl Strategy<Value = (u8, bool, bool, bool)> {
        (0u8..3, any::<bool>(), any::<bool>(), any::<bool>())
    }

    proptest! {
        /// Never more active than the limit lets start, in queue order,
        /// forced ones always, running and stopped ones never answered.
        #[test]
        fn plan_respects_limits_and_order(
            raw in proptest::collection::vec(arb_entry(), 0..40),
            downloads in proptest::option::of(0usize..6),
            seeds in proptest::option::of(0usize..6),
        ) {
            let queue: Vec<QueueEntry<usize>> = raw
                .iter()
                .enumerate()
                .map(|(key, &(w, running, stalled, forced))| QueueEntry {
                    key,
                    wants: [Wants::Stopped, Wants::Download, Wants::Seed][w as usize],
                    running,
                    stalled: running && stalled,
                    forced,
                })
                .collect();
            let limits = QueueLimits { downloads, seeds };
            let answer = plan(&queue, limits);
            for kind in [Wants::Download, Wants::Seed] {
                let limit = if kind == Wants::Download { downloads } else { seeds };
                let active = queue
                    .iter()
                    .filter(|e| e.running && !e.stalled && e.wants == kind)
                    .count();
                let started: Vec<&QueueEntry<usize>> = answer
                    .iter()
                    .filter(|(_, s)| *s == Slot::Start)
                    .map(|(k, _)| &queue[*k])
                    .filter(|e| e.wants == kind)
                    .collect();
                let unforced = started.iter().filter(|e| !e.forced).count();
                if let Some(l) = limit {
                    prop_assert!(active + unforced <= l.max(active));
                }
                // A waiting torrent never comes before a started unforced
                // one of its kind.
                let first_wait = answer
                    .iter()
                    .find(|(k, s)| *s == Slot::Wait && queue[*k].wants == kind)
                    .map(|(k, _)| *k);
                if let Some(w) = first_wait {
                    prop_assert!(started.iter().all(|e| e.forced || e.key < w));
                }
            }
            for (k, s) in &answer {
                let e = &queue[*k];
                prop_assert!(!e.running && e.wants != Wants::Stopped);
                if e.forced {
                    prop_assert_eq!(*s, Slot::Start);
                }
            }
            let expected = queue.iter().filter(|e| !e.running && e.wants != Wants::Stopped).count();
            prop_assert_eq!(answer.len(), expected);
        }
    }

    #[test]
    fn scarce_seeds_start_first_and_downloads_keep_their_order() {
        use Wants::*;
        let mut queue = vec![
            entry(1, Seed, false), // 5 other seeds
            entry(2, Download, false),
            entry(3, Seed, false), // none
            entry(4, Seed, true),  // running: stays
            entry(5, Seed, false), // unknown
            entry(6, Download, false),
            entry(7, Seed, false), // 1
        ];
        let seeds = |k: &u32| match k {
            1 => Some(5),
            3 => Some(0),
            7 => Some(1),
            4 => Some(0),
            _ => None,
        };
        by_scarcity(&mut queue, seeds);
        let keys: Vec<u32> = queue.iter().map(|e| e.key).collect();
        assert_eq!(keys, [3, 2, 7, 4, 1, 6, 5]);
        let limits = QueueLimits {
            downloads: None,
            seeds: Some(2),
        };
        let started: Vec<u32> = plan(&queue, limits)
            .into_iter()
            .filter(|(_, s)| *s == Slot::Start)
            .map(|(k, _)| k)
            .collect();
        // One seed slot left beside the running one: the seedless torrent.
        assert_eq!(started, [3, 2, 6]);
        assert_eq!("scarcity".parse(), Ok(SeedPriority::Scarcity));
        assert!("rare".parse::<SeedPriority>().is_err());
    }
}
