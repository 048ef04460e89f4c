//! `riffle tui`: the terminal UI on a local session.
//!
//! The TUI (crate riffle-tui) knows nothing of the engine: it gets plain
//! snapshots and answers with commands. This module is the handle between
//! the two: a [`Controller`] owns the session and its torrents, turns their
//! status into a [`Snapshot`] a few times a second and runs the commands
//! the user gives (add, pause, resume, remove, limits, policies) on the
//! running session.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use clap::Args;
use riffle_client::engine::{
    PolicyUpdate, Session, SessionConfig, TorrentHandle, TorrentOptions, TorrentState,
    TorrentStatus,
};
use riffle_policies::catalog::{PickerKind, SeedChokerKind};
use riffle_protocol::metainfo::Metainfo;
use riffle_tui::app::{App, Command, PolicyChange};
use riffle_tui::model::{self, PeerRow, PieceCell, PieceState, PolicyView, Snapshot, TorrentView};
use tokio::sync::Mutex;

use super::info::load_torrent;
use super::run::PeerFlags;

/// Arguments of `riffle tui`.
#[derive(Args, Debug)]
pub struct TuiArgs {
    /// .torrent files to start with (more can be added from the TUI).
    #[arg(value_name = "TORRENT")]
    pub torrents: Vec<PathBuf>,
    /// Directory to save into.
    #[arg(short = 'o', long = "output", value_name = "DIR", default_value = ".")]
    pub output: PathBuf,
    #[command(flatten)]
    pub peer: PeerFlags,
}

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

    /// The session as the TUI sees it now.
    pub fn snapshot(&self) -> Snapshot {
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

fn limit_text(rate: u64) -> String {
    if rate == 0 {
        "unlimited".into()
    } else {
        format!("{}/s", super::info::human_bytes(rate))
    }
}

/// The TUI's view of one torrent.
pub fn torrent_view(id: u64, st: &TorrentStatus, options: &TorrentOptions) -> TorrentView {
    // What the torrent runs now, as it reports it.
    let p = st.policy_values.as_ref().unwrap_or(&options.policies);
    let pieces = (0..st.piece_count)
        .map(|i| {
            let idx = riffle_protocol::PieceIndex::new(i);
            let info = st.pieces.get(i as usize);
            PieceCell {
                state: if st.have.has(idx) {
                    PieceState::Have
                } else if info.is_some_and(|x| x.downloading) {
                    PieceState::Downloading
                } else {
                    PieceState::Missing
                },
                availability: info.map_or(0, |x| x.availability),
            }
        })
        .collect();
    TorrentView {
        id,
        name: st.name.clone(),
        size: st.total_bytes,
        progress: st.progress(),
        download_rate: st.download_rate,
        upload_rate: st.upload_rate,
        downloaded: st.downloaded,
        uploaded: st.uploaded,
        peers: st.peers.len(),
        seeds: st.seeds,
        state: match &st.state {
            TorrentState::Checking => model::TorrentState::Checking,
            TorrentState::Downloading => model::TorrentState::Downloading,
            TorrentState::Seeding => model::TorrentState::Seeding,
            TorrentState::Paused => model::TorrentState::Paused,
            TorrentState::Stopped => model::TorrentState::Stopped,
            TorrentState::Failed(e) => model::TorrentState::Failed(e.clone()),
        },
        policies: PolicyView {
            picker: p.picker.to_string(),
            choker: p.choker.to_string(),
            seed_choker: p.seed_choker.to_string(),
            one_club_rate: p.one_club_rate,
        },
        one_club: st.one_club,
        throttled: st.throttled,
        upload_limit: st.upload_limit,
        download_limit: st.download_limit,
        one_club_time_secs: st.one_club_time.as_secs_f64(),
        uploaded_throttled: st.uploaded_throttled,
        peer_list: st
            .peers
            .iter()
            .map(|q| PeerRow {
                addr: q.addr.to_string(),
                client: q.client.clone().unwrap_or_default(),
                progress: q.progress,
                download_rate: q.download_rate,
                upload_rate: q.upload_rate,
                am_choking: q.am_choking,
                am_interested: q.am_interested,
                peer_choking: q.peer_choking,
                peer_interested: q.peer_interested,
                snubbed: q.snubbed,
                one_club: q.one_club,
            })
            .collect(),
        pieces,
        trackers: st.trackers.clone(),
    }
}

/// Run the TUI over `controller` until the user quits. Snapshots go out
/// every `period`; commands run on `runtime`.
pub fn drive(
    runtime: &tokio::runtime::Runtime,
    controller: Arc<Mutex<Controller>>,
    period: Duration,
) -> Result<()> {
    let (snap_tx, snap_rx) = std::sync::mpsc::sync_channel::<Snapshot>(2);
    let feeder = {
        let controller = controller.clone();
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last: Option<Snapshot> = None;
            loop {
                tick.tick().await;
                let snap = controller.lock().await.snapshot();
                if last.as_ref() == Some(&snap) {
                    continue; // nothing changed: no redraw
                }
                match snap_tx.try_send(snap.clone()) {
                    Ok(()) => last = Some(snap),
                    Err(std::sync::mpsc::TrySendError::Full(_)) => {}
                    Err(std::sync::mpsc::TrySendError::Disconnected(_)) => break,
                }
            }
        })
    };
    let result = riffle_tui::terminal::run(snap_rx, |cmd, app: &mut App| {
        if matches!(cmd, Command::Quit) {
            return;
        }
        let outcome = runtime.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(10),
                controller.lock().await.execute(cmd),
            )
            .await
            .unwrap_or_else(|_| Err(anyhow!("the session did not answer in time")))
        });
        match outcome {
            Ok(msg) => app.set_status(msg),
            Err(e) => app.set_status(format!("error: {e:#}")),
        }
    });
    feeder.abort();
    result.context("the terminal failed")
}

/// Run `riffle tui`.
pub fn run(args: TuiArgs) -> Result<()> {
    let metas = args
        .torrents
        .iter()
        .map(load_torrent)
        .collect::<Result<Vec<_>>>()?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    let mut config = SessionConfig::default();
    let mut options = TorrentOptions::new(&args.output);
    args.peer.apply(&mut config, &mut options);
    options.seed = true;
    let runtime = super::runtime("riffle")?;
    let controller = runtime.block_on(async {
        let session = Session::start(config).await.map_err(|e| anyhow!(e))?;
        let mut c = Controller::new(session, options.clone());
        for meta in metas {
            c.add(meta, options.clone())?;
        }
        anyhow::Ok(c)
    })?;
    let controller = Arc::new(Mutex::new(controller));
    let outcome = drive(&runtime, controller.clone(), Duration::from_millis(250));
    runtime.block_on(async move {
        if let Ok(c) = Arc::try_unwrap(controller) {
            c.into_inner().shutdown().await;
        }
    });
    outcome
}

#[cfg(test)]
mod tests;
