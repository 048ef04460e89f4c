//! A long-running `riffle download` or `riffle seed` process: started with
//! `RIFFLE_LOG=debug`, its stderr logged to a file (shown when a test
//! fails), its port read from the `listening on IP:PORT` line that the
//! command-line contract puts first on stdout, killed on drop.

use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::child::{ChildGuard, Lines};
use crate::riffle_bin;

/// A running riffle.
pub struct RiffleProc {
    /// The riffle process.
    proc: ChildGuard,
    /// Its stdout lines after the first.
    lines: Lines,
    /// The port from its `listening on` line.
    pub port: u16,
}

impl RiffleProc {
    /// Start `riffle args...` with its debug log in `log`, and wait (up to
    /// 60 s, to cover a first build or hashing) for its `listening on` line.
    pub fn start(what: &str, args: &[&str], log: &Path) -> RiffleProc {
        let mut cmd = Command::new(riffle_bin());
        cmd.args(args)
            .env("RIFFLE_LOG", "debug")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let mut proc = ChildGuard::spawn(what, &mut cmd, Some(log));
        let lines = Lines::new(proc.take_stdout().expect("piped stdout"));
        let first = lines.next(Duration::from_secs(60));
        let port = first
            .as_deref()
            .and_then(|l| l.strip_prefix("listening on "))
            .and_then(|addr| addr.trim().rsplit_once(':'))
            .and_then(|(_, port)| port.parse::<u16>().ok());
        let Some(port) = port else {
            let status = proc.wait_timeout(Duration::from_millis(500));
            panic!(
                "{what} (riffle {args:?}): first stdout line {first:?} is not `listening on IP:PORT` \
                 (exit status {status:?}); stderr:\n{}",
                proc.log_tail(60)
            );
        };
        RiffleProc { proc, lines, port }
    }

    /// `riffle seed TORRENT --data DATA --listen 127.0.0.1:0 EXTRA...`,
    /// its log in `log`.
    pub fn seed(torrent: &Path, data: &Path, extra: &[&str], log: &Path) -> RiffleProc {
        let mut args = vec![
            "seed",
            torrent.to_str().expect("utf-8 path"),
            "--data",
            data.to_str().expect("utf-8 path"),
            "--listen",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(extra);
        RiffleProc::start("riffle seed", &args, log)
    }

    /// `riffle download TORRENT -o OUT --listen 127.0.0.1:0 EXTRA...`
    /// (TORRENT a file or a magnet link), its log in `log`.
    pub fn download(torrent: &str, out: &Path, extra: &[&str], log: &Path) -> RiffleProc {
        let mut args = vec![
            "download",
            torrent,
            "-o",
            out.to_str().expect("utf-8 path"),
            "--listen",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(extra);
        RiffleProc::start("riffle download", &args, log)
    }

    /// Wait up to `timeout` for riffle to exit successfully; fail the test
    /// with the end of its log otherwise.
    pub fn wait_success(&mut self, timeout: Duration) {
        let status = self.proc.wait_timeout(timeout);
        assert!(
            status.is_some_and(|s| s.success()),
            "{} ended with {status:?}:\n{}",
            self.proc.what(),
            self.proc.log_tail(60)
        );
    }

    /// Wait up to `timeout` for riffle to exit.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.proc.wait_timeout(timeout)
    }

    /// Its exit status if it has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.proc.try_wait()
    }

    /// Ask it to shut down (SIGTERM) and wait up to `timeout`.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.proc.terminate();
        self.proc.wait_timeout(timeout)
    }

    /// Stdout lines printed since the `listening on` line (status lines,
    /// summary), waiting at most `timeout` for more.
    pub fn stdout_lines(&self, timeout: Duration) -> Vec<String> {
        self.lines.rest(timeout)
    }

    /// The last `n` lines of its stderr (debug log).
    pub fn log_tail(&self, n: usize) -> String {
        self.proc.log_tail(n)
    }

    /// Its whole stderr so far.
    pub fn log(&self) -> String {
        self.proc.log_text()
    }

    /// Process id.
    pub fn id(&self) -> u32 {
        self.proc.id()
    }
}
