//! `torrent-get`'s fields: each of Transmission 3.00's, computed from the
//! manager's [`TorrentInfo`] the way Transmission computes it (ratios of
//! -1 and -2 for "none" and "infinite", an ETA of -1 when not downloading,
//! speeds in bytes per second, limits in kB/s), plus riffle's own fields
//! under a `riffle-` prefix for what Transmission's RPC cannot carry.
//! Unknown field names are skipped, as Transmission skips them.

use std::time::Instant;

use riffle_client::tracker::{TrackerState, TrackerStatus};
use riffle_manager::{Activity, Detail, TorrentInfo};
use serde_json::{json, Map, Value};

use super::call::SPEED_UNIT;

/// Transmission's "not available" ratio and ETA.
const NOT_AVAILABLE: i64 = -1;
/// Transmission's "infinite" ratio and "unknown" ETA.
const INFINITE_OR_UNKNOWN: i64 = -2;

/// What the manager must fill in for these fields.
pub fn detail_for(fields: &[String]) -> Detail {
    let has = |names: &[&str]| fields.iter().any(|f| names.contains(&f.as_str()));
    Detail {
        files: has(&["files", "fileStats", "riffle-files"]),
        peers: has(&["peers", "peersFrom", "riffle-peers"]),
        pieces: has(&[
            "pieces",
            "desiredAvailable",
            "riffle-availability",
            "riffle-downloading",
        ]),
        trackers: has(&["trackerStats", "error", "errorString"]),
    }
}

/// A clock reading, to turn the engine's instants into Unix times.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    /// Monotonic now.
    pub instant: Instant,
    /// Unix seconds now.
    pub unix: i64,
}

impl Now {
    /// The present.
    pub fn new() -> Now {
        Now {
            instant: Instant::now(),
            unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
        }
    }

    fn unix_of(&self, at: Option<Instant>) -> i64 {
        match at {
            None => 0,
            Some(t) if t <= self.instant => {
                self.unix - self.instant.duration_since(t).as_secs() as i64
            }
            Some(t) => self.unix + t.duration_since(self.instant).as_secs() as i64,
        }
    }
}

impl Default for Now {
    fn default() -> Self {
        Now::new()
    }
}

/// One torrent as an object of the asked fields.
pub fn object(t: &TorrentInfo, fields: &[String], now: Now) -> Map<String, Value> {
    let mut out = Map::new();
    for f in fields {
        if let Some(v) = field(t, f, now) {
            out.insert(f.clone(), v);
        }
    }
    out
}

/// One torrent as a row of the "table" format (unknown fields as null,
/// so the columns stay aligned).
pub fn row(t: &TorrentInfo, fields: &[String], now: Now) -> Value {
    Value::Array(
        fields
            .iter()
            .map(|f| field(t, f, now).unwrap_or(Value::Null))
            .collect(),
    )
}

fn ratio(t: &TorrentInfo) -> Value {
    match riffle_policies_ratio(t) {
        Some(r) if r.is_finite() => json!(r),
        Some(_) => json!(INFINITE_OR_UNKNOWN),
        None => json!(NOT_AVAILABLE),
    }
}

fn riffle_policies_ratio(t: &TorrentInfo) -> Option<f64> {
    let r = &t.record;
    let base = if r.downloaded_ever > 0 {
        r.downloaded_ever
    } else {
        t.have_valid
    };
    if base > 0 {
        Some(r.uploaded_ever as f64 / base as f64)
    } else if r.uploaded_ever > 0 {
        Some(f64::INFINITY)
    } else {
        None
    }
}

fn percent_done(t: &TorrentInfo) -> f64 {
    if t.metadata_percent < 1.0 {
        // A magnet link still fetching its metadata has nothing yet.
        return 0.0;
    }
    if t.size_when_done == 0 {
        return 1.0;
    }
    (t.size_when_done - t.left_until_done) as f64 / t.size_when_done as f64
}

fn eta(t: &TorrentInfo) -> i64 {
    match t.activity {
        Activity::Downloading => match t.eta {
            Some(s) => s as i64,
            None => INFINITE_OR_UNKNOWN,
        },
        _ => NOT_AVAILABLE,
    }
}

/// Transmission's `error`: 0 none, 2 tracker error, 3 local error.
fn error(t: &TorrentInfo) -> (i64, String) {
    if let Some(e) = &t.error {
        return (3, e.clone());
    }
    let failing: Vec<&TrackerStatus> = t
        .trackers
        .iter()
        .filter(|s| s.state == TrackerState::Failed)
        .collect();
    if !t.trackers.is_empty() && failing.len() == t.trackers.len() {
        let why = failing[0]
            .failure_reason
            .clone()
            .or_else(|| failing[0].last_error.clone())
            .unwrap_or_default();
        return (2, format!("Tracker gave an error: {why}"));
    }
    (0, String::new())
}

fn scrape_url(announce: &str) -> String {
    match announce.rfind('/') {
        Some(i) if announce[i + 1..].starts_with("announce") => {
            format!(
                "{}/scrape{}",
                &announce[..i],
                &announce[i + 1 + "announce".len()..]
            )
        }
        _ => String::new(),
    }
}

fn host_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}:{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port_or_known_default().unwrap_or(0)
        ),
        Err(_) => url.to_owned(),
    }
}

fn trackers(t: &TorrentInfo) -> Value {
    let mut id = 0;
    let mut out = Vec::new();
    for (tier, urls) in t.tiers.iter().enumerate() {
        for url in urls {
            out.push(json!({"announce": url, "id": id, "scrape": scrape_url(url), "tier": tier}));
            id += 1;
        }
    }
    Value::Array(out)
}

fn tracker_stats(t: &TorrentInfo, now: Now) -> Value {
    let mut id = 0;
    let mut out = Vec::new();
    for (tier, urls) in t.tiers.iter().enumerate() {
        for (i, url) in urls.iter().enumerate() {
            let s = t.trackers.iter().find(|s| &s.url == url);
            let state = s.map(|s| s.state);
            let announce_state = match state {
                Some(TrackerState::Announcing) => 3,
                Some(TrackerState::Stopped) | None => 0,
                Some(_) => 1,
            };
            let result = match s {
                Some(s) if s.state == TrackerState::Working => "Success".to_owned(),
                Some(s) => s
                    .failure_reason
                    .clone()
                    .or_else(|| s.last_error.clone())
                    .unwrap_or_default(),
                None => String::new(),
            };
            let count = |v: Option<u64>| v.map_or(-1, |n| n as i64);
            out.push(json!({
                "announce": url,
                "announceState": announce_state,
                "downloadCount": -1,
                "hasAnnounced": s.is_some_and(|s| s.last_announce.is_some()),
                "hasScraped": false,
                "host": host_of(url),
                "id": id,
                "isBackup": i > 0 && s.is_none_or(|s| s.state == TrackerState::Idle),
                "lastAnnouncePeerCount": s.map_or(0, |s| s.last_peers),
                "lastAnnounceResult": result,
                "lastAnnounceStartTime": now.unix_of(s.and_then(|s| s.last_announce)),
                "lastAnnounceSucceeded": s.is_some_and(|s| s.state == TrackerState::Working),
                "lastAnnounceTime": now.unix_of(s.and_then(|s| s.last_announce)),
                "lastAnnounceTimedOut": s.and_then(|s| s.last_error.as_deref()).is_some_and(|e| e.contains("timed out")),
                "lastScrapeResult": "",
                "lastScrapeStartTime": 0,
                "lastScrapeSucceeded": false,
                "lastScrapeTime": 0,
                "lastScrapeTimedOut": false,
                "leecherCount": count(s.and_then(|s| s.leechers)),
                "nextAnnounceTime": now.unix_of(s.and_then(|s| s.next_announce)),
                "nextScrapeTime": 0,
                "scrape": scrape_url(url),
                "scrapeState": 0,
                "seederCount": count(s.and_then(|s| s.seeders)),
                "tier": tier,
            }));
            id += 1;
        }
    }
    Value::Array(out)
}

/// Transmission's peer flags: D/d downloading or wanting but choked,
/// U/u uploading or wanted but choking, K unchoked but not interested,
/// ? we unchoke an uninterested peer.
fn flag_str(p: &riffle_client::engine::PeerStatus) -> String {
    let mut s = String::new();
    if p.am_interested {
        s.push(if p.peer_choking { 'd' } else { 'D' });
    } else if !p.peer_choking {
        s.push('K');
    }
    if p.peer_interested {
        s.push(if p.am_choking { 'u' } else { 'U' });
    } else if !p.am_choking {
        s.push('?');
    }
    s
}

fn peers(t: &TorrentInfo) -> Value {
    Value::Array(
        t.peers
            .iter()
            .map(|p| {
                json!({
                    "address": p.addr.ip().to_string(),
                    "clientName": p.client.clone().unwrap_or_default(),
                    "clientIsChoked": p.peer_choking,
                    "clientIsInterested": p.am_interested,
                    "flagStr": flag_str(p),
                    "isDownloadingFrom": p.am_interested && !p.peer_choking && p.download_rate > 0,
                    "isEncrypted": false,
                    "isIncoming": false,
                    "isUploadingTo": p.peer_interested && !p.am_choking && p.upload_rate > 0,
                    "isUTP": false,
                    "peerIsChoked": p.am_choking,
                    "peerIsInterested": p.peer_interested,
                    "port": p.addr.port(),
                    "progress": p.progress,
                    "rateToClient": p.download_rate,
                    "rateToPeer": p.upload_rate,
                    "riffle-snubbed": p.snubbed,
                    "riffle-oneClub": p.one_club,
                })
            })
            .collect(),
    )
}

/// Bytes of the wanted pieces we lack that some connected peer holds.
fn desired_available(t: &TorrentInfo) -> u64 {
    let Some(have) = &t.have else {
        return 0;
    };
    if t.availability.is_empty() {
        return 0;
    }
    let last = t.piece_count.saturating_sub(1);
    have.zeros()
        .filter(|p| t.availability.get(p.idx()).is_some_and(|&a| a > 0))
        .map(|p| {
            if p.get() == last {
                t.total_size - u64::from(last) * u64::from(t.piece_size)
            } else {
                u64::from(t.piece_size)
            }
        })
        .sum()
}

fn field(t: &TorrentInfo, name: &str, now: Now) -> Option<Value> {
    let r = &t.record;
    Some(match name {
        "activityDate" => json!(r.activity_date),
        "addedDate" => json!(r.added_date),
        "bandwidthPriority" => json!(0),
        "comment" => json!(t.comment),
        "corruptEver" => json!(r.corrupt_ever),
        "creator" => json!(t.creator),
        "dateCreated" => json!(t.date_created),
        "desiredAvailable" => json!(desired_available(t)),
        "doneDate" => json!(r.done_date),
        "downloadDir" => json!(r.download_dir.to_string_lossy()),
        "downloadedEver" => json!(r.downloaded_ever),
        "downloadLimit" => json!(r.download_limit / SPEED_UNIT),
        "downloadLimited" => json!(r.download_limited),
        "editDate" => json!(0),
        "error" => json!(error(t).0),
        "errorString" => json!(error(t).1),
        "eta" => json!(eta(t)),
        "etaIdle" => json!(NOT_AVAILABLE),
        // Transmission 4 (rpc 17) names it both ways; Sonarr asks for it.
        "fileCount" | "file-count" => json!(file_count(t)),
        "files" => Value::Array(
            t.files
                .iter()
                .map(|f| json!({"bytesCompleted": f.bytes_completed, "length": f.length, "name": f.name}))
                .collect(),
        ),
        "fileStats" => Value::Array(
            t.files
                .iter()
                .map(|f| json!({"bytesCompleted": f.bytes_completed, "wanted": f.wanted, "priority": 0}))
                .collect(),
        ),
        "hashString" => json!(t.hash.to_hex()),
        "haveUnchecked" => json!(0),
        "haveValid" => json!(t.have_valid),
        "honorsSessionLimits" => json!(r.honors_session_limits),
        "id" => json!(t.id),
        "isFinished" => json!(r.finished),
        "isPrivate" => json!(t.private),
        "isStalled" => json!(t.stalled),
        "labels" => json!(r.labels),
        "leftUntilDone" => json!(t.left_until_done),
        "magnetLink" => json!(t.magnet),
        "manualAnnounceTime" => json!(-1),
        "maxConnectedPeers" | "peer-limit" => json!(r.peer_limit),
        "metadataPercentComplete" => json!(t.metadata_percent),
        "name" => json!(t.name),
        "peers" => peers(t),
        "peersConnected" => json!(t.peers_connected),
        "peersFrom" => json!({
            "fromCache": 0, "fromDht": 0, "fromIncoming": 0, "fromLpd": 0,
            "fromLtep": 0, "fromPex": 0, "fromTracker": t.peers_connected,
        }),
        "peersGettingFromUs" => json!(t.peers_getting_from_us),
        "peersSendingToUs" => json!(t.peers_sending_to_us),
        "percentDone" => json!(percent_done(t)),
        "pieces" => json!(t
            .have
            .as_ref()
            .map(|h| data_encoding::BASE64.encode(&h.to_bytes()))
            .unwrap_or_default()),
        "pieceCount" => json!(t.piece_count),
        "pieceSize" => json!(t.piece_size),
        "priorities" => json!(vec![0; file_count(t)]),
        "queuePosition" => json!(r.queue_position),
        "rateDownload" => json!(t.rate_download),
        "rateUpload" => json!(t.rate_upload),
        "recheckProgress" => json!(t.recheck_progress),
        "secondsDownloading" => json!(r.seconds_downloading),
        "secondsSeeding" => json!(r.seconds_seeding),
        "seedIdleLimit" => json!(r.seed_idle_limit),
        "seedIdleMode" => json!(r.seed_idle_mode.code()),
        "seedRatioLimit" => json!(r.seed_ratio_limit),
        "seedRatioMode" => json!(r.seed_ratio_mode.code()),
        "sizeWhenDone" => json!(t.size_when_done),
        "startDate" => json!(t.start_date),
        "status" => json!(t.activity.code()),
        "trackers" => trackers(t),
        "trackerStats" => tracker_stats(t, now),
        "totalSize" => json!(t.total_size),
        "torrentFile" => json!(t.torrent_file.to_string_lossy()),
        "uploadedEver" => json!(r.uploaded_ever),
        "uploadLimit" => json!(r.upload_limit / SPEED_UNIT),
        "uploadLimited" => json!(r.upload_limited),
        "uploadRatio" => ratio(t),
        "wanted" => json!((0..file_count(t))
            .map(|i| u8::from(t.files_wanted.get(i).copied().unwrap_or(true)))
            .collect::<Vec<_>>()),
        "webseeds" => json!(t.webseeds),
        "webseedsSendingToUs" => json!(0),
        // riffle's own.
        "riffle-policies" => json!(t.policies),
        "riffle-oneClub" => json!(t.one_club),
        "riffle-availability" => json!(t.availability),
        "riffle-trustedPieces" => json!(t.trusted_pieces),
        "riffle-downloading" => json!(t.downloading),
        "riffle-picker" => json!(t.policy_values.as_ref().map(|p| p.picker.to_string())),
        "riffle-choker" => json!(t.policy_values.as_ref().map(|p| p.choker.to_string())),
        "riffle-seedChoker" => json!(t.policy_values.as_ref().map(|p| p.seed_choker.to_string())),
        "riffle-oneClubRate" => json!(t.policy_values.as_ref().map(|p| p.one_club_rate)),
        "riffle-throttled" => json!(t.throttled),
        "riffle-oneClubSeconds" => json!(t.one_club_secs),
        "riffle-uploadedThrottled" => json!(t.uploaded_throttled),
        "riffle-seeds" => json!(t.seeds),
        "riffle-dht" => json!(t.dht),
        "riffle-uploadShare" => json!(t.upload_share),
        "riffle-shareRate" => json!(t.share_rate),
        "riffle-cpm" => json!(t.cpm),
        "riffle-cpmTau" => json!(t.cpm_tau),
        "riffle-uploadLimitNow" => json!(t.limits.0),
        "riffle-downloadLimitNow" => json!(t.limits.1),
        "riffle-hashedPieces" => json!(t.hashed_pieces),
        _ => return None,
    })
}

fn file_count(t: &TorrentInfo) -> usize {
    t.file_count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrape_urls_and_hosts() {
        assert_eq!(
            scrape_url("http://t.example/announce?k=1"),
            "http://t.example/scrape?k=1"
        );
        assert_eq!(scrape_url("http://t.example/a"), "");
        assert_eq!(
            host_of("udp://t.example:6969/announce"),
            "udp://t.example:6969"
        );
        assert_eq!(host_of("http://t.example/announce"), "http://t.example:80");
    }

    #[test]
    fn a_magnet_without_metadata_is_not_done() {
        let record = riffle_manager::TorrentRecord::new(
            1,
            "/dl".into(),
            &riffle_manager::Settings::default(),
            0,
        );
        let mut t = TorrentInfo::empty(record, riffle_protocol::InfoHash([1; 20]), "m".into());
        assert_eq!(
            percent_done(&t),
            0.0,
            "sizes are zero until the metadata comes"
        );
        t.metadata_percent = 1.0;
        assert_eq!(
            percent_done(&t),
            1.0,
            "an empty torrent with metadata is done"
        );
    }

    #[test]
    fn detail_follows_the_fields() {
        let d = detail_for(&["id".into(), "peers".into()]);
        assert!(d.peers && !d.files && !d.pieces);
        let d = detail_for(&["desiredAvailable".into()]);
        assert!(d.pieces);
    }
}
