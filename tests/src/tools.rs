//! Finding the real peers the interop tests run, and free loopback ports
//! for them.

use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;

use crate::INSTALL_HINT;

/// Path of the program `name` (searched in PATH, then /usr/bin and
/// /usr/sbin); the test fails naming the install command when it is
/// missing.
pub fn require_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin".into(), "/usr/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed; install it with: {INSTALL_HINT}"))
}

/// A TCP port on 127.0.0.1 that was free a moment ago (for tools that
/// cannot bind port 0 themselves; callers retry if it was taken meanwhile).
pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("cannot bind a TCP port on 127.0.0.1")
        .port()
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("cannot bind a UDP port on 127.0.0.1")
        .port()
}

/// True if something listens on TCP 127.0.0.1:`port` (we cannot bind it).
pub fn tcp_port_taken(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_err()
}

/// True if something holds UDP 127.0.0.1:`port` (we cannot bind it).
pub fn udp_port_taken(port: u16) -> bool {
    UdpSocket::bind(("127.0.0.1", port)).is_err()
}

/// Prints how long each phase of a test took (to stderr: nextest shows it
/// for failing tests, or with --no-capture), to tell slow peers from slow
/// set-up.
pub struct Phases {
    /// When the test started.
    start: std::time::Instant,
}

impl Phases {
    /// Start timing now.
    pub fn start() -> Phases {
        Phases {
            start: std::time::Instant::now(),
        }
    }

    /// Note that `what` is done.
    pub fn mark(&self, what: &str) {
        eprintln!("[{:7.2?}] {what}", self.start.elapsed());
    }
}
