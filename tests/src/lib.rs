//! Helpers for riffle's end-to-end tests: find (build) the `riffle`
//! binary, and find the real peers the interop tests need, failing with the
//! command that installs them when they are missing.

pub mod scripted;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub mod aria2;
pub mod child;
pub mod lt_dht;
pub mod lt_swarm;
pub mod make_torrent;
pub mod opentracker;
pub mod payload;
pub mod riffle_daemon;
pub mod riffle_proc;
pub mod riffle_tracker;
pub mod tmux;
pub mod tools;
pub mod transmission;

/// The command that installs everything the end-to-end tests need.
pub const INSTALL_HINT: &str = "scripts/install-test-deps.sh (or: apt-get install -y \
     python3-libtorrent opentracker aria2 transmission-cli transmission-daemon tmux chromium \
     chromium-driver python3-venv, then a venv target/test-venv with transmission-rpc and selenium)";

/// The Python of the test virtual environment (PyPI's transmission-rpc
/// and selenium), failing with the install command when it is missing.
pub fn test_python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-venv/bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import transmission_rpc, selenium"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the test virtualenv is missing; create it with: {INSTALL_HINT}"
    );
    python
}

/// Path of the `riffle` binary: the one `scripts/test.sh` built before the
/// suite (named by `RIFFLE_BIN`), or else built once per test process with
/// the same cargo that runs the tests (a no-op when it is up to date).
pub fn riffle_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // Every riffle this process starts (directly, through tmux or a
        // script) joins the DHT through no public router: tests talk to
        // 127.0.0.1 only. Set before any child is spawned with the path.
        std::env::set_var("RIFFLE_DHT_BOOTSTRAP", "");
        // Nor does it read or write the user's saved DHT table: state goes
        // to a directory of this test process.
        let state = std::env::temp_dir().join(format!("riffle-tests-state-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&state);
        std::env::set_var("XDG_STATE_HOME", &state);
        match std::env::var_os("RIFFLE_BIN").map(PathBuf::from) {
            Some(bin) if bin.is_file() => bin,
            Some(bin) => panic!(
                "RIFFLE_BIN names {}, which is not a file; unset it to build riffle here",
                bin.display()
            ),
            None => build_riffle(),
        }
    })
}

/// Build the `riffle` binary with cargo and return its path; on failure,
/// panic with the compiler's own messages (cargo prints them as JSON on
/// stdout, its stderr says only that the build failed).
fn build_riffle() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let out = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--message-format=json-render-diagnostics",
            "-p",
            "riffle-cli",
            "--bin",
            "riffle",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .output()
        .expect("could not run cargo to build the riffle binary");
    assert!(
        out.status.success(),
        "building riffle failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["reason"] == "compiler-artifact")
        .filter_map(|v| v["executable"].as_str().map(PathBuf::from))
        .next_back()
        .expect("cargo build reported no riffle executable")
}

/// Run `riffle` with `args` and capture its output.
pub fn riffle(args: &[&str]) -> Output {
    Command::new(riffle_bin())
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("could not start riffle")
}

/// [`riffle`] that must succeed: panics with riffle's stderr otherwise.
pub fn riffle_ok(args: &[&str]) -> Output {
    let out = riffle(args);
    assert!(
        out.status.success(),
        "riffle {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Debian's python, the only one python3-libtorrent imports under.
pub const DEBIAN_PYTHON: &str = "/usr/bin/python3";

/// Fail the test, naming the install command, unless python3-libtorrent
/// imports under Debian's python.
pub fn require_libtorrent() -> &'static str {
    let ok = Command::new(DEBIAN_PYTHON)
        .args(["-c", "import libtorrent"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "python3-libtorrent is not importable under {DEBIAN_PYTHON}; install it with: {INSTALL_HINT}"
    );
    DEBIAN_PYTHON
}

/// Path of a file under `tests/scripts/`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name)
}
