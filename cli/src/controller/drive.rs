//! Running the TUI over a controller: snapshots out a few times a second
//! (only when they changed), the user's commands in.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use riffle_tui::app::{App, Command};
use riffle_tui::model::Snapshot;
use tokio::sync::Mutex;

use super::Controller;

/// Run the TUI over `controller` until the user quits. Snapshots go out
/// every `period`; commands run on `runtime`.
pub fn drive(
    runtime: &tokio::runtime::Runtime,
    controller: Arc<Mutex<Controller>>,
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
                let snap = controller.lock().await.snapshot();
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
