//! aria2c as a downloader, kept on loopback: no LPD or PEX, IPv4 on
//! 127.0.0.1 only, and it exits once the download is complete.
//!
//! aria2 (1.36) speaks UDP trackers only through its DHT socket ("udp is
//! not supported yet" otherwise): for a UDP tracker, DHT is switched on, on
//! a loopback port, with an empty routing table of its own and no entry
//! point, so it reaches no one; otherwise DHT is off.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::child::ChildGuard;
use crate::tools::{free_tcp_port, free_udp_port, require_tool};

/// What an aria2c run ended with.
pub struct Aria2Outcome {
    /// Its exit code (0: download complete), None if it was killed at the
    /// timeout.
    pub code: Option<i32>,
    /// Its log (stdout and stderr).
    pub log: String,
}

/// Download `torrent` into `dir` with aria2c (peers from the torrent's
/// trackers; aria2 also listens on a free port for peers that dial it).
/// `udp_tracker`: the torrent's tracker is a UDP one. Kills it after
/// `timeout`.
pub fn aria2_download(
    torrent: impl AsRef<std::ffi::OsStr>,
    dir: &Path,
    udp_tracker: bool,
    timeout: Duration,
) -> Aria2Outcome {
    let bin = require_tool("aria2c");
    let work = tempfile::tempdir().expect("tempdir");
    let log = work.path().join("aria2.log");
    let port = free_tcp_port();
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--dir={}", dir.display()));
    if udp_tracker {
        cmd.arg("--enable-dht=true")
            .arg(format!("--dht-listen-port={}", free_udp_port()))
            .arg(format!(
                "--dht-file-path={}",
                work.path().join("dht.dat").display()
            ));
    } else {
        cmd.arg("--enable-dht=false");
    }
    cmd.args([
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--disable-ipv6=true",
        "--interface=127.0.0.1",
        "--seed-time=0",
        "--bt-require-crypto=false",
        "--check-integrity=true",
        "--allow-overwrite=true",
        "--auto-file-renaming=false",
        "--summary-interval=1",
        "--console-log-level=notice",
        "--log-level=info",
    ])
    .arg(format!("--listen-port={port}"))
    .arg(format!("--log={}", log.display()))
    .arg(torrent)
    .stdin(Stdio::null())
    .stdout(Stdio::null());
    let console = work.path().join("aria2.console");
    let mut proc = ChildGuard::spawn("aria2c", &mut cmd, Some(&console));
    let status = proc.wait_timeout(timeout);
    drop(proc);
    let mut text = std::fs::read_to_string(&console).unwrap_or_default();
    text.push_str("\n--- aria2.log ---\n");
    text.push_str(&std::fs::read_to_string(&log).unwrap_or_default());
    Aria2Outcome {
        code: status.and_then(|s| s.code()),
        log: text,
    }
}

/// aria2c seeding `torrent` from the data under `dir` (checked first),
/// until it is dropped; announces to the torrent's (HTTP) trackers and
/// listens on the returned port.
pub fn aria2_seed(torrent: &Path, dir: &Path, log: &Path) -> (ChildGuard, u16) {
    let bin = require_tool("aria2c");
    let port = free_tcp_port();
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--dir={}", dir.display()))
        .args([
            "--enable-dht=false",
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--disable-ipv6=true",
            "--interface=127.0.0.1",
            "--seed-ratio=0.0",
            "--bt-require-crypto=false",
            "--check-integrity=true",
            "--bt-seed-unverified=false",
            "--console-log-level=notice",
        ])
        .arg(format!("--listen-port={port}"))
        .arg(torrent)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    (ChildGuard::spawn("aria2c seed", &mut cmd, Some(log)), port)
}
