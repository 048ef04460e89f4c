//! Run-time controls of a running torrent (the TUI's actions): pause and
//! resume, switching policies, changing the torrent's rate limits, and the
//! per-piece data of the piece map.
//!
//! Each one changes the running torrent — its connections, picker,
//! chokers and buckets — not only a label in its status.

use rand::RngCore;
use riffle_policies::catalog::{ChokerKind, ChokerSettings, PickerKind, SeedChokerKind};
use riffle_policies::picker::{AvailabilityChange, BlockBook, BlockState, PiecePicker};
use riffle_policies::PeerKey;
use riffle_protocol::Bitfield;
use tokio::time::Instant;

use super::status::{PieceStatus, TorrentState};
use super::Torrent;

/// The key under which blocks already received are carried into a rebuilt
/// picker (never a real peer's key: those count up from 1).
const CARRIED: PeerKey = PeerKey(u64::MAX);

/// Policies to switch in a running torrent; `None` keeps the current one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyUpdate {
    /// Which pieces to request (the picker is rebuilt, keeping what it
    /// knows: our pieces, availability, requests in flight, blocks held).
    pub picker: Option<PickerKind>,
    /// Whom to upload to once complete.
    pub seed_choker: Option<SeedChokerKind>,
    /// Whom to upload to while downloading.
    pub choker: Option<ChokerKind>,
    /// One-club throttling rate, bytes/s (0: off).
    pub one_club_rate: Option<u64>,
}

/// Teach a new picker what the old one (`old`) knew: our pieces (`have`),
/// the pieces of each connected peer (`peers`, as counted in `old`), the
/// blocks received of started pieces and every request in flight, under
/// the same peers — so their deliveries and returns land as before.
pub(crate) fn carry_over<'a>(
    old: &BlockBook,
    new: &mut dyn PiecePicker,
    have: &Bitfield,
    peers: impl Iterator<Item = &'a Bitfield>,
) {
    for piece in have.ones() {
        let _ = new.we_have(piece);
    }
    for has in peers {
        new.on_availability(AvailabilityChange::Bitfield(has));
    }
    let geometry = *old.geometry();
    let mut cancel = Vec::new();
    for d in old.downloading() {
        for (i, state) in d.blocks.iter().enumerate() {
            let Ok(i) = u32::try_from(i) else {
                break;
            };
            let block = geometry.block(d.piece, i);
            match state {
                BlockState::Open => {}
                BlockState::Requested { first, more } => {
                    for peer in std::iter::once(first).chain(more.iter()) {
                        let _ = new.mark_requested(*peer, block);
                    }
                }
                BlockState::Received => {
                    // Its piece may be hashing now: the hash result lands
                    // in the new picker as it would have in the old.
                    let _ = new.mark_requested(CARRIED, block);
                    cancel.clear();
                    let _ = new.block_received(CARRIED, block, &mut cancel);
                }
            }
        }
    }
}

impl Torrent {
    /// Close every peer, stop dialling and accepting, tell the trackers
    /// `stopped`. Verified data and progress are kept.
    pub(super) fn pause(&mut self) {
        if self.paused {
            return;
        }
        self.paused = true;
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for key in keys {
            if let Some(e) = self.peers.get(&key) {
                e.mailbox.post(|o| o.close = Some("paused".into()));
            }
            self.peer_gone(key, "paused", false);
        }
        self.per_piece_deadline = None;
        self.next_opportunity = None;
        self.turn_held = false;
        self.rechoke_soon = false;
        self.dial_soon = false;
        self.report_progress();
        if let Some(a) = self.announcer.take() {
            let within = self.links.config.stop_announce_timeout;
            tokio::spawn(a.stop(within));
        }
        self.tracker_peers = None;
        if self.options.durable {
            self.save_resume_in_background();
        }
        self.status.state = TorrentState::Paused;
        self.publish_status();
        tracing::info!(name = %self.meta.info.name, "paused");
    }

    /// Announce `started` again, dial and accept.
    pub(super) fn resume(&mut self) {
        if !self.paused {
            return;
        }
        self.paused = false;
        self.status.state = if self.completed {
            TorrentState::Seeding
        } else {
            TorrentState::Downloading
        };
        self.report_progress();
        self.start_trackers();
        self.dht_now();
        self.dht_tick(Instant::now());
        self.candidates.retry_now(Instant::now());
        self.dial(Instant::now());
        self.publish_status();
        tracing::info!(name = %self.meta.info.name, "resumed");
    }

    /// Switch policies in the running torrent.
    pub(super) fn set_policies(&mut self, u: PolicyUpdate) {
        let mut chokers_changed = false;
        if let Some(kind) = u.picker {
            self.options.policies.picker = kind;
            self.rebuild_picker();
        }
        if let Some(kind) = u.choker {
            self.options.policies.choker = kind;
            let settings = self.choker_settings();
            let choker = kind.build(&settings, self.rng.next_u64());
            let locality = self.links.config.locality.clone();
            self.leech_choker =
                super::startup::near_first(choker, locality.as_deref(), self.rng.next_u64());
            chokers_changed = true;
        }
        if let Some(kind) = u.seed_choker {
            self.options.policies.seed_choker = kind;
            let settings = self.choker_settings();
            let choker = kind.build(&settings, self.rng.next_u64());
            let locality = self.links.config.locality.clone();
            self.seed_choker =
                super::startup::near_first(choker, locality.as_deref(), self.rng.next_u64());
            chokers_changed = true;
        }
        if chokers_changed {
            // The new choker knows nothing of the old one's turns: decide
            // afresh now.
            self.per_piece_deadline = None;
            self.next_opportunity = None;
            self.turn_held = false;
            self.rechoke_soon = true;
            if !self.paused {
                self.rechoke(Instant::now());
            }
        }
        if let Some(rate) = u.one_club_rate {
            self.options.policies.one_club_rate = rate;
            self.service.policy.reduced = (rate > 0).then_some(rate);
            self.force_service_rate();
        }
        self.status.policies = self.options.policies.describe();
        self.publish_status();
    }

    /// The torrent's own limits, bytes/s (0: unlimited). The upload limit
    /// is the one-club policy's full rate mu: while throttled the bucket
    /// stays at mu'.
    pub(super) fn set_rate_limits(&mut self, upload: u64, download: u64) {
        self.options.max_upload_rate = upload;
        self.options.max_download_rate = download;
        self.service.policy.full = (upload > 0).then_some(upload);
        self.force_service_rate();
        if self.torrent_down.rate() != download {
            self.torrent_down.set_rate(download);
        }
        self.publish_status();
    }

    /// Set the torrent bucket to what the one-club policy asks now, even
    /// if the throttled state did not change (its rates did).
    fn force_service_rate(&mut self) {
        let now = Instant::now();
        self.apply_service_rate(now);
        let have = self.have.count_ones();
        let total = self.have.len();
        let rate = self.service.policy.rate(have, total).unwrap_or(0);
        self.service.throttled = self.service.policy.throttled(have, total);
        if self.torrent_up.rate() != rate {
            self.torrent_up.set_rate(rate);
        }
    }

    fn choker_settings(&self) -> ChokerSettings {
        ChokerSettings {
            slots: self.options.policies.upload_slots,
            rechoke_interval: self.links.config.scaled(super::startup::RECHOKE_INTERVAL),
            piece_bytes: u64::from(self.shared.geometry.piece_length()),
        }
    }

    /// A new picker of the current kind carrying everything the old one
    /// knew: our pieces, every connected peer's pieces, blocks received
    /// and requests in flight (under the same peers).
    fn rebuild_picker(&mut self) {
        let p = &self.options.policies;
        let geometry = self.shared.geometry;
        let seed = self.rng.next_u64();
        let mut picker: Box<dyn PiecePicker> = match p.seed_picker {
            Some(from_seeds) if from_seeds != p.picker => {
                p.picker.build_split(from_seeds, geometry, seed)
            }
            _ => p.picker.build(geometry, seed),
        };
        carry_over(
            self.picker.book(),
            &mut *picker,
            &self.have,
            self.peers.values().filter(|e| e.counted).map(|e| &e.has),
        );
        self.picker = picker;
    }

    /// Refresh `status.pieces` in place (no allocation once sized).
    pub(super) fn refresh_piece_map(&mut self) {
        let n = self.have.len() as usize;
        let book = self.picker.book();
        let cells = &mut self.status.pieces;
        if cells.len() != n {
            cells.resize(n, PieceStatus::default());
        }
        for (i, cell) in cells.iter_mut().enumerate() {
            let Ok(i) = u32::try_from(i) else {
                break;
            };
            cell.availability = book.availability(riffle_protocol::PieceIndex::new(i));
            cell.downloading = false;
        }
        for d in book.downloading() {
            if let Some(cell) = cells.get_mut(d.piece.idx()) {
                cell.downloading = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use riffle_policies::picker::{PieceState, Remote};
    use riffle_protocol::{PieceGeometry, PieceIndex};

    use super::*;

    /// Every piece's state and availability, and every started piece's
    /// block states.
    fn snapshot(book: &BlockBook) -> Vec<(PieceState, u32, Option<Vec<BlockState>>)> {
        (0..book.geometry().piece_count())
            .map(|i| {
                let p = PieceIndex::new(i);
                (
                    book.state(p),
                    book.availability(p),
                    book.blocks_of(p).map(|b| b.to_vec()),
                )
            })
            .collect()
    }

    proptest! {
        /// Whatever state the old picker is in (peers' pieces, our pieces,
        /// requests to several peers, blocks received), the rebuilt picker
        /// of another kind holds the same book.
        #[test]
        fn a_rebuilt_picker_keeps_the_book(
            pieces in 2u32..12,
            blocks in 1u32..4,
            peer_bits in proptest::collection::vec(proptest::collection::vec(any::<bool>(), 12), 1..4),
            have_bits in proptest::collection::vec(any::<bool>(), 12),
            wants in proptest::collection::vec(0usize..6, 1..4),
            receive_every in 1usize..4,
            from in 0usize..3,
            to in 0usize..3,
            seed in any::<u64>(),
        ) {
            let kinds = [PickerKind::RarestFirst, PickerKind::RandomUseful, PickerKind::Sequential];
            let block = riffle_protocol::BLOCK_SIZE;
            let geometry = PieceGeometry::new(pieces, blocks * block, block).unwrap();
            let mut old = kinds[from].build(geometry, seed);
            let mut have = Bitfield::new(pieces);
            for i in 0..pieces {
                if have_bits[i as usize] {
                    have.set(PieceIndex::new(i), true);
                    old.we_have(PieceIndex::new(i)).unwrap();
                }
            }
            let peers: Vec<Bitfield> = peer_bits
                .iter()
                .map(|bits| {
                    let mut b = Bitfield::new(pieces);
                    for i in 0..pieces {
                        b.set(PieceIndex::new(i), bits[i as usize]);
                    }
                    b
                })
                .collect();
            for b in &peers {
                old.on_availability(AvailabilityChange::Bitfield(b));
            }
            let mut cancel = Vec::new();
            for (n, (b, want)) in peers.iter().zip(wants.iter().cycle()).enumerate() {
                let key = PeerKey(n as u64 + 1);
                let mut out = Vec::new();
                old.pick(Remote { peer: key, has: b, snubbed: false }, *want, &mut out);
                for (j, r) in out.iter().enumerate() {
                    if j % receive_every == 0 {
                        old.block_received(key, *r, &mut cancel).unwrap();
                    }
                }
            }
            let mut new = kinds[to].build(geometry, seed ^ 1);
            carry_over(old.book(), &mut *new, &have, peers.iter());
            prop_assert_eq!(snapshot(old.book()), snapshot(new.book()));
            prop_assert_eq!(old.book().open_blocks(), new.book().open_blocks());
        }
    }
}
