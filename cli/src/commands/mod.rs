//! One module per subcommand of the `riffle` binary.

pub mod create;
pub mod daemon;
pub mod demo;
pub mod download;
pub mod info;
pub mod lab;
pub mod seed;
pub mod sim;
pub mod tracker;
pub mod tui;

/// The multi-threaded tokio runtime a command runs on, its threads named
/// `name`.
pub fn runtime(name: &str) -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(name)
        .max_blocking_threads(32)
        .build()
        .context("cannot start the async runtime")
}

/// Cap glibc's malloc arenas at two, for a long-running daemon:
/// a seedbox holds thousands of small, long-lived allocations, and
/// glibc's default (8 arenas per core, one for each thread that
/// allocates, the blocking pool's short-lived threads included) leaves a
/// dozen arenas nearly empty but resident; two serve the runtime's two
/// kinds of threads (1,000 idle torrents: anonymous memory 14.2 -> 12.3
/// MiB). Blocks of 4 MiB and more always mapped on their own (a fixed
/// threshold: glibc otherwise raises it to the largest block freed, up to
/// 32 MiB, and the buffer of one large RPC reply then stays in the heap
/// for good; piece buffers stay below it). Call before the runtime
/// starts.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets glibc tunables; no Rust state is involved
    // and no allocation is in progress on this thread.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}

/// Lift the soft limit on open files to the hard one: a seedbox or a lab
/// holds thousands of sockets and files.
pub fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::debug!("cannot raise the file descriptor limit: {e}");
        }
    }
}

/// Does `command` take over the terminal (the TUI)? Its logs must not be
/// written over the screen.
pub fn uses_screen(command: &super::Command) -> bool {
    match command {
        super::Command::Tui(_) => true,
        super::Command::Demo(args) => demo::wants_tui(args),
        _ => false,
    }
}
