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
        dht: Some("4 peers from 8 nodes; next lookup in 14:59".into()),
        exchange: Some("upload share 42% (300.0 KiB/s), cpm 3.20 at tau 8.0 s".into()),
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
            "up 32.0 KiB/s (max 32.0 KiB/s)",
            "? help",
        ] {
            assert!(s.contains(needle), "{w}x{h} list lacks {needle:?}:\n{s}");
        }
    }
    // The active policies: a column from 120 columns, and in full for the
    // selected torrent under the table at every width.
    for (w, h) in [(80, 24), (100, 30), (120, 30)] {
        // Words as they read, whatever the wrapping.
        let s = draw(&app, w, h)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        for needle in [
            "picker rarest-first",
            "choker tit-for-tat",
            "seed choker most-deprived",
            "one-club rate off",
        ] {
            assert!(s.contains(needle), "{w}x{h} lacks {needle:?}:\n{s}");
        }
    }
    let s = draw(&app, 120, 30);
    assert!(s.contains("rarest-first / most-deprived"), "{s}");
}

#[test]
fn detail_shows_peers_flags_club_pieces_trackers_and_dht() {
    let mut app = model();
    app.update(Action::Key(Key::Enter));
    let s = draw(&app, 100, 30);
    for needle in [
        "127.0.0.1:40001",
        "98%",
        "club",
        "seed choker most-deprived",
        "tracker: http://127.0.0.1:7000/announce",
        "dht: 4 peers from 8 nodes",
        "swarms: upload share 42%",
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
    // The rarest piece stands out in the map, even on a seed.
    assert_eq!(map_row(&s).matches('*').count(), 1, "{s}");
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

/// The piece map's first row of cells (the line under its title).
fn map_row(screen: &str) -> String {
    let mut lines = screen.lines();
    lines.find(|l| l.contains(" pieces ("));
    lines
        .next()
        .unwrap_or_default()
        .trim_matches(|c: char| c == '│' || c == ' ')
        .to_string()
}

/// A leecher's torrent: 20 pieces ours, 4 downloading, 24 missing with
/// availability 1..=3 except two nobody connected has.
fn leecher() -> App {
    let mut app = model();
    let mut snap = app.snapshot.clone();
    let t = &mut snap.torrents[0];
    t.state = TorrentState::Downloading;
    for (i, p) in t.pieces.iter_mut().enumerate() {
        p.state = match i {
            0..20 => PieceState::Have,
            20..24 => PieceState::Downloading,
            _ => PieceState::Missing,
        };
        p.availability = 1 + (i as u32 % 3);
    }
    t.pieces[30].availability = 0;
    t.pieces[40].availability = 0;
    app.update(Action::Snapshot(snap));
    app.update(Action::Key(Key::Enter));
    app
}

#[test]
fn piece_map_marks_ours_downloading_missing_and_rarest() {
    let s = draw(&leecher(), 100, 30);
    let row = map_row(&s);
    assert_eq!(row.len(), 48, "one cell per piece at 100 columns: {row:?}");
    assert_eq!(&row[..20], "#".repeat(20));
    assert_eq!(&row[20..24], "++++");
    // The two pieces no peer holds are the rarest; the rest are plain.
    let bangs: Vec<usize> = row.match_indices('!').map(|(i, _)| i).collect();
    assert_eq!(bangs, vec![30, 40], "{row}");
    assert_eq!(row[24..].matches('.').count(), 22);
    assert!(s.contains("rarest held by 0"), "{s}");
}

#[test]
fn a_seeds_piece_map_shows_which_of_its_pieces_are_rarest() {
    let mut app = model();
    let mut snap = app.snapshot.clone();
    for (i, p) in snap.torrents[0].pieces.iter_mut().enumerate() {
        p.availability = if i % 7 == 3 { 1 } else { 4 };
    }
    app.update(Action::Snapshot(snap.clone()));
    app.update(Action::Key(Key::Enter));
    let row = map_row(&draw(&app, 100, 30));
    let stars: Vec<usize> = row.match_indices('*').map(|(i, _)| i).collect();
    assert_eq!(stars, (0..48).filter(|i| i % 7 == 3).collect::<Vec<_>>());
    // Evenly spread pieces (or no peers at all): nothing is "rarest".
    for p in &mut snap.torrents[0].pieces {
        p.availability = 2;
    }
    app.update(Action::Snapshot(snap));
    let row = map_row(&draw(&app, 100, 30));
    assert_eq!(row, "#".repeat(48));
}

#[test]
fn a_one_club_member_shows_its_missing_piece() {
    let mut app = leecher();
    let mut snap = app.snapshot.clone();
    let t = &mut snap.torrents[0];
    t.one_club = true;
    t.throttled = true;
    t.uploaded_throttled = 64 * 1024;
    for p in &mut t.pieces {
        p.state = PieceState::Have;
    }
    t.pieces[9].state = PieceState::Missing;
    app.update(Action::Snapshot(snap));
    let s = draw(&app, 100, 30);
    assert!(s.contains("in the one club, throttled"), "{s}");
    assert!(s.contains("64.0 KiB sent throttled"), "{s}");
    assert!(s.contains("the one club's missing piece"), "{s}");
    assert_eq!(map_row(&s).find('!'), Some(9), "{s}");
}

#[test]
fn peers_sort_most_complete_first_and_scroll() {
    let mut app = model();
    let mut snap = app.snapshot.clone();
    let t = &mut snap.torrents[0];
    t.peer_list = (0..20u16)
        .map(|i| PeerRow {
            addr: format!("127.0.0.1:{}", 41000 + i),
            client: "riffle 0.1".into(),
            progress: f64::from(i) / 20.0,
            one_club: i == 19,
            ..PeerRow::default()
        })
        .collect();
    t.peers = 20;
    app.update(Action::Snapshot(snap));
    app.update(Action::Key(Key::Enter));
    let rows = |app: &App| -> Vec<String> {
        draw(app, 80, 24)
            .lines()
            .filter(|l| l.contains("127.0.0.1:41"))
            .map(|l| {
                l.split_whitespace()
                    .next()
                    .unwrap()
                    .trim_start_matches('│')
                    .to_string()
            })
            .collect()
    };
    let first = rows(&app);
    assert!(first.len() < 20, "all 20 fit at 80x24?");
    // The club member (95%) on top, then down by progress.
    assert_eq!(first[0], "127.0.0.1:41019");
    assert_eq!(first[1], "127.0.0.1:41018");
    let s = draw(&app, 80, 24);
    assert!(s.contains(&format!("1-{} (Up/Down)", first.len())), "{s}");
    for _ in 0..3 {
        app.update(Action::Key(Key::Down));
    }
    assert_eq!(rows(&app)[0], "127.0.0.1:41016");
    // It stops at the last peer, and Up comes back.
    for _ in 0..50 {
        app.update(Action::Key(Key::Char('j')));
    }
    assert_eq!(rows(&app), vec!["127.0.0.1:41000".to_string()]);
    for _ in 0..50 {
        app.update(Action::Key(Key::Up));
    }
    assert_eq!(rows(&app), first);
    // The arrows do not change the selected torrent in the detail.
    assert_eq!(app.selected, 0);
}

/// Every screen at its usual sizes, stored in `snapshots/` (review a change
/// with `cargo insta review`, or `INSTA_UPDATE=always` and `git diff`).
#[test]
fn screens_match_their_stored_snapshots() {
    let keyed = |keys: &[Key]| {
        let mut app = model();
        for k in keys {
            app.update(Action::Key(*k));
        }
        app
    };
    let cases: Vec<(&str, App, u16, u16)> = vec![
        ("list_80x24", model(), 80, 24),
        ("list_100x30", model(), 100, 30),
        ("list_120x30", model(), 120, 30),
        ("list_empty_80x24", App::new(), 80, 24),
        ("detail_seed_100x30", keyed(&[Key::Enter]), 100, 30),
        ("detail_seed_80x24", keyed(&[Key::Enter]), 80, 24),
        ("detail_leecher_100x30", leecher(), 100, 30),
        ("help_80x24", keyed(&[Key::Char('?')]), 80, 24),
        ("remove_80x24", keyed(&[Key::Char('d')]), 80, 24),
        ("add_80x24", keyed(&[Key::Char('a')]), 80, 24),
        ("limits_80x24", keyed(&[Key::Char('l')]), 80, 24),
        ("one_club_rate_80x24", keyed(&[Key::Char('o')]), 80, 24),
    ];
    for (name, app, w, h) in cases {
        insta::assert_snapshot!(name, draw(&app, w, h));
    }
}

#[test]
fn units() {
    assert_eq!(bytes(512), "512 B");
    assert_eq!(bytes(1536), "1.5 KiB");
    assert_eq!(bytes(64 << 20), "64.0 MiB");
    assert_eq!(rate(0), "-");
}
