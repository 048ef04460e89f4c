//! Watching a flash crowd of lab peers (the cross-credit and locality
//! runs): each one's completion time, and a sample every unit.

use anyhow::{anyhow, Result};
use riffle_client::engine::{TorrentState, TorrentStatus};
use riffle_client::watch;
use tokio::time::Instant;

use super::replicate::Clock;
use crate::experiment::report::Sample;
use crate::experiment::RunSpec;

/// Watch `statuses` until every one completed or the run's duration:
/// when each completed (model time; None: not by the end) and a sample
/// every unit, its time shifted by `offset`.
pub(super) async fn watch_crowd(
    statuses: &[watch::Receiver<TorrentStatus>],
    publisher_status: &watch::Receiver<TorrentStatus>,
    clock: Clock,
    spec: &RunSpec,
    offset: f64,
    tick: &mut impl FnMut(f64),
) -> Result<(Vec<Option<f64>>, Vec<Sample>)> {
    let model = spec.model;
    let block = f64::from(riffle_protocol::BLOCK_SIZE);
    let mut done_at: Vec<Option<f64>> = vec![None; statuses.len()];
    let mut samples = Vec::new();
    let mut next_sample = 1.0;
    let mut departures = 0u64;
    let (mut pub_seen, mut peers_seen) = (0u64, 0u64);
    loop {
        let t = clock.model(Instant::now());
        for (status, done) in statuses.iter().zip(done_at.iter_mut()) {
            if done.is_some() {
                continue;
            }
            let st = status.borrow();
            if let TorrentState::Failed(e) = &st.state {
                return Err(anyhow!("a lab peer failed: {e}"));
            }
            if st.is_complete() && st.state != TorrentState::Checking {
                *done = Some(t);
                departures += 1;
            }
        }
        if t >= next_sample {
            let pub_now = publisher_status.borrow().uploaded;
            let peers_now: u64 = statuses.iter().map(|s| s.borrow().uploaded).sum();
            let downloading: Vec<_> = statuses
                .iter()
                .zip(&done_at)
                .filter(|(_, d)| d.is_none())
                .collect();
            samples.push(Sample {
                t: t + offset,
                population: downloading.len() as u32,
                one_club: downloading
                    .iter()
                    .filter(|(s, _)| s.borrow().have_pieces + 1 == model.pieces)
                    .count() as u32,
                departures,
                publisher_rate: pub_now.saturating_sub(pub_seen) as f64
                    / block
                    / model.publisher_rate,
                peer_rate: peers_now.saturating_sub(peers_seen) as f64
                    / block
                    / model.publisher_rate,
            });
            (pub_seen, peers_seen) = (pub_now, peers_now);
            next_sample += 1.0;
            tick(t);
        }
        if t >= model.duration || done_at.iter().all(Option::is_some) {
            return Ok((done_at, samples));
        }
        tokio::time::sleep(clock.unit / 4).await;
    }
}
