use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::*;
use crate::app::{Action, Key};
use crate::model::{PeerRow, PieceCell, PolicyView, Snapshot};

fn model() -> App {
    let peer = |port: u16, progress: f64, club: bool, served: bool| PeerRow {
        addr: format!("127.0.0.1:{port}"),
        client: "riffle 0.1".into(),
        progress,
        download_rate: 0,
        upload_rate: if served { 32 * 1024 } else { 0 },
        am_choking: !served,
        am_interested: false,
        peer_choking: true,
        peer_interested: true,
        snubbed: false,
        one_club: club,
    };
    let mut pieces = vec![
        PieceCell {
            state: PieceState::Have,
            availability: 3
        };
        48
    ];
    pieces[17].availability = 0;
    let t = TorrentView {
        id: 1,
        name: "riffle-demo.bin".into(),
        size: 768 * 1024,
        progress: 0.42,
        download_rate: 0,
        upload_rate: 32 * 1024,
        downloaded: 0,
        uploaded: 3 << 20,
        peers: 3,
        seeds: 0,
        state: TorrentState::Seeding,
        policies: PolicyView {
            picker: "rarest-first".into(),
            choker: "tit-for-tat".into(),
            seed_choker: "most-deprived".into(),
            one_club_rate: 0,
        },
        peer_list: vec![
            peer(40001, 0.98, true, false),
            peer(40002, 0.10, false, true),
            peer(40003, 0.50, false, false),
        ],
        pieces,
        trackers: vec!["http://127.0.0.1:7000/announce: 3 peers".into()],
        ..TorrentView::default()
    };
    let mut app = App::new();
    app.update(Action::Snapshot(Snapshot {
        torrents: vec![t],
        download_limit: 0,
        upload_limit: 32 * 1024,
        listen: "127.0.0.1:6881".into(),
    }));
    app
}

fn draw(app: &App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| view(app, f)).unwrap();
    let buf = term.backend().buffer().clone();
    (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn list_shows_each_column_by_name() {
    let app = model();
    for (w, h) in [(100, 30), (80, 24)] {
        let s = draw(&app, w, h);
        for needle in [
            "riffle-demo.bin",
            "768.0 KiB",
            "42.0%",
            "32.0 KiB/s",
            "3 (0)",
            "seeding",
            "limits: down unlimited, up 32.0 KiB/s",
            "? help",
        ] {
            assert!(s.contains(needle), "{w}x{h} list lacks {needle:?}:\n{s}");
        }
    }
    // The active policies: in full from 120 columns, cut below.
    assert!(draw(&app, 100, 30).contains("rarest-first / mo"));
    let s = draw(&app, 120, 30);
    assert!(s.contains("rarest-first / most-deprived"), "{s}");
}

#[test]
fn detail_shows_peers_flags_club_pieces_and_trackers() {
    let mut app = model();
    app.update(Action::Key(Key::Enter));
    let s = draw(&app, 100, 30);
    for needle in [
        "127.0.0.1:40001",
        "98%",
        "club",
        "seed choker most-deprived",
        "tracker: http://127.0.0.1:7000/announce",
        "rarest held by 0",
        "# ours",
        " down ",
        " up ",
    ] {
        assert!(s.contains(needle), "detail lacks {needle:?}:\n{s}");
    }
    // The peer we serve is flagged U, the others are not.
    let row = |port: &str| s.lines().find(|l| l.contains(port)).unwrap().to_string();
    assert!(row("40002").split_whitespace().any(|w| w == "U"));
    assert!(!row("40003").split_whitespace().any(|w| w == "U"));
    // The rarest piece stands out in the map.
    assert!(s.contains('!'), "no rarest-piece marker:\n{s}");
}

#[test]
fn help_lists_every_key() {
    let mut app = model();
    app.update(Action::Key(Key::Char('?')));
    let s = draw(&app, 100, 30);
    for (k, what) in KEYS {
        assert!(s.contains(k) && s.contains(what), "help lacks {k}:\n{s}");
    }
}

#[test]
fn dialogs_show_their_question() {
    let cases: [(&[Key], &str); 4] = [
        (&[Key::Char('d')], "remove riffle-demo.bin?"),
        (&[Key::Char('a')], "path: _"),
        (&[Key::Char('l')], "upload:   32"),
        (&[Key::Char('o')], "mu': 0_"),
    ];
    for (ks, needle) in cases {
        let mut app = model();
        for k in ks {
            app.update(Action::Key(*k));
        }
        let s = draw(&app, 80, 24);
        assert!(s.contains(needle), "{ks:?} dialog lacks {needle:?}:\n{s}");
    }
}

#[test]
fn tiny_and_odd_sizes_do_not_panic() {
    let mut app = model();
    for screen in 0..2 {
        if screen == 1 {
            app.update(Action::Key(Key::Enter));
        }
        for (w, h) in [(1, 1), (2, 3), (20, 5), (80, 24), (200, 60)] {
            let s = draw(&app, w, h);
            assert_eq!(s.lines().count(), h as usize);
        }
    }
}

#[test]
fn units() {
    assert_eq!(bytes(512), "512 B");
    assert_eq!(bytes(1536), "1.5 KiB");
    assert_eq!(bytes(64 << 20), "64.0 MiB");
    assert_eq!(rate(0), "-");
}
