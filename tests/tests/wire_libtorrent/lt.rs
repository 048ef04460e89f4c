//! A libtorrent peer in a python child process (`scripts/lt_peer.py`):
//! its stdout lines arrive on a channel so the test can wait with a
//! deadline, its stderr is kept for failure messages, and it is killed
//! when dropped so a failing test leaves nothing behind.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use riffle_tests::script;
use serde_json::Value;

/// A running `lt_peer.py`.
pub struct LtPeer {
    child: Child,
    /// Closing it tells a seeder to exit.
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl LtPeer {
    /// Start `lt_peer.py` with `args` under `python`.
    pub fn start(python: &str, args: &[&str]) -> LtPeer {
        let mut child = Command::new(python)
            .arg(script("lt_peer.py"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start lt_peer.py");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr_pipe = child.stderr.take().expect("piped stderr");
        let (tx, lines) = channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = stderr_pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(chunk.get(..n).unwrap_or_default());
                sink.lock().map(|mut s| s.push_str(&text)).ok();
            }
        });
        LtPeer {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
        }
    }

    /// What the script wrote to stderr so far (libtorrent's alerts).
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The next stdout line as JSON, waiting until `deadline`.
    pub fn json_line(&mut self, deadline: Instant) -> Value {
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(wait) {
            Ok(line) => serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("lt_peer.py printed {line:?}: {e}")),
            Err(RecvTimeoutError::Timeout) => panic!(
                "lt_peer.py printed nothing in time; its stderr:\n{}",
                self.stderr()
            ),
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.wait().ok();
                panic!(
                    "lt_peer.py exited ({status:?}) without output; its stderr:\n{}",
                    self.stderr()
                )
            }
        }
    }

    /// A stdout line as JSON if one has arrived.
    pub fn try_json_line(&mut self) -> Option<Value> {
        match self.lines.try_recv() {
            Ok(line) => Some(
                serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("lt_peer.py printed {line:?}: {e}")),
            ),
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => None,
        }
    }

    /// Close the script's stdin (a seeder then exits).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }
}

impl Drop for LtPeer {
    fn drop(&mut self) {
        self.stdin = None;
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
