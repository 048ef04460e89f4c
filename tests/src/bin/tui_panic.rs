//! `tui_panic`: the TUI's runner over one fixed snapshot, whose command
//! handler panics on purpose when a command arrives (press `p`). Used by
//! `tests/tui_restore.rs` to check that a panic leaves the terminal clean:
//! raw mode off, the alternate screen left, the panic message readable.

use std::sync::mpsc;

use riffle_tui::model::{PolicyView, Snapshot, TorrentState, TorrentView};

fn main() -> std::io::Result<()> {
    let (tx, rx) = mpsc::channel();
    tx.send(Snapshot {
        torrents: vec![TorrentView {
            id: 1,
            name: "panic-fixture.bin".into(),
            size: 1 << 20,
            progress: 0.5,
            state: TorrentState::Downloading,
            policies: PolicyView {
                picker: "rarest-first".into(),
                choker: "tit-for-tat".into(),
                seed_choker: "round-robin".into(),
                one_club_rate: 0,
            },
            ..TorrentView::default()
        }],
        listen: "127.0.0.1:0".into(),
        ..Snapshot::default()
    })
    .expect("the receiver is alive");
    riffle_tui::terminal::run(rx, |cmd, _app| {
        if cmd != riffle_tui::app::Command::Quit {
            panic!("deliberate panic in the TUI on {cmd:?}");
        }
    })?;
    // Keep the sender alive until the run ends (a closed channel ends it).
    drop(tx);
    Ok(())
}
