//! A panic inside the TUI leaves the terminal clean: the alternate screen
//! is left (what was on the terminal before comes back), raw mode is off
//! (the line discipline echoes and reads lines again), and the panic
//! message is readable. Runs the `tui_panic` fixture in tmux.

use std::path::Path;
use std::time::{Duration, Instant};

use riffle_tests::tmux::{shell_quote, Tmux};

fn run_fixture(dir: &Path, key: &str) -> (String, String, String) {
    let status = dir.join("status");
    let stty = dir.join("stty");
    let cmd = format!(
        "echo before-the-tui; env RUST_BACKTRACE=0 {}; echo \"exit=$?\" > {}; stty -a > {}; sleep 30",
        shell_quote(Path::new(env!("CARGO_BIN_EXE_tui_panic"))),
        shell_quote(&status),
        shell_quote(&stty),
    );
    let tmux = Tmux::start(&cmd, 80, 24);
    let (ok, screen) = tmux.wait_for(Duration::from_secs(20), |s| s.contains("panic-fixture.bin"));
    assert!(ok, "the fixture's TUI never showed:\n{screen}");
    tmux.keys(&[key]);
    let start = Instant::now();
    while !stty.exists()
        || std::fs::read_to_string(&stty)
            .unwrap_or_default()
            .is_empty()
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the fixture did not end after {key}:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(200));
    (
        std::fs::read_to_string(&status).unwrap_or_default(),
        std::fs::read_to_string(&stty).unwrap_or_default(),
        tmux.screen(),
    )
}

/// The flags of `stty -a` as words (`echo`, `-icanon`, ...).
fn stty_flags(stty: &str) -> Vec<String> {
    stty.split_whitespace()
        .map(|w| w.trim_end_matches(';').to_string())
        .collect()
}

#[test]
fn a_panic_in_the_tui_leaves_the_terminal_clean() {
    let dir = tempfile::tempdir().unwrap();
    let (status, stty, screen) = run_fixture(dir.path(), "p");
    assert_eq!(status.trim(), "exit=101", "a panic exits 101:\n{screen}");
    let flags = stty_flags(&stty);
    for on in ["icanon", "echo", "isig", "opost"] {
        assert!(
            flags.iter().any(|f| f == on),
            "{on} is off after the panic (raw mode left on): {stty}"
        );
    }
    assert!(
        screen.contains("before-the-tui"),
        "the screen from before the TUI did not come back (alternate screen left on):\n{screen}"
    );
    assert!(
        !screen.contains("panic-fixture.bin"),
        "the TUI was left on the screen:\n{screen}"
    );
    assert!(
        screen.contains("deliberate panic in the TUI"),
        "the panic message is not readable:\n{screen}"
    );
}

#[test]
fn q_leaves_the_terminal_clean_too() {
    let dir = tempfile::tempdir().unwrap();
    let (status, stty, screen) = run_fixture(dir.path(), "q");
    assert_eq!(status.trim(), "exit=0", "{screen}");
    let flags = stty_flags(&stty);
    assert!(
        flags.iter().any(|f| f == "icanon") && flags.iter().any(|f| f == "echo"),
        "{stty}"
    );
    assert!(
        screen.contains("before-the-tui") && !screen.contains("panic-fixture.bin"),
        "{screen}"
    );
}

/// CPU time (user + system) of process `pid` so far, in clock ticks.
fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line.
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn an_idle_tui_does_not_spin() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    // `exec` keeps the shell's pid, which the shell wrote down.
    let cmd = format!(
        "echo $$ > {}; exec {} tui -o {}",
        shell_quote(&pid_file),
        shell_quote(riffle_tests::riffle_bin()),
        shell_quote(dir.path()),
    );
    let tmux = Tmux::start(&cmd, 80, 24);
    let (ok, screen) = tmux.wait_for(Duration::from_secs(30), |s| s.contains("no torrents"));
    assert!(ok, "riffle tui did not show its empty list:\n{screen}");
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_string();
    let before = cpu_ticks(&pid);
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu_ticks(&pid) - before;
    eprintln!("idle riffle tui: {used} ticks of CPU in 3 s");
    // 100 ticks a second: a busy loop would use ~300 here.
    assert!(used < 30, "an idle TUI used {used} ticks of CPU in 3 s");
    tmux.keys(&["q"]);
}
