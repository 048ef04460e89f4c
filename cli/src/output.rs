//! What the commands print: sizes, one-line torrent statuses, the lines
//! printed at completion, and progress bars on a terminal.

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use riffle_client::engine::{TorrentHandle, TorrentState, TorrentStatus};

/// Bytes in binary units, e.g. "64.0 MiB".
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// One line of plain status.
pub fn status_line(st: &TorrentStatus) -> String {
    let state = match &st.state {
        TorrentState::Checking => format!("checking {}/{}", st.checked_pieces, st.piece_count),
        TorrentState::Downloading => "downloading".into(),
        TorrentState::Seeding => "seeding".into(),
        TorrentState::Paused => "paused".into(),
        TorrentState::Stopped => "stopped".into(),
        TorrentState::Failed(e) => format!("failed: {e}"),
    };
    format!(
        "{}: {} {:.1}% {}/{} pieces, down {}/s up {}/s, {} peers ({} seeds), downloaded {} uploaded {}{}{}{}",
        st.name,
        state,
        st.progress() * 100.0,
        st.have_pieces,
        st.piece_count,
        human_bytes(st.download_rate),
        human_bytes(st.upload_rate),
        st.peers.len(),
        st.seeds,
        human_bytes(st.downloaded),
        human_bytes(st.uploaded),
        if st.banned > 0 {
            format!(", {} banned", st.banned)
        } else {
            String::new()
        },
        one_club_note(st),
        exchange_note(st),
    )
}

/// ", upload share 42% (300.0 KiB/s), cpm 3.20 at tau 8.0 s" when the
/// swarm allocation caps this torrent or its CPM has been measured.
pub fn exchange_note(st: &TorrentStatus) -> String {
    exchange_text(
        st.upload_share,
        st.share_rate,
        st.cpm,
        st.cpm_tau.as_secs_f64(),
    )
    .map_or_else(String::new, |t| format!(", {t}"))
}

/// "upload share 42% (300.0 KiB/s), cpm 3.20 at tau 8.0 s", or the part
/// that is known (None: neither).
pub fn exchange_text(
    share: Option<f64>,
    rate: u64,
    cpm: Option<f64>,
    tau_secs: f64,
) -> Option<String> {
    let mut parts = Vec::new();
    if let (Some(share), true) = (share, rate > 0) {
        parts.push(format!(
            "upload share {:.0}% ({}/s)",
            share * 100.0,
            human_bytes(rate)
        ));
    }
    if let Some(c) = cpm {
        parts.push(format!("cpm {c:.2} at tau {tau_secs:.1} s"));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// ", one club: throttled to R/s (T s, B sent throttled)" while we hold
/// every piece but one, and the totals once we have left the club.
pub fn one_club_note(st: &TorrentStatus) -> String {
    let secs = st.one_club_time.as_secs_f64();
    if st.one_club {
        if st.throttled {
            format!(
                ", one club: throttled to {}/s ({secs:.1} s, {} sent throttled)",
                human_bytes(st.upload_limit),
                human_bytes(st.uploaded_throttled)
            )
        } else {
            format!(", one club ({secs:.1} s)")
        }
    } else if secs > 0.0 {
        format!(
            ", was in the one club {secs:.1} s ({} sent throttled)",
            human_bytes(st.uploaded_throttled)
        )
    } else {
        String::new()
    }
}

/// The line printed when a torrent completes.
pub fn summary_line(st: &TorrentStatus, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-3);
    format!(
        "complete: {} ({}) in {:.1} s, {}/s; at start {} pieces trusted from the resume record, {} hashed; downloaded {}, wasted {}, {} hash failures",
        st.name,
        human_bytes(st.total_bytes),
        secs,
        human_bytes((st.downloaded as f64 / secs) as u64),
        st.trusted_pieces,
        st.hashed_pieces,
        human_bytes(st.downloaded),
        human_bytes(st.wasted),
        st.hash_failures,
    )
}

/// The line printed when a torrent is complete from the start (seeding
/// data already on disk).
pub fn ready_line(st: &TorrentStatus) -> String {
    format!(
        "ready: {} ({}), all {} pieces verified; at start {} pieces trusted from the resume record, {} hashed",
        st.name,
        human_bytes(st.total_bytes),
        st.piece_count,
        st.trusted_pieces,
        st.hashed_pieces,
    )
}

/// Progress bars on a terminal, one per torrent.
pub struct Bars {
    multi: MultiProgress,
    bars: Vec<ProgressBar>,
}

impl Bars {
    pub fn new(handles: &[TorrentHandle]) -> Bars {
        let multi = MultiProgress::new();
        let style =
            ProgressStyle::with_template("{prefix:20!} {bar:30} {bytes}/{total_bytes} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bars = handles
            .iter()
            .map(|h| {
                let st = h.status().borrow().clone();
                let b = multi.add(ProgressBar::new(st.total_bytes.max(1)));
                b.set_style(style.clone());
                b.set_prefix(st.name.clone());
                b
            })
            .collect();
        Bars { multi, bars }
    }

    pub fn update(&self, statuses: &[TorrentStatus]) {
        for (b, st) in self.bars.iter().zip(statuses) {
            b.set_position(st.have_bytes);
            let state = match &st.state {
                TorrentState::Checking => {
                    format!("checking {}/{}", st.checked_pieces, st.piece_count)
                }
                TorrentState::Downloading => "downloading".into(),
                TorrentState::Seeding => "seeding".into(),
                TorrentState::Paused => "paused".into(),
                TorrentState::Stopped => "stopped".into(),
                TorrentState::Failed(e) => format!("failed: {e}"),
            };
            b.set_message(format!(
                "{state} ↓{}/s ↑{}/s {} peers",
                human_bytes(st.download_rate),
                human_bytes(st.upload_rate),
                st.peers.len()
            ));
        }
    }

    pub fn println(&self, line: &str) {
        let _ = self.multi.println(line);
    }
}
