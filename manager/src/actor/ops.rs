//! Each request to the manager carried out, and starting and stopping a
//! torrent in the session.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use riffle_client::engine::{delete_torrent_data, move_torrent_data, PolicyUpdate};
use riffle_policies::queue::{self, Wants};
use riffle_protocol::metainfo::Metainfo;
use riffle_protocol::{Bitfield, InfoHash};

use super::{is_stalled, Actor, RECENT};
use crate::entry::{payload_files, AfterStop, Entry, Run, Running};
use crate::error::ManagerError;
use crate::info::{
    AddRequest, Added, Brief, Detail, QueueMove, Select, SessionStats, TorrentChange, TorrentInfo,
};
use crate::manager::{unix_now, Internal};
use crate::record::TorrentRecord;
use crate::settings::{Settings, SettingsChange};

impl Actor {
    pub(super) fn add(&mut self, add: AddRequest) -> Result<Added, ManagerError> {
        if let (true, Some(magnet)) = (add.metainfo.is_empty(), add.magnet.clone()) {
            let dir = add
                .download_dir
                .clone()
                .unwrap_or_else(|| self.settings.download_dir.clone());
            let mut record = TorrentRecord::new(0, dir, &self.settings, unix_now());
            record.paused = add.paused.unwrap_or(!self.settings.start_added_torrents);
            if let Some(l) = add.peer_limit {
                record.peer_limit = l.max(1);
            }
            record.labels = add.labels;
            return self.add_magnet(magnet, record);
        }
        let meta = Metainfo::from_bytes(&add.metainfo)
            .map_err(|e| ManagerError::BadTorrent(e.to_string()))?;
        let hash = meta.info_hash;
        if let Some(e) = self.entries.get(&hash) {
            return Ok(Added::Duplicate(Brief {
                id: e.record.id,
                name: e.meta.info.name.clone(),
                hash,
            }));
        }
        if self.removing.contains(&hash) {
            return Err(ManagerError::BadArgument(format!(
                "torrent {} is still being removed; add it again in a moment",
                hash.to_hex()
            )));
        }
        let visible = payload_files(&meta.info);
        let file_count = visible.len();
        if let Some(bad) = add.files_unwanted.iter().find(|&&i| i >= file_count) {
            return Err(ManagerError::BadArgument(format!(
                "file {bad} is past the last file (the torrent has {file_count})"
            )));
        }
        let dir = add
            .download_dir
            .unwrap_or_else(|| self.settings.download_dir.clone());
        let mut record = TorrentRecord::new(self.next_id, dir, &self.settings, unix_now());
        record.paused = add.paused.unwrap_or(!self.settings.start_added_torrents);
        if let Some(l) = add.peer_limit {
            record.peer_limit = l.max(1);
        }
        record.labels = add.labels;
        if !add.files_unwanted.is_empty() {
            let mut wanted = vec![true; meta.info.files.len()];
            for i in add.files_unwanted {
                wanted[visible[i]] = false;
            }
            record.files_wanted = wanted;
        }
        self.state.save_torrent(&hash, &add.metainfo)?;
        self.next_id += 1;
        let brief = Brief {
            id: record.id,
            name: meta.info.name.clone(),
            hash,
        };
        let meta = Arc::new(meta);
        let have = Bitfield::new(meta.info.piece_count());
        let mut entry = Entry::new(meta, record, have);
        entry.dirty = true;
        // Data already there (a torrent re-added, or made here) is checked
        // at once, whatever the queue: it may be a seed, not a download.
        entry.stop_after_check = !entry.record.paused && entry.has_files_on_disk();
        self.entries.insert(hash, Box::new(entry));
        self.order.push(hash);
        self.renumber();
        self.totals.files_added += 1;
        self.current.files_added += 1;
        self.save_dirty();
        self.schedule();
        tracing::info!(id = brief.id, name = %brief.name, "added a torrent");
        Ok(Added::New(brief))
    }

    pub(super) fn remove(&mut self, select: &Select, delete: bool) -> Result<(), ManagerError> {
        for hash in self.select(select) {
            if self.pending.contains_key(&hash) {
                self.remove_pending(hash);
                self.order.retain(|h| *h != hash);
                self.queue_dirty = true;
                continue;
            }
            let Some(mut entry) = self.entries.remove(&hash) else {
                continue;
            };
            self.order.retain(|h| *h != hash);
            self.queue_dirty = true;
            self.removed.push((entry.record.id, Instant::now()));
            self.removing.insert(hash);
            entry.fold_counters();
            let handle = match std::mem::replace(&mut entry.run, Run::Idle) {
                Run::Running(r) => Some(r.handle),
                _ => None,
            };
            let state = self.state.clone();
            let meta = entry.meta.clone();
            let dir = entry.record.download_dir.clone();
            let tx = self.internal_tx.clone();
            tracing::info!(id = entry.record.id, name = %meta.info.name, delete, "removing a torrent");
            tokio::spawn(async move {
                if let Some(h) = handle {
                    h.shutdown().await;
                }
                let resume = state.resume_path(&meta.info_hash);
                let outcome = tokio::task::spawn_blocking(move || {
                    let _ = state.remove(&meta.info_hash);
                    let _ = std::fs::remove_file(resume);
                    if delete {
                        delete_torrent_data(&meta, &dir).map(|_| ())
                    } else {
                        Ok(())
                    }
                })
                .await;
                if let Ok(Err(e)) = outcome {
                    tracing::warn!("cannot delete a removed torrent's data: {e}");
                }
                let _ = tx.send(Internal::Removed(hash)).await;
            });
        }
        self.renumber();
        self.save_dirty();
        Ok(())
    }

    pub(super) fn start_request(&mut self, select: &Select, now: bool) -> Result<(), ManagerError> {
        let settings = self.settings.clone();
        for hash in self.select(select) {
            if self.pending.contains_key(&hash) {
                self.pause_pending(hash, false);
                continue;
            }
            let Some(e) = self.entries.get_mut(&hash) else {
                continue;
            };
            e.record.paused = false;
            e.error = None;
            e.forced = now;
            if e.record.finished {
                // Started by hand past its seed limit: as Transmission, the
                // limit that stopped it no longer applies.
                e.record.finished = false;
                let ratio = queue::ratio(
                    e.record.uploaded_ever,
                    e.record.downloaded_ever,
                    e.have_bytes(),
                );
                if e.record
                    .seed_limits(&settings)
                    .reached(ratio, Duration::ZERO)
                    .is_some()
                {
                    e.record.seed_ratio_mode = crate::LimitMode::Unlimited;
                }
                e.record.seed_idle_mode = crate::LimitMode::Unlimited;
            }
            e.dirty = true;
        }
        self.save_dirty();
        self.schedule();
        Ok(())
    }

    pub(super) fn verify(&mut self, select: &Select) -> Result<(), ManagerError> {
        for hash in self.select(select) {
            let Some(e) = self.entries.get_mut(&hash) else {
                continue;
            };
            e.verify = true;
            match e.run {
                Run::Running(_) => self.stop(hash, AfterStop::Nothing),
                Run::Idle if e.wants() == Wants::Stopped => {
                    // Check now, then stop again.
                    e.stop_after_check = true;
                    e.error = None;
                    self.start(hash);
                }
                _ => {}
            }
        }
        self.schedule();
        Ok(())
    }

    pub(super) fn set(&mut self, select: &Select, c: &TorrentChange) -> Result<(), ManagerError> {
        let hashes = self.select(select);
        if let Some(r) = c.seed_ratio_limit {
            if !(r.is_finite() && r >= 0.0) {
                return Err(ManagerError::BadArgument(format!(
                    "seedRatioLimit {r} is not a ratio of 0 or more"
                )));
            }
        }
        for hash in &hashes {
            let Some(e) = self.entries.get(hash) else {
                continue;
            };
            let count = payload_files(&e.meta.info).len();
            for list in [&c.files_wanted, &c.files_unwanted].into_iter().flatten() {
                if let Some(bad) = list.iter().find(|&&i| i >= count) {
                    return Err(ManagerError::BadArgument(format!(
                        "file {bad} is past the last file (torrent {} has {count})",
                        e.record.id
                    )));
                }
            }
        }
        let mut restart = Vec::new();
        for hash in &hashes {
            let Some(e) = self.entries.get_mut(hash) else {
                continue;
            };
            let r = &mut e.record;
            macro_rules! set {
                ($($field:ident),*) => {$(
                    if let Some(v) = &c.$field {
                        r.$field = v.clone();
                    }
                )*};
            }
            set!(
                download_limit,
                download_limited,
                upload_limit,
                upload_limited,
                honors_session_limits,
                seed_ratio_mode,
                seed_ratio_limit,
                seed_idle_mode,
                seed_idle_limit,
                labels
            );
            if let Some(l) = c.peer_limit {
                r.peer_limit = l.max(1);
            }
            let count = e.meta.info.files.len();
            let visible = payload_files(&e.meta.info);
            let files_before = r.files_wanted.clone();
            for (list, wanted) in [(&c.files_wanted, true), (&c.files_unwanted, false)] {
                if let Some(list) = list {
                    if r.files_wanted.len() != count {
                        r.files_wanted = vec![true; count];
                    }
                    if list.is_empty() {
                        r.files_wanted.iter_mut().for_each(|w| *w = wanted);
                    }
                    for &i in list {
                        r.files_wanted[visible[i]] = wanted;
                    }
                }
            }
            e.dirty = true;
            if e.record.files_wanted != files_before {
                e.rewant();
                if e.is_running() {
                    // The engine takes the files wanted at start.
                    restart.push(*hash);
                }
            }
            let r = &mut e.record;
            if c.picker.is_some() {
                r.picker = c.picker;
            }
            if c.seed_choker.is_some() {
                r.seed_choker = c.seed_choker;
            }
            if c.one_club_rate.is_some() {
                r.one_club_rate = c.one_club_rate;
            }
            if let Run::Running(run) = &e.run {
                let (up, down) = e.record.rate_limits();
                let update = PolicyUpdate {
                    picker: c.picker,
                    seed_choker: c.seed_choker,
                    one_club_rate: c.one_club_rate,
                    ..PolicyUpdate::default()
                };
                let policies = update != PolicyUpdate::default();
                // The torrent applies them at once; nobody waits for it.
                let control = run.handle.control();
                tokio::spawn(async move {
                    control.set_rate_limits(up, down).await;
                    if policies {
                        control.set_policies(update).await;
                    }
                });
            }
        }
        for hash in restart {
            self.stop(hash, AfterStop::Nothing);
        }
        if let Some(pos) = c.queue_position {
            for hash in hashes.iter().rev() {
                self.order.retain(|h| h != hash);
                let at = pos.min(self.order.len());
                self.order.insert(at, *hash);
            }
            self.renumber();
        }
        self.save_dirty();
        Ok(())
    }

    pub(super) fn set_location(
        &mut self,
        select: &Select,
        to: PathBuf,
        move_data: bool,
    ) -> Result<(), ManagerError> {
        if to.as_os_str().is_empty() {
            return Err(ManagerError::BadArgument("the location is empty".into()));
        }
        for hash in self.select(select) {
            let Some(e) = self.entries.get_mut(&hash) else {
                continue;
            };
            if move_data {
                self.stop(hash, AfterStop::Move(to.clone()));
            } else {
                // Look for the data there: check it from scratch.
                e.record.download_dir = to.clone();
                e.verify = true;
                e.dirty = true;
                if e.is_running() {
                    self.stop(hash, AfterStop::Nothing);
                }
            }
        }
        self.save_dirty();
        Ok(())
    }

    pub(super) fn queue_move(&mut self, select: &Select, to: QueueMove) {
        let hashes = self.select(select);
        match to {
            QueueMove::Top => {
                for h in hashes.iter().rev() {
                    self.order.retain(|x| x != h);
                    self.order.insert(0, *h);
                }
            }
            QueueMove::Bottom => {
                for h in &hashes {
                    self.order.retain(|x| x != h);
                    self.order.push(*h);
                }
            }
            QueueMove::Up => {
                for h in &hashes {
                    if let Some(i) = self.order.iter().position(|x| x == h) {
                        if i > 0 {
                            self.order.swap(i, i - 1);
                        }
                    }
                }
            }
            QueueMove::Down => {
                for h in hashes.iter().rev() {
                    if let Some(i) = self.order.iter().position(|x| x == h) {
                        if i + 1 < self.order.len() {
                            self.order.swap(i, i + 1);
                        }
                    }
                }
            }
        }
        self.renumber();
        self.save_dirty();
    }

    /// Queue positions from the order.
    pub(super) fn renumber(&mut self) {
        for (i, h) in self.order.iter().enumerate() {
            if let Some(e) = self.entries.get_mut(h) {
                if e.record.queue_position != i {
                    e.record.queue_position = i;
                    self.queue_dirty = true;
                }
            } else if let Some(p) = self.pending.get_mut(h) {
                if p.record.queue_position != i {
                    p.record.queue_position = i;
                    self.queue_dirty = true;
                }
            }
        }
    }

    pub(super) fn get(&self, select: &Select, detail: Detail) -> (Vec<TorrentInfo>, Vec<u32>) {
        let stalled_after = self.settings.stalled_after();
        let now = Instant::now();
        let mut out: Vec<TorrentInfo> = self
            .select(select)
            .iter()
            .filter_map(|h| self.entries.get(h))
            .map(|e| e.info(&self.state, detail, is_stalled(e, stalled_after, now)))
            .collect();
        out.extend(self.pending_infos(&self.select(select), detail));
        out.sort_by_key(|t| t.id);
        let removed = match select {
            Select::RecentlyActive => self
                .removed
                .iter()
                .filter(|(_, at)| at.elapsed() <= RECENT)
                .map(|(id, _)| *id)
                .collect(),
            _ => Vec::new(),
        };
        (out, removed)
    }

    pub(super) fn set_settings(
        &mut self,
        change: &SettingsChange,
    ) -> Result<Settings, ManagerError> {
        let next = change.apply(&self.settings);
        next.validate().map_err(ManagerError::BadArgument)?;
        self.settings = next;
        let (up, down) = self.settings.rate_limits();
        if let Some(session) = &self.session {
            session.set_rate_limits(up, down);
            session.set_max_connections(self.settings.peer_limit_global);
        }
        self.state.save_settings(&self.settings)?;
        self.schedule();
        Ok(self.settings.clone())
    }

    pub(super) fn stats(&self) -> SessionStats {
        let mut s = SessionStats {
            torrent_count: self.entries.len() + self.pending.len(),
            current: self.current,
            cumulative: self.totals,
            ..SessionStats::default()
        };
        for e in self.entries.values() {
            if let Run::Running(r) = &e.run {
                s.active_torrent_count += 1;
                let st = r.status.borrow();
                s.download_speed += st.download_rate;
                s.upload_speed += st.upload_rate;
            } else if e.wants() == Wants::Stopped {
                s.paused_torrent_count += 1;
            }
        }
        s
    }

    /// Start a torrent in the session now.
    pub(super) fn start(&mut self, hash: InfoHash) {
        let Some(e) = self.entries.get_mut(&hash) else {
            return;
        };
        if !matches!(e.run, Run::Idle) {
            return;
        }
        if e.verify {
            e.verify = false;
            let _ = std::fs::remove_file(self.state.resume_path(&hash));
        }
        let Some(session) = &self.session else {
            return;
        };
        let options = e.options(&self.state, &self.base);
        if let Err(err) = std::fs::create_dir_all(&options.save_dir) {
            e.error = Some(format!(
                "cannot create {}: {err}",
                options.save_dir.display()
            ));
            return;
        }
        match session.add_torrent(e.meta.clone(), options) {
            Ok(handle) => {
                let status = handle.status();
                tracing::debug!(id = e.record.id, "started");
                let now = Instant::now();
                e.last_download = now;
                e.last_upload = now;
                e.last_look = self.ticks;
                e.run = Run::Running(Running {
                    handle,
                    status,
                    started: unix_now(),
                    seen_up: 0,
                    seen_down: 0,
                    seen_wasted: 0,
                    state: None,
                });
                self.active.insert(hash);
            }
            // Its previous run is still shutting down: the next tick tries
            // again.
            Err(err) => {
                tracing::debug!(id = e.record.id, "cannot start yet: {err}");
                self.start_again = true;
            }
        }
    }

    /// Stop a torrent (if it runs), then do `then`.
    pub(super) fn stop(&mut self, hash: InfoHash, then: AfterStop) {
        let Some(e) = self.entries.get_mut(&hash) else {
            return;
        };
        e.fold_counters();
        match std::mem::replace(&mut e.run, Run::Idle) {
            Run::Running(r) => {
                {
                    let rx = r.status.clone();
                    let st = rx.borrow();
                    e.refresh_have(&st);
                }
                let seen = (r.seen_up, r.seen_down, r.seen_wasted);
                let status = r.status.clone();
                e.run = Run::Stopping { status, seen, then };
                let tx = self.internal_tx.clone();
                tokio::spawn(async move {
                    r.handle.shutdown().await;
                    let _ = tx.send(Internal::Stopped(hash)).await;
                });
            }
            Run::Stopping {
                status,
                seen,
                then: old,
            } => {
                let then = if then == AfterStop::Nothing {
                    old
                } else {
                    then
                };
                e.run = Run::Stopping { status, seen, then };
            }
            // A second move while one runs: refused by keeping the first.
            Run::Moving => e.run = Run::Moving,
            Run::Idle => self.after_stop(hash, then),
        }
    }

    pub(super) fn after_stop(&mut self, hash: InfoHash, then: AfterStop) {
        match then {
            AfterStop::Nothing => {}
            AfterStop::Move(to) => {
                let Some(e) = self.entries.get_mut(&hash) else {
                    return;
                };
                // Not started by the queue while its files move.
                e.run = Run::Moving;
                let meta = e.meta.clone();
                let from = e.record.download_dir.clone();
                let tx = self.internal_tx.clone();
                tokio::spawn(async move {
                    let target = to.clone();
                    let outcome = tokio::task::spawn_blocking(move || {
                        std::fs::create_dir_all(&target)
                            .map_err(|e| format!("cannot create {}: {e}", target.display()))?;
                        move_torrent_data(&meta, &from, &target)
                            .map(|_| ())
                            .map_err(|e| e.to_string())
                    })
                    .await
                    .unwrap_or_else(|e| Err(e.to_string()));
                    let _ = tx.send(Internal::Moved(hash, to, outcome)).await;
                });
            }
        }
    }
}
