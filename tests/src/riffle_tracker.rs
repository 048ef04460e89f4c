//! `riffle tracker` as a child process for the interop tests, raw HTTP
//! announces and scrapes against it (decoded with riffle-protocol's
//! parsers), and libtorrent as a tracker probe
//! (`tests/scripts/lt_tracker_probe.py`): a downloader that reports what
//! its tracker answered.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use riffle_protocol::tracker::http::{parse_announce_response, AnnounceRequest, AnnounceResponse};
use riffle_protocol::tracker::scrape::{parse_scrape_response, ScrapeStats};
use riffle_protocol::tracker::udp::{
    Action, AddressFamily, AnnounceRequest as UdpAnnounce, Request, Response,
};
use riffle_protocol::tracker::Event;
use riffle_protocol::types::{InfoHash, PeerId};
use serde_json::Value;

use crate::child::{ChildGuard, Lines};
use crate::{require_libtorrent, riffle_bin, script};

/// A running `riffle tracker --listen 127.0.0.1:0 ...`; killed on drop.
pub struct RiffleTracker {
    /// The process (stderr: its debug log).
    proc: ChildGuard,
    /// Its stdout after the first line.
    lines: Lines,
    /// `http://127.0.0.1:PORT/announce`, from its first line.
    pub http_url: String,
    /// `udp://127.0.0.1:PORT`, from its first line.
    pub udp_url: String,
    /// The port both listen on.
    pub port: u16,
}

impl RiffleTracker {
    /// Start `riffle tracker --listen 127.0.0.1:0 EXTRA...` with its debug
    /// log in `log`; returns once it printed
    /// `tracker listening on http://ADDR/announce and udp://ADDR`.
    pub fn start(extra: &[&str], log: &Path) -> RiffleTracker {
        let mut cmd = Command::new(riffle_bin());
        cmd.args(["tracker", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env("RIFFLE_LOG", "debug")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let mut proc = ChildGuard::spawn("riffle tracker", &mut cmd, Some(log));
        let lines = Lines::new(proc.take_stdout().expect("piped stdout"));
        let first = lines.next(Duration::from_secs(30));
        let urls = first
            .as_deref()
            .and_then(|l| l.strip_prefix("tracker listening on "))
            .and_then(|rest| rest.split_once(" and "))
            .map(|(h, u)| (h.trim().to_string(), u.trim().to_string()));
        let Some((http_url, udp_url)) = urls else {
            let status = proc.wait_timeout(Duration::from_millis(500));
            panic!(
                "riffle tracker {extra:?}: first line {first:?} is not `tracker listening on \
                 http://ADDR/announce and udp://ADDR` (exit status {status:?}); stderr:\n{}",
                proc.log_tail(40)
            );
        };
        let port = udp_url
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {udp_url:?}"));
        assert_eq!(
            http_url,
            format!("http://127.0.0.1:{port}/announce"),
            "HTTP and UDP share the port"
        );
        RiffleTracker {
            proc,
            lines,
            http_url,
            udp_url,
            port,
        }
    }

    /// The announce URL over UDP when `udp`, else over HTTP.
    pub fn announce_url(&self, udp: bool) -> String {
        if udp {
            self.udp_url.clone()
        } else {
            self.http_url.clone()
        }
    }

    /// GET `path` (with its query) over HTTP/1.1; the status code and body.
    pub fn http_get(&self, path: &str) -> Result<(u16, Vec<u8>), String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .map_err(|e| e.to_string())?;
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).map_err(|e| e.to_string())?;
        let split = reply
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| format!("no end of head in {:?}", String::from_utf8_lossy(&reply)))?;
        let head = String::from_utf8_lossy(&reply[..split]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("bad status line in {head:?}"))?;
        Ok((status, reply[split + 4..].to_vec()))
    }

    /// Announce `req` over raw HTTP; the decoded reply, or the failure
    /// reason / why it could not be decoded.
    pub fn announce(&self, req: &AnnounceRequest) -> Result<AnnounceResponse, String> {
        let (status, body) = self.http_get(&format!("/announce?{}", req.query_string()))?;
        if status != 200 {
            return Err(format!("HTTP status {status}"));
        }
        parse_announce_response(&body).map_err(|e| e.to_string())
    }

    /// The scrape counts of `info_hash` (hex).
    pub fn scrape(&self, info_hash: &str) -> Result<ScrapeStats, String> {
        let hash = parse_hash(info_hash);
        let q = format!("/scrape?info_hash={}", escape(hash.as_bytes()));
        let (status, body) = self.http_get(&q)?;
        if status != 200 {
            return Err(format!("HTTP status {status}"));
        }
        let r = parse_scrape_response(&body).map_err(|e| e.to_string())?;
        r.files
            .get(&hash)
            .copied()
            .ok_or_else(|| format!("scrape reply lacks {info_hash}"))
    }

    /// Poll the scrape until `ok` holds (up to `timeout`); the last counts
    /// either way.
    pub fn wait_scrape(
        &self,
        info_hash: &str,
        timeout: Duration,
        ok: impl Fn(&ScrapeStats) -> bool,
    ) -> Result<ScrapeStats, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.scrape(info_hash);
            match &got {
                Ok(s) if ok(s) => return got,
                _ if Instant::now() >= deadline => return got,
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Ask it to stop (SIGTERM) and wait up to `timeout`.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.proc.terminate();
        self.proc.wait_timeout(timeout)
    }

    /// Stdout lines after the first, waiting at most `timeout` for more.
    pub fn stdout_lines(&self, timeout: Duration) -> Vec<String> {
        self.lines.rest(timeout)
    }

    /// The last `n` lines of its debug log.
    pub fn log_tail(&self, n: usize) -> String {
        self.proc.log_tail(n)
    }
}

/// An info-hash from its hex form.
pub fn parse_hash(hex: &str) -> InfoHash {
    hex.parse()
        .unwrap_or_else(|_| panic!("{hex:?} is not a hex info-hash"))
}

/// Percent-escape every byte.
fn escape(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

/// What libtorrent's tracker said to a libtorrent downloader.
#[derive(Debug)]
pub struct ProbeAnswer {
    /// A tracker_reply_alert came.
    pub reply: bool,
    /// Peers in that reply.
    pub num_peers: Option<u64>,
    /// A tracker_error_alert's message.
    pub error: Option<String>,
    /// Its failure reason, when the tracker gave one.
    pub failure_reason: Option<String>,
}

/// A libtorrent downloader of a torrent, for what the tracker answers it.
pub struct LtProbe {
    /// The python process.
    proc: ChildGuard,
    /// Its first tracker answer.
    pub answer: ProbeAnswer,
}

impl LtProbe {
    /// Start a libtorrent download of `torrent` into `save_path` (with no
    /// seeder it stays a downloader) and wait for its tracker's first
    /// answer. `hold`: keep it running (and counted by the tracker) until
    /// dropped.
    pub fn start(save_path: &Path, torrent: &Path, hold: bool) -> LtProbe {
        LtProbe::start_with(save_path, torrent, hold, &[])
    }

    /// [`LtProbe::start`] with more arguments of the probe script
    /// (`--listen IP`: announce from IP; `--num-want N`).
    pub fn start_with(save_path: &Path, torrent: &Path, hold: bool, extra: &[&str]) -> LtProbe {
        let python = require_libtorrent();
        let mut cmd = Command::new(python);
        cmd.arg(script("lt_tracker_probe.py"))
            .arg(save_path)
            .arg(torrent)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        if hold {
            cmd.arg("--hold");
        }
        std::fs::create_dir_all(save_path).expect("probe save path");
        let log = save_path.join("lt_probe.log");
        let mut proc = ChildGuard::spawn("libtorrent probe", &mut cmd, Some(&log));
        let lines = Lines::new(proc.take_stdout().expect("piped stdout"));
        let first = lines.next(Duration::from_secs(40)).unwrap_or_else(|| {
            panic!(
                "libtorrent probe printed nothing; its log:\n{}",
                proc.log_tail(40)
            )
        });
        let v: Value =
            serde_json::from_str(&first).unwrap_or_else(|e| panic!("probe said {first:?}: {e}"));
        let text = |k: &str| v[k].as_str().map(str::to_string);
        let answer = ProbeAnswer {
            reply: v["reply"].as_bool().unwrap_or(false),
            num_peers: v["num_peers"].as_u64(),
            error: text("error"),
            failure_reason: text("failure_reason"),
        };
        LtProbe { proc, answer }
    }

    /// The end of its alert log.
    pub fn log_tail(&self, n: usize) -> String {
        self.proc.log_tail(n)
    }
}

impl RiffleTracker {
    /// A raw BEP 15 announce (connect, then announce as a downloader with
    /// nothing yet) that the tracker must refuse; returns its error
    /// message. Panics on any other answer or on a timeout.
    pub fn udp_announce_error(
        &self,
        info_hash: &InfoHash,
        peer_id: PeerId,
        port: u16,
        left: u64,
    ) -> String {
        let ask = UdpAsk {
            from: "127.0.0.1",
            info_hash: *info_hash,
            peer_id,
            port,
            left,
            num_want: -1,
        };
        match self.udp_announce(&ask) {
            Response::Error { message, .. } => message,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    /// A raw BEP 15 announce (connect, then `started`) sent from the
    /// address `ask.from` (any 127.x.y.z: the tracker sees the peer
    /// there); the announce's answer (an error included). Panics on a
    /// timeout or an undecodable reply.
    pub fn udp_announce(&self, ask: &UdpAsk) -> Response {
        let socket = UdpSocket::bind((ask.from, 0)).expect("UDP socket");
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        socket.connect(("127.0.0.1", self.port)).expect("connect");
        let exchange = |req: &Request, tid: u32, action: Action| -> Response {
            socket.send(&req.encode()).expect("send");
            let mut buf = [0u8; 2048];
            let n = socket.recv(&mut buf).expect("no UDP reply within 5 s");
            let reply = Response::decode(&buf[..n], AddressFamily::V4).expect("a valid reply");
            assert_eq!(reply.transaction_id(), tid);
            assert!(
                reply.action() == action || reply.action() == Action::Error,
                "{reply:?}"
            );
            reply
        };
        let Response::Connect { connection_id, .. } =
            exchange(&Request::Connect { transaction_id: 1 }, 1, Action::Connect)
        else {
            panic!("connect refused");
        };
        let announce = Request::Announce(UdpAnnounce {
            connection_id,
            transaction_id: 2,
            info_hash: ask.info_hash,
            peer_id: ask.peer_id,
            downloaded: 0,
            left: ask.left,
            uploaded: 0,
            event: Event::Started,
            ip: 0,
            key: 0,
            num_want: ask.num_want,
            port: ask.port,
            url_data: Vec::new(),
        });
        exchange(&announce, 2, Action::Announce)
    }
}

/// One raw UDP announce of [`RiffleTracker::udp_announce`].
pub struct UdpAsk<'a> {
    /// The source address (127.x.y.z).
    pub from: &'a str,
    /// The swarm.
    pub info_hash: InfoHash,
    /// The announcing peer.
    pub peer_id: PeerId,
    /// Its listening port.
    pub port: u16,
    /// Bytes it needs.
    pub left: u64,
    /// Peers asked for (-1: the tracker's default).
    pub num_want: i32,
}
