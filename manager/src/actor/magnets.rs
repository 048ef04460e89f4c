//! Torrents added by magnet link, before their metadata has arrived.
//!
//! Such a torrent has an id, a place in the queue and a record (where to
//! save it, labels, stopped or not) like any other, and shows in the list
//! with its name from the link (or its info-hash) and the metadata fetched
//! so far; a task fetches the metadata from its peers and trackers,
//! trying again until it succeeds, is stopped or is removed. Once the
//! metadata verifies it becomes an ordinary torrent under the same id.
//! The link is kept in the state directory (`torrents/<hash>.magnet`), so
//! a restart goes on fetching; once fetched, the `.torrent` is kept
//! instead, so a restart fetches nothing again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use riffle_client::engine::magnet::fetch_metadata;
use riffle_protocol::magnet::Magnet;
use riffle_protocol::metainfo::Metainfo;
use riffle_protocol::{Bitfield, InfoHash};
use tokio::task::JoinHandle;

use super::Actor;
use crate::entry::Entry;
use crate::error::ManagerError;
use crate::info::{Activity, Added, Brief, Detail, TorrentInfo};
use crate::manager::Internal;
use crate::record::TorrentRecord;

/// How long one fetch looks before it starts over (peers and trackers
/// asked again).
const FETCH_ROUND: Duration = Duration::from_secs(600);
/// Pause between two rounds that found nothing.
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// A magnet link waiting for its metadata.
pub(crate) struct Pending {
    /// The link.
    pub magnet: Magnet,
    /// Its record (id, directory, labels, stopped).
    pub record: TorrentRecord,
    /// Fraction of the metadata received by the best attempt, as f64 bits.
    progress: Arc<AtomicU64>,
    /// The fetch, while one runs.
    task: Option<JoinHandle<()>>,
}

impl Pending {
    fn name(&self) -> String {
        self.magnet
            .display_name
            .clone()
            .unwrap_or_else(|| self.magnet.info_hash.to_hex())
    }

    /// What the list shows for it.
    pub fn info(&self, state: &crate::store::StateDir) -> TorrentInfo {
        let mut info = TorrentInfo::empty(self.record.clone(), self.magnet.info_hash, self.name());
        info.activity = if self.record.paused {
            Activity::Stopped
        } else {
            Activity::Downloading
        };
        info.metadata_percent = f64::from_bits(self.progress.load(Ordering::Relaxed));
        info.tiers = self
            .magnet
            .trackers
            .iter()
            .map(|t| vec![t.clone()])
            .collect();
        info.magnet = self.magnet.to_uri();
        info.torrent_file = state
            .root()
            .join("torrents")
            .join(format!("{}.magnet", self.magnet.info_hash.to_hex()));
        info
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl Actor {
    /// Add a torrent by magnet link.
    pub(super) fn add_magnet(
        &mut self,
        magnet: Magnet,
        mut record: TorrentRecord,
    ) -> Result<Added, ManagerError> {
        let hash = magnet.info_hash;
        let brief = |id, name: String| Brief { id, name, hash };
        if let Some(e) = self.entries.get(&hash) {
            return Ok(Added::Duplicate(brief(
                e.record.id,
                e.meta.info.name.clone(),
            )));
        }
        if let Some(p) = self.pending.get(&hash) {
            return Ok(Added::Duplicate(brief(p.record.id, p.name())));
        }
        record.id = self.next_id;
        self.next_id += 1;
        self.state.save_magnet(&hash, &magnet.to_uri())?;
        self.state.save_record(&hash, &record)?;
        let pending = Pending {
            magnet,
            record,
            progress: Arc::new(AtomicU64::new(0f64.to_bits())),
            task: None,
        };
        let added = brief(pending.record.id, pending.name());
        self.pending.insert(hash, pending);
        self.order.push(hash);
        self.renumber();
        self.save_dirty();
        self.fetch(hash);
        tracing::info!(id = added.id, name = %added.name, "added a magnet link");
        Ok(Added::New(added))
    }

    /// Bring back a magnet link from the state directory.
    pub(super) fn restore_magnet(&mut self, magnet: Magnet, record: TorrentRecord) {
        let hash = magnet.info_hash;
        self.pending.insert(
            hash,
            Pending {
                magnet,
                record,
                progress: Arc::new(AtomicU64::new(0f64.to_bits())),
                task: None,
            },
        );
        self.fetch(hash);
    }

    /// Start fetching `hash`'s metadata, unless it is stopped or a fetch
    /// runs.
    pub(super) fn fetch(&mut self, hash: InfoHash) {
        let Some(session) = &self.session else { return };
        let setup = session.fetch_setup(FETCH_ROUND);
        let Some(p) = self.pending.get_mut(&hash) else {
            return;
        };
        if p.record.paused || p.task.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let magnet = p.magnet.clone();
        let progress = p.progress.clone();
        let tx = self.internal_tx.clone();
        p.task = Some(tokio::spawn(async move {
            loop {
                let report = |_tried: usize, got: f64| {
                    progress.store(got.to_bits(), Ordering::Relaxed);
                };
                match fetch_metadata(&magnet, &[], &setup, None, report).await {
                    Ok(info) => {
                        let _ = tx.send(Internal::Fetched(hash, info)).await;
                        return;
                    }
                    Err(e) => {
                        tracing::debug!(hash = %hash.to_hex(), "no metadata yet: {e}");
                        tokio::time::sleep(RETRY_AFTER).await;
                    }
                }
            }
        }));
    }

    /// The metadata of a magnet link arrived (verified against its
    /// info-hash): it becomes an ordinary torrent under the same id.
    pub(super) fn on_fetched(&mut self, hash: InfoHash, info: Vec<u8>) {
        let Some(mut pending) = self.pending.remove(&hash) else {
            return; // removed meanwhile
        };
        pending.task = None;
        let bytes = riffle_protocol::metadata::torrent_from_info(&info, &pending.magnet.trackers);
        let meta = match Metainfo::from_bytes(&bytes) {
            Ok(m) => m,
            Err(e) => {
                // It hashed to the info-hash, yet is not a torrent riffle
                // can run (a v2-only torrent, say).
                tracing::warn!(hash = %hash.to_hex(), "the fetched metadata is unusable: {e}");
                self.pending.insert(hash, pending);
                return;
            }
        };
        if let Err(e) = self.state.save_torrent(&hash, &bytes) {
            tracing::warn!("{e}");
        }
        self.state.forget_magnet(&hash);
        let mut record = pending.record.clone();
        record.extra_peers = pending.magnet.peers.clone();
        tracing::info!(id = record.id, name = %meta.info.name, "metadata fetched");
        let meta = Arc::new(meta);
        let have = Bitfield::new(meta.info.piece_count());
        let mut entry = Entry::new(meta, record, have);
        entry.dirty = true;
        entry.stop_after_check = !entry.record.paused && entry.has_files_on_disk();
        self.entries.insert(hash, Box::new(entry));
        self.save_dirty();
        self.schedule();
    }

    /// Snapshots of the pending links among `hashes`.
    pub(super) fn pending_infos(&self, hashes: &[InfoHash], _detail: Detail) -> Vec<TorrentInfo> {
        hashes
            .iter()
            .filter_map(|h| self.pending.get(h))
            .map(|p| p.info(&self.state))
            .collect()
    }

    /// Stop (abort the fetch) or start (fetch again) a pending link.
    pub(super) fn pause_pending(&mut self, hash: InfoHash, paused: bool) {
        let Some(p) = self.pending.get_mut(&hash) else {
            return;
        };
        p.record.paused = paused;
        if paused {
            if let Some(t) = p.task.take() {
                t.abort();
            }
        }
        let _ = self.state.save_record(&hash, &p.record);
        if !paused {
            self.fetch(hash);
        }
    }

    /// Forget a pending link.
    pub(super) fn remove_pending(&mut self, hash: InfoHash) {
        if let Some(p) = self.pending.remove(&hash) {
            self.removed.push((p.record.id, std::time::Instant::now()));
            let _ = self.state.remove(&hash);
            self.state.forget_magnet(&hash);
        }
    }
}
