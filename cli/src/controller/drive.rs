//! Running the TUI over a controller: snapshots out a few times a second
//! (only when they changed), the user's commands in.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use riffle_tui::app::{App, Command};
use riffle_tui::model::Snapshot;
use tokio::sync::Mutex;

use super::Controller;
use crate::remote::RemoteController;

/// What the TUI drives: a local session, or a remote daemon.
pub trait Frontend: Send + 'static {
    /// The session now (an error skips this snapshot).
    fn snapshot(&mut self) -> impl std::future::Future<Output = Result<Snapshot>> + Send;
    /// Run one command; a line for the status bar.
    fn execute(&mut self, cmd: Command)
        -> impl std::future::Future<Output = Result<String>> + Send;
}

impl Frontend for Controller {
    fn snapshot(&mut self) -> impl std::future::Future<Output = Result<Snapshot>> + Send {
        let snap = Controller::snapshot(self);
        async move { Ok(snap) }
    }

    fn execute(
        &mut self,
        cmd: Command,
    ) -> impl std::future::Future<Output = Result<String>> + Send {
        Controller::execute(self, cmd)
    }
}

impl Frontend for RemoteController {
    fn snapshot(&mut self) -> impl std::future::Future<Output = Result<Snapshot>> + Send {
        RemoteController::snapshot(self)
    }

    fn execute(
        &mut self,
        cmd: Command,
    ) -> impl std::future::Future<Output = Result<String>> + Send {
        RemoteController::execute(self, cmd)
    }
}

/// Run the TUI over `controller` until the user quits. Snapshots go out
/// every `period`; commands run on `runtime`.
pub fn drive<F: Frontend>(
    runtime: &tokio::runtime::Runtime,
    controller: Arc<Mutex<F>>,
    period: Duration,
) -> Result<()> {
    let (snap_tx, snap_rx) = std::sync::mpsc::sync_channel::<Snapshot>(2);
    let feeder = {
        let controller = controller.clone();
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last: Option<Snapshot> = None;
            loop {
                tick.tick().await;
                let snap = match controller.lock().await.snapshot().await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!("no snapshot: {e:#}");
                        continue;
                    }
                };
                if last.as_ref() == Some(&snap) {
                    continue; // nothing changed: no redraw
                }
                match snap_tx.try_send(snap.clone()) {
                    Ok(()) => last = Some(snap),
                    Err(std::sync::mpsc::TrySendError::Full(_)) => {}
                    Err(std::sync::mpsc::TrySendError::Disconnected(_)) => break,
                }
            }
        })
    };
    let result = riffle_tui::terminal::run(snap_rx, |cmd, app: &mut App| {
        if matches!(cmd, Command::Quit) {
            return;
        }
        let outcome = runtime.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(10),
                controller.lock().await.execute(cmd),
            )
            .await
            .unwrap_or_else(|_| Err(anyhow!("the session did not answer in time")))
        });
        match outcome {
            Ok(msg) => app.set_status(msg),
            Err(e) => app.set_status(format!("error: {e:#}")),
        }
    });
    feeder.abort();
    result.context("the terminal failed")
}
