//! What `download` and `seed` share: start a session with their torrents,
//! report progress (a bar on a terminal, a status line every few seconds
//! otherwise), stop cleanly on SIGINT/SIGTERM.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use riffle_client::engine::{
    Session, SessionConfig, TorrentHandle, TorrentOptions, TorrentState, TorrentStatus,
};

use crate::output::{ready_line, status_line, summary_line, Bars};
use crate::torrent_file::{load_torrent, resolve_magnet, TorrentArg};

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

/// What to run.
pub struct Plan {
    /// .torrent files and magnet links.
    pub torrents: Vec<TorrentArg>,
    /// Write the fetched metadata of a magnet link here.
    pub save_torrent: Option<PathBuf>,
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
    // Files are read before anything starts (a bad one is bad input);
    // magnet links are resolved once the session runs.
    let args = plan
        .torrents
        .iter()
        .map(|t| match t {
            TorrentArg::File(path) => load_torrent(path).map(Ok),
            TorrentArg::Magnet(m) => Ok(Err(m.clone())),
        })
        .collect::<Result<Vec<_>>>()?;
    std::fs::create_dir_all(&plan.options.save_dir)
        .with_context(|| format!("cannot create {}", plan.options.save_dir.display()))?;
    let runtime = crate::commands::runtime("riffle")?;
    runtime.block_on(async move {
        let session = Session::start(plan.session.clone())
            .await
            .map_err(|e| anyhow!(e))?;
        println!("listening on {}", session.listen_addr());
        let _ = std::io::stdout().flush();
        let mut handles = Vec::new();
        let cache = plan.options.save_dir.join(".riffle");
        for arg in args {
            let mut options = plan.options.clone();
            let meta = match arg {
                Ok(meta) => meta,
                Err(magnet) => {
                    options.peers.extend(
                        magnet
                            .peers
                            .iter()
                            .filter_map(|p| p.parse::<std::net::SocketAddr>().ok()),
                    );
                    // `--peer` addresses are asked for the metadata too.
                    resolve_magnet(
                        &session,
                        &magnet,
                        &plan.options.peers,
                        Some(&cache),
                        plan.save_torrent.as_deref(),
                    )
                    .await?
                }
            };
            handles.push(session.add_torrent(meta, options).map_err(|e| anyhow!(e))?);
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
