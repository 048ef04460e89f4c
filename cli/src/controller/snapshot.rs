//! The engine's torrent status as the TUI's model shows it.

use riffle_client::engine::{TorrentOptions, TorrentState, TorrentStatus};
use riffle_tui::model::{self, PeerRow, PieceCell, PieceState, PolicyView, TorrentView};

use crate::output::human_bytes;

pub(super) fn limit_text(rate: u64) -> String {
    if rate == 0 {
        "unlimited".into()
    } else {
        format!("{}/s", human_bytes(rate))
    }
}

/// The TUI's view of one torrent.
pub fn torrent_view(id: u64, st: &TorrentStatus, options: &TorrentOptions) -> TorrentView {
    // What the torrent runs now, as it reports it.
    let p = st.policy_values.as_ref().unwrap_or(&options.policies);
    let pieces = (0..st.piece_count)
        .map(|i| {
            let idx = riffle_protocol::PieceIndex::new(i);
            let info = st.pieces.get(i as usize);
            PieceCell {
                state: if st.have.has(idx) {
                    PieceState::Have
                } else if info.is_some_and(|x| x.downloading) {
                    PieceState::Downloading
                } else {
                    PieceState::Missing
                },
                availability: info.map_or(0, |x| x.availability),
            }
        })
        .collect();
    TorrentView {
        id,
        name: st.name.clone(),
        size: st.total_bytes,
        progress: st.progress(),
        download_rate: st.download_rate,
        upload_rate: st.upload_rate,
        downloaded: st.downloaded,
        uploaded: st.uploaded,
        peers: st.peers.len(),
        seeds: st.seeds,
        state: match &st.state {
            TorrentState::Checking => model::TorrentState::Checking,
            TorrentState::Downloading => model::TorrentState::Downloading,
            TorrentState::Seeding => model::TorrentState::Seeding,
            TorrentState::Paused => model::TorrentState::Paused,
            TorrentState::Stopped => model::TorrentState::Stopped,
            TorrentState::Failed(e) => model::TorrentState::Failed(e.clone()),
        },
        policies: PolicyView {
            picker: p.picker.to_string(),
            choker: p.choker.to_string(),
            seed_choker: p.seed_choker.to_string(),
            one_club_rate: p.one_club_rate,
        },
        one_club: st.one_club,
        throttled: st.throttled,
        upload_limit: st.upload_limit,
        download_limit: st.download_limit,
        one_club_time_secs: st.one_club_time.as_secs_f64(),
        uploaded_throttled: st.uploaded_throttled,
        peer_list: st
            .peers
            .iter()
            .map(|q| PeerRow {
                addr: q.addr.to_string(),
                client: q.client.clone().unwrap_or_default(),
                progress: q.progress,
                download_rate: q.download_rate,
                upload_rate: q.upload_rate,
                am_choking: q.am_choking,
                am_interested: q.am_interested,
                peer_choking: q.peer_choking,
                peer_interested: q.peer_interested,
                snubbed: q.snubbed,
                one_club: q.one_club,
            })
            .collect(),
        pieces,
        trackers: st.tracker_lines(),
        dht: st.dht.clone(),
        exchange: crate::output::exchange_text(
            st.upload_share,
            st.share_rate,
            st.cpm,
            st.cpm_tau.as_secs_f64(),
        ),
    }
}
