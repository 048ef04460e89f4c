//! Pieces: hash checks off the async threads, what a pass or a failure
//! changes, completion, and blaming the peers that sent bad data.
//!
//! Blame: a piece written by one peer alone that fails its check bans that
//! peer. A failed piece with several writers puts each of them on parole:
//! from then on a paroled peer downloads whole pieces by itself, so its
//! next failure names it alone (libtorrent does the same).

use std::net::SocketAddr;

use anyhow::Context;
use riffle_policies::picker::PieceState;
use riffle_policies::PeerKey;
use riffle_protocol::{BlockRef, PeerId, PieceIndex};
use riffle_storage::{ResumeRecord, Verifier};

use super::status::TorrentState;
use super::Torrent;
use crate::engine::shared::Counters;

impl Torrent {
    /// Hash `piece` on the blocking pool; the result comes back on
    /// `hash_rx`.
    pub(super) fn start_hash(&mut self, piece: PieceIndex) {
        let shared = self.shared.clone();
        let expected = {
            let v2 = self.shared.v2.read().unwrap_or_else(|e| e.into_inner());
            self.meta.info.piece_check(&v2, piece)
        };
        if expected == riffle_protocol::metainfo::PieceCheck::Unknown {
            // Its file's piece layer has not come yet: it waits for it.
            if let Some(l) = self.layers.as_mut() {
                l.parked.insert(piece);
                return;
            }
        }
        let slots = self.links.hash_slots.clone();
        let tx = self.hash_results.sender();
        tokio::spawn(async move {
            let Ok(_permit) = slots.acquire_owned().await else {
                return;
            };
            let result = tokio::task::spawn_blocking(move || {
                // A v2 piece whose layer has not come yet cannot pass.
                let ok = Verifier::new()
                    .check(&*shared.storage, piece, &expected)
                    .map_err(|e| e.to_string())?
                    .unwrap_or(false);
                if ok {
                    // Start writing it back now, so the sync at the end has
                    // little left (a hint; failure changes nothing).
                    if let Err(e) = shared.storage.start_writeback(piece) {
                        tracing::debug!(%piece, %e, "writeback hint failed");
                    }
                }
                Ok(ok)
            })
            .await
            .unwrap_or_else(|e| Err(format!("hash task failed: {e}")));
            let _ = tx.send((piece, result)).await;
        });
    }

    pub(super) fn on_hash_result(&mut self, piece: PieceIndex, result: Result<bool, String>) {
        let writers = self.contributors.remove(&piece).unwrap_or_default();
        match result {
            Ok(true) => self.piece_passed(piece, &writers),
            Ok(false) => self.piece_failed(piece, &writers),
            Err(e) => {
                tracing::error!(%piece, "cannot read back a piece to check it: {e}");
                self.status.state = TorrentState::Failed(format!("storage: {e}"));
                let _ = self.picker.piece_failed(piece);
                self.shared.claims.clear_piece(piece);
            }
        }
    }

    fn piece_passed(&mut self, piece: PieceIndex, writers: &[PeerKey]) {
        if let Err(e) = self.picker.piece_passed(piece) {
            tracing::debug!(%e, "picker refused a passed piece");
        }
        if self.have.set(piece, true) {
            return;
        }
        self.shared.verified.set(piece.idx());
        let len = u64::from(self.shared.geometry.length_of(piece));
        self.status.have_bytes += len;
        if !self.done.set(piece, true) {
            // A wanted piece (an unwanted one is marked done already).
            self.wanted_left = self.wanted_left.saturating_sub(len);
            self.wanted_missing = self.wanted_missing.saturating_sub(1);
        }
        if tracing::enabled!(tracing::Level::DEBUG) {
            // Who sent it, by listening address where known: with the
            // torrent span's port, the lab's logs trace every piece.
            let from: Vec<_> = writers
                .iter()
                .filter_map(|k| self.peers.get(k))
                .map(|e| e.listen_addr.unwrap_or(e.addr))
                .collect();
            tracing::debug!(%piece, have = self.have.count_ones(), ?from, "piece verified");
        }
        for k in writers {
            if let Some(e) = self.peers.get_mut(k) {
                e.passed += 1;
                if writers.len() == 1 {
                    e.parole = false;
                }
            }
        }
        let now = tokio::time::Instant::now();
        for e in self.peers.values_mut() {
            e.mailbox.post(|o| o.haves.push(piece));
            if !e.has.has(piece) {
                e.announced_at = now;
            }
        }
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for k in keys {
            self.update_interest(k);
        }
        self.apply_service_rate(tokio::time::Instant::now());
        if self.have.count_ones() == 1 {
            // Our first piece: a tracker that shields newcomers lists us
            // only once we announce progress, so tell it now (with the
            // figures as they are now, not as of the last tick).
            self.report_progress();
            if let Some(a) = &self.announcer {
                a.want_more_peers();
            }
        }
        if self.wanted_missing == 0 {
            self.on_complete();
        }
    }

    fn piece_failed(&mut self, piece: PieceIndex, writers: &[PeerKey]) {
        let len = u64::from(self.shared.geometry.length_of(piece));
        Counters::add(&self.shared.counters.wasted, len);
        self.status.hash_failures += 1;
        tracing::warn!(%piece, writers = writers.len(), "piece failed its hash check");
        if let Err(e) = self.picker.piece_failed(piece) {
            tracing::debug!(%e, "picker refused a failed piece");
        }
        self.shared.claims.clear_piece(piece);
        let alone = writers.len() == 1;
        for k in writers {
            let Some(e) = self.peers.get_mut(k) else {
                continue;
            };
            e.failed += 1;
            if alone || (e.parole && e.passed == 0) {
                let (addr, id) = (e.addr, e.peer_id);
                e.mailbox.post(|o| {
                    o.close = Some("banned: sent data that failed the hash check".into())
                });
                self.ban(addr, id);
            } else {
                e.parole = true;
            }
        }
    }

    /// Never talk to this peer again.
    pub(super) fn ban(&mut self, addr: SocketAddr, id: Option<PeerId>) {
        tracing::warn!(peer = %addr, "banning peer");
        if self.candidates.ban(addr, id) {
            self.status.banned += 1;
        }
    }

    /// For a paroled peer: one whole open piece it holds, requested from it
    /// alone.
    pub(super) fn pick_whole_piece(&mut self, key: PeerKey, out: &mut Vec<BlockRef>) {
        let Some(e) = self.peers.get(&key) else {
            return;
        };
        let book = self.picker.book();
        let Some(piece) = e
            .has
            .ones()
            .find(|p| !self.have.has(*p) && book.state(*p) == PieceState::Open)
        else {
            return;
        };
        let g = self.shared.geometry;
        for i in 0..g.blocks_of(piece) {
            let block = g.block(piece, i);
            if self.picker.mark_requested(key, block).unwrap_or(false) {
                out.push(block);
            }
        }
    }

    /// Every piece is ours.
    pub(super) fn on_complete(&mut self) {
        if self.completed {
            return;
        }
        self.completed = true;
        if !self.paused {
            self.status.state = TorrentState::Seeding;
        }
        tracing::info!(name = %self.meta.info.name, "download complete");
        // The completed announce must say left=0 (trackers such as
        // opentracker count a download only then): publish the progress
        // now, not at the next tick.
        self.report_progress();
        if let Some(a) = &self.announcer {
            a.completed();
        }
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for k in keys {
            self.update_interest(k);
            if let Some(e) = self.peers.get(&k) {
                if e.is_seed() {
                    e.mailbox.post(|o| o.close = Some("both seeding".into()));
                }
            }
        }
        self.rechoke_soon = true;
        if self.options.seed {
            // A plain download saves on its way out instead.
            self.save_resume_in_background();
        }
        self.publish_status();
    }

    pub(super) fn save_resume_in_background(&mut self) {
        // Finished saves are reaped here so the set stays small.
        while self.resume_saves.try_join_next().is_some() {}
        let fut = self.save_resume();
        self.resume_saves.spawn(async move {
            if let Err(e) = fut.await {
                tracing::warn!("could not save resume data: {e:#}");
            }
        });
    }

    /// Make the data durable, then record which pieces are verified
    /// (atomically replacing the previous record).
    pub(super) fn save_resume(&self) -> impl std::future::Future<Output = anyhow::Result<()>> {
        let shared = self.shared.clone();
        let have = self.have.clone();
        let path = self.options.resume_path(&self.meta.info_hash);
        let durable = self.options.durable;
        async move {
            if !durable {
                return Ok(());
            }
            tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                shared.storage.sync_all().context("cannot flush the data")?;
                let record = ResumeRecord::capture(&*shared.storage, shared.info_hash, &have)
                    .context("cannot stamp the files")?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create {}", dir.display()))?;
                }
                record
                    .save(&path)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                Ok(())
            })
            .await
            .context("resume task failed")?
        }
    }
}
