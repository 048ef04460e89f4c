//! Carrying out checked RPC calls on the manager: the one place the RPC
//! meets the running session. A request body in, an answer body out;
//! every failure becomes the answer's `result` string.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use riffle_manager::{AddRequest, Added, Brief, Manager, ManagerError, Select, TorrentChange};
use serde_json::{json, Map, Value};
use tokio::sync::Notify;

use crate::rpc::call::{Action, Add, Source};
use crate::rpc::session_fields::{self, SessionFacts};
use crate::rpc::torrent_fields::{self, Now};
use crate::rpc::{self, Call};

/// Largest `.torrent` read from a path given to `torrent-add`.
const MAX_TORRENT_FILE: u64 = 64 * 1024 * 1024;

type R = Result<Map<String, Value>, String>;

/// What the RPC works on.
pub struct Service {
    /// The torrents.
    pub manager: Manager,
    /// The CSRF token (also reported by `session-get`).
    pub session_id: String,
    /// The state directory (`config-dir`).
    pub config_dir: PathBuf,
    /// Woken by `session-close`.
    pub close: Arc<Notify>,
}

fn err(e: ManagerError) -> String {
    e.to_string()
}

/// Append `v` to `out` as JSON (writing to memory cannot fail for these
/// values: every map key is a string).
fn write_json(out: &mut Vec<u8>, v: &impl serde::Serialize) {
    if let Err(e) = serde_json::to_writer(out, v) {
        tracing::warn!("cannot write a JSON value: {e}");
    }
}

fn one(key: &str, value: Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(key.into(), value);
    m
}

impl Service {
    /// Answer one request body.
    pub async fn handle(&self, body: &[u8]) -> Vec<u8> {
        let req = match rpc::parse(body) {
            Ok(r) => r,
            Err(e) => return rpc::answer(Err(e), None),
        };
        let tag = req.tag.clone();
        let result = match Call::parse(&req) {
            Ok(Call::Get {
                select,
                fields,
                table,
                detail,
            }) => match self.get(select, &fields, table, detail).await {
                Ok(arguments) => return rpc::answer_raw(&arguments, tag),
                Err(e) => Err(e),
            },
            Ok(call) => self.execute(call).await,
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            tracing::debug!(method = %req.method, "RPC refused: {e}");
        }
        rpc::answer(result, tag)
    }

    /// `torrent-get`'s arguments, written torrent by torrent: each one's
    /// JSON object is built and written before the next, so a reply for
    /// 10,000 torrents is one buffer, not a tree of every field of every
    /// torrent (a web interface polls every few seconds, and the tree's
    /// small allocations left the heap larger after each poll).
    async fn get(
        &self,
        select: Select,
        fields: &[String],
        table: bool,
        detail: riffle_manager::Detail,
    ) -> Result<Vec<u8>, String> {
        let recently = select == Select::RecentlyActive;
        let (list, removed) = self.manager.torrents(select, detail).await.map_err(err)?;
        let now = Now::new();
        let mut out = Vec::with_capacity(64 + list.len() * 256);
        out.extend_from_slice(b"{\"torrents\":[");
        if table {
            write_json(&mut out, &fields);
        }
        for (i, t) in list.iter().enumerate() {
            if table || i > 0 {
                out.push(b',');
            }
            if table {
                write_json(&mut out, &torrent_fields::row(t, fields, now));
            } else {
                write_json(&mut out, &torrent_fields::object(t, fields, now));
            }
        }
        out.push(b']');
        if recently {
            out.extend_from_slice(b",\"removed\":");
            write_json(&mut out, &removed);
        }
        out.push(b'}');
        if list.len() >= crate::memory::LARGE_REPLY {
            crate::memory::after_large_reply();
        }
        Ok(out)
    }

    async fn execute(&self, call: Call) -> R {
        let m = &self.manager;
        match call {
            Call::Action(action, select) => {
                match action {
                    Action::Start => m.start_torrents(select, false).await,
                    Action::StartNow => m.start_torrents(select, true).await,
                    Action::Stop => m.stop_torrents(select).await,
                    Action::Verify => m.verify(select).await,
                    Action::Reannounce => m.reannounce(select).await,
                }
                .map_err(err)?;
                Ok(Map::new())
            }
            Call::Set(select, change, location) => {
                self.set(select, *change, location).await?;
                Ok(Map::new())
            }
            // Answered by `handle` as it is written (see `get`).
            Call::Get { .. } => Err("torrent-get took a wrong turn".into()),
            Call::Add(add) => self.add(*add).await,
            Call::Remove(select, delete) => {
                m.remove(select, delete).await.map_err(err)?;
                Ok(Map::new())
            }
            Call::SetLocation(select, to, move_data) => {
                m.set_location(select, to, move_data).await.map_err(err)?;
                Ok(Map::new())
            }
            Call::RenamePath => Err("renaming a torrent's files is not supported yet".into()),
            Call::SessionGet(fields) => {
                let settings = m.settings().await.map_err(err)?;
                let facts = SessionFacts {
                    session_id: self.session_id.clone(),
                    config_dir: self.config_dir.clone(),
                    peer_port: m.listen_addr().port(),
                    download_dir_free_space: free_space(&settings.download_dir).ok(),
                    dht_enabled: m.dht().is_some(),
                };
                Ok(session_fields::get(&settings, &facts, fields.as_deref()))
            }
            Call::SessionSet(change, peer_port, fixed) => {
                if let Some(p) = peer_port {
                    if p != m.listen_addr().port() {
                        return Err("peer-port cannot change while the daemon runs; set listen in the config file".into());
                    }
                }
                for (key, want) in fixed {
                    let has = match key {
                        "dht-enabled" => m.dht().is_some(),
                        _ => true,
                    };
                    if want != has {
                        return Err(format!("{key} is set in the config file (dht = true/false) and needs a restart"));
                    }
                }
                m.set_settings(*change).await.map_err(err)?;
                Ok(Map::new())
            }
            Call::SessionStats => Ok(session_fields::stats(&m.stats().await.map_err(err)?)),
            Call::BlocklistUpdate => Err("blocklists are not supported".into()),
            Call::PortTest => Err(
                "port-test needs a service outside this network to connect back; riffle contacts none"
                    .into(),
            ),
            Call::SessionClose => {
                self.close.notify_one();
                Ok(Map::new())
            }
            Call::Queue(select, to) => {
                m.queue_move(select, to).await.map_err(err)?;
                Ok(Map::new())
            }
            Call::FreeSpace(path) => {
                let bytes = free_space(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(Map::from_iter([
                    ("path".to_owned(), json!(path.to_string_lossy())),
                    ("size-bytes".to_owned(), json!(bytes)),
                ]))
            }
        }
    }

    async fn set(
        &self,
        select: Select,
        change: TorrentChange,
        location: Option<PathBuf>,
    ) -> Result<(), String> {
        let m = &self.manager;
        m.set(select.clone(), change).await.map_err(err)?;
        if let Some(to) = location {
            m.set_location(select, to, false).await.map_err(err)?;
        }
        Ok(())
    }

    async fn add(&self, add: Add) -> R {
        let mut magnet = None;
        let metainfo = match add.source {
            Source::Metainfo(bytes) => bytes,
            Source::File(path) => read_torrent(&path).await?,
            Source::Magnet(uri) => {
                magnet = Some(
                    riffle_protocol::magnet::Magnet::parse(&uri)
                        .map_err(|e| format!("invalid magnet link: {e}"))?,
                );
                Vec::new()
            }
            Source::Url(_) => return Err(
                "fetching a .torrent by URL is not supported yet: send its contents as metainfo"
                    .into(),
            ),
        };
        let added = self
            .manager
            .add(AddRequest {
                metainfo,
                magnet,
                download_dir: add.download_dir,
                paused: add.paused,
                peer_limit: add.peer_limit,
                files_unwanted: add.files_unwanted,
                labels: add.labels,
            })
            .await
            .map_err(|e| match e {
                ManagerError::BadTorrent(_) => "invalid or corrupt torrent file".to_owned(),
                other => other.to_string(),
            })?;
        let brief = |b: &Brief| json!({"id": b.id, "name": b.name, "hashString": b.hash.to_hex()});
        Ok(match added {
            Added::New(b) => one("torrent-added", brief(&b)),
            Added::Duplicate(b) => one("torrent-duplicate", brief(&b)),
        })
    }
}

/// Read a `.torrent` from the daemon's disk, capped.
async fn read_torrent(path: &Path) -> Result<Vec<u8>, String> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_TORRENT_FILE + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_TORRENT_FILE {
        return Err("invalid or corrupt torrent file".into());
    }
    Ok(bytes)
}

/// Bytes free to an unprivileged user under `path`.
pub fn free_space(path: &Path) -> std::io::Result<u64> {
    let st = rustix::fs::statvfs(path)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}
