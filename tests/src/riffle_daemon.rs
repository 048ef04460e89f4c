//! `riffle daemon` as a child process, driven the way users drive a
//! seedbox: Debian's unmodified `transmission-remote`, and raw JSON-RPC
//! over HTTP (with Transmission's session-id handshake) for what
//! transmission-remote does not show.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::child::{ChildGuard, Lines};
use crate::riffle_bin;
use crate::tools::require_tool;

/// A running `riffle daemon` with its state under one directory.
pub struct RiffleDaemon {
    proc: ChildGuard,
    _lines: Lines,
    /// Where its RPC listens.
    pub rpc: SocketAddr,
    /// Where it accepts peers.
    pub peer_port: u16,
    /// Its state directory.
    pub state_dir: PathBuf,
    /// Its download directory.
    pub download_dir: PathBuf,
    /// Credentials for transmission-remote's `--auth`, if the config sets
    /// some.
    pub auth: Option<String>,
}

/// The options a test starts the daemon with.
#[derive(Default, Clone)]
pub struct DaemonOptions {
    /// A config file's text (written next to the state directory).
    pub config: Option<String>,
    /// More flags.
    pub flags: Vec<String>,
    /// transmission-remote's `--auth user:pass`.
    pub auth: Option<String>,
    /// Keep the RPC port of an earlier run (a restart).
    pub rpc_port: Option<u16>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// A command the daemon runs under (its arguments, then riffle's
    /// path and arguments, are appended): `unshare ... sh -c ...`.
    pub wrap: Vec<String>,
}

impl RiffleDaemon {
    /// Start `riffle daemon` with state in `dir/state`, downloads in
    /// `dir/dl`, RPC and peers on 127.0.0.1; returns once it printed its
    /// addresses.
    pub fn start(dir: &Path, opts: &DaemonOptions) -> RiffleDaemon {
        let state_dir = dir.join("state");
        let download_dir = dir.join("dl");
        let log = dir.join(format!(
            "daemon-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis())
        ));
        let mut cmd = match opts.wrap.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(riffle_bin());
                c
            }
            None => Command::new(riffle_bin()),
        };
        cmd.arg("daemon")
            .arg("--state-dir")
            .arg(&state_dir)
            .arg("--download-dir")
            .arg(&download_dir)
            .arg("--rpc-listen")
            .arg(format!("127.0.0.1:{}", opts.rpc_port.unwrap_or(0)))
            .arg("--listen")
            .arg("127.0.0.1:0")
            .args(&opts.flags)
            .env("RIFFLE_LOG", "debug")
            .env("NO_COLOR", "1")
            .env_remove("JOURNAL_STREAM")
            .envs(opts.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        if let Some(text) = &opts.config {
            let path = dir.join("config.toml");
            std::fs::write(&path, text).expect("write the config file");
            cmd.arg("--config").arg(path);
        } else {
            // Never the user's own config file.
            cmd.env("XDG_CONFIG_HOME", dir.join("no-config"));
        }
        let mut proc = ChildGuard::spawn("riffle daemon", &mut cmd, Some(&log));
        let lines = Lines::new(proc.take_stdout().expect("piped stdout"));
        let mut addr = |prefix: &str| -> SocketAddr {
            let line = lines.next(Duration::from_secs(60));
            match line.as_deref().and_then(|l| l.strip_prefix(prefix)) {
                Some(a) => a.trim().parse().expect("an address"),
                None => {
                    let status = proc.wait_timeout(Duration::from_millis(500));
                    panic!(
                        "riffle daemon printed {line:?}, not `{prefix}ADDR` (exit {status:?}):\n{}",
                        proc.log_tail(40)
                    )
                }
            }
        };
        let rpc = addr("rpc listening on ");
        let peer_port = addr("listening on ").port();
        RiffleDaemon {
            proc,
            _lines: lines,
            rpc,
            peer_port,
            state_dir,
            download_dir,
            auth: opts.auth.clone(),
        }
    }

    /// Run `transmission-remote ADDR ARGS...` (with `--auth` when set).
    pub fn remote(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(require_tool("transmission-remote"));
        cmd.arg(self.rpc.to_string());
        if let Some(a) = &self.auth {
            cmd.arg("--auth").arg(a);
        }
        cmd.args(args)
            .output()
            .expect("cannot run transmission-remote")
    }

    /// [`Self::remote`], asserting it worked; its stdout.
    pub fn remote_ok(&self, args: &[&str]) -> String {
        let out = self.remote(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success() && !stdout.contains("Error") && !stderr.contains("Error"),
            "transmission-remote {args:?} failed ({:?}):\nstdout: {stdout}\nstderr: {stderr}\ndaemon log:\n{}",
            out.status,
            self.log_tail(30)
        );
        stdout
    }

    /// One JSON-RPC call; the whole answer.
    pub fn rpc(&self, method: &str, arguments: Value) -> Value {
        let body = json!({"method": method, "arguments": arguments, "tag": 1}).to_string();
        let auth = self
            .auth
            .as_deref()
            .map(|a| format!("Authorization: Basic {}\r\n", base64(a.as_bytes())));
        let mut session = String::new();
        for _ in 0..2 {
            let (status, headers, answer) = http_post(
                self.rpc,
                "/transmission/rpc",
                &format!(
                    "{}X-Transmission-Session-Id: {session}\r\n",
                    auth.as_deref().unwrap_or("")
                ),
                body.as_bytes(),
            );
            if status == 409 {
                session = header(&headers, "x-transmission-session-id").unwrap_or_default();
                continue;
            }
            assert_eq!(
                status,
                200,
                "RPC {method}: HTTP {status}: {}",
                String::from_utf8_lossy(&answer)
            );
            return serde_json::from_slice(&answer).expect("the answer is JSON");
        }
        panic!("the daemon kept answering 409")
    }

    /// `torrent-get` of `fields` for every torrent, in id order.
    pub fn torrents(&self, fields: &[&str]) -> Vec<Value> {
        let a = self.rpc("torrent-get", json!({"fields": fields}));
        assert_eq!(a["result"], "success", "{a}");
        a["arguments"]["torrents"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The torrent with `id`, `fields` of it.
    pub fn torrent(&self, id: u64, fields: &[&str]) -> Value {
        let a = self.rpc("torrent-get", json!({"ids": [id], "fields": fields}));
        a["arguments"]["torrents"][0].clone()
    }

    /// Wait (up to `timeout`) until torrent `id`'s `fields` satisfy `pred`.
    pub fn wait_torrent(
        &self,
        id: u64,
        fields: &[&str],
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let t = self.torrent(id, fields);
            if pred(&t) {
                return t;
            }
            assert!(
                start.elapsed() < timeout,
                "timed out waiting for {what}: {t}\ndaemon log:\n{}",
                self.log_tail(40)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then wait for the exit.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        self.proc.terminate();
        self.proc.wait_timeout(timeout)
    }

    /// SIGKILL, then wait for it to be gone.
    pub fn kill(mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.proc.id().to_string()])
            .status();
        self.proc.wait_timeout(Duration::from_secs(10));
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.proc.id()
    }

    /// Wait for it to exit by itself.
    pub fn wait(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        self.proc.wait_timeout(timeout)
    }

    /// The last lines of its log.
    pub fn log_tail(&self, n: usize) -> String {
        self.proc.log_tail(n)
    }

    /// Its whole log.
    pub fn log(&self) -> String {
        self.proc.log_text()
    }
}

fn header(headers: &str, name: &str) -> Option<String> {
    headers.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

/// One HTTP/1.1 POST (`Connection: close`): status, header text, body.
pub fn http_post(
    addr: SocketAddr,
    path: &str,
    extra_headers: &str,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    http_request(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra_headers}\r\n",
            addr.port(),
            body.len()
        ),
        body,
    )
}

/// Send `head` and `body` raw, read until the server closes: status,
/// header text, body.
pub fn http_request(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect to the RPC");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    s.write_all(head.as_bytes()).expect("send the head");
    // A server refusing a large body may close before reading it all.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head_text = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head_text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = raw.get(split + 4..).unwrap_or_default().to_vec();
    (status, head_text, body)
}

/// Standard base64 (for basic authentication).
pub fn base64(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
