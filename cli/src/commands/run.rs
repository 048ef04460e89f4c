//! What `download` and `seed` share: parse peers and rates, start a
//! session, report progress (a bar on a terminal, a status line every few
//! seconds otherwise), stop cleanly on SIGINT/SIGTERM.

use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use riffle_client::engine::{
    Session, SessionConfig, TorrentHandle, TorrentOptions, TorrentState, TorrentStatus,
};

use super::info::{human_bytes, load_torrent};
use crate::units::parse_rate;

/// How often a status line is printed when stdout is not a terminal.
const STATUS_EVERY: Duration = Duration::from_secs(2);

/// An error that is not the user's input: exit status 1.
#[derive(Debug)]
pub struct RuntimeFailure(pub String);

impl std::fmt::Display for RuntimeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RuntimeFailure {}

/// A peer address: `IP:PORT` or `HOST:PORT`.
pub fn parse_peer(text: &str) -> std::result::Result<SocketAddr, String> {
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Ok(a);
    }
    text.to_socket_addrs()
        .map_err(|e| format!("{text:?} is not a peer address (HOST:PORT): {e}"))?
        .next()
        .ok_or_else(|| format!("{text:?} resolves to no address"))
}

/// A listening address: `IP:PORT`.
pub fn parse_listen(text: &str) -> std::result::Result<SocketAddr, String> {
    text.parse::<SocketAddr>()
        .map_err(|_| format!("{text:?} is not a listening address (IP:PORT, e.g. 0.0.0.0:6881)"))
}

/// The peer-facing flags `download` and `seed` share.
#[derive(clap::Args, Debug)]
pub struct PeerFlags {
    /// Address to accept peers on [default: 0.0.0.0:6881, or the next free
    /// port].
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_listen)]
    pub listen: Option<SocketAddr>,
    /// Dial this peer directly (repeatable); it is re-dialled with backoff
    /// if it drops. Works with or without a tracker.
    #[arg(long = "peer", value_name = "ADDR:PORT", value_parser = parse_peer)]
    pub peers: Vec<SocketAddr>,
    /// Upload limit (the paper's mu): bytes/s, or with a unit (500k, 10MB,
    /// 2MiB); 0 = unlimited.
    #[arg(long, value_name = "RATE", value_parser = parse_rate, default_value = "0")]
    pub max_upload_rate: u64,
    /// Piece picking, upload policies and their rates.
    #[command(flatten)]
    pub policy: super::policy_flags::PolicyFlags,
}

impl PeerFlags {
    /// Apply the flags to a session and a torrent's options.
    pub fn apply(self, session: &mut SessionConfig, options: &mut TorrentOptions) {
        if let Some(l) = self.listen {
            session.listen = l;
        }
        session.max_upload_rate = self.max_upload_rate;
        options.policies = self.policy.policies();
        options.peers = self.peers;
    }
}

/// What to run.
pub struct Plan {
    /// .torrent files.
    pub torrents: Vec<PathBuf>,
    /// Per-torrent options (save directory, peers, seeding).
    pub options: TorrentOptions,
    /// Session settings (listen address, rate limits).
    pub session: SessionConfig,
    /// `seed` (true) or `download` (false), for messages.
    pub seeding_only: bool,
}

/// Run a plan to its end. Returns Ok once every torrent is complete
/// (download without --seed) or after a clean stop on a signal (seeding).
pub fn run(plan: Plan) -> Result<()> {
    let metas = plan
        .torrents
        .iter()
        .map(load_torrent)
        .collect::<Result<Vec<_>>>()?;
    std::fs::create_dir_all(&plan.options.save_dir)
        .with_context(|| format!("cannot create {}", plan.options.save_dir.display()))?;
    let runtime = super::runtime("riffle")?;
    runtime.block_on(async move {
        let session = Session::start(plan.session.clone())
            .await
            .map_err(|e| anyhow!(e))?;
        println!("listening on {}", session.listen_addr());
        let _ = std::io::stdout().flush();
        let mut handles = Vec::new();
        for meta in metas {
            handles.push(
                session
                    .add_torrent(meta, plan.options.clone())
                    .map_err(|e| anyhow!(e))?,
            );
        }
        let outcome = watch(&handles, plan.options.seed || plan.seeding_only).await;
        let statuses: Vec<TorrentStatus> = handles
            .iter()
            .map(|h| h.status().borrow().clone())
            .collect();
        session.shutdown().await;
        for h in handles {
            h.join().await;
        }
        outcome?;
        for st in &statuses {
            if let TorrentState::Failed(e) = &st.state {
                if plan.seeding_only && e.contains("incomplete") {
                    anyhow::bail!("{}: {e}", st.name);
                }
                return Err(RuntimeFailure(format!("{}: {e}", st.name)).into());
            }
        }
        Ok(())
    })
}

/// What ended the wait.
async fn watch(handles: &[TorrentHandle], keep_seeding: bool) -> Result<()> {
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let bars = tty.then(|| Bars::new(handles));
    let mut sigterm = terminate_signal()?;
    let mut last_line = Instant::now();
    let mut announced_complete = vec![false; handles.len()];
    // Short, so the process exits promptly once the last piece verifies.
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                return interrupted(handles, keep_seeding);
            }
            _ = sigterm.recv() => {
                return interrupted(handles, keep_seeding);
            }
            _ = tick.tick() => {}
        }
        let statuses: Vec<TorrentStatus> = handles
            .iter()
            .map(|h| h.status().borrow().clone())
            .collect();
        if let Some(b) = &bars {
            b.update(&statuses);
        } else if last_line.elapsed() >= STATUS_EVERY {
            last_line = Instant::now();
            for st in &statuses {
                println!("{}", status_line(st));
            }
        }
        for (i, st) in statuses.iter().enumerate() {
            if st.is_complete() && !announced_complete[i] && st.state != TorrentState::Checking {
                announced_complete[i] = true;
                let line = if st.downloaded == 0 {
                    ready_line(st)
                } else {
                    summary_line(st, started.elapsed())
                };
                if let Some(b) = &bars {
                    b.println(&line);
                } else {
                    println!("{line}");
                }
            }
        }
        if statuses
            .iter()
            .any(|s| matches!(s.state, TorrentState::Failed(_)))
        {
            return Ok(());
        }
        let all_done = statuses
            .iter()
            .all(|s| s.is_complete() && s.state != TorrentState::Checking);
        if all_done && !keep_seeding {
            return Ok(());
        }
    }
}

fn interrupted(handles: &[TorrentHandle], keep_seeding: bool) -> Result<()> {
    let complete = handles.iter().all(|h| h.status().borrow().is_complete());
    if complete || keep_seeding {
        eprintln!("riffle: stopping");
        Ok(())
    } else {
        Err(RuntimeFailure(
            "interrupted before the download completed; run the same command again to resume"
                .into(),
        )
        .into())
    }
}

#[cfg(unix)]
fn terminate_signal() -> Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot watch SIGTERM")
}

/// One line of plain status.
pub fn status_line(st: &TorrentStatus) -> String {
    let state = match &st.state {
        TorrentState::Checking => format!("checking {}/{}", st.checked_pieces, st.piece_count),
        TorrentState::Downloading => "downloading".into(),
        TorrentState::Seeding => "seeding".into(),
        TorrentState::Paused => "paused".into(),
        TorrentState::Stopped => "stopped".into(),
        TorrentState::Failed(e) => format!("failed: {e}"),
    };
    format!(
        "{}: {} {:.1}% {}/{} pieces, down {}/s up {}/s, {} peers ({} seeds), downloaded {} uploaded {}{}{}",
        st.name,
        state,
        st.progress() * 100.0,
        st.have_pieces,
        st.piece_count,
        human_bytes(st.download_rate),
        human_bytes(st.upload_rate),
        st.peers.len(),
        st.seeds,
        human_bytes(st.downloaded),
        human_bytes(st.uploaded),
        if st.banned > 0 {
            format!(", {} banned", st.banned)
        } else {
            String::new()
        },
        one_club_note(st),
    )
}

/// ", one club: throttled to R/s (T s, B sent throttled)" while we hold
/// every piece but one, and the totals once we have left the club.
pub fn one_club_note(st: &TorrentStatus) -> String {
    let secs = st.one_club_time.as_secs_f64();
    if st.one_club {
        if st.throttled {
            format!(
                ", one club: throttled to {}/s ({secs:.1} s, {} sent throttled)",
                human_bytes(st.upload_limit),
                human_bytes(st.uploaded_throttled)
            )
        } else {
            format!(", one club ({secs:.1} s)")
        }
    } else if secs > 0.0 {
        format!(
            ", was in the one club {secs:.1} s ({} sent throttled)",
            human_bytes(st.uploaded_throttled)
        )
    } else {
        String::new()
    }
}

/// The line printed when a torrent completes.
pub fn summary_line(st: &TorrentStatus, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-3);
    format!(
        "complete: {} ({}) in {:.1} s, {}/s; at start {} pieces trusted from the resume record, {} hashed; downloaded {}, wasted {}, {} hash failures",
        st.name,
        human_bytes(st.total_bytes),
        secs,
        human_bytes((st.downloaded as f64 / secs) as u64),
        st.trusted_pieces,
        st.hashed_pieces,
        human_bytes(st.downloaded),
        human_bytes(st.wasted),
        st.hash_failures,
    )
}

/// The line printed when a torrent is complete from the start (seeding
/// data already on disk).
pub fn ready_line(st: &TorrentStatus) -> String {
    format!(
        "ready: {} ({}), all {} pieces verified; at start {} pieces trusted from the resume record, {} hashed",
        st.name,
        human_bytes(st.total_bytes),
        st.piece_count,
        st.trusted_pieces,
        st.hashed_pieces,
    )
}

/// Progress bars on a terminal, one per torrent.
struct Bars {
    multi: MultiProgress,
    bars: Vec<ProgressBar>,
}

impl Bars {
    fn new(handles: &[TorrentHandle]) -> Bars {
        let multi = MultiProgress::new();
        let style =
            ProgressStyle::with_template("{prefix:20!} {bar:30} {bytes}/{total_bytes} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bars = handles
            .iter()
            .map(|h| {
                let st = h.status().borrow().clone();
                let b = multi.add(ProgressBar::new(st.total_bytes.max(1)));
                b.set_style(style.clone());
                b.set_prefix(st.name.clone());
                b
            })
            .collect();
        Bars { multi, bars }
    }

    fn update(&self, statuses: &[TorrentStatus]) {
        for (b, st) in self.bars.iter().zip(statuses) {
            b.set_position(st.have_bytes);
            let state = match &st.state {
                TorrentState::Checking => {
                    format!("checking {}/{}", st.checked_pieces, st.piece_count)
                }
                TorrentState::Downloading => "downloading".into(),
                TorrentState::Seeding => "seeding".into(),
                TorrentState::Paused => "paused".into(),
                TorrentState::Stopped => "stopped".into(),
                TorrentState::Failed(e) => format!("failed: {e}"),
            };
            b.set_message(format!(
                "{state} ↓{}/s ↑{}/s {} peers",
                human_bytes(st.download_rate),
                human_bytes(st.upload_rate),
                st.peers.len()
            ));
        }
    }

    fn println(&self, line: &str) {
        let _ = self.multi.println(line);
    }
}
