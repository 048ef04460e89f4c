//! `riffle demo`: a small local swarm on 127.0.0.1 — one seeder with a
//! capped upload and a few leechers — made of ordinary sessions that talk
//! the wire protocol over TCP through the same code as `download` and
//! `seed`. It generates its payload, runs until every leecher holds a
//! verified copy, and prints who got how much from whom.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use riffle_client::engine::{Session, SessionConfig, TorrentHandle, TorrentOptions, TorrentStatus};
use riffle_protocol::metainfo::{Metainfo, TorrentBuilder};
use riffle_protocol::PieceIndex;
use riffle_storage::{FsStorage, Layout, Storage, Verifier};

use super::info::human_bytes;
use super::run::status_line;
use crate::units::parse_size;

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
    #[arg(long, default_value = "12MiB", value_parser = super::run::parse_rate)]
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

const PIECE_LENGTH: u32 = 256 * 1024;

/// Run `riffle demo`.
pub fn run(args: DemoArgs) -> Result<()> {
    if wants_tui(&args) {
        return super::demo_live::run();
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
    let meta = make_payload(&seed_dir, args.size).context("cannot generate the payload")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(swarm(args, dir.path(), meta))
}

/// Write the payload (three files in a folder) and build its torrent, its
/// pieces hashed through storage as `riffle create` does.
fn make_payload(seed_dir: &Path, size: u64) -> Result<Metainfo> {
    let name = "riffle-demo";
    let lengths = vec![size / 2, size / 3, size - size / 2 - size / 3];
    let paths: Vec<Vec<String>> = [
        &["video.bin"][..],
        &["extras", "notes.bin"],
        &["extras", "more", "tail.bin"],
    ]
    .iter()
    .map(|p| p.iter().map(|c| c.to_string()).collect())
    .collect();
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut buf = vec![0u8; 1 << 20];
    let mut builder = TorrentBuilder::new(name.into(), PIECE_LENGTH);
    for (len, path) in lengths.iter().zip(&paths) {
        builder.file(path.clone(), *len);
        let full: PathBuf = std::iter::once(name)
            .chain(path.iter().map(String::as_str))
            .collect();
        let full = seed_dir.join(full);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut f = std::io::BufWriter::new(std::fs::File::create(&full)?);
        let mut left = *len;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            rng.fill_bytes(&mut buf[..n]);
            f.write_all(&buf[..n])?;
            left -= n as u64;
        }
        f.flush()?;
    }
    let layout = Layout::new(lengths, PIECE_LENGTH)?;
    let on_disk: Vec<Vec<String>> = paths
        .iter()
        .map(|p| {
            std::iter::once(name.to_string())
                .chain(p.iter().cloned())
                .collect()
        })
        .collect();
    let storage = FsStorage::new(seed_dir, layout, &on_disk)?;
    let mut verifier = Verifier::new();
    let hashes = (0..storage.layout().piece_count())
        .map(|p| verifier.hash_piece(&storage, PieceIndex::new(p)))
        .collect::<Result<Vec<_>, _>>()?;
    builder.piece_hashes(hashes);
    builder.comment("generated by riffle demo".into());
    let (bytes, _) = builder.build().context("cannot build the torrent")?;
    Metainfo::from_bytes(&bytes).context("the generated torrent does not parse")
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

async fn swarm(args: DemoArgs, dir: &Path, meta: Metainfo) -> Result<()> {
    let started = Instant::now();
    // The seeder: an ordinary session seeding from disk, upload capped.
    let seeder = Session::start(SessionConfig {
        listen: local(0),
        listen_fallback: false,
        max_upload_rate: args.seed_rate,
        ..SessionConfig::default()
    })
    .await?;
    let mut seed_opts = TorrentOptions::new(dir.join("seeder"));
    seed_opts.seed = true;
    seed_opts.require_complete = true;
    seed_opts.use_trackers = false;
    let seed_handle = seeder.add_torrent(meta.clone(), seed_opts)?;

    // The leechers: each its own session on its own port.
    let mut sessions = Vec::new();
    for _ in 0..args.leechers {
        sessions.push(
            Session::start(SessionConfig {
                listen: local(0),
                listen_fallback: false,
                ..SessionConfig::default()
            })
            .await?,
        );
    }
    let addrs: Vec<SocketAddr> = sessions.iter().map(|s| s.listen_addr()).collect();
    println!(
        "seeder on {} (upload capped at {}/s), {} leechers on {}",
        seeder.listen_addr(),
        human_bytes(args.seed_rate),
        sessions.len(),
        addrs
            .iter()
            .map(|a| a.port().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut leechers = Vec::new();
    for (i, s) in sessions.iter().enumerate() {
        let mut opts = TorrentOptions::new(dir.join(format!("leecher-{}", i + 1)));
        // Every leecher knows the seeder and the leechers before it (they
        // learn the others when those dial in).
        opts.peers = std::iter::once(seeder.listen_addr())
            .chain(addrs[..i].iter().copied())
            .collect();
        // Keep serving the others once done, as a real swarm would.
        opts.seed = true;
        opts.use_trackers = false;
        leechers.push(s.add_torrent(meta.clone(), opts)?);
    }

    let outcome = watch(&leechers, &seed_handle, Duration::from_secs(args.timeout)).await;
    let seed_status = seed_handle.status().borrow().clone();
    let statuses: Vec<TorrentStatus> = leechers
        .iter()
        .map(|h| h.status().borrow().clone())
        .collect();
    for s in sessions {
        s.shutdown().await;
    }
    seeder.shutdown().await;
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
async fn watch(
    leechers: &[TorrentHandle],
    seeder: &TorrentHandle,
    limit: Duration,
) -> Result<Vec<Duration>> {
    let start = Instant::now();
    let tty = std::io::stdout().is_terminal();
    let multi = MultiProgress::new();
    let style = ProgressStyle::with_template("{prefix:10} {bar:40} {percent:>3}% {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    let bars: Vec<ProgressBar> = if tty {
        (0..leechers.len())
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
    let mut done: Vec<Option<Duration>> = vec![None; leechers.len()];
    let mut last_line = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tick.tick().await;
        let statuses: Vec<TorrentStatus> = leechers
            .iter()
            .map(|h| h.status().borrow().clone())
            .collect();
        for (i, st) in statuses.iter().enumerate() {
            if let riffle_client::engine::TorrentState::Failed(e) = &st.state {
                bail!("leecher {} failed: {e}", i + 1);
            }
            if st.is_complete() && done[i].is_none() {
                done[i] = Some(start.elapsed());
            }
            if let Some(b) = bars.get(i) {
                b.set_position((st.progress() * 1000.0) as u64);
                b.set_message(format!(
                    "down {}/s up {}/s, {} peers",
                    human_bytes(st.download_rate),
                    human_bytes(st.upload_rate),
                    st.peers.len()
                ));
            }
        }
        if let riffle_client::engine::TorrentState::Failed(e) = &seeder.status().borrow().state {
            bail!("the seeder failed: {e}");
        }
        if !tty && last_line.elapsed() >= Duration::from_secs(2) {
            last_line = Instant::now();
            for (i, st) in statuses.iter().enumerate() {
                println!("leecher {}: {}", i + 1, status_line(st));
            }
        }
        if done.iter().all(Option::is_some) {
            for b in &bars {
                b.finish();
            }
            return Ok(done.into_iter().flatten().collect());
        }
        if start.elapsed() > limit {
            bail!(
                "the swarm did not finish within {} s ({} of {} leechers complete)",
                limit.as_secs(),
                done.iter().filter(|d| d.is_some()).count(),
                done.len()
            );
        }
    }
}
