//! Drawing: the screens from the `App` alone (no clock, no I/O), so the
//! same model always draws the same picture.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Sparkline, Table, Wrap};
use ratatui::Frame;

use crate::app::{App, Dialog, Screen};
use crate::model::{PieceState, TorrentState, TorrentView};

/// Every key, for the help screen and its test.
pub const KEYS: [(&str, &str); 13] = [
    (
        "Up/Down, j/k",
        "select a torrent; in the detail, scroll the peers",
    ),
    ("Enter", "open the torrent's detail"),
    ("Esc", "back to the list / close a dialog"),
    ("a", "add a torrent (path to a .torrent file)"),
    ("p", "pause / resume the selected torrent"),
    ("d", "remove it (asks: y keeps the data, D deletes it)"),
    ("l", "session rate limits (KiB/s, Tab switches field)"),
    (
        "s",
        "next seed choker (round-robin ... most-deprived, random)",
    ),
    (
        "P",
        "next piece picker (rarest-first, random-useful, sequential)",
    ),
    ("o", "one-club rate mu' in KiB/s (0 = off)"),
    ("?", "this help"),
    ("q", "quit"),
    ("Backspace", "edit a field"),
];

/// Bytes as text: "512 B", "1.5 KiB", "64.0 MiB".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// A rate as text ("-" for nothing).
pub fn rate(n: u64) -> String {
    if n == 0 {
        "-".into()
    } else {
        format!("{}/s", bytes(n))
    }
}

fn limit(n: u64) -> String {
    if n == 0 {
        "unlimited".into()
    } else {
        format!("{}/s", bytes(n))
    }
}

fn state(s: &TorrentState) -> String {
    match s {
        TorrentState::Checking => "checking".into(),
        TorrentState::Downloading => "downloading".into(),
        TorrentState::Seeding => "seeding".into(),
        TorrentState::Paused => "paused".into(),
        TorrentState::Stopped => "stopped".into(),
        TorrentState::Failed(e) => format!("failed: {e}"),
    }
}

fn ratio(t: &TorrentView) -> String {
    let base = if t.downloaded > 0 {
        t.downloaded
    } else {
        t.size
    };
    if base == 0 {
        "-".into()
    } else {
        format!("{:.2}", t.uploaded as f64 / base as f64)
    }
}

/// Draw the app.
pub fn view(app: &App, frame: &mut Frame) {
    let area = frame.area();
    // Two columns hold nothing readable, and ratatui's wrapping puts a
    // wide character that lands on the second column outside the buffer.
    if area.width < 3 || area.height < 3 {
        return;
    }
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let s = &app.snapshot;
    let with_limit = |rate_now: u64, max: u64| {
        if max == 0 {
            rate(rate_now)
        } else {
            format!("{} (max {})", rate(rate_now), rate(max))
        }
    };
    frame.render_widget(
        Paragraph::new(format!(
            "riffle {}  down {}  up {}",
            s.listen,
            with_limit(
                s.torrents
                    .iter()
                    .map(|t| t.download_rate)
                    .fold(0, u64::saturating_add),
                s.download_limit
            ),
            with_limit(
                s.torrents
                    .iter()
                    .map(|t| t.upload_rate)
                    .fold(0, u64::saturating_add),
                s.upload_limit
            ),
        ))
        .style(Style::default().add_modifier(Modifier::REVERSED)),
        header,
    );
    match (app.screen, s.torrents.get(app.selected)) {
        (Screen::Detail, Some(t)) => detail(app, t, frame, body),
        _ => list(app, frame, body),
    }
    let hint = if app.status.is_empty() {
        "? help  q quit".to_string()
    } else {
        format!("{}  |  ? help  q quit", app.status)
    };
    frame.render_widget(Paragraph::new(hint), footer);
    dialog(app, frame, area);
}

/// The policies of a torrent in one line.
fn policies_line(t: &TorrentView) -> String {
    format!(
        "picker {}  choker {}  seed choker {}  one-club rate {}",
        t.policies.picker,
        t.policies.choker,
        t.policies.seed_choker,
        if t.policies.one_club_rate == 0 {
            "off".to_string()
        } else {
            rate(t.policies.one_club_rate)
        },
    )
}

/// From this width the list has a policies column; below it the selected
/// torrent's policies show on the line under the table only.
const WIDE: u16 = 120;

fn list(app: &App, frame: &mut Frame, area: Rect) {
    let wide = area.width >= WIDE;
    let [table_area, selected_area] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(2)]).areas(area);
    let rows = app.snapshot.torrents.iter().enumerate().map(|(i, t)| {
        let style = if i == app.selected {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
        };
        let mut cells = vec![
            Cell::from(t.name.clone()),
            Cell::from(bytes(t.size)),
            Cell::from(format!("{:.1}%", t.progress * 100.0)),
            Cell::from(rate(t.download_rate)),
            Cell::from(rate(t.upload_rate)),
            Cell::from(format!("{} ({})", t.peers, t.seeds)),
            Cell::from(ratio(t)),
            Cell::from(state(&t.state)),
        ];
        if wide {
            cells.push(Cell::from(format!(
                "{} / {}{}",
                t.policies.picker,
                t.policies.seed_choker,
                if t.policies.one_club_rate > 0 {
                    format!(" / one club {}", rate(t.policies.one_club_rate))
                } else {
                    String::new()
                }
            )));
        }
        Row::new(cells).style(style)
    });
    let mut widths = vec![
        Constraint::Min(12),
        Constraint::Length(9),
        Constraint::Length(6),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(7),
        Constraint::Length(5),
        Constraint::Length(11),
    ];
    let mut header = vec![
        "name", "size", "done", "down", "up", "peers", "ratio", "state",
    ];
    if wide {
        widths.push(Constraint::Fill(2));
        header.push("policies");
    }
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(Style::default().add_modifier(Modifier::BOLD)))
        .block(Block::default().borders(Borders::ALL).title(" torrents "));
    frame.render_widget(table, table_area);
    if app.snapshot.torrents.is_empty() && table_area.height > 2 {
        let inner = Rect::new(
            table_area.x + 2,
            table_area.y + 2,
            table_area.width.saturating_sub(4),
            1,
        );
        frame.render_widget(Paragraph::new("no torrents: a adds one"), inner);
    }
    if let Some(t) = app.snapshot.torrents.get(app.selected) {
        let line = format!("{}: {}", t.name, policies_line(t));
        frame.render_widget(
            Paragraph::new(line).wrap(Wrap { trim: false }),
            selected_area,
        );
    }
}

fn detail(app: &App, t: &TorrentView, frame: &mut Frame, area: Rect) {
    let mut lines = vec![
        Line::from(format!(
            "{}  {}  {:.1}%  {}  down {} up {}  ratio {}",
            t.name,
            bytes(t.size),
            t.progress * 100.0,
            state(&t.state),
            rate(t.download_rate),
            rate(t.upload_rate),
            ratio(t)
        )),
        Line::from(policies_line(t)),
        Line::from(format!(
            "torrent limits: down {}, up {}",
            limit(t.download_limit),
            limit(t.upload_limit)
        )),
    ];
    if t.one_club {
        lines.push(Line::from(Span::styled(
            format!(
                "in the one club{} ({:.0} s, {} sent throttled)",
                if t.throttled { ", throttled" } else { "" },
                t.one_club_time_secs,
                bytes(t.uploaded_throttled)
            ),
            Style::default().fg(Color::Yellow),
        )));
    }
    for tr in &t.trackers {
        lines.push(Line::from(format!("tracker: {tr}")));
    }
    if let Some(d) = &t.dht {
        lines.push(Line::from(format!("dht: {d}")));
    }
    if let Some(x) = &t.exchange {
        lines.push(Line::from(format!("swarms: {x}")));
    }
    // Long lines wrap; the block grows with them, up to a third of the
    // screen, leaving the rest to the map, the sparklines and the peers.
    let width = area.width.max(1) as usize;
    let wrapped: usize = lines.iter().map(|l| l.width().max(1).div_ceil(width)).sum();
    let info_height = (wrapped as u16).min(area.height / 3).max(1);
    // The map takes one row of cells when every piece fits on it, else two.
    let map_rows = if t.pieces.len() <= area.width.saturating_sub(2) as usize {
        1
    } else {
        2
    };
    let [info, map, spark, peers] = Layout::vertical([
        Constraint::Length(info_height),
        Constraint::Length(map_rows + 2),
        Constraint::Length(3),
        Constraint::Min(3),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), info);
    frame.render_widget(piece_map(t, map.width.saturating_sub(2) as usize), map);
    let [d, u] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(spark);
    if let Some((down, up)) = app.history.get(&t.id) {
        let dv: Vec<u64> = down.iter().copied().collect();
        let uv: Vec<u64> = up.iter().copied().collect();
        frame.render_widget(
            Sparkline::default()
                .block(Block::default().borders(Borders::TOP).title(" down "))
                .data(&dv[dv.len().saturating_sub(d.width as usize)..]),
            d,
        );
        frame.render_widget(
            Sparkline::default()
                .block(Block::default().borders(Borders::TOP).title(" up "))
                .data(&uv[uv.len().saturating_sub(u.width as usize)..]),
            u,
        );
    }
    // Most complete first (the one club on top), then by address; the
    // arrows scroll.
    let mut sorted: Vec<&crate::model::PeerRow> = t.peer_list.iter().collect();
    sorted.sort_by(|a, b| {
        b.progress
            .total_cmp(&a.progress)
            .then_with(|| a.addr.cmp(&b.addr))
    });
    let skip = app.peer_scroll.min(sorted.len().saturating_sub(1));
    let shown = peers.height.saturating_sub(3) as usize;
    let rows = sorted.iter().skip(skip).map(|p| {
        let mut flags = Vec::new();
        if !p.am_choking {
            flags.push("U"); // we upload to it
        }
        if !p.peer_choking && p.am_interested {
            flags.push("D"); // it uploads to us
        }
        if p.peer_interested {
            flags.push("i");
        }
        if p.snubbed {
            flags.push("snub");
        }
        Row::new(vec![
            Cell::from(p.addr.clone()),
            Cell::from(p.client.clone()),
            Cell::from(format!("{:.0}%", p.progress * 100.0)),
            Cell::from(rate(p.download_rate)),
            Cell::from(rate(p.upload_rate)),
            Cell::from(flags.join(" ")),
            Cell::from(if p.one_club { "club" } else { "" }),
        ])
        .style(if p.one_club {
            Style::default().fg(Color::Yellow)
        } else {
            Style::default()
        })
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(21),
            Constraint::Length(12),
            Constraint::Length(5),
            Constraint::Length(11),
            Constraint::Length(11),
            Constraint::Length(10),
            Constraint::Length(5),
        ],
    )
    .header(
        Row::new(vec![
            "peer", "client", "has", "down", "up", "flags", "1club",
        ])
        .style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .block(
        Block::default()
            .borders(Borders::ALL)
            .title(if sorted.len() > shown {
                format!(
                    " peers {} ({} seeds), {}-{} (Up/Down) ",
                    t.peers,
                    t.seeds,
                    skip + 1,
                    (skip + shown).min(sorted.len())
                )
            } else {
                format!(" peers {} ({} seeds) ", t.peers, t.seeds)
            }),
    );
    frame.render_widget(table, peers);
}

/// The piece map: one cell per piece (or per group of pieces when they do
/// not fit). `#` ours, `*` ours and among the swarm's rarest, `+`
/// downloading, `.` missing, `!` missing and among the rarest (or the one
/// club's missing piece). Colour shades by availability (how many
/// connected peers hold the piece), so a seed sees where the swarm is thin.
fn piece_map(t: &TorrentView, width: usize) -> Paragraph<'static> {
    let n = t.pieces.len();
    let rarest = t.pieces.iter().map(|p| p.availability).min().unwrap_or(0);
    let most = t.pieces.iter().map(|p| p.availability).max().unwrap_or(0);
    // Rarest means something only when some pieces are more common.
    let uneven = rarest < most;
    let cells = width.saturating_mul(2).max(1);
    let per = n.div_ceil(cells).max(1);
    let mut spans = Vec::new();
    for chunk in t.pieces.chunks(per) {
        let have = chunk.iter().all(|p| p.state == PieceState::Have);
        let down = chunk.iter().any(|p| p.state == PieceState::Downloading);
        let avail = chunk.iter().map(|p| p.availability).min().unwrap_or(0);
        let is_rarest = avail == rarest && (uneven || !have);
        let (glyph, style) = if have && is_rarest {
            (
                "*",
                Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
            )
        } else if have {
            ("#", Style::default().fg(shade(avail, most, Color::Green)))
        } else if down {
            ("+", Style::default().fg(Color::Cyan))
        } else if is_rarest || t.one_club {
            (
                "!",
                Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
            )
        } else {
            (".", Style::default().fg(shade(avail, most, Color::White)))
        };
        spans.push(Span::styled(glyph, style));
    }
    let title = if t.one_club {
        format!(" pieces ({n}): ! the one club's missing piece ")
    } else {
        format!(" pieces ({n}; rarest held by {rarest}) ")
    };
    let legend = " # ours  * ours, rarest  + downloading  . missing  ! missing, rarest ";
    Paragraph::new(Line::from(spans))
        .wrap(Wrap { trim: false })
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(title)
                .title_bottom(legend),
        )
}

/// Dimmer for pieces few peers hold, `full` for the best-spread ones.
fn shade(avail: u32, most: u32, full: Color) -> Color {
    if most == 0 || avail * 3 < most {
        Color::DarkGray
    } else if avail * 3 < most * 2 {
        Color::Gray
    } else {
        full
    }
}

fn dialog(app: &App, frame: &mut Frame, area: Rect) {
    let (title, lines): (&str, Vec<String>) = match &app.dialog {
        Dialog::None => return,
        Dialog::Help => (
            " keys ",
            KEYS.iter()
                .map(|(k, what)| format!("{k:<14} {what}"))
                .collect(),
        ),
        Dialog::AddTorrent(path) => (
            " add a torrent ",
            vec![format!("path: {path}_"), "Enter adds, Esc cancels".into()],
        ),
        Dialog::ConfirmRemove(id) => {
            let name = app
                .snapshot
                .torrents
                .iter()
                .find(|t| t.id == *id)
                .map_or("?".to_string(), |t| t.name.clone());
            (
                " remove ",
                vec![
                    format!("remove {name}?"),
                    "y remove (keep data)  D remove and delete data  n cancel".into(),
                ],
            )
        }
        Dialog::Limits(down, up, field) => (
            " session limits (KiB/s, empty = unlimited) ",
            vec![
                format!("download: {down}{}", if *field == 0 { "_" } else { "" }),
                format!("upload:   {up}{}", if *field == 1 { "_" } else { "" }),
                "Tab next field, Enter applies, Esc cancels".into(),
            ],
        ),
        Dialog::OneClubRate(_, text) => (
            " one-club rate (KiB/s, 0 = off) ",
            vec![format!("mu': {text}_"), "Enter applies, Esc cancels".into()],
        ),
    };
    let w = lines
        .iter()
        .map(|l| l.len())
        .max()
        .unwrap_or(10)
        .saturating_add(4)
        .min(area.width as usize) as u16;
    let h = (lines.len() as u16 + 2).min(area.height);
    let r = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines.join("\n")).block(Block::default().borders(Borders::ALL).title(title)),
        r,
    );
}

#[cfg(test)]
mod tests;
