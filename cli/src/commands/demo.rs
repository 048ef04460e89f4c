//! `riffle demo`: a local swarm on 127.0.0.1 made of ordinary sessions
//! (riffle-lab's `demo`). On a terminal, the live swarm in the terminal
//! UI until the user quits; otherwise (or with `--plain`) one seeder with
//! a capped upload and a few leechers, run until every leecher holds a
//! verified copy, then who got how much from whom.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use riffle_client::engine::{TorrentOptions, TorrentStatus};
use riffle_lab::demo::live;
use riffle_lab::demo::plain::{self, PlainSwarm};
use riffle_protocol::metainfo::Metainfo;
use tokio::sync::Mutex;

use crate::controller::{drive, Controller};
use crate::output::{human_bytes, status_line};
use crate::units::{parse_rate, parse_size};

/// Arguments of `riffle demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Number of leechers.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=32))]
    leechers: u16,
    /// Size of the generated payload (e.g. 64MiB).
    #[arg(long, default_value = "64MiB", value_parser = parse_payload)]
    size: u64,
    /// The seeder's upload cap: small, so the leechers have to trade with
    /// each other.
    #[arg(long, default_value = "12MiB", value_parser = parse_rate)]
    seed_rate: u64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 55)]
    timeout: u64,
    /// Plain output even on a terminal (the swarm of a few leechers that
    /// ends by itself), instead of the live swarm in the terminal UI.
    #[arg(long)]
    plain: bool,
}

/// Does this demo run in the terminal UI (a terminal, and not --plain)?
pub fn wants_tui(args: &DemoArgs) -> bool {
    !args.plain && std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

fn parse_payload(s: &str) -> std::result::Result<u64, String> {
    let n = parse_size(s).map_err(|e| e.to_string())?;
    if !(1..=(4u64 << 30)).contains(&n) {
        return Err("the demo payload must be between 1 byte and 4 GiB".into());
    }
    Ok(n)
}

/// Run `riffle demo`.
pub fn run(args: DemoArgs) -> Result<()> {
    if wants_tui(&args) {
        return live(args);
    }
    let dir = tempfile::Builder::new()
        .prefix("riffle-demo-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let seed_dir = dir.path().join("seeder");
    println!(
        "riffle demo: generating a {} payload in {}",
        human_bytes(args.size),
        dir.path().display()
    );
    let meta = plain::make_payload(&seed_dir, args.size).context("cannot generate the payload")?;
    let runtime = super::runtime("riffle")?;
    runtime.block_on(swarm(args, dir.path(), meta))
}

async fn swarm(args: DemoArgs, dir: &Path, meta: Metainfo) -> Result<()> {
    let started = Instant::now();
    let swarm = PlainSwarm::start(dir, &meta, args.leechers, args.seed_rate).await?;
    println!(
        "seeder on {} (upload capped at {}/s), {} leechers on {}",
        swarm.seeder.listen_addr(),
        human_bytes(args.seed_rate),
        swarm.sessions.len(),
        swarm
            .sessions
            .iter()
            .map(|s| s.listen_addr().port().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let limit = Duration::from_secs(args.timeout);
    let outcome = watch(&swarm, limit).await;
    let seed_status = swarm.seed.status().borrow().clone();
    let statuses: Vec<TorrentStatus> = swarm
        .leechers
        .iter()
        .map(|h| h.status().borrow().clone())
        .collect();
    swarm.shutdown().await;
    let times = outcome?;
    println!();
    println!(
        "riffle demo: {} leechers got {} in {:.1} s",
        statuses.len(),
        human_bytes(meta.info.total_length()),
        started.elapsed().as_secs_f64()
    );
    println!(
        "  seeder uploaded {} ({:.2} copies of the payload)",
        human_bytes(seed_status.uploaded),
        seed_status.uploaded as f64 / meta.info.total_length().max(1) as f64
    );
    for (i, (st, t)) in statuses.iter().zip(&times).enumerate() {
        println!(
            "  leecher {}: complete after {:.1} s, downloaded {}, uploaded {} to other leechers, {} hash failures",
            i + 1,
            t.as_secs_f64(),
            human_bytes(st.downloaded),
            human_bytes(st.uploaded),
            st.hash_failures
        );
    }
    let shared: u64 = statuses.iter().map(|s| s.uploaded).sum();
    println!(
        "  the leechers served {:.0}% of what they downloaded to each other",
        100.0 * shared as f64 / statuses.iter().map(|s| s.downloaded).sum::<u64>().max(1) as f64
    );
    Ok(())
}

/// Show progress until every leecher is complete; returns each one's time.
async fn watch(swarm: &PlainSwarm, limit: Duration) -> Result<Vec<Duration>> {
    let tty = std::io::stdout().is_terminal();
    let multi = MultiProgress::new();
    let style = ProgressStyle::with_template("{prefix:10} {bar:40} {percent:>3}% {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    let bars: Vec<ProgressBar> = if tty {
        (0..swarm.leechers.len())
            .map(|i| {
                let b = multi.add(ProgressBar::new(1000));
                b.set_style(style.clone());
                b.set_prefix(format!("leecher {}", i + 1));
                b
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut last_line = Instant::now();
    let times = swarm
        .until_complete(limit, |statuses| {
            for (b, st) in bars.iter().zip(statuses) {
                b.set_position((st.progress() * 1000.0) as u64);
                b.set_message(format!(
                    "down {}/s up {}/s, {} peers",
                    human_bytes(st.download_rate),
                    human_bytes(st.upload_rate),
                    st.peers.len()
                ));
            }
            if !tty && last_line.elapsed() >= Duration::from_secs(2) {
                last_line = Instant::now();
                for (i, st) in statuses.iter().enumerate() {
                    println!("leecher {}: {}", i + 1, status_line(st));
                }
            }
        })
        .await?;
    for b in &bars {
        b.finish();
    }
    Ok(times)
}

/// The live demo in the TUI until the user quits: the TUI's session is the
/// swarm's publisher.
fn live(_args: DemoArgs) -> Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("riffle-demo-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let runtime = super::runtime("riffle")?;
    let mut defaults = TorrentOptions::new(dir.path().join("added"));
    defaults.seed = true;
    let (controller, tracker, meta) = runtime.block_on(async {
        let swarm = live::start(dir.path()).await?;
        let mut controller = Controller::new(swarm.publisher, defaults);
        controller.add(swarm.meta.clone(), swarm.options)?;
        anyhow::Ok((controller, swarm.tracker, swarm.meta))
    })?;
    let stop = Arc::new(AtomicBool::new(false));
    let lines = controller.extra_lines.clone();
    let arrivals = runtime.spawn(live::arrivals(
        dir.path().to_path_buf(),
        Arc::new(meta),
        stop.clone(),
        move |c: &live::Counts| {
            if let Ok(mut l) = lines.lock() {
                *l = vec![format!(
                    "swarm: {} leechers, {} in the one club, {} downloads completed",
                    c.present, c.one_club, c.completed
                )];
            }
        },
    ));
    let controller = Arc::new(Mutex::new(controller));
    let outcome = drive(&runtime, controller.clone(), Duration::from_millis(250));
    stop.store(true, Ordering::Relaxed);
    runtime.block_on(async move {
        let _ = tokio::time::timeout(Duration::from_secs(5), arrivals).await;
        if let Ok(c) = Arc::try_unwrap(controller) {
            c.into_inner().shutdown().await;
        }
        tracker.shutdown().await;
    });
    outcome
}
