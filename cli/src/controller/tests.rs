//! The controller runs each TUI command on a real session, and the next
//! snapshot shows what the session does now (not what was asked).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use riffle_client::engine::SessionConfig;
use riffle_tui::model::{TorrentState as Shown, TorrentView};

use super::*;

fn local() -> SessionConfig {
    SessionConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        listen_fallback: false,
        ..SessionConfig::default()
    }
}

/// A complete 8-piece payload under `dir` and a .torrent file for it
/// (info dictionary only: no trackers to wait for).
fn payload(dir: &Path) -> (PathBuf, Metainfo) {
    let meta = riffle_lab::lab::payload::make_named(
        dir,
        "tui-test.bin",
        8,
        7,
        "http://127.0.0.1:9/announce",
    )
    .unwrap();
    let mut bytes = b"d4:info".to_vec();
    bytes.extend_from_slice(&meta.info_bytes);
    bytes.push(b'e');
    let path = dir.join("tui-test.torrent");
    std::fs::write(&path, bytes).unwrap();
    (path, meta)
}

/// Wait until the controller's snapshot satisfies `pred`.
async fn until(c: &mut Controller, what: &str, pred: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let start = Instant::now();
    loop {
        let s = c.snapshot();
        if pred(&s) {
            return s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "never saw {what}; last snapshot: {s:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn only(s: &Snapshot) -> Option<&TorrentView> {
    s.torrents.first()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_act_on_the_running_session() {
    let dir = tempfile::tempdir().unwrap();
    let (torrent, meta) = payload(dir.path());
    let session = Session::start(local()).await.unwrap();
    let mut defaults = TorrentOptions::new(dir.path());
    defaults.durable = false;
    let mut c = Controller::new(session, defaults);

    // Add by path: the data is there, so it checks and seeds.
    let msg = c
        .execute(Command::AddTorrent(torrent.clone()))
        .await
        .unwrap();
    assert_eq!(msg, "added tui-test.bin");
    let s = until(&mut c, "the torrent seeding", |s| {
        only(s).is_some_and(|t| t.state == Shown::Seeding && t.progress >= 1.0)
    })
    .await;
    let t = only(&s).unwrap();
    assert_eq!((t.name.as_str(), t.size), ("tui-test.bin", 8 * 16384));
    assert_eq!(t.pieces.len(), 8);
    let id = t.id;

    // A path that is not a torrent: a clear error, nothing added.
    let bad = dir.path().join("missing.torrent");
    let err = c.execute(Command::AddTorrent(bad)).await.unwrap_err();
    assert!(format!("{err:#}").contains("missing.torrent"), "{err:#}");
    assert_eq!(c.snapshot().torrents.len(), 1);

    // Pause and resume.
    c.execute(Command::Pause(id)).await.unwrap();
    until(&mut c, "paused", |s| {
        only(s).is_some_and(|t| t.state == Shown::Paused)
    })
    .await;
    c.execute(Command::Resume(id)).await.unwrap();
    until(&mut c, "seeding again", |s| {
        only(s).is_some_and(|t| t.state == Shown::Seeding)
    })
    .await;

    // Policies: the snapshot shows what the torrent reports it runs.
    for change in [
        PolicyChange::SeedChoker("most-deprived".into()),
        PolicyChange::Picker("random-useful".into()),
        PolicyChange::OneClubRate(40 * 1024),
    ] {
        c.execute(Command::SetPolicy { id, change }).await.unwrap();
    }
    until(&mut c, "the new policies", |s| {
        only(s).is_some_and(|t| {
            t.policies.seed_choker == "most-deprived"
                && t.policies.picker == "random-useful"
                && t.policies.one_club_rate == 40 * 1024
        })
    })
    .await;
    let err = c
        .execute(Command::SetPolicy {
            id,
            change: PolicyChange::SeedChoker("no-such-choker".into()),
        })
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("no-such-choker"), "{err:#}");

    // Session limits.
    c.execute(Command::SetSessionLimits {
        download: 100 * 1024,
        upload: 30 * 1024,
    })
    .await
    .unwrap();
    let s = c.snapshot();
    assert_eq!((s.download_limit, s.upload_limit), (100 * 1024, 30 * 1024));

    // Unknown torrent ids are errors, not panics.
    assert!(c.execute(Command::Pause(id + 100)).await.is_err());

    // Remove and delete the data: gone from the snapshot and the disk; the
    // .torrent file (not the torrent's data) stays.
    let msg = c
        .execute(Command::Remove {
            id,
            delete_data: true,
        })
        .await
        .unwrap();
    assert!(msg.contains("deleted its data (1 file)"), "{msg}");
    assert!(c.snapshot().torrents.is_empty());
    assert!(!dir.path().join(&meta.info.name).exists());
    assert!(torrent.exists());
    c.shutdown().await;
}
