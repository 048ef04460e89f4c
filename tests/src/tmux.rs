//! A terminal for end-to-end tests of the TUI: a tmux server of our own,
//! read with capture-pane and typed into with send-keys.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::INSTALL_HINT;

/// A tmux server of our own (its socket name), killed on drop.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// A detached session running `cmd` on a `width` x `height` terminal
    /// (fails naming the install command when tmux is missing).
    pub fn start(cmd: &str, width: u16, height: u16) -> Tmux {
        let found = Command::new("tmux").arg("-V").output();
        assert!(
            found.map(|o| o.status.success()).unwrap_or(false),
            "tmux is not installed; install it with: {INSTALL_HINT}"
        );
        let socket = format!("riffle-test-{}", std::process::id());
        let t = Tmux { socket };
        let out = t.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "riffle",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            cmd,
        ]);
        assert!(
            out.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t
    }

    /// Run a tmux command on our server.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("could not run tmux")
    }

    /// The screen as text.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "riffle"]).stdout)
            .into_owned()
    }

    /// Type keys (tmux key names: "Enter", "q", ...).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "riffle"];
        args.extend_from_slice(keys);
        let out = self.run(&args);
        assert!(out.status.success(), "tmux send-keys failed");
    }

    /// Wait until `pred` holds for the screen; the last screen either way.
    pub fn wait_for(&self, limit: Duration, mut pred: impl FnMut(&str) -> bool) -> (bool, String) {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return (true, s);
            }
            if start.elapsed() > limit {
                return (false, s);
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// `p` quoted for sh.
pub fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}
