//! libtorrent in the roles the interop tests need (through
//! `tests/scripts/lt_swarm.py` under Debian's python): making a torrent,
//! seeding one or more torrents, and downloading one.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::child::{ChildGuard, Lines};
use crate::{require_libtorrent, script};

fn lt_swarm(args: &[&str]) -> Value {
    let python = require_libtorrent();
    let out = Command::new(python)
        .arg(script("lt_swarm.py"))
        .args(args)
        .output()
        .expect("run lt_swarm.py");
    assert!(
        out.status.success(),
        "lt_swarm.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("lt_swarm.py said {stdout:?}: {e}"))
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Make a v1-only torrent of `dir` with libtorrent (no pad files), with
/// `tracker` as its announce URL; returns its info-hash (hex).
pub fn lt_create(dir: &Path, torrent: &Path, piece_length: u32, tracker: Option<&str>) -> String {
    lt_create_format(dir, torrent, piece_length, tracker, "v1").0
}

/// Make a torrent of `dir` with libtorrent in `format` ("v1", "hybrid" —
/// pad files align every file to a piece — or "v2"); returns its v1
/// info-hash (a v2-only torrent: the truncated v2 hash) and its v2 hash,
/// in hex.
pub fn lt_create_format(
    dir: &Path,
    torrent: &Path,
    piece_length: u32,
    tracker: Option<&str>,
    format: &str,
) -> (String, Option<String>) {
    let pl = piece_length.to_string();
    let mut args = vec!["create", path_str(dir), path_str(torrent), &pl];
    args.extend(tracker);
    args.extend(["--format", format]);
    let v = lt_swarm(&args);
    (
        v["info_hash"].as_str().expect("info_hash").to_string(),
        v["v2"].as_str().map(str::to_owned),
    )
}

/// The info-hash (hex) of `torrent`, as libtorrent computes it.
pub fn info_hash(torrent: &Path) -> String {
    lt_swarm(&["hash", path_str(torrent)])["info_hash"]
        .as_str()
        .expect("info_hash")
        .to_string()
}

/// A libtorrent session seeding one or more torrents; killed on drop.
pub struct LtSeeder {
    /// The python process.
    proc: ChildGuard,
    /// Its stdout lines (the port line, then the report).
    lines: Lines,
    /// libtorrent's listen port.
    pub port: u16,
}

/// How to run an [`LtSeeder`].
#[derive(Default)]
pub struct LtSeedOptions<'a> {
    /// Peers on 127.0.0.1 libtorrent keeps dialling while it has none.
    pub dial: &'a [u16],
    /// Per-torrent upload limit in bytes/s (0: none).
    pub upload_limit: u64,
    /// Per-torrent download limit in bytes/s (0: none).
    pub download_limit: u64,
    /// Run without the data (a downloading peer): ready once listening.
    pub incomplete: bool,
}

impl LtSeeder {
    /// Seed `torrents` from `save_path`. Returns once every torrent is
    /// seeding and every tracker of every torrent has answered an announce.
    pub fn start(save_path: &Path, torrents: &[&Path], opts: LtSeedOptions) -> LtSeeder {
        let python = require_libtorrent();
        let mut cmd = Command::new(python);
        cmd.arg(script("lt_swarm.py"))
            .arg("seed")
            .arg(save_path)
            .args(torrents)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        for p in opts.dial {
            cmd.arg("--dial").arg(p.to_string());
        }
        if opts.upload_limit > 0 {
            cmd.arg("--upload-limit").arg(opts.upload_limit.to_string());
        }
        if opts.download_limit > 0 {
            cmd.arg("--download-limit")
                .arg(opts.download_limit.to_string());
        }
        if opts.incomplete {
            cmd.arg("--incomplete");
        }
        let log = save_path.join("lt_seed.log");
        let mut proc = ChildGuard::spawn("libtorrent seeder", &mut cmd, Some(&log));
        let lines = Lines::new(proc.take_stdout().expect("piped stdout"));
        let first = lines.next(Duration::from_secs(40)).unwrap_or_else(|| {
            panic!(
                "libtorrent seeder never got ready; its log:\n{}",
                proc.log_tail(40)
            )
        });
        let v: Value = serde_json::from_str(&first).expect("port line");
        let port = v["port"].as_u64().expect("port") as u16;
        assert_ne!(port, 0, "libtorrent did not listen");
        LtSeeder { proc, lines, port }
    }

    /// Stop seeding and return libtorrent's report (per torrent:
    /// "info_hash", "total_size", "uploaded", "first_upload_at",
    /// "uploaded_all_at"; and "errors").
    pub fn finish(mut self) -> Value {
        self.proc.close_stdin();
        let lines = self.lines.rest(Duration::from_secs(15));
        let last = lines.last().unwrap_or_else(|| {
            panic!(
                "libtorrent seeder gave no report; log:\n{}",
                self.proc.log_tail(40)
            )
        });
        serde_json::from_str(last).expect("seeder report")
    }

    /// The end of libtorrent's alert log.
    pub fn log_tail(&self, n: usize) -> String {
        self.proc.log_tail(n)
    }
}

/// Download `torrent` into `save_path` with libtorrent (peers from its
/// trackers and `dial`); returns libtorrent's report ("finished",
/// "num_pieces", "pieces_verified" after its own re-check, "errors").
pub fn lt_leech(save_path: &Path, torrent: &Path, dial: &[u16]) -> Value {
    let ports: Vec<String> = dial.iter().map(u16::to_string).collect();
    let mut args = vec!["leech", path_str(save_path), path_str(torrent)];
    for p in &ports {
        args.push("--dial");
        args.push(p);
    }
    lt_swarm(&args)
}

/// Join a swarm with libtorrent knowing only the magnet link `uri`
/// (peers: its own x.pe and tr, and `dial`); returns libtorrent's report
/// ("has_metadata", "finished", "num_pieces", "pieces_verified", "name").
pub fn lt_magnet(save_path: &Path, uri: &str, dial: &[u16]) -> Value {
    let ports: Vec<String> = dial.iter().map(u16::to_string).collect();
    let mut args = vec!["magnet", path_str(save_path), uri];
    for p in &ports {
        args.push("--dial");
        args.push(p);
    }
    lt_swarm(&args)
}

/// Download `torrent` from the peers on `dial` with libtorrent for
/// `seconds` after its first payload byte, without finishing; returns
/// (seconds since the first byte, payload bytes received) samples taken
/// every 50 ms.
pub fn lt_leech_measure(
    save_path: &Path,
    torrent: &Path,
    dial: &[u16],
    seconds: f64,
) -> Vec<(f64, u64)> {
    let ports: Vec<String> = dial.iter().map(u16::to_string).collect();
    let secs = seconds.to_string();
    let mut args = vec![
        "leech",
        path_str(save_path),
        path_str(torrent),
        "--measure",
        &secs,
    ];
    for p in &ports {
        args.push("--dial");
        args.push(p);
    }
    let report = lt_swarm(&args);
    let errors = report["errors"].as_array().map_or(0, Vec::len);
    assert_eq!(errors, 0, "libtorrent reported errors: {report}");
    report["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .map(|s| {
            (
                s[0].as_f64().expect("seconds"),
                s[1].as_u64().expect("bytes"),
            )
        })
        .collect()
}
