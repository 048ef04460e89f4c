//! Child processes that die with the test: every peer, tracker and riffle
//! a test starts is held by a [`ChildGuard`], which kills it on drop — also
//! when the test panics — so no stray process outlives its test.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// A running child process, killed (SIGKILL) and reaped on drop unless it
/// has already exited.
pub struct ChildGuard {
    /// The process itself.
    child: Child,
    /// What it is, for messages ("opentracker", "riffle seed", ...).
    what: String,
    /// Where its stderr goes, so a failing test can show it.
    log: Option<PathBuf>,
}

impl ChildGuard {
    /// Start `cmd`, with stderr written to `log` when given. stdin and
    /// stdout are whatever `cmd` already says.
    pub fn spawn(what: &str, cmd: &mut Command, log: Option<&Path>) -> ChildGuard {
        if let Some(log) = log {
            let f = std::fs::File::create(log)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
            cmd.stderr(f);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what} ({cmd:?}): {e}"));
        ChildGuard {
            child,
            what: what.to_string(),
            log: log.map(Path::to_path_buf),
        }
    }

    /// Process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// What this process is.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The child's stdout, once (when it was piped).
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// The child's stdin (when it was piped), to send it commands.
    pub fn stdin(&mut self) -> Option<&mut std::process::ChildStdin> {
        self.child.stdin.as_mut()
    }

    /// Close the child's stdin (when it was piped): tells scripts to finish.
    pub fn close_stdin(&mut self) {
        drop(self.child.stdin.take());
    }

    /// Its exit status if it has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child
            .try_wait()
            .unwrap_or_else(|e| panic!("waiting for {}: {e}", self.what))
    }

    /// Wait up to `timeout` for it to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Send SIGTERM (a clean-shutdown request).
    pub fn terminate(&self) {
        signal(self.child.id(), "TERM");
    }

    /// Send SIGINT.
    pub fn interrupt(&self) {
        signal(self.child.id(), "INT");
    }

    /// Its stderr so far (empty when not logged to a file).
    pub fn log_text(&self) -> String {
        self.log
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `n` lines of its stderr log, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        tail(&self.log_text(), n)
    }

    /// Path of its stderr log, if any.
    pub fn log_path(&self) -> Option<&Path> {
        self.log.as_deref()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// Lines read from a child's stdout on a thread, so a test can wait for
/// one with a timeout.
pub struct Lines {
    /// Lines as they arrive; closed at end of stream.
    rx: Receiver<String>,
}

impl Lines {
    /// Start reading `out` line by line.
    pub fn new(out: impl Read + Send + 'static) -> Lines {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines { rx }
    }

    /// The next line, or None if none came within `timeout` or the stream
    /// ended.
    pub fn next(&self, timeout: Duration) -> Option<String> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// Every line until the stream ends or `timeout` passes.
    pub fn rest(&self, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.rx.recv_timeout(left) {
                Ok(line) => out.push(line),
                Err(_) => break,
            }
        }
        out
    }
}
