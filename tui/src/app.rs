//! The TUI's state and its pure `update`: snapshots and keys in, commands
//! for the client out. No I/O, no clock.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;

use crate::model::{Snapshot, TorrentState, PICKERS, SEED_CHOKERS};

/// Rate samples kept per torrent for the sparklines.
pub const HISTORY: usize = 120;

/// A key, independent of the terminal library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// A printable character.
    Char(char),
    /// Enter.
    Enter,
    /// Escape.
    Esc,
    /// Arrow up.
    Up,
    /// Arrow down.
    Down,
    /// Tab (next field).
    Tab,
    /// Backspace.
    Backspace,
}

/// What happens to the app.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A new picture of the session.
    Snapshot(Snapshot),
    /// The user pressed a key.
    Key(Key),
}

/// A change of policy on a running torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyChange {
    /// Switch the piece picker (a `--picker` name).
    Picker(String),
    /// Switch the seed choker (a `--seed-choker` name).
    SeedChoker(String),
    /// One-club rate mu' in bytes/s (0 = off).
    OneClubRate(u64),
}

/// What the client must do on the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Add the torrent file at this path.
    AddTorrent(PathBuf),
    /// Pause a torrent.
    Pause(u64),
    /// Resume a paused torrent.
    Resume(u64),
    /// Remove a torrent, deleting its data if asked.
    Remove {
        /// The torrent.
        id: u64,
        /// Delete its files too.
        delete_data: bool,
    },
    /// Session-wide limits in bytes/s (0 = none).
    SetSessionLimits {
        /// Download limit.
        download: u64,
        /// Upload limit.
        upload: u64,
    },
    /// Change a torrent's policy.
    SetPolicy {
        /// The torrent.
        id: u64,
        /// The change.
        change: PolicyChange,
    },
    /// Leave the TUI.
    Quit,
}

/// Which screen is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Screen {
    /// Every torrent, one per line.
    #[default]
    List,
    /// The selected torrent in full.
    Detail,
}

/// A dialog over the screen.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Dialog {
    /// None.
    #[default]
    None,
    /// Every key.
    Help,
    /// The path of a torrent to add.
    AddTorrent(String),
    /// Remove this torrent?
    ConfirmRemove(u64),
    /// Session limits in KiB/s: download, upload, which field is edited.
    Limits(String, String, usize),
    /// One-club rate in KiB/s for this torrent.
    OneClubRate(u64, String),
}

/// The whole TUI state.
#[derive(Clone, Debug, Default)]
pub struct App {
    /// The latest snapshot.
    pub snapshot: Snapshot,
    /// Index of the selected torrent in the snapshot.
    pub selected: usize,
    /// The screen shown.
    pub screen: Screen,
    /// The dialog over it.
    pub dialog: Dialog,
    /// Download/upload rate history per torrent id (newest last).
    pub history: HashMap<u64, (VecDeque<u64>, VecDeque<u64>)>,
    /// A line for the status bar (results, errors).
    pub status: String,
    /// First row of the detail screen's peers table (Up/Down scroll it).
    pub peer_scroll: usize,
    quit: bool,
}

impl App {
    /// A fresh app with an empty session.
    pub fn new() -> App {
        App::default()
    }

    /// Has the user asked to quit?
    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// Show a line in the status bar.
    pub fn set_status(&mut self, msg: impl Into<String>) {
        self.status = msg.into();
    }

    /// The selected torrent's id, if any.
    pub fn selected_id(&self) -> Option<u64> {
        self.snapshot.torrents.get(self.selected).map(|t| t.id)
    }

    /// Apply an action; returns what the client must run. Pure.
    pub fn update(&mut self, action: Action) -> Vec<Command> {
        match action {
            Action::Snapshot(s) => {
                self.take_snapshot(s);
                Vec::new()
            }
            Action::Key(k) => self.on_key(k),
        }
    }

    fn take_snapshot(&mut self, s: Snapshot) {
        let keep = self.selected_id();
        for t in &s.torrents {
            let (down, up) = self.history.entry(t.id).or_default();
            down.push_back(t.download_rate);
            up.push_back(t.upload_rate);
            while down.len() > HISTORY {
                down.pop_front();
            }
            while up.len() > HISTORY {
                up.pop_front();
            }
        }
        self.history
            .retain(|id, _| s.torrents.iter().any(|t| t.id == *id));
        // Keep the same torrent selected if it is still there.
        self.selected = keep
            .and_then(|id| s.torrents.iter().position(|t| t.id == id))
            .unwrap_or(self.selected)
            .min(s.torrents.len().saturating_sub(1));
        if s.torrents.is_empty() {
            self.screen = Screen::List;
        }
        // A dialog about a torrent that has gone meanwhile closes: its
        // answer would act on nothing (or, later, on the wrong torrent).
        if let Dialog::ConfirmRemove(id) | Dialog::OneClubRate(id, _) = self.dialog {
            if !s.torrents.iter().any(|t| t.id == id) {
                self.dialog = Dialog::None;
                self.status = "that torrent has gone".into();
            }
        }
        self.snapshot = s;
    }

    fn on_key(&mut self, key: Key) -> Vec<Command> {
        if self.dialog != Dialog::None {
            return self.on_dialog_key(key);
        }
        let id = self.selected_id();
        match key {
            Key::Char('q') => {
                self.quit = true;
                vec![Command::Quit]
            }
            Key::Char('?') => {
                self.dialog = Dialog::Help;
                Vec::new()
            }
            // In the detail screen the arrows scroll the peers table.
            Key::Up | Key::Char('k') if self.screen == Screen::Detail => {
                self.peer_scroll = self.peer_scroll.saturating_sub(1);
                Vec::new()
            }
            Key::Down | Key::Char('j') if self.screen == Screen::Detail => {
                let peers = self
                    .snapshot
                    .torrents
                    .get(self.selected)
                    .map_or(0, |t| t.peer_list.len());
                self.peer_scroll = (self.peer_scroll + 1).min(peers.saturating_sub(1));
                Vec::new()
            }
            Key::Up | Key::Char('k') => {
                self.selected = self.selected.saturating_sub(1);
                Vec::new()
            }
            Key::Down | Key::Char('j') => {
                let last = self.snapshot.torrents.len().saturating_sub(1);
                self.selected = (self.selected + 1).min(last);
                Vec::new()
            }
            Key::Enter if id.is_some() => {
                self.screen = Screen::Detail;
                self.peer_scroll = 0;
                Vec::new()
            }
            Key::Esc => {
                self.screen = Screen::List;
                Vec::new()
            }
            Key::Char('a') => {
                self.dialog = Dialog::AddTorrent(String::new());
                Vec::new()
            }
            Key::Char('l') => {
                let kib = |b: u64| {
                    if b == 0 {
                        String::new()
                    } else {
                        (b / 1024).to_string()
                    }
                };
                self.dialog = Dialog::Limits(
                    kib(self.snapshot.download_limit),
                    kib(self.snapshot.upload_limit),
                    0,
                );
                Vec::new()
            }
            Key::Char('p') => match self.snapshot.torrents.get(self.selected) {
                Some(t) if t.state == TorrentState::Paused => vec![Command::Resume(t.id)],
                Some(t) => vec![Command::Pause(t.id)],
                None => Vec::new(),
            },
            Key::Char('d') => {
                if let Some(id) = id {
                    self.dialog = Dialog::ConfirmRemove(id);
                }
                Vec::new()
            }
            Key::Char('s') => self.cycle(
                |t| &t.policies.seed_choker,
                &SEED_CHOKERS,
                PolicyChange::SeedChoker,
            ),
            Key::Char('P') => self.cycle(|t| &t.policies.picker, &PICKERS, PolicyChange::Picker),
            Key::Char('o') => {
                if let Some(t) = self.snapshot.torrents.get(self.selected) {
                    let now = t.policies.one_club_rate / 1024;
                    self.dialog = Dialog::OneClubRate(t.id, now.to_string());
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// The next name after the selected torrent's current one in `names`.
    fn cycle(
        &self,
        current: impl Fn(&crate::model::TorrentView) -> &String,
        names: &[&str],
        make: impl Fn(String) -> PolicyChange,
    ) -> Vec<Command> {
        let Some(t) = self.snapshot.torrents.get(self.selected) else {
            return Vec::new();
        };
        let at = names.iter().position(|n| n == current(t));
        let next = names[at.map_or(0, |i| (i + 1) % names.len())];
        vec![Command::SetPolicy {
            id: t.id,
            change: make(next.to_string()),
        }]
    }

    fn on_dialog_key(&mut self, key: Key) -> Vec<Command> {
        if key == Key::Esc {
            self.dialog = Dialog::None;
            return Vec::new();
        }
        let dialog = std::mem::take(&mut self.dialog);
        match dialog {
            Dialog::None | Dialog::Help => Vec::new(),
            Dialog::ConfirmRemove(id) => match key {
                Key::Char('y') => vec![Command::Remove {
                    id,
                    delete_data: false,
                }],
                Key::Char('D') => vec![Command::Remove {
                    id,
                    delete_data: true,
                }],
                Key::Char('n') => Vec::new(),
                _ => {
                    self.dialog = Dialog::ConfirmRemove(id);
                    Vec::new()
                }
            },
            Dialog::AddTorrent(mut path) => match key {
                Key::Enter if !path.trim().is_empty() => {
                    vec![Command::AddTorrent(PathBuf::from(path.trim()))]
                }
                _ => {
                    edit(&mut path, key, |_| true);
                    self.dialog = Dialog::AddTorrent(path);
                    Vec::new()
                }
            },
            Dialog::Limits(mut down, mut up, field) => match key {
                Key::Enter => vec![Command::SetSessionLimits {
                    download: kib_to_bytes(&down),
                    upload: kib_to_bytes(&up),
                }],
                Key::Tab => {
                    self.dialog = Dialog::Limits(down, up, 1 - field.min(1));
                    Vec::new()
                }
                _ => {
                    let text = if field == 0 { &mut down } else { &mut up };
                    edit(text, key, |c| c.is_ascii_digit());
                    self.dialog = Dialog::Limits(down, up, field);
                    Vec::new()
                }
            },
            Dialog::OneClubRate(id, mut text) => match key {
                Key::Enter => vec![Command::SetPolicy {
                    id,
                    change: PolicyChange::OneClubRate(kib_to_bytes(&text)),
                }],
                _ => {
                    edit(&mut text, key, |c| c.is_ascii_digit());
                    self.dialog = Dialog::OneClubRate(id, text);
                    Vec::new()
                }
            },
        }
    }
}

/// Type into a text field: characters `ok` accepts, Backspace.
fn edit(text: &mut String, key: Key, ok: impl Fn(char) -> bool) {
    match key {
        Key::Char(c) if ok(c) && text.len() < 4096 => text.push(c),
        Key::Backspace => {
            text.pop();
        }
        _ => {}
    }
}

/// KiB/s typed by the user to bytes/s (empty or unparsable: 0 = none).
fn kib_to_bytes(text: &str) -> u64 {
    text.trim()
        .parse::<u64>()
        .ok()
        .and_then(|k| k.checked_mul(1024))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
