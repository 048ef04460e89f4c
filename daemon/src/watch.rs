//! The watch folder: a `.torrent` dropped there is added, then renamed
//! `NAME.torrent.added` — or `NAME.torrent.invalid`, the reason logged.
//!
//! The folder is looked at every [`POLL`]; a file is taken only once its
//! size has stayed the same between two looks, so one still being copied
//! in is not read half way.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use riffle_manager::{AddRequest, Added, Manager, ManagerError};
use tokio::sync::watch;

/// How often the folder is looked at.
pub const POLL: Duration = Duration::from_secs(2);
/// Largest `.torrent` taken.
const MAX_TORRENT_FILE: u64 = 64 * 1024 * 1024;

/// Watch `dir` until `stop` turns true.
pub async fn run(dir: PathBuf, manager: Manager, mut stop: watch::Receiver<bool>) {
    let mut sizes: HashMap<PathBuf, u64> = HashMap::new();
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        let found = match tokio::task::spawn_blocking({
            let dir = dir.clone();
            move || candidates(&dir)
        })
        .await
        {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                tracing::warn!(dir = %dir.display(), "cannot read the watch folder: {e}");
                continue;
            }
            Err(_) => continue,
        };
        let mut next = HashMap::new();
        for (path, size) in found {
            if sizes.get(&path) == Some(&size) {
                take(&path, &manager).await;
            } else {
                next.insert(path, size);
            }
        }
        sizes = next;
    }
}

/// The `.torrent` files in `dir` with their sizes.
fn candidates(dir: &Path) -> std::io::Result<Vec<(PathBuf, u64)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let is_torrent = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("torrent"));
        let Ok(meta) = entry.metadata() else { continue };
        if is_torrent && meta.is_file() {
            out.push((path, meta.len()));
        }
    }
    out.sort();
    Ok(out)
}

/// Add one file and rename it by the outcome.
async fn take(path: &Path, manager: &Manager) {
    let outcome = match read(path) {
        Err(e) => Err(e),
        Ok(bytes) => manager
            .add(AddRequest {
                metainfo: bytes,
                ..AddRequest::default()
            })
            .await
            .map_err(|e| match e {
                ManagerError::BadTorrent(why) => why,
                other => other.to_string(),
            }),
    };
    let suffix = match &outcome {
        Ok(Added::New(b)) => {
            tracing::info!(file = %path.display(), id = b.id, "added from the watch folder");
            "added"
        }
        Ok(Added::Duplicate(b)) => {
            tracing::info!(file = %path.display(), id = b.id, "already added (watch folder)");
            "added"
        }
        Err(why) => {
            tracing::warn!(file = %path.display(), "not a torrent riffle can add: {why}");
            "invalid"
        }
    };
    let mut renamed = path.as_os_str().to_owned();
    renamed.push(".");
    renamed.push(suffix);
    if let Err(e) = std::fs::rename(path, &renamed) {
        tracing::warn!(file = %path.display(), "cannot rename a watched file: {e}");
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > MAX_TORRENT_FILE {
        return Err("larger than a .torrent can be".into());
    }
    std::fs::read(path).map_err(|e| e.to_string())
}
