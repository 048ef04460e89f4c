//! Random use of the TUI: any sequence of snapshots and keys, drawn at any
//! size from 1x1 to 200x60, never panics, and the app's invariants hold
//! after every step (the selection points at a torrent, a command names a
//! torrent that exists, the history is bounded and only for live
//! torrents, `q` outside a dialog quits).

use proptest::prelude::*;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use riffle_tui::app::{Action, App, Command, Dialog, Key, HISTORY};
use riffle_tui::model::{
    PeerRow, PieceCell, PieceState, PolicyView, Snapshot, TorrentState, TorrentView,
};
use riffle_tui::view::view;

fn key() -> impl Strategy<Value = Key> {
    prop_oneof![
        4 => prop::sample::select(vec![
            'q', '?', 'p', 'd', 'y', 'D', 'a', 'l', 's', 'P', 'o', 'j', 'k', '0', '7', '/', 'x', ' ',
            'é',
        ])
        .prop_map(Key::Char),
        1 => prop::sample::select(vec![
            Key::Enter,
            Key::Esc,
            Key::Up,
            Key::Down,
            Key::Tab,
            Key::Backspace,
        ]),
    ]
}

fn state() -> impl Strategy<Value = TorrentState> {
    prop::sample::select(vec![
        TorrentState::Checking,
        TorrentState::Downloading,
        TorrentState::Seeding,
        TorrentState::Paused,
        TorrentState::Stopped,
        TorrentState::Failed("disk full".into()),
    ])
}

fn peer() -> impl Strategy<Value = PeerRow> {
    (
        any::<u16>(),
        0.0..=1.0f64,
        any::<u64>(),
        any::<[bool; 6]>(),
        ".{0,30}",
    )
        .prop_map(|(port, progress, rate, f, client)| PeerRow {
            addr: format!("10.0.0.1:{port}"),
            client,
            progress,
            download_rate: rate,
            upload_rate: rate / 3,
            am_choking: f[0],
            am_interested: f[1],
            peer_choking: f[2],
            peer_interested: f[3],
            snubbed: f[4],
            one_club: f[5],
        })
}

fn torrent() -> impl Strategy<Value = TorrentView> {
    (
        1..6u64,
        ".{0,60}",
        any::<u64>(),
        0.0..=1.0f64,
        (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()),
        state(),
        any::<[bool; 2]>(),
        prop::collection::vec(peer(), 0..12),
        prop::collection::vec((0..3u8, 0..20u32), 0..3000),
        prop::collection::vec(".{0,80}", 0..4),
    )
        .prop_map(
            |(
                id,
                name,
                size,
                progress,
                (down, up, got, sent),
                state,
                club,
                peers,
                pieces,
                trackers,
            )| {
                TorrentView {
                    id,
                    name,
                    size,
                    progress,
                    download_rate: down,
                    upload_rate: up,
                    downloaded: got,
                    uploaded: sent,
                    peers: peers.len(),
                    seeds: peers.iter().filter(|p| p.progress >= 1.0).count(),
                    state,
                    policies: PolicyView {
                        picker: "rarest-first".into(),
                        choker: "tit-for-tat".into(),
                        seed_choker: "most-deprived".into(),
                        one_club_rate: up % 1000,
                    },
                    one_club: club[0],
                    throttled: club[1],
                    upload_limit: up % 7,
                    download_limit: down % 5,
                    one_club_time_secs: (got % 10_000) as f64 / 3.0,
                    uploaded_throttled: sent / 2,
                    peer_list: peers,
                    pieces: pieces
                        .into_iter()
                        .map(|(s, a)| PieceCell {
                            state: match s {
                                0 => PieceState::Have,
                                1 => PieceState::Downloading,
                                _ => PieceState::Missing,
                            },
                            availability: a,
                        })
                        .collect(),
                    dht: (id % 2 == 0)
                        .then(|| format!("{} peers from {} nodes", up % 50, down % 9)),
                    exchange: (id % 3 == 0)
                        .then(|| format!("cpm {}.{} at tau 8.0 s", up % 9, down % 10)),
                    trackers,
                }
            },
        )
}

fn snapshot() -> impl Strategy<Value = Snapshot> {
    (
        prop::collection::vec(torrent(), 0..5),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(|(mut torrents, down, up)| {
            // Ids are unique within a snapshot, as the client makes them.
            torrents.sort_by_key(|t| t.id);
            torrents.dedup_by_key(|t| t.id);
            Snapshot {
                torrents,
                download_limit: down,
                upload_limit: up,
                listen: "127.0.0.1:6881".into(),
            }
        })
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        1 => snapshot().prop_map(Action::Snapshot),
        5 => key().prop_map(Action::Key),
    ]
}

fn draw(app: &App, w: u16, h: u16) {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| view(app, f)).unwrap();
}

fn check_command(app: &App, before: &Snapshot, cmd: &Command) {
    let exists = |id: &u64| before.torrents.iter().any(|t| t.id == *id);
    match cmd {
        Command::Pause(id) | Command::Resume(id) => assert!(exists(id), "{cmd:?}"),
        Command::Remove { id, .. } | Command::SetPolicy { id, .. } => {
            assert!(exists(id), "{cmd:?}")
        }
        Command::Quit => assert!(app.should_quit()),
        Command::AddTorrent(p) => assert!(!p.as_os_str().is_empty()),
        Command::SetSessionLimits { .. } => {}
    }
}

/// Wide characters (CJK, emoji) in names and tracker lines, at every
/// small size: what a peer or tracker sends must not crash the screen.
#[test]
fn wide_text_at_small_sizes() {
    for name in [
        " \u{20000}x",
        "a\u{20000}xy",
        "aaa\u{20000}\u{20000}\u{20000}xy",
        "\u{1f574}\u{6}{R",
    ] {
        for enter in [false, true] {
            let t = TorrentView {
                id: 1,
                name: name.into(),
                state: TorrentState::Seeding,
                trackers: vec![name.into()],
                dht: Some(name.into()),
                ..TorrentView::default()
            };
            let mut app = App::new();
            app.update(Action::Snapshot(Snapshot {
                torrents: vec![t],
                download_limit: 0,
                upload_limit: 0,
                listen: name.into(),
            }));
            if enter {
                app.update(Action::Key(Key::Enter));
            }
            for w in 1..12u16 {
                for h in 1..30u16 {
                    draw(&app, w, h);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        // An integration test has no lib.rs beside it to persist to.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_use_at_any_size_keeps_the_app_sound(
        actions in prop::collection::vec(action(), 1..40),
        sizes in prop::collection::vec((1..=200u16, 1..=60u16), 1..4),
    ) {
        let mut app = App::new();
        for a in actions {
            let before = app.snapshot.clone();
            let was_dialog = app.dialog != Dialog::None;
            let was_q = a == Action::Key(Key::Char('q'));
            let cmds = app.update(a);
            for c in &cmds {
                check_command(&app, &before, c);
            }
            if was_q && !was_dialog {
                prop_assert_eq!(cmds, vec![Command::Quit]);
            }
            let n = app.snapshot.torrents.len();
            prop_assert!(app.selected < n.max(1));
            for (id, (down, up)) in &app.history {
                prop_assert!(down.len() <= HISTORY && up.len() <= HISTORY);
                prop_assert!(app.snapshot.torrents.iter().any(|t| t.id == *id));
            }
            for &(w, h) in &sizes {
                draw(&app, w, h);
            }
        }
    }
}
