//! A Transmission 3.00 daemon on loopback, driven by transmission-remote:
//! fresh config per test (as a seeder it remembers peers by IP), DHT, LPD,
//! uTP, PEX and port forwarding off, peer and RPC sockets on 127.0.0.1.
//!
//! Transmission 3.00 ignores tracker peers in 127.0.0.0/8, so on loopback
//! the other side must dial it on [`Transmission::peer_port`].

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::child::ChildGuard;
use crate::tools::{free_tcp_port, require_tool, tcp_port_taken};

/// A running transmission-daemon, killed on drop.
pub struct Transmission {
    /// The daemon.
    proc: ChildGuard,
    /// Its peer (BitTorrent) port on 127.0.0.1.
    pub peer_port: u16,
    /// Its RPC port on 127.0.0.1.
    /// Its RPC port on 127.0.0.1.
    pub rpc_port: u16,
    /// transmission-remote.
    remote: PathBuf,
    /// Config folder (settings.json, resume files); removed on drop.
    _config: tempfile::TempDir,
}

/// Progress of the daemon's one torrent, from `transmission-remote -i`.
#[derive(Debug, Clone)]
pub struct TorrentState {
    /// "Percent Done" in percent.
    pub percent_done: f64,
    /// "State" (Downloading, Seeding, Idle, Verifying, Stopped, ...).
    pub state: String,
    /// The full `-i` output, for messages.
    pub info: String,
}

impl Transmission {
    /// Start a daemon whose downloads go to (and whose seeds come from)
    /// `download_dir`.
    pub fn start(download_dir: &Path) -> Transmission {
        let daemon = require_tool("transmission-daemon");
        let remote = require_tool("transmission-remote");
        for _attempt in 0..10 {
            let config = tempfile::tempdir().expect("tempdir");
            let (peer_port, rpc_port) = (free_tcp_port(), free_tcp_port());
            if peer_port == rpc_port {
                continue;
            }
            let settings = serde_json::json!({
                "bind-address-ipv4": "127.0.0.1",
                "bind-address-ipv6": "::1",
                "peer-port": peer_port,
                "peer-port-random-on-start": false,
                "port-forwarding-enabled": false,
                "dht-enabled": false,
                "lpd-enabled": false,
                "utp-enabled": false,
                "pex-enabled": false,
                // 0: prefer plain connections (riffle has no encryption).
                "encryption": 0,
                "rpc-enabled": true,
                "rpc-bind-address": "127.0.0.1",
                "rpc-port": rpc_port,
                "rpc-authentication-required": false,
                "rpc-whitelist-enabled": false,
                "rpc-host-whitelist-enabled": false,
                "download-dir": download_dir,
                "incomplete-dir-enabled": false,
                "rename-partial-files": false,
                "start-added-torrents": true,
                "watch-dir-enabled": false,
                "speed-limit-up-enabled": false,
                "speed-limit-down-enabled": false,
                "alt-speed-enabled": false,
                "ratio-limit-enabled": false,
                "idle-seeding-limit-enabled": false,
                "trash-original-torrent-files": false,
                "message-level": 3,
            });
            std::fs::write(
                config.path().join("settings.json"),
                serde_json::to_vec_pretty(&settings).expect("json"),
            )
            .expect("write settings.json");
            let log = download_dir
                .parent()
                .unwrap_or(download_dir)
                .join(format!("transmission-{peer_port}.log"));
            let mut cmd = Command::new(&daemon);
            cmd.arg("-f")
                .arg("-g")
                .arg(config.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null());
            let mut proc = ChildGuard::spawn("transmission-daemon", &mut cmd, Some(&log));
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && proc.try_wait().is_none() {
                if tcp_port_taken(peer_port) && tcp_port_taken(rpc_port) {
                    let t = Transmission {
                        proc,
                        peer_port,
                        rpc_port,
                        remote: remote.clone(),
                        _config: config,
                    };
                    // RPC answers once the session is up.
                    t.remote(&["-si"]);
                    return t;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // A port was taken meanwhile: try others.
        }
        panic!("transmission-daemon did not start on loopback");
    }

    /// Run transmission-remote against this daemon; panics if it fails.
    pub fn remote(&self, args: &[&str]) -> String {
        let out = Command::new(&self.remote)
            .arg(format!("127.0.0.1:{}", self.rpc_port))
            .args(args)
            .output()
            .expect("run transmission-remote");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "transmission-remote {args:?} failed: {stdout}{}\ndaemon log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log_tail(30)
        );
        stdout
    }

    /// Add `torrent` (it starts at once; existing data is verified first).
    pub fn add(&self, torrent: &Path) {
        let out = self.remote(&["-a", torrent.to_str().expect("utf-8 path")]);
        assert!(
            out.contains("success"),
            "adding {}: {out}",
            torrent.display()
        );
    }

    /// State of the daemon's torrent (id 1: each test adds one).
    pub fn state(&self) -> TorrentState {
        let info = self.remote(&["-t", "1", "-i"]);
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
                .unwrap_or_default()
        };
        let percent_done = field("Percent Done:")
            .trim_end_matches('%')
            .parse()
            .unwrap_or(0.0);
        TorrentState {
            percent_done,
            state: field("State:"),
            info,
        }
    }

    /// Wait until the torrent is 100% done and not verifying; returns its
    /// state, or the last state seen once `timeout` passes.
    pub fn wait_complete(&self, timeout: Duration) -> Result<TorrentState, TorrentState> {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.state();
            if s.percent_done >= 100.0
                && !s.state.starts_with("Verif")
                && !s.state.contains("verify")
            {
                return Ok(s);
            }
            if Instant::now() >= deadline {
                return Err(s);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Make Transmission re-check the torrent's data with its own hash
    /// check, and return the state once the check is over.
    pub fn verify(&self, timeout: Duration) -> TorrentState {
        self.remote(&["-t", "1", "--verify"]);
        let deadline = Instant::now() + timeout;
        // The check is queued: wait for it to start (or be over), then end.
        std::thread::sleep(Duration::from_millis(500));
        loop {
            let s = self.state();
            let checking = s.state.contains("erif") || s.state.contains("check");
            if !checking || Instant::now() >= deadline {
                return s;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The end of the daemon's log.
    pub fn log_tail(&self, n: usize) -> String {
        self.proc.log_tail(n)
    }
}
