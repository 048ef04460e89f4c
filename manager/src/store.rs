//! The state directory: everything the manager must find again after a
//! restart or a crash.
//!
//! ```text
//! STATE/settings.json              session-wide settings
//! STATE/stats.json                 cumulative transfer statistics
//! STATE/queue.json                 the queue: info-hashes, first first
//! STATE/torrents/<hash>.torrent    each torrent's metainfo, as added
//! STATE/torrents/<hash>.json       its record (settings, queue, counters)
//! STATE/resume/<hash>.resume       the engine's resume record
//! ```
//!
//! Every file is replaced atomically (`riffle_storage::write_atomically`):
//! a SIGKILL at any moment leaves the old version or the new. A torrent
//! whose record is missing or unreadable is loaded with default settings
//! from its `.torrent` (the metainfo is what cannot be recreated); a
//! damaged `.torrent` is skipped with a warning, never a failed start.

use std::path::{Path, PathBuf};

use riffle_protocol::magnet::Magnet;
use riffle_protocol::metainfo::Metainfo;
use riffle_protocol::InfoHash;
use riffle_storage::write_atomically;
use serde::{Deserialize, Serialize};

use crate::error::ManagerError;
use crate::record::TorrentRecord;
use crate::settings::Settings;

/// Largest `.torrent` the state directory holds (as `riffle info`).
const MAX_TORRENT_BYTES: u64 = 64 * 1024 * 1024;

/// Transfer totals over every run of the manager (Transmission's
/// `cumulative-stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Totals {
    /// Payload bytes sent.
    pub uploaded_bytes: u64,
    /// Payload bytes received.
    pub downloaded_bytes: u64,
    /// Torrents added.
    pub files_added: u64,
    /// Times the manager was started.
    pub session_count: u64,
    /// Seconds it ran.
    pub seconds_active: u64,
}

/// One torrent found in the state directory.
pub struct Stored {
    /// The metainfo's bytes, as added.
    pub bytes: Vec<u8>,
    /// Parsed.
    pub meta: Metainfo,
    /// Its record, if one was found and read.
    pub record: Option<TorrentRecord>,
}

/// The state directory.
#[derive(Clone, Debug)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// Use (and create) `root`.
    pub fn open(root: &Path) -> Result<StateDir, ManagerError> {
        for dir in [root.to_owned(), root.join("torrents"), root.join("resume")] {
            std::fs::create_dir_all(&dir).map_err(ManagerError::state(&dir))?;
        }
        Ok(StateDir {
            root: root.to_owned(),
        })
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the engine keeps resume records.
    pub fn resume_dir(&self) -> PathBuf {
        self.root.join("resume")
    }

    /// The resume record of `hash`.
    pub fn resume_path(&self, hash: &InfoHash) -> PathBuf {
        self.resume_dir().join(format!("{}.resume", hash.to_hex()))
    }

    fn torrent_path(&self, hash: &InfoHash) -> PathBuf {
        self.root
            .join("torrents")
            .join(format!("{}.torrent", hash.to_hex()))
    }

    fn record_path(&self, hash: &InfoHash) -> PathBuf {
        self.root
            .join("torrents")
            .join(format!("{}.json", hash.to_hex()))
    }

    fn write(&self, path: &Path, bytes: &[u8]) -> Result<(), ManagerError> {
        write_atomically(path, bytes).map_err(|e| ManagerError::State {
            path: path.to_owned(),
            source: std::io::Error::other(e.to_string()),
        })
    }

    fn write_json<T: Serialize>(&self, path: &Path, value: &T) -> Result<(), ManagerError> {
        let text = serde_json::to_vec_pretty(value).map_err(|e| ManagerError::State {
            path: path.to_owned(),
            source: std::io::Error::other(e),
        })?;
        self.write(path, &text)
    }

    fn read_json<T: for<'de> Deserialize<'de>>(&self, path: &Path) -> Option<T> {
        let text = std::fs::read(path).ok()?;
        match serde_json::from_slice(&text) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring an unreadable state file: {e}");
                None
            }
        }
    }

    /// The saved settings (defaults when none were saved).
    pub fn load_settings(&self) -> Option<Settings> {
        self.read_json(&self.root.join("settings.json"))
    }

    /// Save the settings.
    pub fn save_settings(&self, settings: &Settings) -> Result<(), ManagerError> {
        self.write_json(&self.root.join("settings.json"), settings)
    }

    /// The saved totals.
    pub fn load_totals(&self) -> Totals {
        self.read_json(&self.root.join("stats.json"))
            .unwrap_or_default()
    }

    /// Save the totals.
    pub fn save_totals(&self, totals: &Totals) -> Result<(), ManagerError> {
        self.write_json(&self.root.join("stats.json"), totals)
    }

    /// The saved queue order (empty when none was saved).
    pub fn load_queue(&self) -> Vec<InfoHash> {
        let hexes: Vec<String> = self
            .read_json(&self.root.join("queue.json"))
            .unwrap_or_default();
        hexes.iter().filter_map(|h| h.parse().ok()).collect()
    }

    /// Save the queue order.
    pub fn save_queue(&self, order: &[InfoHash]) -> Result<(), ManagerError> {
        let hexes: Vec<String> = order.iter().map(InfoHash::to_hex).collect();
        self.write_json(&self.root.join("queue.json"), &hexes)
    }

    fn magnet_path(&self, hash: &InfoHash) -> PathBuf {
        self.root
            .join("torrents")
            .join(format!("{}.magnet", hash.to_hex()))
    }

    /// Keep a magnet link whose metadata is still to come.
    pub fn save_magnet(&self, hash: &InfoHash, uri: &str) -> Result<(), ManagerError> {
        self.write(&self.magnet_path(hash), uri.as_bytes())
    }

    /// Its metadata came: the link is no longer needed.
    pub fn forget_magnet(&self, hash: &InfoHash) {
        let _ = std::fs::remove_file(self.magnet_path(hash));
    }

    /// Magnet links still waiting for their metadata, with their records.
    pub fn load_magnets(&self) -> Vec<(Magnet, Option<TorrentRecord>)> {
        let dir = self.root.join("torrents");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("magnet") {
                continue;
            }
            let Some(magnet) = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| Magnet::parse(&t).ok())
            else {
                tracing::warn!(path = %path.display(), "skipping an unreadable magnet link");
                continue;
            };
            if self.torrent_path(&magnet.info_hash).exists() {
                // Fetched already (the link outlived a crash).
                self.forget_magnet(&magnet.info_hash);
                continue;
            }
            let record = self.read_json(&self.record_path(&magnet.info_hash));
            out.push((magnet, record));
        }
        out
    }

    /// Keep a newly added torrent's metainfo.
    pub fn save_torrent(&self, hash: &InfoHash, bytes: &[u8]) -> Result<(), ManagerError> {
        self.write(&self.torrent_path(hash), bytes)
    }

    /// Save a torrent's record.
    pub fn save_record(&self, hash: &InfoHash, record: &TorrentRecord) -> Result<(), ManagerError> {
        self.write_json(&self.record_path(hash), record)
    }

    /// Forget a torrent: its metainfo, record and resume record.
    pub fn remove(&self, hash: &InfoHash) -> Result<(), ManagerError> {
        for path in [
            self.record_path(hash),
            self.torrent_path(hash),
            self.resume_path(hash),
            self.resume_path(hash).with_extension("parts"),
            self.magnet_path(hash),
        ] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(ManagerError::state(&path)(e)),
            }
        }
        Ok(())
    }

    /// Every torrent in the directory (unreadable ones skipped).
    pub fn load_torrents(&self) -> Result<Vec<Stored>, ManagerError> {
        let dir = self.root.join("torrents");
        let entries = std::fs::read_dir(&dir).map_err(ManagerError::state(&dir))?;
        let mut out = Vec::new();
        for entry in entries {
            let path = entry.map_err(ManagerError::state(&dir))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("torrent") {
                continue;
            }
            let bytes = match read_capped(&path) {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(path = %path.display(), "skipping an unreadable torrent: {e}");
                    continue;
                }
            };
            let meta = match Metainfo::from_bytes(&bytes) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(path = %path.display(), "skipping an invalid torrent: {e}");
                    continue;
                }
            };
            let record = self.read_json(&self.record_path(&meta.info_hash));
            out.push(Stored {
                bytes,
                meta,
                record,
            });
        }
        Ok(out)
    }
}

fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_TORRENT_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_TORRENT_BYTES {
        return Err(std::io::Error::other("larger than a .torrent can be"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use riffle_protocol::metainfo::TorrentBuilder;

    fn torrent(name: &str) -> (Vec<u8>, InfoHash) {
        let mut b = TorrentBuilder::new(name.into(), 16384);
        b.single_file(10);
        b.piece_hashes(vec![[1; 20]]);
        b.build().unwrap()
    }

    #[test]
    fn torrents_records_settings_and_totals_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(&dir.path().join("state")).unwrap();
        let (bytes, hash) = torrent("a");
        let (bytes_b, hash_b) = torrent("b");
        state.save_torrent(&hash, &bytes).unwrap();
        state.save_torrent(&hash_b, &bytes_b).unwrap();
        let record = TorrentRecord::new(4, "/dl".into(), &Settings::default(), 9);
        state.save_record(&hash, &record).unwrap();
        // A damaged record and a damaged torrent are survivable.
        std::fs::write(state.record_path(&hash_b), b"{not json").unwrap();
        std::fs::write(state.root().join("torrents/zz.torrent"), b"garbage").unwrap();
        let settings = Settings {
            seed_queue_size: 3,
            ..Settings::default()
        };
        state.save_settings(&settings).unwrap();
        state
            .save_totals(&Totals {
                uploaded_bytes: 5,
                ..Totals::default()
            })
            .unwrap();

        let again = StateDir::open(state.root()).unwrap();
        let mut loaded = again.load_torrents().unwrap();
        loaded.sort_by_key(|s| s.meta.info.name.clone());
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[0].record.as_ref(), Some(&record));
        assert_eq!(loaded[0].bytes, bytes);
        assert!(loaded[1].record.is_none());
        assert_eq!(again.load_settings().unwrap().seed_queue_size, 3);
        assert_eq!(again.load_totals().uploaded_bytes, 5);

        again.save_queue(&[hash_b, hash]).unwrap();
        assert_eq!(again.load_queue(), [hash_b, hash]);

        again.remove(&hash).unwrap();
        assert_eq!(again.load_torrents().unwrap().len(), 1);
        again.remove(&hash).unwrap();
    }
}
