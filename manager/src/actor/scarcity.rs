//! Seeding scarce torrents first (`--seed-priority scarcity`, paper 003:
//! seeds that stay for the torrents that are dying multiply their life).
//! Now and then the trackers of the complete torrents are scraped (one
//! request per tracker for all its torrents, BEP 48 / BEP 15), and when
//! seed slots are limited the queue starts the waiting seeds with the
//! fewest *other* seeds first.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use riffle_client::tracker::{scrape_once, AnnounceConfig};
use riffle_policies::queue::{SeedPriority, Wants};
use riffle_protocol::InfoHash;

use super::Actor;
use crate::entry::Run;
use crate::manager::Internal;

/// Torrents asked of one tracker in one scrape.
const PER_REQUEST: usize = 50;

/// What the actor keeps for seed priority.
#[derive(Debug)]
pub(crate) struct Scarcity {
    pub priority: SeedPriority,
    /// Time between scrapes.
    pub every: Duration,
    last: Option<Instant>,
    in_flight: bool,
    /// Seeds per torrent, as the trackers last said.
    seeds: HashMap<InfoHash, u32>,
}

impl Scarcity {
    pub fn new(priority: SeedPriority, every: Duration) -> Scarcity {
        Scarcity {
            priority,
            every,
            last: None,
            in_flight: false,
            seeds: HashMap::new(),
        }
    }
}

impl Actor {
    /// Scrape the complete torrents' trackers if it is time.
    pub(super) fn scrape_if_due(&mut self) {
        let s = &self.scarcity;
        if s.priority != SeedPriority::Scarcity
            || s.in_flight
            || s.last.is_some_and(|t| t.elapsed() < s.every)
        {
            return;
        }
        let mut by_tracker: HashMap<String, Vec<InfoHash>> = HashMap::new();
        for (hash, e) in &self.entries {
            if e.wants() != Wants::Seed {
                continue;
            }
            if let Some(url) = e.meta.trackers.iter().flatten().next() {
                by_tracker.entry(url.clone()).or_default().push(*hash);
            }
        }
        self.scarcity.last = Some(Instant::now());
        if by_tracker.is_empty() {
            return;
        }
        self.scarcity.in_flight = true;
        let tx = self.internal_tx.clone();
        tokio::spawn(async move {
            let cfg = AnnounceConfig::default();
            let mut found = Vec::new();
            for (url, hashes) in by_tracker {
                for chunk in hashes.chunks(PER_REQUEST) {
                    match scrape_once(&url, chunk, &cfg).await {
                        // A torrent the tracker does not list has no seeds
                        // there.
                        Ok(stats) => found.extend(chunk.iter().map(|h| {
                            let complete = stats
                                .iter()
                                .find(|(x, _)| x == h)
                                .map_or(0, |(_, s)| s.complete);
                            (*h, u32::try_from(complete).unwrap_or(u32::MAX))
                        })),
                        Err(e) => tracing::debug!(%url, %e, "scrape failed"),
                    }
                }
            }
            let _ = tx.send(Internal::Scraped(found)).await;
        });
    }

    /// Scrape results: seeds per torrent (ourselves included when we seed
    /// it now).
    pub(super) fn on_scraped(&mut self, found: Vec<(InfoHash, u32)>) {
        self.scarcity.in_flight = false;
        for (hash, complete) in found {
            let ours = self
                .entries
                .get(&hash)
                .is_some_and(|e| matches!(e.run, Run::Running(_)) && e.complete());
            let others = complete.saturating_sub(u32::from(ours));
            tracing::debug!(%hash, others, "seeds elsewhere");
            self.scarcity.seeds.insert(hash, others);
        }
        self.schedule();
    }

    /// Other seeds of `hash`, if a scrape said.
    pub(crate) fn other_seeds(&self, hash: &InfoHash) -> Option<u32> {
        self.scarcity.seeds.get(hash).copied()
    }
}
