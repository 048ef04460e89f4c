//! A DHT of libtorrent nodes on 127.0.0.1 (`tests/scripts/lt_dht.py`),
//! driven one JSON command at a time: seed a torrent on a node, join a
//! swarm from a magnet link, see what the nodes were asked.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::child::{ChildGuard, Lines};
use crate::{require_libtorrent, script};

/// The running DHT; killed on drop.
pub struct LtDht {
    proc: ChildGuard,
    lines: Lines,
    /// Each node's port (TCP for peers, UDP for the DHT).
    pub ports: Vec<u16>,
    /// Download events that came while waiting for a command's answer.
    events: Vec<Value>,
}

impl LtDht {
    /// `nodes` libtorrent nodes, node 0 bootstrapping from `bootstrap`, the
    /// others from node 0 and `bootstrap`; returns once they know each
    /// other. Their alert log goes to `log`.
    pub fn start(nodes: usize, bootstrap: &[SocketAddr], log: &Path) -> LtDht {
        let python = require_libtorrent();
        let mut cmd = Command::new(python);
        cmd.arg(script("lt_dht.py"))
            .arg(nodes.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        for b in bootstrap {
            cmd.arg("--bootstrap").arg(b.to_string());
        }
        let mut proc = ChildGuard::spawn("libtorrent DHT", &mut cmd, Some(log));
        let lines = Lines::new(proc.take_stdout().expect("piped stdout"));
        let first = lines.next(Duration::from_secs(60)).unwrap_or_else(|| {
            panic!(
                "the libtorrent DHT never formed; log:\n{}",
                proc.log_tail(40)
            )
        });
        let v: Value = serde_json::from_str(&first).expect("ports line");
        let ports = v["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .map(|p| p.as_u64().expect("port") as u16)
            .collect();
        LtDht {
            proc,
            lines,
            ports,
            events: Vec::new(),
        }
    }

    /// Node `i`'s address (its DHT's UDP and its peers' TCP).
    pub fn addr(&self, i: usize) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports[i]))
    }

    fn ask(&mut self, command: Value) -> Value {
        let stdin = self.proc.stdin().expect("piped stdin");
        writeln!(stdin, "{command}").expect("write to lt_dht.py");
        stdin.flush().expect("flush");
        loop {
            let line = self.lines.next(Duration::from_secs(30)).unwrap_or_else(|| {
                panic!(
                    "lt_dht.py did not answer {command}; log:\n{}",
                    self.proc.log_tail(40)
                )
            });
            let v: Value = serde_json::from_str(&line).expect("a JSON line");
            if v.get("event").is_some() {
                self.events.push(v);
                continue;
            }
            assert!(v.get("error").is_none(), "lt_dht.py: {v}");
            return v;
        }
    }

    /// Seed `torrent` (its trackers dropped) from `save` on node `node`.
    pub fn seed(&mut self, node: usize, torrent: &Path, save: &Path) {
        self.ask(json!({"op": "seed", "node": node, "torrent": torrent, "save": save}));
    }

    /// Join a swarm from `uri` on node `node`, saving into `save`.
    pub fn magnet(&mut self, node: usize, uri: &str, save: &Path) {
        self.ask(json!({"op": "magnet", "node": node, "uri": uri, "save": save}));
    }

    /// Tell node `node` of a DHT node at `addr`.
    pub fn add_node(&mut self, node: usize, addr: SocketAddr) {
        self.ask(json!({"op": "add_node", "node": node, "addr": addr.to_string()}));
    }

    /// Info-hashes (hex) the nodes were asked `get_peers` for, and the
    /// (hash, port) pairs announced to them.
    pub fn seen(&mut self) -> (Vec<String>, Vec<(String, u16)>) {
        let v = self.ask(json!({"op": "seen"}));
        let hashes = v["get_peers"]
            .as_array()
            .expect("get_peers")
            .iter()
            .map(|h| h.as_str().expect("hex").to_owned())
            .collect();
        let announces = v["announces"]
            .as_array()
            .expect("announces")
            .iter()
            .map(|a| {
                (
                    a[0].as_str().expect("hex").to_owned(),
                    a[1].as_u64().expect("port") as u16,
                )
            })
            .collect();
        (hashes, announces)
    }

    /// Wait until some node has been announced `hash` at `port`.
    pub fn wait_announce(&mut self, hash: &str, port: u16, limit: Duration) {
        let start = Instant::now();
        loop {
            let (_, announces) = self.seen();
            if announces.iter().any(|(h, p)| h == hash && *p == port) {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "no node was announced {hash} at port {port} within {limit:?}; announces: {announces:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Wait for the download event `name` ("metadata", "first_byte",
    /// "finished") and return it.
    pub fn wait_event(&mut self, name: &str, limit: Duration) -> Value {
        let start = Instant::now();
        loop {
            if let Some(i) = self.events.iter().position(|e| e["event"] == name) {
                return self.events.remove(i);
            }
            let left = limit.checked_sub(start.elapsed()).unwrap_or_else(|| {
                panic!(
                    "libtorrent: no {name} within {limit:?}; log:\n{}",
                    self.proc.log_tail(40)
                )
            });
            if let Some(line) = self.lines.next(left.min(Duration::from_millis(500))) {
                let v: Value = serde_json::from_str(&line).expect("a JSON line");
                self.events.push(v);
            }
        }
    }

    /// The end of libtorrent's alert log.
    pub fn log_tail(&self, n: usize) -> String {
        self.proc.log_tail(n)
    }
}
