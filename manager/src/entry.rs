//! One torrent inside the manager: its durable record, whether it runs,
//! and what it shows.
//!
//! A torrent that does not run costs no task, no socket and no open file:
//! it is its metainfo, its record and its last known bitfield. Running it
//! starts a torrent in the engine's session; stopping it shuts that down
//! and folds its final counters into the record.

use std::sync::Arc;
use std::time::Instant;

use riffle_client::engine::{TorrentHandle, TorrentOptions, TorrentState, TorrentStatus};
use riffle_client::watch;
use riffle_policies::queue::Wants;
use riffle_protocol::magnet::Magnet;
use riffle_protocol::metainfo::Metainfo;
use riffle_protocol::{Bitfield, PieceIndex};

use crate::info::{Activity, Detail, FileInfo, TorrentInfo};
use crate::record::TorrentRecord;
use crate::store::StateDir;

/// What to do once a torrent has stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AfterStop {
    /// Nothing: it stays stopped (or the queue starts it again).
    Nothing,
    /// Move its data to this directory, then carry on.
    Move(std::path::PathBuf),
}

/// What a look at a running torrent found.
pub(crate) struct Look {
    /// Its state.
    pub state: TorrentState,
    /// It published a snapshot since the last look.
    pub fresh: bool,
    /// Its state is not the one of the last look.
    pub changed: bool,
}

/// A running torrent.
pub(crate) struct Running {
    /// The engine's torrent.
    pub handle: TorrentHandle,
    /// Its snapshots.
    pub status: watch::Receiver<TorrentStatus>,
    /// Unix time it started.
    pub started: i64,
    /// Counters as last folded into the record (they count from zero in
    /// each run).
    pub seen_up: u64,
    /// Likewise, received.
    pub seen_down: u64,
    /// Likewise, wasted.
    pub seen_wasted: u64,
    /// Its state in the last snapshot looked at (None: none yet).
    pub state: Option<TorrentState>,
}

/// Whether the torrent runs.
pub(crate) enum Run {
    /// Not running.
    Idle,
    /// Running in the session.
    Running(Running),
    /// Shutting down; the manager hears when it is done.
    Stopping {
        /// Its last snapshots, for the final counters.
        status: watch::Receiver<TorrentStatus>,
        /// Counters already folded.
        seen: (u64, u64, u64),
        /// What comes next.
        then: AfterStop,
    },
    /// Its data is being moved (it starts again from the new place).
    Moving,
}

/// One torrent.
pub(crate) struct Entry {
    /// Its metainfo.
    pub meta: Arc<Metainfo>,
    /// Its durable state; counters include what the current run folded.
    pub record: TorrentRecord,
    /// Whether it runs.
    pub run: Run,
    /// The local error that stopped it.
    pub error: Option<String>,
    /// Verified pieces, as last known.
    pub have: Bitfield,
    /// Pieces that touch a wanted file (from the record's files wanted).
    pub wanted: Bitfield,
    /// Started with "start now": bypasses the queue.
    pub forced: bool,
    /// Check every piece again at the next start (the resume record is
    /// dropped first).
    pub verify: bool,
    /// Started out of turn for a check: stop once it is done, and let the
    /// queue (or the user, if stopped) decide again.
    pub stop_after_check: bool,
    /// The record's settings or state changed since it was last saved
    /// (saved at once).
    pub dirty: bool,
    /// Its counters changed since they were last saved (saved now and
    /// then, and when it stops).
    pub counters_dirty: bool,
    /// The manager tick of the last look at it (for the seconds counted).
    pub last_look: u64,
    /// Looks in a row that found nothing new.
    pub quiet_looks: u32,
    /// Last time anything was received.
    pub last_download: Instant,
    /// Last time anything was sent (or it became a seed).
    pub last_upload: Instant,
}

impl Entry {
    /// A torrent that does not run yet.
    pub fn new(meta: Arc<Metainfo>, record: TorrentRecord, have: Bitfield) -> Entry {
        let now = Instant::now();
        let wanted = wanted_pieces(&meta, &record);
        Entry {
            wanted,
            meta,
            record,
            run: Run::Idle,
            error: None,
            have,
            forced: false,
            verify: false,
            stop_after_check: false,
            dirty: false,
            counters_dirty: false,
            last_look: 0,
            quiet_looks: 0,
            last_download: now,
            last_upload: now,
        }
    }

    /// Bytes in the torrent.
    pub fn total_size(&self) -> u64 {
        self.meta.info.total_length()
    }

    /// Verified bytes.
    pub fn have_bytes(&self) -> u64 {
        bytes_of(&self.meta, &self.have)
    }

    /// Every wanted piece verified.
    pub fn complete(&self) -> bool {
        !self.wanted.has_any_missing_from(&self.have)
    }

    /// The record's files wanted changed: which pieces are wanted again.
    pub fn rewant(&mut self) {
        self.wanted = wanted_pieces(&self.meta, &self.record);
    }

    /// What it wants of the queue.
    pub fn wants(&self) -> Wants {
        if self.record.paused || self.error.is_some() {
            Wants::Stopped
        } else if self.complete() {
            Wants::Seed
        } else {
            Wants::Download
        }
    }

    /// Does any file of it exist under its download directory?
    pub fn has_files_on_disk(&self) -> bool {
        riffle_client::engine::layout_paths(&self.meta, &self.record.download_dir)
            .map(|paths| paths.iter().any(|p| p.exists()))
            .unwrap_or(false)
    }

    /// Running in the session.
    pub fn is_running(&self) -> bool {
        matches!(self.run, Run::Running(_))
    }

    /// The engine options it runs with.
    pub fn options(&self, state: &StateDir, base: &TorrentOptions) -> TorrentOptions {
        let mut o = base.clone();
        o.save_dir = self.record.download_dir.clone();
        o.seed = true;
        o.max_peers = self.record.peer_limit.max(1);
        let (up, down) = self.record.rate_limits();
        o.max_upload_rate = up;
        o.max_download_rate = down;
        o.honor_session_limits = self.record.honors_session_limits;
        o.resume_dir = Some(state.resume_dir());
        o.peers.extend(
            self.record
                .extra_peers
                .iter()
                .filter_map(|p| p.parse::<std::net::SocketAddr>().ok()),
        );
        o.wanted_files = self
            .record
            .files_wanted
            .iter()
            .any(|w| !w)
            .then(|| self.record.files_wanted.clone());
        if let Some(p) = self.record.picker {
            o.policies.picker = p;
        }
        if let Some(c) = self.record.seed_choker {
            o.policies.seed_choker = c;
        }
        if let Some(r) = self.record.one_club_rate {
            o.policies.one_club_rate = r;
        }
        o
    }

    /// Fold what the run counted since the last look into the record;
    /// returns the bytes (up, down) added.
    pub fn fold_counters(&mut self) -> (u64, u64) {
        let Run::Running(r) = &mut self.run else {
            return (0, 0);
        };
        let (up, down, wasted) = {
            let st = r.status.borrow();
            (st.uploaded, st.downloaded, st.wasted)
        };
        let d_up = up.saturating_sub(r.seen_up);
        let d_down = down.saturating_sub(r.seen_down);
        let d_wasted = wasted.saturating_sub(r.seen_wasted);
        r.seen_up = r.seen_up.max(up);
        r.seen_down = r.seen_down.max(down);
        r.seen_wasted = r.seen_wasted.max(wasted);
        self.record.uploaded_ever += d_up;
        self.record.downloaded_ever += d_down;
        self.record.corrupt_ever += d_wasted;
        if d_up + d_down + d_wasted > 0 {
            self.counters_dirty = true;
        }
        (d_up, d_down)
    }

    /// Take the bitfield of a snapshot if it changed (not while checking:
    /// the bitfield is not known yet then).
    pub fn refresh_have(&mut self, st: &TorrentStatus) {
        if st.state != TorrentState::Checking
            && st.have.len() == self.have.len()
            && st.have.count_ones() == st.have_pieces
            && st.have != self.have
        {
            self.have = st.have.clone();
            self.record.have_valid = self.have_bytes();
            self.dirty = true;
        }
    }

    /// Look at a running torrent's latest snapshot: counters, bitfield,
    /// activity times, completion. Returns its state, and whether it is
    /// not the state of the last look. A torrent that published nothing
    /// new since the last look (an idle one) costs no more than counting
    /// its second.
    pub fn observe(&mut self, now: Instant, unix: i64, tick: u64) -> Option<Look> {
        let seconds = tick.saturating_sub(self.last_look).max(1);
        self.last_look = tick;
        let Run::Running(r) = &mut self.run else {
            return None;
        };
        let fresh = r.status.has_changed().unwrap_or(true);
        if let (false, Some(state)) = (fresh, &r.state) {
            let state = state.clone();
            self.count_seconds(&state, seconds);
            self.quiet_looks = self.quiet_looks.saturating_add(1);
            return Some(Look {
                state,
                fresh: false,
                changed: false,
            });
        }
        self.quiet_looks = 0;
        r.status.mark_unchanged();
        let (up, down) = self.fold_counters();
        let Run::Running(r) = &mut self.run else {
            return None;
        };
        let rx = r.status.clone();
        let st = rx.borrow();
        let changed = r.state.as_ref() != Some(&st.state);
        if changed {
            r.state = Some(st.state.clone());
        }
        if down > 0 {
            self.last_download = now;
        }
        if up > 0 {
            self.last_upload = now;
        }
        if up + down > 0 {
            self.record.activity_date = unix;
        }
        self.refresh_have(&st);
        self.count_seconds(&st.state, seconds);
        if st.state == TorrentState::Seeding && self.record.done_date == 0 {
            self.record.done_date = unix;
            self.last_upload = now;
            self.dirty = true;
        }
        Some(Look {
            state: st.state.clone(),
            fresh: true,
            changed,
        })
    }

    /// `n` more seconds downloading or seeding.
    fn count_seconds(&mut self, state: &TorrentState, n: u64) {
        match state {
            TorrentState::Downloading => self.record.seconds_downloading += n,
            TorrentState::Seeding => self.record.seconds_seeding += n,
            _ => {}
        }
    }

    /// What it is doing now. `queued` is the queue's verdict for a torrent
    /// that wants to run but does not.
    pub fn activity(&self) -> Activity {
        match &self.run {
            Run::Running(r) => match &r.status.borrow().state {
                TorrentState::Checking => Activity::Checking,
                TorrentState::Downloading => Activity::Downloading,
                TorrentState::Seeding => Activity::Seeding,
                _ => Activity::Stopped,
            },
            Run::Stopping { .. } | Run::Moving => Activity::Stopped,
            Run::Idle => match self.wants() {
                Wants::Stopped => Activity::Stopped,
                _ if self.verify => Activity::CheckWait,
                Wants::Download => Activity::DownloadWait,
                Wants::Seed => Activity::SeedWait,
            },
        }
    }

    /// The snapshot a front end shows.
    pub fn info(&self, state: &StateDir, detail: Detail, stalled: bool) -> TorrentInfo {
        let info = &self.meta.info;
        let total_size = self.total_size();
        // A running torrent's own snapshot is newer than the manager's
        // copy (taken once a tick), unless it is still checking.
        let live = match &self.run {
            Run::Running(r) => {
                let st = r.status.borrow();
                (st.state != TorrentState::Checking
                    && st.have.len() == self.have.len()
                    && st.have.count_ones() == st.have_pieces)
                    .then(|| st.have.clone())
            }
            _ => None,
        };
        let have = live.as_ref().unwrap_or(&self.have);
        let have_valid = match &live {
            Some(_) => bytes_of(&self.meta, have),
            None => self.have_bytes(),
        };
        let mut out = TorrentInfo {
            id: self.record.id,
            hash: self.meta.info_hash,
            name: info.name.clone(),
            record: self.record.clone(),
            activity: self.activity(),
            stalled,
            error: self.error.clone(),
            total_size,
            size_when_done: bytes_of(&self.meta, &self.wanted),
            left_until_done: missing_bytes(&self.meta, &self.wanted, have),
            have_valid,
            file_count: payload_files(info).len(),
            files_wanted: if self.record.files_wanted.iter().all(|w| *w) {
                Vec::new()
            } else {
                payload_files(info)
                    .into_iter()
                    .map(|i| self.record.wanted(i))
                    .collect()
            },
            piece_count: info.piece_count(),
            piece_size: info.piece_length,
            recheck_progress: 0.0,
            metadata_percent: 1.0,
            trusted_pieces: 0,
            hashed_pieces: 0,
            rate_download: 0,
            rate_upload: 0,
            peers_connected: 0,
            peers_sending_to_us: 0,
            peers_getting_from_us: 0,
            eta: None,
            start_date: 0,
            private: info.private,
            comment: self.meta.comment.clone().unwrap_or_default(),
            creator: self.meta.created_by.clone().unwrap_or_default(),
            date_created: self.meta.creation_date.unwrap_or(0),
            tiers: self.meta.trackers.clone(),
            webseeds: self.meta.url_list.clone(),
            magnet: Magnet {
                info_hash: self.meta.info_hash,
                info_hash_v2: self.meta.info_hash_v2,
                display_name: Some(info.name.clone()),
                trackers: self.meta.trackers.iter().flatten().cloned().collect(),
                peers: Vec::new(),
            }
            .to_uri(),
            torrent_file: state
                .root()
                .join("torrents")
                .join(format!("{}.torrent", self.meta.info_hash.to_hex())),
            policies: String::new(),
            policy_values: None,
            one_club: false,
            throttled: false,
            one_club_secs: 0.0,
            uploaded_throttled: 0,
            seeds: 0,
            dht: None,
            upload_share: None,
            share_rate: 0,
            cpm: None,
            cpm_tau: 0.0,
            limits: self.record.rate_limits(),
            downloading: Vec::new(),
            files: Vec::new(),
            peers: Vec::new(),
            have: None,
            availability: Vec::new(),
            trackers: Vec::new(),
        };
        if let Run::Running(r) = &self.run {
            let st = r.status.borrow();
            out.start_date = r.started;
            out.rate_download = st.download_rate;
            out.rate_upload = st.upload_rate;
            out.peers_connected = st.peers.len();
            out.peers_sending_to_us = st.peers.iter().filter(|p| p.download_rate > 0).count();
            out.peers_getting_from_us = st.peers.iter().filter(|p| p.upload_rate > 0).count();
            if st.state == TorrentState::Checking && st.piece_count > 0 {
                out.recheck_progress = f64::from(st.checked_pieces) / f64::from(st.piece_count);
            }
            if st.state == TorrentState::Downloading && st.download_rate > 0 {
                out.eta = Some(out.left_until_done / st.download_rate);
            }
            out.policies = st.policies.clone();
            out.policy_values = st.policy_values.clone();
            out.throttled = st.throttled;
            out.one_club_secs = st.one_club_time.as_secs_f64();
            out.uploaded_throttled = st.uploaded_throttled;
            out.seeds = st.seeds;
            out.dht = st.dht.clone();
            out.upload_share = st.upload_share;
            out.share_rate = st.share_rate;
            out.cpm = st.cpm;
            out.cpm_tau = st.cpm_tau.as_secs_f64();
            out.limits = (st.upload_limit, st.download_limit);
            if st.state != TorrentState::Checking {
                out.trusted_pieces = st.trusted_pieces;
                out.hashed_pieces = st.hashed_pieces;
            }
            out.one_club = st.one_club;
            if detail.peers {
                out.peers = st.peers.clone();
            }
            if detail.pieces {
                out.availability = st.pieces.iter().map(|p| p.availability).collect();
                out.downloading = st.pieces.iter().map(|p| p.downloading).collect();
            }
            if detail.trackers {
                out.trackers = st.tracker_stats.to_vec();
            }
        }
        if detail.pieces {
            out.have = Some(have.clone());
        }
        if detail.files {
            out.files = self.files(have);
        }
        out
    }

    /// Each file but BEP 47 pad files (in metainfo order: index `k` here is
    /// the `k`th payload file, [`payload_files`] maps it back) with the
    /// bytes of it held in verified pieces.
    fn files(&self, have: &Bitfield) -> Vec<FileInfo> {
        let info = &self.meta.info;
        let Ok(geometry) = info.geometry() else {
            return Vec::new();
        };
        let piece_len = u64::from(info.piece_length.max(1));
        let mut offset = 0u64;
        let mut out = Vec::new();
        for (i, f) in info.files.iter().enumerate() {
            let start = offset;
            let end = offset + f.length;
            offset = end;
            if f.pad {
                continue;
            }
            let mut done = 0u64;
            if f.length > 0 {
                let first = (start / piece_len) as u32;
                let last = ((end - 1) / piece_len) as u32;
                for p in first..=last {
                    let piece = PieceIndex::new(p);
                    if !have.has(piece) {
                        continue;
                    }
                    let p_start = u64::from(p) * piece_len;
                    let p_end = p_start + u64::from(geometry.length_of(piece));
                    done += p_end.min(end) - p_start.max(start);
                }
            }
            out.push(FileInfo {
                name: info.file_path(i).join("/"),
                length: f.length,
                bytes_completed: done,
                wanted: self.record.wanted(i),
            });
        }
        out
    }
}

/// The metainfo indices of the files users see (all but BEP 47 pad
/// files): the `k`th file of the RPC's lists is `payload_files(info)[k]`.
pub(crate) fn payload_files(info: &riffle_protocol::metainfo::Info) -> Vec<usize> {
    (0..info.files.len())
        .filter(|&i| !info.files[i].pad)
        .collect()
}

/// Bytes of the pieces set in `have`.
fn bytes_of(meta: &Metainfo, have: &Bitfield) -> u64 {
    match meta.info.geometry() {
        Ok(g) => {
            let full = u64::from(g.piece_length()) * u64::from(have.count_ones());
            let last = PieceIndex::new(g.piece_count().saturating_sub(1));
            if g.piece_count() > 0 && have.has(last) {
                full - u64::from(g.piece_length()) + u64::from(g.length_of(last))
            } else {
                full
            }
        }
        Err(_) => 0,
    }
}

/// Pieces touching a wanted file.
fn wanted_pieces(meta: &Metainfo, record: &TorrentRecord) -> Bitfield {
    let count = meta.info.piece_count();
    if record.files_wanted.iter().all(|w| *w) {
        return Bitfield::full(count);
    }
    let mut out = Bitfield::new(count);
    let piece_len = u64::from(meta.info.piece_length.max(1));
    let mut offset = 0u64;
    for (i, f) in meta.info.files.iter().enumerate() {
        let start = offset;
        offset += f.length;
        // A pad file's piece is the tail of the file before it.
        if f.length == 0 || f.pad || !record.wanted(i) {
            continue;
        }
        let first = (start / piece_len) as u32;
        let last = ((offset - 1) / piece_len) as u32;
        for p in first..=last.min(count.saturating_sub(1)) {
            out.set(PieceIndex::new(p), true);
        }
    }
    out
}

/// Bytes of the pieces in `wanted` that `have` lacks.
fn missing_bytes(meta: &Metainfo, wanted: &Bitfield, have: &Bitfield) -> u64 {
    let Ok(g) = meta.info.geometry() else {
        return 0;
    };
    wanted
        .ones()
        .filter(|p| !have.has(*p))
        .map(|p| u64::from(g.length_of(p)))
        .sum()
}
