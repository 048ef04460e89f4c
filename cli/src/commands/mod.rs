//! One module per subcommand of the `riffle` binary.

pub mod create;
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
        .build()
        .context("cannot start the async runtime")
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
