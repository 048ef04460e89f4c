//! One `riffle` process watched the way the hostile-peer and resume tests
//! need: stdout and its `RIFFLE_LOG=debug` stderr in files (never a pipe
//! that could fill and stall it), killed with SIGKILL on demand or on drop,
//! and, when it exits, the kernel's count of bytes it read (`rchar` of
//! `/proc/PID/io`, taken from the zombie before it is reaped) and its peak
//! resident memory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::riffle_bin;

/// How a riffle run ended.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    /// Its exit status.
    pub status: ExitStatus,
    /// When the test saw it end.
    pub at: Instant,
    /// How long it ran.
    pub ran: Duration,
    /// Bytes it read through `read`-family system calls over its whole
    /// life (files and sockets; `None` off Linux). Re-hashing a file shows
    /// up here, whatever riffle prints.
    pub rchar: Option<u64>,
    /// Highest resident set size seen while it ran, in KiB.
    pub peak_rss_kib: u64,
}

/// A running (or finished) riffle.
pub struct Riffle {
    /// The process.
    child: Child,
    /// What the test calls it, in messages.
    what: String,
    /// Its stdout.
    out: PathBuf,
    /// Its stderr (debug log).
    err: PathBuf,
    /// When it started.
    started: Instant,
    /// Set once it has been reaped.
    exit: Option<Exit>,
    /// Highest VmHWM/VmRSS seen so far.
    peak_rss_kib: u64,
}

impl Riffle {
    /// Start `riffle args...`, logging into `logs/<what>.{out,err}`.
    pub fn start(what: &str, args: &[&str], logs: &Path) -> Riffle {
        let out = logs.join(format!("{what}.out"));
        let err = logs.join(format!("{what}.err"));
        let file = |p: &Path| {
            std::fs::File::create(p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()))
        };
        let child = Command::new(riffle_bin())
            .args(args)
            .env("RIFFLE_LOG", "debug")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(file(&out))
            .stderr(file(&err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start riffle {args:?}: {e}"));
        Riffle {
            child,
            what: what.to_owned(),
            out,
            err,
            started: Instant::now(),
            exit: None,
            peak_rss_kib: 0,
        }
    }

    /// Its stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Its stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// The last `n` lines of stderr, for failure messages.
    pub fn stderr_tail(&self, n: usize) -> String {
        let all = self.stderr();
        let lines: Vec<&str> = all.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// A report for failure messages: name, stdout, stderr tail.
    pub fn report(&self, n: usize) -> String {
        format!(
            "--- {} stdout:\n{}\n--- {} stderr (last {n} lines):\n{}",
            self.what,
            self.stdout(),
            self.what,
            self.stderr_tail(n)
        )
    }

    /// Is it still running?
    pub fn running(&mut self) -> bool {
        self.exit_now().is_none()
    }

    /// Wait up to `timeout` for it to exit.
    pub fn wait(&mut self, timeout: Duration) -> Option<Exit> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.exit_now() {
                return Some(e);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL it and reap it.
    pub fn kill(&mut self) -> Exit {
        if let Some(e) = self.exit {
            return e;
        }
        let _ = self.child.kill();
        self.wait(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("{} survived SIGKILL", self.what))
    }

    /// The process state letter from `/proc/PID/stat` (`Z` for a zombie).
    fn state(&self) -> Option<char> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        stat.rsplit_once(')')?.1.trim_start().chars().next()
    }

    /// Reap it if it has exited, reading its counters first.
    fn exit_now(&mut self) -> Option<Exit> {
        if let Some(e) = self.exit {
            return Some(e);
        }
        let pid = self.child.id();
        let on_linux = Path::new("/proc/self/io").exists();
        if on_linux {
            if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                for key in ["VmHWM:", "VmRSS:"] {
                    let kib = status
                        .lines()
                        .find_map(|l| l.strip_prefix(key))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                        .unwrap_or(0);
                    self.peak_rss_kib = self.peak_rss_kib.max(kib);
                }
            }
            if self.state() != Some('Z') {
                return None;
            }
        }
        // A zombie's /proc/PID/io still holds the whole process's totals.
        let rchar = std::fs::read_to_string(format!("/proc/{pid}/io"))
            .ok()
            .and_then(|io| {
                io.lines()
                    .find_map(|l| l.strip_prefix("rchar:"))
                    .and_then(|v| v.trim().parse().ok())
            });
        let status = match self.child.try_wait() {
            Ok(Some(s)) => s,
            _ => return None,
        };
        let at = Instant::now();
        let exit = Exit {
            status,
            at,
            ran: at.duration_since(self.started),
            rchar,
            peak_rss_kib: self.peak_rss_kib,
        };
        self.exit = Some(exit);
        Some(exit)
    }
}

impl Drop for Riffle {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Run `riffle args...` to the end (at most `timeout`, then SIGKILL and
/// panic with its log).
pub fn run_to_end(what: &str, args: &[&str], logs: &Path, timeout: Duration) -> (Riffle, Exit) {
    let mut r = Riffle::start(what, args, logs);
    match r.wait(timeout) {
        Some(e) => (r, e),
        None => {
            r.kill();
            panic!("{what} did not finish within {timeout:?}\n{}", r.report(80));
        }
    }
}
