//! `riffle`: the command-line entry point.
//!
//! Parses arguments with clap, runs one subcommand, and turns every error
//! into one line on stderr and exit status 2 (bad input) — never a panic or
//! a backtrace.

mod commands;

pub(crate) use riffle_client::units;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// riffle: a BitTorrent client whose piece picking, upload service and
/// bandwidth split are pluggable policies.
#[derive(Parser, Debug)]
#[command(name = "riffle", version, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    /// Run a local swarm on 127.0.0.1 (a capped seeder and a few leechers,
    /// real sessions over TCP) and show what happens.
    Demo(commands::demo::DemoArgs),
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
    init_tracing();
    let result = match cli.command {
        Command::Create(args) => commands::create::run(args),
        Command::Info(args) => commands::info::run(args),
        Command::Download(args) => commands::download::run_download(args),
        Command::Seed(args) => commands::seed::run_seed(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Tracker(args) => commands::tracker::run(args),
        Command::Lab(args) => commands::lab::run(args),
        Command::Sim(args) => commands::sim::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("riffle: error: {}", one_line(&e));
            // Bad input is 2; a failure while running (disk, interrupted
            // download) is 1.
            if e.downcast_ref::<commands::run::RuntimeFailure>().is_some() {
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

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("RIFFLE_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
