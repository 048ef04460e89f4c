//! The runner: the only module that touches the terminal.
//!
//! `ratatui::try_init` puts the terminal in raw mode on the alternate
//! screen and installs a panic hook that restores it, so the terminal is
//! left clean on `q`, on an error and after a panic. The loop waits for a
//! key with a timeout (no busy loop), takes every snapshot that arrived,
//! and redraws only when something changed; ratatui draws only the cells
//! that differ, so there is no flicker.

use std::io;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Duration;

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::DefaultTerminal;

use crate::app::{Action, App, Command, Key};
use crate::model::Snapshot;
use crate::view::view;

/// How long to wait for a key before looking for snapshots again.
const POLL: Duration = Duration::from_millis(100);

/// Run the TUI until the user quits or `snapshots` closes. Each command
/// the app produces is handed to `on_command` (which may report back with
/// `App::set_status`); `Command::Quit` is handed over too, then the run
/// ends.
pub fn run(
    snapshots: Receiver<Snapshot>,
    mut on_command: impl FnMut(Command, &mut App),
) -> io::Result<()> {
    let mut terminal = ratatui::try_init()?;
    let result = run_loop(&mut terminal, &snapshots, &mut on_command);
    ratatui::restore();
    result
}

fn run_loop(
    terminal: &mut DefaultTerminal,
    snapshots: &Receiver<Snapshot>,
    on_command: &mut impl FnMut(Command, &mut App),
) -> io::Result<()> {
    let mut app = App::new();
    let mut dirty = true;
    loop {
        if dirty {
            terminal.draw(|f| view(&app, f))?;
            dirty = false;
        }
        if event::poll(POLL)? {
            match event::read()? {
                Event::Key(k) if k.kind == KeyEventKind::Press => {
                    if let Some(key) = key_of(k) {
                        for cmd in app.update(Action::Key(key)) {
                            let quit = cmd == Command::Quit;
                            on_command(cmd, &mut app);
                            if quit {
                                return Ok(());
                            }
                        }
                        dirty = true;
                    }
                }
                Event::Resize(..) => dirty = true,
                _ => {}
            }
        }
        loop {
            match snapshots.try_recv() {
                Ok(s) => {
                    if s != app.snapshot {
                        app.update(Action::Snapshot(s));
                        dirty = true;
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Ok(()),
            }
        }
    }
}

/// The app's key for a terminal key event (Ctrl-C quits like `q`).
pub fn key_of(k: KeyEvent) -> Option<Key> {
    if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
        return Some(Key::Char('q'));
    }
    Some(match k.code {
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Tab => Key::Tab,
        KeyCode::Backspace => Key::Backspace,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_and_ctrl_c_quits() {
        let k = |code, m| KeyEvent::new(code, m);
        assert_eq!(
            key_of(k(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Key::Char('q'))
        );
        assert_eq!(
            key_of(k(KeyCode::Char('s'), KeyModifiers::NONE)),
            Some(Key::Char('s'))
        );
        assert_eq!(
            key_of(k(KeyCode::Enter, KeyModifiers::NONE)),
            Some(Key::Enter)
        );
        assert_eq!(key_of(k(KeyCode::F(1), KeyModifiers::NONE)), None);
    }
}
