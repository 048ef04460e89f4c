//! The terminal UI end to end: `riffle demo` on a real terminal (tmux at
//! 100x30) opens the TUI on the live local swarm. Read the screen with
//! capture-pane: progress moves, the one-club marker appears, a policy
//! switched with a key changes what the publisher does (the number of
//! peers it serves at once), and `q` quits with status 0.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use riffle_tests::riffle_bin;
use riffle_tests::tmux::{shell_quote, Tmux};

/// The `riffle demo` command line that records its exit status in `status`.
fn demo_command(status: &Path, log: &Path) -> String {
    format!(
        "env RIFFLE_LOG=info RIFFLE_LOG_FILE={} {} demo; echo \"exit=$?\" > {}; sleep 60",
        shell_quote(log),
        shell_quote(riffle_bin()),
        shell_quote(status)
    )
}

/// The peers table rows of the detail screen: (progress %, served by us).
fn peer_rows(screen: &str) -> Vec<(f64, bool)> {
    screen
        .lines()
        .filter(|l| l.contains("127.0.0.1:"))
        .filter_map(|l| {
            let pct = l
                .split_whitespace()
                .find_map(|w| w.strip_suffix('%').and_then(|n| n.parse::<f64>().ok()))?;
            Some((pct, served_flag(l)))
        })
        .collect()
}

/// Do we serve (unchoke) the peer on this row? The peers table shows it in
/// its flags column.
fn served_flag(row: &str) -> bool {
    row.split_whitespace()
        .any(|w| w == riffle_tui_flags::WE_SERVE)
}

mod riffle_tui_flags {
    /// The flags-column word the TUI prints for a peer we unchoke.
    pub const WE_SERVE: &str = "U";
}

/// The demo's swarm line: (leechers in the one club, downloads completed).
fn swarm_counts(screen: &str) -> Option<(u64, u64)> {
    let line = screen.lines().find(|l| l.contains("swarm: "))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let before = |w: &str| {
        let i = words.iter().position(|x| *x == w)?;
        words
            .get(i.checked_sub(1)?)?
            .trim_end_matches(',')
            .parse()
            .ok()
    };
    // "... M in the one club, C downloads completed"
    Some((before("in")?, before("downloads")?))
}

/// The first row of cells of the piece map.
fn map_row(screen: &str) -> String {
    let mut lines = screen.lines();
    lines.find(|l| l.contains(" pieces ("));
    lines
        .next()
        .unwrap_or_default()
        .trim_matches(|c: char| c == '│' || c == ' ')
        .to_string()
}

/// Log how long each step took (shown by the test runner on failure).
fn step(start: Instant, what: &str) {
    eprintln!("{:6.1} s  {what}", start.elapsed().as_secs_f64());
}

#[test]
fn demo_runs_in_the_tui_and_quits_cleanly() {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let status: PathBuf = dir.path().join("status");
    let log: PathBuf = dir.path().join("riffle.log");
    let tmux = Tmux::start(&demo_command(&status, &log), 100, 30);

    // The list shows the publisher's torrent.
    let (ok, screen) = tmux.wait_for(Duration::from_secs(30), |s| s.contains("riffle-demo.bin"));
    assert!(ok, "the demo's torrent never showed:\n{screen}");
    step(t0, "list shows the torrent");
    // Its detail: peers arrive and their progress moves.
    tmux.keys(&["Enter"]);
    let (ok, first) = tmux.wait_for(Duration::from_secs(30), |s| peer_rows(s).len() >= 2);
    assert!(ok, "no peers in the detail screen:\n{first}");
    let before: f64 = peer_rows(&first).iter().map(|r| r.0).sum();
    let (ok, later) = tmux.wait_for(Duration::from_secs(30), |s| {
        let rows = peer_rows(s);
        rows.len() >= 2 && rows.iter().map(|r| r.0).sum::<f64>() != before
    });
    assert!(ok, "progress did not move:\n{first}\n---\n{later}");
    step(t0, "progress moves");

    // The publisher's map marks the pieces rarest among its peers.
    let (ok, screen) = tmux.wait_for(Duration::from_secs(30), |s| map_row(s).contains('*'));
    assert!(
        ok,
        "the seed's piece map never showed a rarest piece:\n{screen}"
    );

    // The one club forms (a peer one piece short is marked) and drains
    // (the swarm line's club count falls back), and downloads complete.
    let (ok, screen) = tmux.wait_for(Duration::from_secs(60), |s| {
        s.lines()
            .any(|l| l.contains("127.0.0.1:") && l.contains("club"))
    });
    assert!(ok, "no peer was ever marked in the one club:\n{screen}");
    step(t0, "a peer is marked in the one club");
    let mut peak = 0;
    let (ok, screen) = tmux.wait_for(Duration::from_secs(60), |s| {
        let Some((club, done)) = swarm_counts(s) else {
            return false;
        };
        peak = peak.max(club);
        peak > 0 && club < peak && done > 0
    });
    assert!(
        ok,
        "the one club did not drain (peak {peak}) or nothing completed:\n{screen}"
    );
    step(t0, "the one club drains, downloads complete");

    // Most-deprived seeding serves one peer at a time.
    let mut samples = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        let rows = peer_rows(&tmux.screen());
        let served = rows.iter().filter(|r| r.1).count();
        assert!(
            served <= 1,
            "most-deprived serves one peer at a time, saw {served}:\n{}",
            tmux.screen()
        );
        samples += 1;
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(samples > 5);
    step(t0, "most-deprived serves one at a time");

    // Switch the publisher's seed choker to round-robin (4 slots): it soon
    // serves several peers at once.
    // (`s` cycles through the seed chokers.)
    let mut switched = false;
    for _ in 0..5 {
        tmux.keys(&["s"]);
        if tmux
            .wait_for(Duration::from_secs(3), |s| s.contains("round-robin"))
            .0
        {
            switched = true;
            break;
        }
    }
    assert!(
        switched,
        "the seed choker did not switch:\n{}",
        tmux.screen()
    );
    let (ok, screen) = tmux.wait_for(Duration::from_secs(30), |s| {
        peer_rows(s).iter().filter(|r| r.1).count() >= 2
    });
    assert!(
        ok,
        "after switching to round-robin the publisher still serves one peer at a time:\n{screen}"
    );

    step(t0, "round-robin serves several at once");

    // q quits, the terminal is left clean and the exit status is 0.
    tmux.keys(&["q"]);
    let start = Instant::now();
    while !status.exists() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let code = std::fs::read_to_string(&status).unwrap_or_default();
    assert_eq!(
        code.trim(),
        "exit=0",
        "riffle demo did not exit 0 after q; log tail:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let screen = tmux.screen();
    assert!(
        !screen.contains("riffle-demo.bin"),
        "the TUI was left on the screen after quitting:\n{screen}"
    );
}
