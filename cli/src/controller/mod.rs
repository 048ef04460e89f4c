//! The handle between the terminal UI and the engine.
//!
//! The TUI (crate riffle-tui) knows nothing of the engine: it gets plain
//! snapshots and answers with commands. A [`Controller`] owns the session
//! and its torrents, turns their status into a [`Snapshot`] a few times a
//! second (`snapshot.rs`) and runs the commands the user gives (add,
//! pause, resume, remove, limits, policies) on the running session;
//! [`drive`] runs the TUI over it (`drive.rs`). `riffle tui` and the live
//! `riffle demo` both use it.

mod drive;
mod snapshot;

use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use riffle_client::engine::{PolicyUpdate, Session, TorrentHandle, TorrentOptions};
use riffle_policies::catalog::{PickerKind, SeedChokerKind};
use riffle_protocol::metainfo::Metainfo;
use riffle_tui::app::{Command, PolicyChange};
use riffle_tui::model::Snapshot;

pub use drive::drive;
use snapshot::limit_text;
pub use snapshot::torrent_view;

use crate::torrent_file::load_torrent;

/// One torrent the TUI shows.
struct Entry {
    /// The TUI's key for it.
    id: u64,
    /// The running torrent.
    handle: TorrentHandle,
    /// Where its data lives and the policies it runs now (kept in step
    /// with every change made through [`Controller::execute`]).
    options: TorrentOptions,
    /// Its metainfo (for deleting exactly its files).
    meta: Arc<Metainfo>,
}

/// The session behind the TUI and the torrents in it.
pub struct Controller {
    session: Session,
    torrents: Vec<Entry>,
    next_id: u64,
    /// Options for torrents added from the TUI.
    defaults: TorrentOptions,
    /// Lines the demo adds under the trackers (swarm counts).
    pub extra_lines: Arc<std::sync::Mutex<Vec<String>>>,
    /// Torrents whose magnet link's metadata arrived, to be added at the
    /// next snapshot.
    fetched: (
        std::sync::mpsc::Sender<Metainfo>,
        std::sync::mpsc::Receiver<Metainfo>,
    ),
}

impl Controller {
    /// A controller over `session`; torrents added later get `defaults`.
    pub fn new(session: Session, defaults: TorrentOptions) -> Controller {
        Controller {
            session,
            torrents: Vec::new(),
            next_id: 1,
            defaults,
            extra_lines: Arc::default(),
            fetched: std::sync::mpsc::channel(),
        }
    }

    /// Start a torrent in the session with `options`.
    pub fn add(&mut self, meta: Metainfo, options: TorrentOptions) -> Result<u64> {
        let meta = Arc::new(meta);
        let handle = self
            .session
            .add_torrent((*meta).clone(), options.clone())
            .map_err(|e| anyhow!(e))?;
        let id = self.next_id;
        self.next_id += 1;
        self.torrents.push(Entry {
            id,
            handle,
            options,
            meta,
        });
        Ok(id)
    }

    /// Fetch a magnet link's metadata in the background; the torrent is
    /// added when it arrives.
    fn fetch_magnet(&mut self, uri: &str) -> Result<String> {
        let magnet = riffle_protocol::magnet::Magnet::parse(uri)
            .map_err(|e| anyhow!("not a usable magnet link: {e}"))?;
        let setup = self
            .session
            .fetch_setup(crate::torrent_file::METADATA_LIMIT);
        let tx = self.fetched.0.clone();
        let name = magnet
            .display_name
            .clone()
            .unwrap_or_else(|| magnet.info_hash.to_hex());
        tokio::spawn(async move {
            let fetched = riffle_client::engine::magnet::fetch_metadata(
                &magnet,
                &[],
                &setup,
                None,
                |_, _| {},
            )
            .await;
            match fetched {
                Ok(info) => {
                    let bytes =
                        riffle_protocol::metadata::torrent_from_info(&info, &magnet.trackers);
                    if let Ok(meta) = Metainfo::from_bytes(&bytes) {
                        let _ = tx.send(meta);
                    }
                }
                Err(e) => tracing::warn!("magnet link: {e}"),
            }
        });
        Ok(format!("{name}: fetching metadata"))
    }

    /// Add the torrents whose metadata arrived.
    fn add_fetched(&mut self) {
        while let Ok(meta) = self.fetched.1.try_recv() {
            let mut options = self.defaults.clone();
            options.seed = true;
            if let Err(e) = self.add(meta, options) {
                tracing::warn!("cannot add a fetched torrent: {e:#}");
            }
        }
    }

    /// The session as the TUI sees it now.
    pub fn snapshot(&mut self) -> Snapshot {
        self.add_fetched();
        let extra = self
            .extra_lines
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default();
        Snapshot {
            torrents: self
                .torrents
                .iter()
                .map(|e| {
                    let st = e.handle.status().borrow().clone();
                    let mut view = torrent_view(e.id, &st, &e.options);
                    view.trackers.extend(extra.iter().cloned());
                    view
                })
                .collect(),
            download_limit: self.session.rate_limits().1,
            upload_limit: self.session.rate_limits().0,
            listen: self.session.listen_addr().to_string(),
        }
    }

    /// Where torrent `id` is in the list.
    fn index(&self, id: u64) -> Result<usize> {
        self.torrents
            .iter()
            .position(|e| e.id == id)
            .ok_or_else(|| anyhow!("no torrent {id}"))
    }

    fn entry(&self, id: u64) -> Result<&Entry> {
        Ok(&self.torrents[self.index(id)?])
    }

    /// Run one command on the session; the answer is a line for the TUI's
    /// status bar.
    pub async fn execute(&mut self, cmd: Command) -> Result<String> {
        match cmd {
            Command::AddTorrent(path) if path.to_string_lossy().starts_with("magnet:") => {
                self.fetch_magnet(&path.to_string_lossy())
            }
            Command::AddTorrent(path) => {
                let meta = load_torrent(&path)?;
                let name = meta.info.name.clone();
                let mut options = self.defaults.clone();
                options.seed = true;
                self.add(meta, options)?;
                Ok(format!("added {name}"))
            }
            Command::Pause(id) => {
                let e = self.entry(id)?;
                e.handle.pause().await;
                Ok(format!("paused {}", e.meta.info.name))
            }
            Command::Resume(id) => {
                let e = self.entry(id)?;
                e.handle.resume().await;
                Ok(format!("resumed {}", e.meta.info.name))
            }
            Command::Remove { id, delete_data } => {
                let e = self.torrents.remove(self.index(id)?);
                let name = e.meta.info.name.clone();
                let deleted = e
                    .handle
                    .remove(delete_data)
                    .await
                    .with_context(|| format!("cannot delete the data of {name}"))?;
                match deleted {
                    Some(d) => Ok(format!(
                        "removed {name} and deleted its data ({} file{})",
                        d.files.len(),
                        if d.files.len() == 1 { "" } else { "s" }
                    )),
                    None => Ok(format!("removed {name} (data kept)")),
                }
            }
            Command::SetSessionLimits { download, upload } => {
                self.session.set_rate_limits(upload, download);
                Ok(format!(
                    "limits: down {}, up {}",
                    limit_text(download),
                    limit_text(upload)
                ))
            }
            Command::SetPolicy { id, change } => {
                let i = self.index(id)?;
                let e = &mut self.torrents[i];
                let mut update = PolicyUpdate::default();
                let what = match change {
                    PolicyChange::Picker(name) => {
                        let p: PickerKind = name.parse().map_err(|e| anyhow!("{e}"))?;
                        update.picker = Some(p);
                        e.options.policies.picker = p;
                        format!("picker {p}")
                    }
                    PolicyChange::SeedChoker(name) => {
                        let c: SeedChokerKind = name.parse().map_err(|e| anyhow!("{e}"))?;
                        update.seed_choker = Some(c);
                        e.options.policies.seed_choker = c;
                        format!("seed choker {c}")
                    }
                    PolicyChange::OneClubRate(rate) => {
                        update.one_club_rate = Some(rate);
                        e.options.policies.one_club_rate = rate;
                        format!("one-club rate {}", limit_text(rate))
                    }
                };
                e.handle.set_policies(update).await;
                Ok(format!("{}: {what}", e.meta.info.name))
            }
            Command::Quit => Ok(String::new()),
        }
    }

    /// Stop every torrent and the session.
    pub async fn shutdown(self) {
        self.session.shutdown().await;
        for e in self.torrents {
            e.handle.join().await;
        }
    }
}

#[cfg(test)]
mod tests;
