//! The terminal UI over a remote daemon: a riffle daemon, or any server of
//! Transmission's RPC. Snapshots come from `torrent-get` and
//! `session-get`; the TUI's commands become RPC calls. Against riffle the
//! `riffle-` fields fill in what Transmission's RPC cannot carry (the
//! policies, the one club, piece availability) and policy changes go
//! through `torrent-set`'s `riffle-` arguments; against a Transmission
//! daemon those parts stay empty and a policy change says why it cannot.

use anyhow::{bail, Context, Result};
use riffle_tui::app::{Command, PolicyChange};
use riffle_tui::model::{
    PeerRow, PieceCell, PieceState, PolicyView, Snapshot, TorrentState, TorrentView,
};
use serde_json::{json, Value};

use super::rpc::RpcClient;
use crate::torrent_file::load_torrent;

/// The fields a snapshot asks for.
const FIELDS: &[&str] = &[
    "id",
    "name",
    "totalSize",
    "percentDone",
    "rateDownload",
    "rateUpload",
    "downloadedEver",
    "uploadedEver",
    "peersConnected",
    "status",
    "error",
    "errorString",
    "uploadLimit",
    "uploadLimited",
    "downloadLimit",
    "downloadLimited",
    "peers",
    "pieces",
    "pieceCount",
    "trackerStats",
    "riffle-availability",
    "riffle-downloading",
    "riffle-picker",
    "riffle-choker",
    "riffle-seedChoker",
    "riffle-oneClubRate",
    "riffle-oneClub",
    "riffle-throttled",
    "riffle-oneClubSeconds",
    "riffle-uploadedThrottled",
    "riffle-seeds",
    "riffle-dht",
    "riffle-uploadLimitNow",
    "riffle-downloadLimitNow",
];

/// A remote session as the TUI sees it.
pub struct RemoteController {
    rpc: RpcClient,
    /// The server is riffle (its `version` says so).
    riffle: bool,
    /// What `session-get` called the server.
    version: String,
}

impl RemoteController {
    /// Connect to `url` (one `session-get` to learn what it is).
    pub async fn connect(url: &str) -> Result<RemoteController> {
        let mut rpc = RpcClient::new(url)?;
        let session = rpc
            .call("session-get", json!({"fields": ["version", "rpc-version"]}))
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let version = session["version"].as_str().unwrap_or("").to_owned();
        Ok(RemoteController {
            riffle: version.starts_with("riffle"),
            version,
            rpc,
        })
    }

    /// What the server calls itself.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Add a `.torrent` from this machine's disk.
    pub async fn add_file(&mut self, path: &std::path::Path) -> Result<String> {
        // Checked here first, so a bad file is named as such.
        let meta = load_torrent(&path.to_path_buf())?;
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let answer = self
            .rpc
            .call(
                "torrent-add",
                json!({"metainfo": data_encoding::BASE64.encode(&bytes)}),
            )
            .await?;
        Ok(if answer.get("torrent-duplicate").is_some() {
            format!("{} is there already", meta.info.name)
        } else {
            format!("added {}", meta.info.name)
        })
    }

    /// The remote session now.
    pub async fn snapshot(&mut self) -> Result<Snapshot> {
        let torrents = self
            .rpc
            .call("torrent-get", json!({"fields": FIELDS}))
            .await?;
        let session = self
            .rpc
            .call(
                "session-get",
                json!({"fields": ["speed-limit-down", "speed-limit-down-enabled",
                    "speed-limit-up", "speed-limit-up-enabled", "peer-port", "units"]}),
            )
            .await?;
        let unit = session["units"]["speed-bytes"].as_u64().unwrap_or(1000);
        let limit = |value: &str, enabled: &str| {
            if session[enabled].as_bool() == Some(true) {
                session[value].as_u64().unwrap_or(0) * unit
            } else {
                0
            }
        };
        Ok(Snapshot {
            torrents: torrents["torrents"]
                .as_array()
                .map(|list| list.iter().map(|t| view(t, unit)).collect())
                .unwrap_or_default(),
            download_limit: limit("speed-limit-down", "speed-limit-down-enabled"),
            upload_limit: limit("speed-limit-up", "speed-limit-up-enabled"),
            listen: format!(
                "{} (peers on port {})",
                self.rpc.host(),
                session["peer-port"].as_u64().unwrap_or(0)
            ),
        })
    }

    /// Run one TUI command; a line for the status bar.
    pub async fn execute(&mut self, cmd: Command) -> Result<String> {
        let ids = |id: u64| json!({"ids": [id]});
        match cmd {
            Command::AddTorrent(path) => {
                let text = path.to_string_lossy();
                if text.starts_with("magnet:") {
                    // The daemon fetches the metadata itself.
                    self.rpc
                        .call("torrent-add", json!({"filename": text}))
                        .await?;
                    Ok("added the magnet link; its metadata is on its way".into())
                } else {
                    self.add_file(&path).await
                }
            }
            Command::Pause(id) => {
                self.rpc.call("torrent-stop", ids(id)).await?;
                Ok(format!("paused torrent {id}"))
            }
            Command::Resume(id) => {
                self.rpc.call("torrent-start", ids(id)).await?;
                Ok(format!("resumed torrent {id}"))
            }
            Command::Remove { id, delete_data } => {
                self.rpc
                    .call(
                        "torrent-remove",
                        json!({"ids": [id], "delete-local-data": delete_data}),
                    )
                    .await?;
                Ok(if delete_data {
                    format!("removed torrent {id} and deleted its data")
                } else {
                    format!("removed torrent {id} (data kept)")
                })
            }
            Command::SetSessionLimits { download, upload } => {
                let kb = |b: u64| b.div_ceil(1000);
                self.rpc
                    .call(
                        "session-set",
                        json!({
                            "speed-limit-down": kb(download),
                            "speed-limit-down-enabled": download > 0,
                            "speed-limit-up": kb(upload),
                            "speed-limit-up-enabled": upload > 0,
                        }),
                    )
                    .await?;
                Ok("limits set".into())
            }
            Command::SetPolicy { id, change } => {
                if !self.riffle {
                    bail!("{} has no riffle policies", self.version);
                }
                let (key, value, what) = match change {
                    PolicyChange::Picker(p) => ("riffle-picker", json!(p), format!("picker {p}")),
                    PolicyChange::SeedChoker(c) => {
                        ("riffle-seedChoker", json!(c), format!("seed choker {c}"))
                    }
                    PolicyChange::OneClubRate(r) => (
                        "riffle-oneClubRate",
                        json!(r),
                        format!("one-club rate {r} B/s"),
                    ),
                };
                self.rpc
                    .call("torrent-set", json!({"ids": [id], key: value}))
                    .await?;
                Ok(format!("torrent {id}: {what}"))
            }
            Command::Quit => Ok(String::new()),
        }
    }
}

fn u(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_f64().map(|f| f.max(0.0) as u64))
        .unwrap_or(0)
}

/// One torrent of `torrent-get` as the TUI's view.
fn view(t: &Value, unit: u64) -> TorrentView {
    let state = match (u(&t["status"]), u(&t["error"])) {
        (0, 3) => TorrentState::Failed(t["errorString"].as_str().unwrap_or("").into()),
        (0, _) => TorrentState::Paused,
        (1 | 2, _) => TorrentState::Checking,
        (3 | 4, _) => TorrentState::Downloading,
        _ => TorrentState::Seeding,
    };
    let limit = |now: &str, value: &str, enabled: &str| {
        if t[now].is_u64() {
            u(&t[now])
        } else if t[enabled].as_bool() == Some(true) {
            u(&t[value]) * unit
        } else {
            0
        }
    };
    TorrentView {
        id: u(&t["id"]),
        name: t["name"].as_str().unwrap_or("").into(),
        size: u(&t["totalSize"]),
        progress: t["percentDone"].as_f64().unwrap_or(0.0),
        download_rate: u(&t["rateDownload"]),
        upload_rate: u(&t["rateUpload"]),
        downloaded: u(&t["downloadedEver"]),
        uploaded: u(&t["uploadedEver"]),
        peers: u(&t["peersConnected"]) as usize,
        seeds: u(&t["riffle-seeds"]) as usize,
        state,
        policies: PolicyView {
            picker: t["riffle-picker"].as_str().unwrap_or("").into(),
            choker: t["riffle-choker"].as_str().unwrap_or("").into(),
            seed_choker: t["riffle-seedChoker"].as_str().unwrap_or("").into(),
            one_club_rate: u(&t["riffle-oneClubRate"]),
        },
        one_club: t["riffle-oneClub"].as_bool().unwrap_or(false),
        throttled: t["riffle-throttled"].as_bool().unwrap_or(false),
        upload_limit: limit("riffle-uploadLimitNow", "uploadLimit", "uploadLimited"),
        download_limit: limit(
            "riffle-downloadLimitNow",
            "downloadLimit",
            "downloadLimited",
        ),
        one_club_time_secs: t["riffle-oneClubSeconds"].as_f64().unwrap_or(0.0),
        uploaded_throttled: u(&t["riffle-uploadedThrottled"]),
        peer_list: peers(&t["peers"]),
        pieces: pieces(t),
        trackers: trackers(&t["trackerStats"]),
        dht: t["riffle-dht"].as_str().map(str::to_owned),
        exchange: crate::output::exchange_text(
            t["riffle-uploadShare"].as_f64(),
            t["riffle-shareRate"].as_u64().unwrap_or(0),
            t["riffle-cpm"].as_f64(),
            t["riffle-cpmTau"].as_f64().unwrap_or(0.0),
        ),
    }
}

fn peers(list: &Value) -> Vec<PeerRow> {
    let mut rows: Vec<PeerRow> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| PeerRow {
            addr: format!("{}:{}", p["address"].as_str().unwrap_or(""), u(&p["port"])),
            client: p["clientName"].as_str().unwrap_or("").into(),
            progress: p["progress"].as_f64().unwrap_or(0.0),
            download_rate: u(&p["rateToClient"]),
            upload_rate: u(&p["rateToPeer"]),
            am_choking: p["peerIsChoked"].as_bool().unwrap_or(true),
            am_interested: p["clientIsInterested"].as_bool().unwrap_or(false),
            peer_choking: p["clientIsChoked"].as_bool().unwrap_or(true),
            peer_interested: p["peerIsInterested"].as_bool().unwrap_or(false),
            snubbed: p["riffle-snubbed"].as_bool().unwrap_or(false),
            one_club: p["riffle-oneClub"].as_bool().unwrap_or(false),
        })
        .collect();
    // Most complete first, as the local TUI lists them.
    rows.sort_by(|a, b| b.progress.total_cmp(&a.progress));
    rows
}

/// The piece map: held pieces from Transmission's base64 bitfield, and
/// from riffle, availability and pieces being downloaded.
fn pieces(t: &Value) -> Vec<PieceCell> {
    let count = u(&t["pieceCount"]) as usize;
    let bits = t["pieces"]
        .as_str()
        .and_then(|b| data_encoding::BASE64.decode(b.as_bytes()).ok())
        .unwrap_or_default();
    let avail = t["riffle-availability"].as_array();
    let downloading = t["riffle-downloading"].as_array();
    (0..count)
        .map(|i| {
            let have = bits
                .get(i / 8)
                .is_some_and(|byte| byte & (0x80 >> (i % 8)) != 0);
            let busy = downloading
                .and_then(|d| d.get(i))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            PieceCell {
                state: if have {
                    PieceState::Have
                } else if busy {
                    PieceState::Downloading
                } else {
                    PieceState::Missing
                },
                availability: avail.and_then(|a| a.get(i)).map_or(0, |v| u(v) as u32),
            }
        })
        .collect()
}

fn trackers(stats: &Value) -> Vec<String> {
    stats
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let result = s["lastAnnounceResult"].as_str().unwrap_or("");
            let seeds = s["seederCount"].as_i64().unwrap_or(-1);
            let leechers = s["leecherCount"].as_i64().unwrap_or(-1);
            let mut line = format!(
                "{}: {}",
                s["announce"].as_str().unwrap_or(""),
                if result.is_empty() { "not yet" } else { result }
            );
            if seeds >= 0 && leechers >= 0 {
                line.push_str(&format!(" ({seeds} seeds, {leechers} leechers)"));
            }
            line
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torrent_get_entry_becomes_a_view() {
        let t = json!({
            "id": 3, "name": "album", "totalSize": 1000, "percentDone": 0.5,
            "status": 4, "error": 0, "peersConnected": 1, "pieceCount": 10,
            "pieces": data_encoding::BASE64.encode(&[0b1010_0000, 0b0100_0000]),
            "riffle-availability": [1,2,3,0,0,0,0,0,0,9],
            "riffle-downloading": [false,true,false,false,false,false,false,false,false,false],
            "peers": [{"address": "10.0.0.1", "port": 6881, "progress": 0.2, "clientName": "x",
                "rateToClient": 5, "rateToPeer": 6, "clientIsChoked": false,
                "clientIsInterested": true, "peerIsChoked": true, "peerIsInterested": false}],
            "trackerStats": [{"announce": "http://t/announce", "lastAnnounceResult": "Success",
                "seederCount": 2, "leecherCount": 5}],
            "uploadLimit": 20, "uploadLimited": true, "downloadLimited": false,
        });
        let v = view(&t, 1000);
        assert_eq!((v.id, v.size, v.peers), (3, 1000, 1));
        assert_eq!(v.state, TorrentState::Downloading);
        assert_eq!(v.pieces.len(), 10);
        assert_eq!(v.pieces[0].state, PieceState::Have);
        assert_eq!(v.pieces[1].state, PieceState::Downloading);
        assert_eq!(v.pieces[2].state, PieceState::Have);
        assert_eq!(v.pieces[9].state, PieceState::Have);
        assert_eq!(v.pieces[9].availability, 9);
        assert_eq!(v.upload_limit, 20_000);
        assert_eq!(v.peer_list[0].addr, "10.0.0.1:6881");
        assert!(v.peer_list[0].am_interested && !v.peer_list[0].peer_choking);
        assert_eq!(
            v.trackers,
            ["http://t/announce: Success (2 seeds, 5 leechers)"]
        );
        let failed = view(
            &json!({"status": 0, "error": 3, "errorString": "disk full"}),
            1000,
        );
        assert_eq!(failed.state, TorrentState::Failed("disk full".into()));
    }
}
