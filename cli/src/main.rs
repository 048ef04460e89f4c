//! `riffle`: the command-line entry point.
//!
//! Parses arguments with clap, runs one subcommand, and turns every error
//! into one line on stderr and exit status 2 (bad input) — never a panic or
//! a backtrace.

mod commands;
mod controller;
mod flags;
mod logging;
mod output;
mod remote;
mod runner;
mod torrent_file;
mod units;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// riffle: a BitTorrent client whose piece picking, upload service and
/// bandwidth split are pluggable policies.
#[derive(Parser, Debug)]
#[command(name = "riffle", version, max_term_width = 100)]
struct Cli {
    /// Without a command: the terminal UI on a terminal, this help
    /// otherwise.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a .torrent file from a file or a folder.
    Create(commands::create::CreateArgs),
    /// Show what a .torrent file holds (human-readable, or --json).
    Info(commands::info::InfoArgs),
    /// Download torrents into a directory (then exit, or keep seeding).
    Download(commands::download::DownloadArgs),
    /// Check a torrent's data and seed it until stopped.
    Seed(commands::seed::SeedArgs),
    /// Run a local swarm on 127.0.0.1 (real sessions over TCP): on a
    /// terminal, a swarm that keeps going in the terminal UI (q quits);
    /// otherwise a capped seeder and a few leechers, plain output.
    Demo(commands::demo::DemoArgs),
    /// The terminal UI on a local session: torrents, peers, pieces, rates,
    /// and the policies switched at run time.
    Tui(commands::tui::TuiArgs),
    /// The seedbox: many torrents with durable state, driven through
    /// Transmission's RPC (transmission-remote, its web interface, Sonarr
    /// and friends) until SIGTERM.
    Daemon(commands::daemon::DaemonArgs),
    /// Run an HTTP and UDP BitTorrent tracker, with the paper's shielding of
    /// newcomers and admission control as options.
    Tracker(commands::tracker::TrackerArgs),
    /// Run a swarm of real riffle peers on 127.0.0.1 from an experiment
    /// file or a preset and report what each policy does.
    Lab(commands::lab::LabArgs),
    /// Simulate an experiment (discrete events, riffle's own policy
    /// objects) at scales the lab cannot reach; --sweep for throughput
    /// against the arrival rate.
    Sim(commands::sim::SimArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to
            // stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let command = match cli.command {
        Some(c) => c,
        None => {
            use std::io::IsTerminal;
            if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
                match Cli::try_parse_from(["riffle", "tui"]) {
                    Ok(Cli { command: Some(c) }) => c,
                    _ => return ExitCode::from(2),
                }
            } else {
                use clap::CommandFactory;
                let _ = Cli::command().print_help();
                return ExitCode::SUCCESS;
            }
        }
    };
    init_tracing(&command);
    let result = match command {
        Command::Create(args) => commands::create::run(args),
        Command::Info(args) => commands::info::run(args),
        Command::Download(args) => commands::download::run_download(args),
        Command::Seed(args) => commands::seed::run_seed(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Tracker(args) => commands::tracker::run(args),
        Command::Daemon(args) => commands::daemon::run(args),
        Command::Lab(args) => commands::lab::run(args),
        Command::Sim(args) => commands::sim::run(args),
        Command::Tui(args) => commands::tui::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("riffle: error: {}", one_line(&e));
            // Bad input is 2; a failure while running (disk, interrupted
            // download) is 1.
            if e.downcast_ref::<runner::RuntimeFailure>().is_some() {
                ExitCode::from(1)
            } else {
                ExitCode::from(2)
            }
        }
    }
}

/// The error and its causes on one line: "what failed: why".
fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}

fn init_tracing(command: &Command) {
    use tracing_subscriber::EnvFilter;
    // The daemon tells what it does (torrents added, finished, stopped);
    // the other commands speak only of trouble.
    let default = if matches!(command, Command::Daemon(_)) {
        "info"
    } else {
        "warn"
    };
    let filter = EnvFilter::try_from_env("RIFFLE_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // The terminal UI owns the screen: its logs go to a file when asked
    // for (RIFFLE_LOG_FILE), nowhere otherwise.
    if commands::uses_screen(command) {
        if let Some(file) =
            std::env::var_os("RIFFLE_LOG_FILE").and_then(|p| std::fs::File::create(p).ok())
        {
            let _ = builder
                .with_writer(std::sync::Mutex::new(file))
                .with_ansi(false)
                .try_init();
        }
        return;
    }
    if logging::stderr_is_journal() {
        let _ = builder
            .with_ansi(false)
            .event_format(logging::JournalFormat)
            .with_writer(std::io::stderr)
            .try_init();
        return;
    }
    let _ = builder.with_writer(std::io::stderr).try_init();
}
