//! Who gets our upload slots, and how fast we serve them.
//!
//! Choking asks the torrent's choker (the leecher policy while downloading,
//! the seeder policy once complete). Most chokers decide every rechoke
//! interval; the paper's per-piece policies (random peer, random useful
//! peer, most deprived peer) decide again after every piece sent, and a
//! slot drawn for a peer that wants nothing stays unused for one piece
//! time, as in the model.
//!
//! The service rate is the one-club policy: while the torrent holds every
//! piece but one, its own upload bucket runs at the reduced rate mu'
//! (a fresh limiter, so no burst saved at mu carries over), and back at mu
//! once it completes. Time in the club and bytes sent while throttled are
//! counted for the status.

use std::time::Duration;

use riffle_policies::choker::{PeerView, Unchoke};
use riffle_policies::service::OneClub;
use riffle_protocol::BLOCK_SIZE;
use tokio::time::Instant;

use super::peers::Link;
use super::Torrent;

/// How long after we announce a piece to a peer that lacks it the peer
/// counts as interested before its INTERESTED arrives (protocol time).
const INTEREST_GRACE: Duration = Duration::from_secs(1);

/// The one-club policy's state on a running torrent.
#[derive(Debug, Clone)]
pub(crate) struct Service {
    /// mu (the torrent's own upload limit) and mu'.
    pub policy: OneClub,
    /// Since when we have held every piece but one (None: not in the club).
    pub club_since: Option<Instant>,
    /// Time spent in the club before `club_since`.
    pub club_time: Duration,
    /// The bucket runs at mu' now.
    pub throttled: bool,
    /// Payload bytes sent while throttled.
    pub throttled_bytes: u64,
}

impl Service {
    /// The policy for a torrent limited to `full` bytes/s (0: unlimited)
    /// and throttled to `reduced` in the club (0: no throttling).
    pub fn new(full: u64, reduced: u64) -> Service {
        Service {
            policy: OneClub {
                full: (full > 0).then_some(full),
                reduced: (reduced > 0).then_some(reduced),
            },
            club_since: None,
            club_time: Duration::ZERO,
            throttled: false,
            throttled_bytes: 0,
        }
    }

    /// Time in the club up to `now`.
    pub fn time_in_club(&self, now: Instant) -> Duration {
        self.club_time + self.club_since.map_or(Duration::ZERO, |t| now - t)
    }
}

impl Torrent {
    /// Re-apply the service-rate policy after our piece count changed.
    pub(super) fn apply_service_rate(&mut self, now: Instant) {
        let have = self.have.count_ones();
        let total = self.have.len();
        let in_club = OneClub::in_club(have, total);
        match (in_club, self.service.club_since) {
            (true, None) => self.service.club_since = Some(now),
            (false, Some(since)) => {
                self.service.club_time += now - since;
                self.service.club_since = None;
            }
            _ => {}
        }
        let throttled = self.service.policy.throttled(have, total);
        if throttled != self.service.throttled {
            self.service.throttled = throttled;
            let rate = self.service.policy.rate(have, total).unwrap_or(0);
            // A fresh limiter: nothing saved at the old rate carries over.
            self.torrent_up.set_rate(rate);
            self.redraw_turn_gap(now);
            tracing::info!(
                rate,
                throttled,
                "one club: upload rate {}",
                if throttled { "reduced" } else { "restored" }
            );
        }
    }

    /// The choker in charge now.
    fn per_piece(&self) -> bool {
        if self.completed {
            self.seed_choker.per_piece()
        } else {
            self.leech_choker.per_piece()
        }
    }

    /// One piece's time at the torrent's current upload rate, if limited.
    fn piece_time(&self) -> Option<Duration> {
        self.send_time(u64::from(self.shared.geometry.piece_length()))
    }

    /// How long `bytes` take at the slowest limited upload bucket (None
    /// when unlimited).
    fn send_time(&self, bytes: u64) -> Option<Duration> {
        let rate = self
            .shared
            .up
            .iter()
            .map(|b| b.rate())
            .filter(|&r| r > 0)
            .min()?;
        Some(Duration::from_secs_f64(bytes as f64 / rate as f64))
    }

    /// One block's time at the torrent's current upload rate, if limited:
    /// how long the buckets (whose burst is about a block) take to pay for
    /// the next block after a send.
    fn block_time(&self) -> Option<Duration> {
        let piece = u64::from(self.shared.geometry.piece_length());
        self.send_time(piece.min(u64::from(BLOCK_SIZE)))
    }

    /// `n` bytes went out to `peer` (reported by its task): a per-piece
    /// choker's turn ends once a whole piece has gone.
    ///
    /// With an upload limit the next turn starts when the buckets can pay
    /// for a block again, not now: the peer is choked at once (nothing more
    /// leaves before the next decision) and the choker draws at that
    /// moment, so that the peer it picks is served the instant it is
    /// picked. That is the model's upload opportunity (decide and send at
    /// once); deciding now and sending a piece time later would give the
    /// piece to a peer that has meanwhile filled up from others.
    pub(super) fn on_uploaded(&mut self, key: riffle_policies::PeerKey, n: u64) {
        if self.service.throttled {
            self.service.throttled_bytes += n;
        }
        let piece = u64::from(self.shared.geometry.piece_length());
        let per_piece = self.per_piece();
        let wait = self.block_time();
        let Some(e) = self.peers.get_mut(&key) else {
            return;
        };
        e.piece_credit += n;
        if !(per_piece && !e.am_choking && e.piece_credit >= piece) {
            return;
        }
        // The peer task has choked the peer at the piece's end (see
        // `Orders::turn_bytes`); the torrent agrees.
        e.am_choking = true;
        e.unchoked_since = None;
        e.mailbox.post(|o| o.choke = Some(true));
        self.status.turns.served += 1;
        let next = self.next_opportunity.take();
        match wait {
            Some(wait) => {
                let now = Instant::now();
                // The turn is over, and so is its deadline (set for a slow
                // transfer at the unchoke). Under Poisson turns the next
                // opportunity was drawn whole when this turn started (cut
                // at that deadline, the gap's mean would be ~25% short and
                // the peer would upload faster than its rate; drawn only
                // now, every turn would also cost the piece's round trip
                // and the peer would upload slower). Fixed turns keep
                // their cadence.
                let at = match next {
                    Some(next) => next.max(now),
                    None => now + self.turn_gap(wait),
                };
                self.per_piece_deadline = Some(match self.per_piece_deadline {
                    Some(d) if !self.options.policies.poisson_turns => d.min(at),
                    _ => at,
                });
                self.turn_held = true;
            }
            None => self.rechoke_soon = true,
        }
    }

    /// The wait before the next per-piece turn, `mean` on average: exactly
    /// `mean`, or exponential with that mean under Poisson turns (paper
    /// 002's model, whose upload opportunities are a Poisson process).
    fn turn_gap(&mut self, mean: Duration) -> Duration {
        if !self.options.policies.poisson_turns {
            return mean;
        }
        let u: f64 = rand::Rng::gen(&mut self.rng);
        // u in [0, 1): the factor is finite and >= 0.
        mean.mul_f64(-(1.0 - u).ln())
    }

    /// Under Poisson turns, upload opportunities come from the torrent's
    /// clock from the start, also while it has nothing to serve (in the
    /// model a peer's first opportunity after its first piece is an
    /// exponential wait away, not at once): start the clock if no turn is
    /// pending. Called every tick.
    pub(super) fn keep_turn_clock(&mut self, now: Instant) {
        if !(self.options.policies.poisson_turns && self.per_piece())
            || self.per_piece_deadline.is_some()
        {
            return;
        }
        if let Some(mean) = self.piece_time() {
            self.per_piece_deadline = Some(now + self.turn_gap(mean));
            self.turn_held = true;
        }
    }

    /// The upload rate changed (one-club throttling): under Poisson turns
    /// a pending gap is drawn again at the new rate (memoryless, as the
    /// model switches a peer's rate the moment it enters the club); a
    /// gap drawn at mu would give a peer just throttled to mu' one more
    /// turn at mu's pace. A turn whose peer is taking its piece keeps its
    /// deadline.
    fn redraw_turn_gap(&mut self, now: Instant) {
        if !(self.options.policies.poisson_turns && self.per_piece()) {
            return;
        }
        let Some(mean) = self.piece_time() else {
            self.next_opportunity = None;
            return;
        };
        if self.peers.values().any(|e| !e.am_choking) {
            // Serving: the piece keeps its deadline, the opportunity
            // after it is drawn again.
            if self.next_opportunity.is_some() {
                self.next_opportunity = Some(now + self.turn_gap(mean));
            }
        } else if self.per_piece_deadline.is_some() {
            self.per_piece_deadline = Some(now + self.turn_gap(mean));
            self.turn_held = true;
        }
    }

    /// Is a per-piece turn running (a peer drawn and not through its piece,
    /// a wasted draw, or the buckets refilling after a piece)? Events such
    /// as a newly interested peer then wait for the turn to end.
    pub(super) fn turn_running(&self, now: Instant) -> bool {
        self.turn_held && self.per_piece() && self.per_piece_deadline.is_some_and(|d| d > now)
    }

    /// When the next rechoke is due without any event.
    pub(super) fn next_rechoke(&self) -> Instant {
        self.per_piece_deadline
            .unwrap_or(self.last_rechoke + self.choker_interval())
    }

    /// What the choker sees of each connected peer now.
    fn choker_views(&self, now: Instant, per_piece: bool) -> Vec<PeerView> {
        let total = self.have.len();
        // A per-piece choker decides at one instant: a peer that lacks a
        // piece we announced a moment ago counts as interested, since its
        // INTERESTED is still on the way (the model has no such lag, and a
        // drawn peer missed for it wastes a whole turn). Only once we know
        // what it holds: before its bitfield a peer looks empty.
        let grace = self.links.config.scaled(INTEREST_GRACE);
        self.peers
            .iter()
            .filter(|(_, e)| e.link == Link::Connected)
            .map(|(k, e)| {
                let wants_ours = self.have.has_any_missing_from(&e.has);
                let due = per_piece
                    && e.counted
                    && wants_ours
                    && now.duration_since(e.announced_at) < grace;
                PeerView {
                    key: *k,
                    interested: e.peer_interested || due,
                    wants_ours,
                    download_rate: e.rate_down.rate(),
                    upload_rate: e.rate_up.rate(),
                    pieces: e.has.count_ones(),
                    total_pieces: total,
                    connected_at: e.connected_at.into_std(),
                    unchoked_since: e.unchoked_since.map(|t| t.into_std()),
                    sent_since_unchoke: e.sent_since_unchoke,
                    snubbed: e.snubbed,
                    is_seed: e.is_seed(),
                    near: e.near,
                }
            })
            .collect()
    }

    /// Ask the choker who gets upload slots and post the changes.
    pub(super) fn rechoke(&mut self, now: Instant) {
        self.rechoke_soon = false;
        self.last_rechoke = now;
        let per_piece = self.per_piece();
        let mut views = self.choker_views(now, per_piece);
        if !self.completed {
            // Cross-swarm credit (when on): a host's contribution over
            // every torrent, not its rate here alone.
            self.rank_by_credit(&mut views, now);
        }
        let mut unchoke = Unchoke::default();
        let choker = if self.completed {
            &mut self.seed_choker
        } else {
            &mut self.leech_choker
        };
        choker.rechoke(now.into_std(), &views, &mut unchoke);
        if self.completed && !per_piece {
            // Cross-swarm credit (when on): a seed serves first the hosts
            // that gave us elsewhere. Per-piece seed policies keep their
            // own turns.
            self.serve_credited_first(&views, now, &mut unchoke);
        }
        let seeding = self.completed;
        let piece_bytes = u64::from(self.shared.geometry.piece_length());
        for (k, e) in self.peers.iter_mut() {
            if e.link != Link::Connected {
                continue;
            }
            // A new decision starts a new piece's worth of credit.
            let piece_done = e.piece_credit >= piece_bytes;
            e.piece_credit = 0;
            let choke = !unchoke.contains(*k);
            if seeding && !choke && (e.am_choking || piece_done) {
                // A seed chooses the piece too (the paper's publisher-side
                // block selection): suggest it to each peer it starts
                // serving, by its picker's rule over what our peers hold.
                let book = self.picker.book();
                if let Some(p) = self.options.policies.picker.suggest(
                    &self.have,
                    &e.has,
                    |p| book.availability(p),
                    &mut self.rng,
                ) {
                    tracing::debug!(peer = %e.addr, pieces = e.has.count_ones(), piece = ?p, "serving a peer, suggesting a piece");
                    e.mailbox.post(|o| o.suggest = Some(p));
                }
            }
            if choke != e.am_choking {
                e.am_choking = choke;
                if choke {
                    e.unchoked_since = None;
                } else {
                    e.unchoked_since = Some(now);
                    e.sent_since_unchoke = 0;
                }
                // A per-piece turn is one piece: the peer task chokes the
                // peer itself once it has gone.
                let turn = (per_piece && !choke).then_some(piece_bytes);
                e.mailbox.post(|o| {
                    o.choke = Some(choke);
                    o.turn_bytes = turn;
                });
            }
        }
        let wasted = if self.completed {
            self.seed_choker.wasted_turn()
        } else {
            self.leech_choker.wasted_turn()
        };
        // A turn is held (events wait for it) while a drawn peer takes its
        // piece or a wasted draw runs out; with nobody to serve, the next
        // interested peer starts one at once.
        // Under Poisson turns an opportunity with nobody to serve is lost
        // as well, as in the model: the next comes at the next tick of the
        // clock, not with the next interested peer.
        let poisson = self.options.policies.poisson_turns;
        if per_piece && tracing::enabled!(tracing::Level::TRACE) {
            let wants = views.iter().filter(|v| v.wants_ours).count();
            let useful = views
                .iter()
                .filter(|v| v.wants_ours && v.interested)
                .count();
            let seeds = views.iter().filter(|v| v.is_seed).count();
            tracing::trace!(
                have = self.have.count_ones(),
                pool = views.len(),
                seeds,
                wants,
                useful,
                drawn = !unchoke.is_empty(),
                wasted,
                "per-piece turn"
            );
        }
        if per_piece {
            let t = &mut self.status.turns;
            if !unchoke.is_empty() {
                t.drawn += 1;
            } else if wasted {
                t.wasted += 1;
            } else {
                t.idle += 1;
            }
        }
        self.turn_held = per_piece && (!unchoke.is_empty() || wasted || poisson);
        self.per_piece_deadline = if per_piece {
            // Decide again after one piece time: when the piece has gone
            // (see on_uploaded), at the deadline when the slot went unused
            // or the peer took nothing. A slow transfer gets half a piece
            // time more before its slot is redrawn.
            let piece_time = self.piece_time();
            let t = piece_time.unwrap_or_else(|| self.choker_interval());
            let t = if unchoke.is_empty() {
                self.next_opportunity = None;
                self.turn_gap(t)
            } else {
                // Under Poisson turns the next opportunity comes one
                // exponential gap after this one, however long the piece
                // takes to go (see on_uploaded).
                self.next_opportunity =
                    (poisson && piece_time.is_some()).then(|| now + self.turn_gap(t));
                t.mul_f64(1.5)
            };
            Some(now + t)
        } else {
            None
        };
    }
}
