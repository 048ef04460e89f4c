use super::*;
use crate::model::{PolicyView, TorrentView};

fn torrent(id: u64, name: &str, state: TorrentState) -> TorrentView {
    TorrentView {
        id,
        name: name.into(),
        state,
        policies: PolicyView {
            picker: "rarest-first".into(),
            choker: "tit-for-tat".into(),
            seed_choker: "most-deprived".into(),
            one_club_rate: 0,
        },
        download_rate: id * 100,
        upload_rate: id * 10,
        ..TorrentView::default()
    }
}

fn app_with(ts: Vec<TorrentView>) -> App {
    let mut app = App::new();
    app.update(Action::Snapshot(Snapshot {
        torrents: ts,
        ..Snapshot::default()
    }));
    app
}

fn keys(app: &mut App, ks: &[Key]) -> Vec<Command> {
    ks.iter()
        .flat_map(|k| app.update(Action::Key(*k)))
        .collect()
}

fn typed(s: &str) -> Vec<Key> {
    s.chars().map(Key::Char).collect()
}

#[test]
fn p_pauses_a_running_torrent_and_resumes_a_paused_one() {
    let mut app = app_with(vec![
        torrent(7, "a", TorrentState::Downloading),
        torrent(9, "b", TorrentState::Paused),
    ]);
    assert_eq!(keys(&mut app, &[Key::Char('p')]), vec![Command::Pause(7)]);
    assert_eq!(
        keys(&mut app, &[Key::Down, Key::Char('p')]),
        vec![Command::Resume(9)]
    );
}

#[test]
fn remove_asks_first_and_can_delete_the_data() {
    let mut app = app_with(vec![torrent(3, "a", TorrentState::Seeding)]);
    assert!(keys(&mut app, &[Key::Char('d')]).is_empty());
    assert_eq!(app.dialog, Dialog::ConfirmRemove(3));
    // A stray key keeps the question up; n cancels.
    assert!(keys(&mut app, &[Key::Char('x'), Key::Char('n')]).is_empty());
    assert_eq!(app.dialog, Dialog::None);
    assert_eq!(
        keys(&mut app, &[Key::Char('d'), Key::Char('y')]),
        vec![Command::Remove {
            id: 3,
            delete_data: false
        }]
    );
    assert_eq!(
        keys(&mut app, &[Key::Char('d'), Key::Char('D')]),
        vec![Command::Remove {
            id: 3,
            delete_data: true
        }]
    );
}

#[test]
fn add_takes_a_typed_path() {
    let mut app = app_with(vec![]);
    let mut ks = vec![Key::Char('a')];
    ks.extend(typed("/tmp/x.torrentt"));
    ks.push(Key::Backspace);
    ks.push(Key::Enter);
    assert_eq!(
        keys(&mut app, &ks),
        vec![Command::AddTorrent(PathBuf::from("/tmp/x.torrent"))]
    );
    // Enter on an empty path does nothing; Esc closes.
    assert!(keys(&mut app, &[Key::Char('a'), Key::Enter]).is_empty());
    assert!(matches!(app.dialog, Dialog::AddTorrent(_)));
    keys(&mut app, &[Key::Esc]);
    assert_eq!(app.dialog, Dialog::None);
}

#[test]
fn limits_are_typed_in_kib_per_second() {
    let mut app = app_with(vec![]);
    let mut ks = vec![Key::Char('l')];
    ks.extend(typed("5x12"));
    ks.push(Key::Tab);
    ks.extend(typed("3"));
    ks.push(Key::Enter);
    assert_eq!(
        keys(&mut app, &ks),
        vec![Command::SetSessionLimits {
            download: 512 * 1024,
            upload: 3 * 1024
        }]
    );
}

#[test]
fn policy_keys_switch_to_the_next_name() {
    let mut app = app_with(vec![torrent(4, "a", TorrentState::Seeding)]);
    assert_eq!(
        keys(&mut app, &[Key::Char('s')]),
        vec![Command::SetPolicy {
            id: 4,
            change: PolicyChange::SeedChoker("random".into())
        }]
    );
    assert_eq!(
        keys(&mut app, &[Key::Char('P')]),
        vec![Command::SetPolicy {
            id: 4,
            change: PolicyChange::Picker("random-useful".into())
        }]
    );
    let mut ks = vec![Key::Char('o'), Key::Backspace];
    ks.extend(typed("200"));
    ks.push(Key::Enter);
    assert_eq!(
        keys(&mut app, &ks),
        vec![Command::SetPolicy {
            id: 4,
            change: PolicyChange::OneClubRate(200 * 1024)
        }]
    );
}

#[test]
fn selection_follows_its_torrent_and_stays_in_range() {
    let mut app = app_with(vec![
        torrent(1, "a", TorrentState::Seeding),
        torrent(2, "b", TorrentState::Seeding),
        torrent(3, "c", TorrentState::Seeding),
    ]);
    keys(&mut app, &[Key::Down, Key::Down]);
    assert_eq!(app.selected_id(), Some(3));
    // Torrent 1 goes away: 3 is still selected, at index 1.
    app.update(Action::Snapshot(Snapshot {
        torrents: vec![
            torrent(2, "b", TorrentState::Seeding),
            torrent(3, "c", TorrentState::Seeding),
        ],
        ..Snapshot::default()
    }));
    assert_eq!((app.selected, app.selected_id()), (1, Some(3)));
    // Everything goes: no selection, back to the list.
    keys(&mut app, &[Key::Enter]);
    assert_eq!(app.screen, Screen::Detail);
    app.update(Action::Snapshot(Snapshot::default()));
    assert_eq!((app.selected_id(), app.screen), (None, Screen::List));
    assert!(keys(&mut app, &[Key::Char('p'), Key::Char('d'), Key::Char('s')]).is_empty());
}

#[test]
fn snapshots_feed_a_bounded_rate_history() {
    let mut app = app_with(vec![]);
    for _ in 0..HISTORY + 30 {
        app.update(Action::Snapshot(Snapshot {
            torrents: vec![torrent(5, "a", TorrentState::Downloading)],
            ..Snapshot::default()
        }));
    }
    let (down, up) = &app.history[&5];
    assert_eq!((down.len(), up.len()), (HISTORY, HISTORY));
    assert_eq!((down[0], up[0]), (500, 50));
}

#[test]
fn q_quits_and_help_opens_and_closes() {
    let mut app = app_with(vec![]);
    keys(&mut app, &[Key::Char('?')]);
    assert_eq!(app.dialog, Dialog::Help);
    // In a dialog q is not quit.
    assert!(keys(&mut app, &[Key::Char('q')]).is_empty());
    assert!(!app.should_quit());
    keys(&mut app, &[Key::Char('?'), Key::Esc]);
    assert_eq!(keys(&mut app, &[Key::Char('q')]), vec![Command::Quit]);
    assert!(app.should_quit());
}

#[test]
fn a_dialog_about_a_torrent_that_went_away_closes() {
    for opener in ['d', 'o'] {
        let two = || Snapshot {
            torrents: vec![
                torrent(1, "a", TorrentState::Seeding),
                torrent(2, "b", TorrentState::Seeding),
            ],
            ..Snapshot::default()
        };
        let mut app = App::new();
        app.update(Action::Snapshot(two()));
        app.update(Action::Key(Key::Char(opener)));
        assert_ne!(app.dialog, Dialog::None);
        let mut gone = two();
        gone.torrents.remove(0);
        app.update(Action::Snapshot(gone));
        assert_eq!(app.dialog, Dialog::None, "after {opener}");
        assert_eq!(app.status, "that torrent has gone");
        // The confirming key now does nothing to any torrent.
        assert!(app.update(Action::Key(Key::Char('D'))).is_empty());
    }
}
