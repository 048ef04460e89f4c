//! A real opentracker on 127.0.0.1, fresh for each test (it keeps stale
//! peers), serving only the info-hashes it is given (Debian's build serves
//! only those in its whitelist).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::child::ChildGuard;
use crate::tools::{free_tcp_port, free_udp_port, require_tool, tcp_port_taken, udp_port_taken};

/// A running opentracker, killed on drop.
pub struct Opentracker {
    /// The tracker process.
    proc: ChildGuard,
    /// Its TCP (HTTP) port.
    http_port: u16,
    /// Its UDP port.
    udp_port: u16,
    /// Chroot folder holding the whitelist; removed on drop.
    _dir: tempfile::TempDir,
}

impl Opentracker {
    /// Start an opentracker on free loopback ports serving exactly
    /// `info_hashes` (40 hex digits each).
    pub fn start(info_hashes: &[&str]) -> Opentracker {
        let bin = require_tool("opentracker");
        let dir = tempfile::tempdir().expect("tempdir");
        // opentracker chroots into the folder and drops to `nobody`: the
        // whitelist must be readable by it.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod tracker dir");
        let list = dir.path().join("whitelist.txt");
        let mut body = String::new();
        for h in info_hashes {
            assert!(
                h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()),
                "not an info-hash: {h}"
            );
            body.push_str(&h.to_ascii_lowercase());
            body.push('\n');
        }
        std::fs::write(&list, body).expect("write whitelist");
        std::fs::set_permissions(&list, std::fs::Permissions::from_mode(0o644))
            .expect("chmod whitelist");
        let log = dir.path().join("opentracker.log");
        for _attempt in 0..10 {
            let (http_port, udp_port) = (free_tcp_port(), free_udp_port());
            let mut cmd = Command::new(&bin);
            // -i must come before -p/-P; -w is relative to the chroot (-d).
            cmd.args(["-i", "127.0.0.1", "-p"])
                .arg(http_port.to_string())
                .arg("-P")
                .arg(udp_port.to_string())
                .args(["-A", "127.0.0.1", "-d"])
                .arg(dir.path())
                .args(["-w", "whitelist.txt"])
                .stdin(Stdio::null())
                .stdout(Stdio::null());
            let mut proc = ChildGuard::spawn("opentracker", &mut cmd, Some(&log));
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && proc.try_wait().is_none() {
                if tcp_port_taken(http_port) && udp_port_taken(udp_port) {
                    let tracker = Opentracker {
                        proc,
                        http_port,
                        udp_port,
                        _dir: dir,
                    };
                    tracker.wait_serving(info_hashes);
                    return tracker;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // Port taken meanwhile (it exits), or slow: try other ports.
        }
        panic!(
            "opentracker did not start; its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Waits until the tracker accepts announces of every hash (it reads
    /// the whitelist just after binding). The probe is a `stopped` announce,
    /// which leaves no peer behind.
    fn wait_serving(&self, info_hashes: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(5);
        for h in info_hashes {
            let path = format!(
                "/announce?info_hash={}&peer_id=-XX0000-probeprobepr&port=1&uploaded=0\
                 &downloaded=0&left=0&compact=1&event=stopped",
                escape(h)
            );
            loop {
                let reply = self.http_get(&path);
                match &reply {
                    Ok(body) if !body.contains("failure reason") => break,
                    _ => assert!(
                        Instant::now() < deadline,
                        "opentracker does not serve {h}: {reply:?}"
                    ),
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// GET `path` from the tracker's HTTP port; the whole reply.
    fn http_get(&self, path: &str) -> Result<String, String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.http_port)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").map_err(|e| e.to_string())?;
        let mut body = Vec::new();
        s.read_to_end(&mut body).map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// Announce URL over HTTP (BEP 3).
    pub fn http_announce(&self) -> String {
        format!("http://127.0.0.1:{}/announce", self.http_port)
    }

    /// Announce URL over UDP (BEP 15).
    pub fn udp_announce(&self) -> String {
        format!("udp://127.0.0.1:{}/announce", self.udp_port)
    }

    /// Announce URL over UDP when `udp`, else over HTTP.
    pub fn announce(&self, udp: bool) -> String {
        if udp {
            self.udp_announce()
        } else {
            self.http_announce()
        }
    }

    /// How many seeders the tracker knows for `info_hash` (HTTP scrape).
    pub fn seeders(&self, info_hash: &str) -> u64 {
        self.try_scrape(info_hash)
            .unwrap_or_else(|e| panic!("scrape of {info_hash} failed: {e}"))
            .0
    }

    /// (seeders, leechers) from an HTTP scrape, or why it failed. A
    /// torrent without peers is absent from the reply: (0, 0).
    pub fn try_scrape(&self, info_hash: &str) -> Result<(u64, u64), String> {
        let text = self.http_get(&format!("/scrape?info_hash={}", escape(info_hash)))?;
        if text.ends_with("d5:filesdee") {
            return Ok((0, 0));
        }
        let count = |key: &str| -> Result<u64, String> {
            let at = text
                .find(key)
                .ok_or_else(|| format!("no {key} in scrape reply {text:?}"))?;
            let digits: String = text[at + key.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits
                .parse()
                .map_err(|_| format!("bad scrape reply {text:?}"))
        };
        Ok((count("8:completei")?, count("10:incompletei")?))
    }

    /// How many completed downloads (`event=completed` announces) the
    /// tracker has counted for `info_hash` (HTTP scrape's "downloaded").
    pub fn completed(&self, info_hash: &str) -> Result<u64, String> {
        let text = self.http_get(&format!("/scrape?info_hash={}", escape(info_hash)))?;
        if text.ends_with("d5:filesdee") {
            return Ok(0);
        }
        let key = "10:downloadedi";
        let at = text
            .find(key)
            .ok_or_else(|| format!("no {key} in scrape reply {text:?}"))?;
        text[at + key.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .map_err(|_| format!("bad scrape reply {text:?}"))
    }

    /// Wait until the tracker knows at least `n` seeders of `info_hash`;
    /// after `timeout`, says how many it knows.
    pub fn wait_seeders(&self, info_hash: &str, n: u64, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let have = self.seeders(info_hash);
            if have >= n {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "opentracker knows {have} seeders of {info_hash} after {timeout:?}, want {n}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Its log (stderr) so far.
    pub fn log(&self) -> String {
        self.proc.log_text()
    }
}

/// `info_hash` (40 hex digits) percent-encoded as raw bytes for a URL.
fn escape(info_hash: &str) -> String {
    (0..20)
        .map(|i| format!("%{}", &info_hash[2 * i..2 * i + 2]))
        .collect()
}
