//! A request as a typed call: the method's name and its arguments checked
//! and converted (Transmission's KB/s speeds to bytes per second, its
//! modes to the manager's), ready for the manager.

use std::path::PathBuf;

use riffle_manager::{Detail, LimitMode, QueueMove, Select, SettingsChange, TorrentChange};

use super::args::Args;
use super::session_fields;
use super::torrent_fields;
use super::Request;

/// Bytes in Transmission's "kB" of speed (its `speed-bytes`).
pub const SPEED_UNIT: u64 = 1000;

/// Every method served.
pub const METHODS: &[&str] = &[
    "torrent-start",
    "torrent-start-now",
    "torrent-stop",
    "torrent-verify",
    "torrent-reannounce",
    "torrent-set",
    "torrent-get",
    "torrent-add",
    "torrent-remove",
    "torrent-set-location",
    "torrent-rename-path",
    "session-get",
    "session-set",
    "session-stats",
    "blocklist-update",
    "port-test",
    "session-close",
    "queue-move-top",
    "queue-move-up",
    "queue-move-down",
    "queue-move-bottom",
    "free-space",
];

/// The torrent actions that take only `ids`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start (through the queue).
    Start,
    /// Start now, bypassing the queue.
    StartNow,
    /// Stop.
    Stop,
    /// Check the data again.
    Verify,
    /// Ask the trackers for peers now.
    Reannounce,
}

/// Where `torrent-add`'s torrent comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A `.torrent` on the daemon's disk.
    File(PathBuf),
    /// A URL to fetch it from.
    Url(String),
    /// A magnet link.
    Magnet(String),
    /// The `.torrent`'s bytes.
    Metainfo(Vec<u8>),
}

/// `torrent-add`'s arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Add {
    /// The torrent.
    pub source: Source,
    /// Where to save it.
    pub download_dir: Option<PathBuf>,
    /// Add it stopped.
    pub paused: Option<bool>,
    /// Peer connections at most.
    pub peer_limit: Option<usize>,
    /// Files not to download.
    pub files_unwanted: Vec<usize>,
    /// Labels.
    pub labels: Vec<String>,
}

/// A checked request.
#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    /// `torrent-start`, `-start-now`, `-stop`, `-verify`, `-reannounce`.
    Action(Action, Select),
    /// `torrent-set`.
    Set(Select, Box<TorrentChange>, Option<PathBuf>),
    /// `torrent-get`.
    Get {
        /// Which torrents.
        select: Select,
        /// Which fields, as asked.
        fields: Vec<String>,
        /// The "table" format.
        table: bool,
        /// What the fields need the manager to fill in.
        detail: Detail,
    },
    /// `torrent-add`.
    Add(Box<Add>),
    /// `torrent-remove`.
    Remove(Select, bool),
    /// `torrent-set-location`.
    SetLocation(Select, PathBuf, bool),
    /// `torrent-rename-path` (refused: renaming inside a torrent is not
    /// supported).
    RenamePath,
    /// `session-get` (None: every field).
    SessionGet(Option<Vec<String>>),
    /// `session-set`, the peer port it names, and the features fixed at
    /// start it names with their values.
    SessionSet(Box<SettingsChange>, Option<u16>, Vec<(&'static str, bool)>),
    /// `session-stats`.
    SessionStats,
    /// `blocklist-update`.
    BlocklistUpdate,
    /// `port-test`.
    PortTest,
    /// `session-close`.
    SessionClose,
    /// `queue-move-*`.
    Queue(Select, QueueMove),
    /// `free-space`.
    FreeSpace(PathBuf),
}

type R<T> = Result<T, String>;

impl Call {
    /// Check a request. The error is the `result` of the answer.
    pub fn parse(req: &Request) -> R<Call> {
        let a = Args(&req.arguments);
        Ok(match req.method.as_str() {
            "torrent-start" => Call::Action(Action::Start, a.ids()?),
            "torrent-start-now" => Call::Action(Action::StartNow, a.ids()?),
            "torrent-stop" => Call::Action(Action::Stop, a.ids()?),
            "torrent-verify" => Call::Action(Action::Verify, a.ids()?),
            "torrent-reannounce" => Call::Action(Action::Reannounce, a.ids()?),
            "torrent-set" => torrent_set(&a)?,
            "torrent-get" => torrent_get(&a)?,
            "torrent-add" => Call::Add(Box::new(torrent_add(&a)?)),
            "torrent-remove" => {
                Call::Remove(a.ids()?, a.bool("delete-local-data")?.unwrap_or(false))
            }
            "torrent-set-location" => {
                let location = a.str("location")?.ok_or("no location")?;
                Call::SetLocation(
                    a.ids()?,
                    absolute(location, "new location path is not absolute")?,
                    a.bool("move")?.unwrap_or(false),
                )
            }
            "torrent-rename-path" => Call::RenamePath,
            "session-get" => Call::SessionGet(a.strings("fields")?),
            "session-set" => Call::SessionSet(
                Box::new(session_fields::parse_set(&a)?),
                session_fields::peer_port(&a)?,
                session_fields::fixed_features(&a)?,
            ),
            "session-stats" => Call::SessionStats,
            "blocklist-update" => Call::BlocklistUpdate,
            "port-test" => Call::PortTest,
            "session-close" => Call::SessionClose,
            "queue-move-top" => Call::Queue(a.ids()?, QueueMove::Top),
            "queue-move-up" => Call::Queue(a.ids()?, QueueMove::Up),
            "queue-move-down" => Call::Queue(a.ids()?, QueueMove::Down),
            "queue-move-bottom" => Call::Queue(a.ids()?, QueueMove::Bottom),
            "free-space" => {
                let path = a.str("path")?.ok_or("directory path argument is missing")?;
                Call::FreeSpace(absolute(path, "directory path is not absolute")?)
            }
            _ => return Err("method name not recognized".into()),
        })
    }
}

fn absolute(path: &str, error: &str) -> R<PathBuf> {
    let p = PathBuf::from(path);
    if p.is_absolute() {
        Ok(p)
    } else {
        Err(error.into())
    }
}

fn mode(a: &Args, key: &str) -> R<Option<LimitMode>> {
    a.i64(key)?
        .map(|m| LimitMode::from_code(m).ok_or_else(|| format!("{key} must be 0, 1 or 2")))
        .transpose()
}

fn speed(a: &Args, key: &str) -> R<Option<u64>> {
    a.u64(key)?
        .map(|kb| {
            kb.checked_mul(SPEED_UNIT)
                .ok_or_else(|| format!("{key} is too large"))
        })
        .transpose()
}

fn torrent_set(a: &Args) -> R<Call> {
    let labels = a.strings("labels")?;
    if let Some(l) = &labels {
        if l.iter().any(|s| s.trim().is_empty()) {
            return Err("labels cannot be empty".into());
        }
        let mut sorted = l.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != l.len() {
            return Err("labels cannot contain duplicates".into());
        }
    }
    let change = TorrentChange {
        download_limit: speed(a, "downloadLimit")?,
        download_limited: a.bool("downloadLimited")?,
        upload_limit: speed(a, "uploadLimit")?,
        upload_limited: a.bool("uploadLimited")?,
        honors_session_limits: a.bool("honorsSessionLimits")?,
        peer_limit: a.count("peer-limit")?,
        seed_ratio_mode: mode(a, "seedRatioMode")?,
        seed_ratio_limit: a.ratio("seedRatioLimit")?,
        seed_idle_mode: mode(a, "seedIdleMode")?,
        seed_idle_limit: a.u32("seedIdleLimit")?,
        labels,
        files_wanted: a.indices("files-wanted")?,
        files_unwanted: a.indices("files-unwanted")?,
        queue_position: a.count("queuePosition")?,
        picker: a
            .str("riffle-picker")?
            .map(|p| p.parse().map_err(|e| format!("riffle-picker: {e}")))
            .transpose()?,
        seed_choker: a
            .str("riffle-seedChoker")?
            .map(|p| p.parse().map_err(|e| format!("riffle-seedChoker: {e}")))
            .transpose()?,
        one_club_rate: a.u64("riffle-oneClubRate")?,
    };
    let location = a
        .str("location")?
        .map(|l| absolute(l, "new location path is not absolute"))
        .transpose()?;
    Ok(Call::Set(a.ids()?, Box::new(change), location))
}

fn torrent_get(a: &Args) -> R<Call> {
    let fields = a.strings("fields")?.ok_or("no fields specified")?;
    let table = match a.str("format")? {
        None | Some("objects") => false,
        Some("table") => true,
        Some(other) => return Err(format!("format {other:?} is not objects or table")),
    };
    let detail = torrent_fields::detail_for(&fields);
    Ok(Call::Get {
        select: a.ids()?,
        fields,
        table,
        detail,
    })
}

fn torrent_add(a: &Args) -> R<Add> {
    let source = if let Some(meta) = a.str("metainfo")? {
        let bytes = data_encoding::BASE64
            .decode(meta.trim().as_bytes())
            .or_else(|_| data_encoding::BASE64_NOPAD.decode(meta.trim().as_bytes()))
            .map_err(|_| "invalid or corrupt torrent file")?;
        Source::Metainfo(bytes)
    } else if let Some(name) = a.str("filename")? {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("magnet:") {
            Source::Magnet(name.to_owned())
        } else if lower.starts_with("http://") || lower.starts_with("https://") {
            Source::Url(name.to_owned())
        } else {
            Source::File(PathBuf::from(name))
        }
    } else {
        return Err("no filename or metainfo specified".into());
    };
    let download_dir = a
        .str("download-dir")?
        .map(|d| absolute(d, "download directory path is not absolute"))
        .transpose()?;
    Ok(Add {
        source,
        download_dir,
        paused: a.bool("paused")?,
        peer_limit: a.count("peer-limit")?,
        files_unwanted: a.indices("files-unwanted")?.unwrap_or_default(),
        labels: a.strings("labels")?.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use riffle_manager::TorrentRef;
    use serde_json::json;

    fn call(method: &str, args: serde_json::Value) -> R<Call> {
        Call::parse(&Request {
            method: method.into(),
            arguments: args.as_object().unwrap().clone(),
            tag: None,
        })
    }

    #[test]
    fn torrent_set_converts_speeds_and_modes() {
        let c = call(
            "torrent-set",
            json!({"ids": [3], "downloadLimit": 50, "downloadLimited": true,
                   "seedRatioMode": 1, "seedRatioLimit": 1.5, "labels": ["tv"],
                   "files-unwanted": [1]}),
        )
        .unwrap();
        let Call::Set(select, change, location) = c else {
            panic!("{c:?}")
        };
        assert_eq!(select, Select::Some(vec![TorrentRef::Id(3)]));
        assert_eq!(change.download_limit, Some(50_000));
        assert_eq!(change.download_limited, Some(true));
        assert_eq!(change.seed_ratio_mode, Some(LimitMode::Single));
        assert_eq!(change.files_unwanted, Some(vec![1]));
        assert_eq!(location, None);
        for bad in [
            json!({"downloadLimit": -5}),
            json!({"seedRatioMode": 7}),
            json!({"seedRatioLimit": -1}),
            json!({"labels": ["a", "a"]}),
            json!({"labels": [" "]}),
            json!({"peer-limit": 1e12}),
            json!({"location": "relative/dir"}),
            json!({"riffle-picker": "best-guess"}),
        ] {
            assert!(call("torrent-set", bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn torrent_add_sources() {
        let meta = data_encoding::BASE64.encode(b"d4:infod4:name1:aee");
        assert_eq!(
            call("torrent-add", json!({"metainfo": meta})).map(|c| match c {
                Call::Add(a) => a.source,
                _ => unreachable!(),
            }),
            Ok(Source::Metainfo(b"d4:infod4:name1:aee".to_vec()))
        );
        let Call::Add(a) = call(
            "torrent-add",
            json!({"filename": "magnet:?xt=urn:btih:x", "paused": true, "download-dir": "/d"}),
        )
        .unwrap() else {
            panic!()
        };
        assert!(matches!(a.source, Source::Magnet(_)));
        assert_eq!(a.paused, Some(true));
        assert_eq!(a.download_dir, Some(PathBuf::from("/d")));
        assert!(call("torrent-add", json!({})).is_err());
        assert!(call("torrent-add", json!({"metainfo": "!!!"})).is_err());
        assert!(call(
            "torrent-add",
            json!({"filename": "x", "download-dir": "rel"})
        )
        .is_err());
    }

    #[test]
    fn unknown_methods_and_bad_arguments_are_errors() {
        assert_eq!(
            call("no-such", json!({})),
            Err("method name not recognized".into())
        );
        assert!(call("torrent-get", json!({})).is_err());
        assert!(call("torrent-get", json!({"fields": ["id"], "format": "xml"})).is_err());
        assert!(call("free-space", json!({"path": "tmp"})).is_err());
        assert!(call(
            "torrent-set-location",
            json!({"location": "/x", "move": "yes"})
        )
        .is_err());
        let Call::Get { table, detail, .. } = call(
            "torrent-get",
            json!({"fields": ["id", "files"], "format": "table"}),
        )
        .unwrap() else {
            panic!()
        };
        assert!(table && detail.files && !detail.peers);
    }
}
