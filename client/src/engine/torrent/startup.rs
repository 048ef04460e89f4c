//! Bringing a torrent up: open its files, take what the resume record
//! vouches for, hash the rest of what is on disk, and build the control
//! task's state.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::watch;
use anyhow::{bail, Context};
use rand::rngs::StdRng;
use rand::RngCore;
use rand::SeedableRng;
use riffle_policies::catalog::ChokerSettings;
use riffle_policies::picker::PiecePicker;
use riffle_protocol::metainfo::Metainfo;
use riffle_protocol::metainfo::{PieceCheck, V2Hashes};
use riffle_protocol::peer::Offer;
use riffle_protocol::wire::{ExtendedHandshake, UT_METADATA, UT_PEX};
use riffle_protocol::{Bitfield, InfoHash, PieceGeometry};
use riffle_storage::{check_pieces_with, FsStorage, Layout, ResumeRecord, Storage};
use tokio::time::Instant;

use super::super::lazy_channel::LazyChannel;
use super::dial::Candidates;
use super::status::TorrentState;
use super::{Links, Spawn, Torrent, TorrentOptions, FROM_PEERS};
use crate::engine::claims::{AtomicBits, BlockClaims};
use crate::engine::rate::Bucket;
use crate::engine::shared::{Counters, TorrentShared};

/// BitTorrent's rechoke interval in protocol time (the lab scales it).
pub(super) const RECHOKE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Where a torrent saved under `save_dir` keeps its resume record.
pub fn resume_path(save_dir: &Path, info_hash: &InfoHash) -> PathBuf {
    save_dir
        .join(".riffle")
        .join(format!("{}.resume", info_hash.to_hex()))
}

/// The torrent's files as laid out on disk, and which pieces are wanted.
pub(super) struct Files {
    pub geometry: PieceGeometry,
    pub storage: Arc<dyn Storage>,
    /// Pieces that touch a wanted file.
    pub wanted: Bitfield,
}

/// Where the torrent stands: what it holds and what it still wants.
pub(super) struct Pieces {
    /// Pieces verified and held.
    pub have: Bitfield,
    /// Pieces held or not wanted.
    pub done: Bitfield,
    /// Bytes of wanted pieces not held.
    pub wanted_left: u64,
    /// Wanted pieces not held.
    pub wanted_missing: u32,
}

impl Pieces {
    /// What `have` leaves to do, given the pieces `wanted`.
    fn from_have(have: Bitfield, wanted: &Bitfield, geometry: &PieceGeometry) -> Pieces {
        let mut done = have.clone();
        let mut wanted_left = 0u64;
        let mut wanted_missing = 0u32;
        for p in have.zeros() {
            if wanted.has(p) {
                wanted_left += u64::from(geometry.length_of(p));
                wanted_missing += 1;
            } else {
                done.set(p, true);
            }
        }
        Pieces {
            have,
            done,
            wanted_left,
            wanted_missing,
        }
    }
}

/// A torrent brought up.
pub(super) enum Started {
    /// Running: it has something to do.
    Running(Box<Torrent>),
    /// Complete as its resume record says, seeding, and no peer to dial
    /// yet: it starts parked (see `park.rs`), so a seedbox restarting
    /// with thousands of idle torrents never builds their running state.
    Parked(Box<super::park::Parked>),
}

/// Open storage, check the data, and build the torrent.
pub(super) async fn start(s: Box<Spawn>) -> anyhow::Result<Started> {
    let s = *s;
    let meta = s.meta.clone();
    let info = &meta.info;
    let files = open_files(&meta, &s.options)?;
    let geometry = files.geometry;
    s.status.send_modify(|st| {
        st.name = info.name.clone();
        st.info_hash = Some(meta.info_hash);
        st.total_bytes = info.total_length();
        st.piece_count = geometry.piece_count();
        st.state = TorrentState::Checking;
    });
    let v2 = v2_hashes(&meta);
    let (have, trusted_count) = check(&s, &files, &v2).await?;
    let have_count = have.count_ones();
    if s.options.require_complete && !have.is_full() {
        bail!(
            "the data in {} is incomplete: {} of {} pieces verified",
            s.options.save_dir.display(),
            have_count,
            geometry.piece_count()
        );
    }
    files
        .storage
        .create_empty_files()
        .context("cannot create the torrent's empty files")?;
    if !have.is_full() {
        // Reserve the files now: a full disk shows at start, and the
        // filesystem writes reserved space much faster than sparse files.
        let s2 = files.storage.clone();
        tokio::task::spawn_blocking(move || s2.preallocate())
            .await
            .context("the allocation task failed")?
            .context("cannot reserve disk space for the download")?;
    }
    let have_bytes: u64 = have.ones().map(|p| u64::from(geometry.length_of(p))).sum();
    let pieces = Pieces::from_have(have, &files.wanted, &geometry);
    s.status.send_modify(|st| {
        st.checked_pieces = geometry.piece_count();
        st.trusted_pieces = trusted_count;
        st.hashed_pieces = geometry.piece_count() - trusted_count;
        st.have_pieces = have_count;
        st.have_bytes = have_bytes;
        st.have = pieces.have.clone();
        st.state = if pieces.wanted_missing == 0 {
            TorrentState::Seeding
        } else {
            TorrentState::Downloading
        };
    });
    tracing::info!(
        name = %info.name,
        trusted = trusted_count,
        hashed = geometry.piece_count() - trusted_count,
        verified = have_count,
        "checked the data on disk"
    );
    let layers =
        (v2.missing().count() > 0).then(|| super::layers::LayerFetch::new(&v2, info.piece_length));
    let mut seeds = match s.options.policies.random_seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => StdRng::from_entropy(),
    };
    // The record vouched for every piece: it needs no new save, and the
    // torrent nothing but a peer.
    let idle = s.links.config.park_after.is_some()
        && s.options.seed
        && pieces.wanted_missing == 0
        && trusted_count == geometry.piece_count()
        && layers.is_none()
        && s.options.peers.is_empty();
    if idle {
        let parked = super::park::Parked::at_start(s, pieces, seeds.next_u64());
        return Ok(Started::Parked(parked));
    }
    assemble(s, files, v2, layers, pieces, seeds).map(Started::Running)
}

/// Lay the torrent's files out under its save directory (nothing is read
/// or written: that is cheap enough to do again when a parked torrent
/// wakes).
pub(super) fn open_files(meta: &Metainfo, options: &TorrentOptions) -> anyhow::Result<Files> {
    let info = &meta.info;
    let geometry = info
        .geometry()
        .context("the torrent's piece sizes are invalid")?;
    let layout = Layout::new(
        info.files.iter().map(|f| f.length).collect(),
        info.piece_length,
    )
    .context("cannot lay out the torrent's files")?;
    let paths: Vec<Vec<String>> = (0..info.files.len()).map(|i| info.file_path(i)).collect();
    let save_dir = &options.save_dir;
    let pads: Vec<bool> = info.files.iter().map(|f| f.pad).collect();
    let wanted = wanted_pieces(&layout, options.wanted_files.as_deref(), &pads);
    let skipped: Vec<bool> = (0..info.files.len())
        .map(|i| {
            options
                .wanted_files
                .as_ref()
                .is_some_and(|w| !w.get(i).copied().unwrap_or(true))
        })
        .collect();
    // Links point below the torrent's folder.
    let links = info
        .files
        .iter()
        .map(|f| {
            f.symlink.as_ref().map(|t| {
                std::iter::once(info.name.clone())
                    .chain(t.iter().cloned())
                    .collect()
            })
        })
        .collect();
    let storage = FsStorage::with_pads(save_dir, layout, &paths, pads)
        .with_context(|| format!("cannot use {}", save_dir.display()))?
        .skipping(skipped, options.parts_path(&meta.info_hash))
        .with_attributes(info.files.iter().map(|f| f.executable).collect(), links)
        .with_context(|| format!("cannot use {}", save_dir.display()))?;
    Ok(Files {
        geometry,
        storage: Arc::new(storage),
        wanted,
    })
}

/// BEP 52: the v2 hashes of the metainfo (a layer that does not add up to
/// its file's root is dropped; its pieces wait for a good one from peers).
pub(super) fn v2_hashes(meta: &Metainfo) -> V2Hashes {
    let (v2, dropped) = V2Hashes::new(&meta.info, &meta.piece_layers);
    for root in dropped {
        tracing::warn!(root = ?riffle_protocol::InfoHash::from_slice(&root[..20]).ok(), "a piece layer of the torrent does not match its file's root; ignored");
    }
    v2
}

/// The pieces on disk that verify: what the resume record vouches for
/// (nothing if absent or stale), the rest hashed. Also returns how many
/// the record vouched for.
async fn check(s: &Spawn, files: &Files, v2: &V2Hashes) -> anyhow::Result<(Bitfield, u32)> {
    let meta = &s.meta;
    let count = files.geometry.piece_count();
    let record_path = s.options.resume_path(&meta.info_hash);
    let trusted = match ResumeRecord::load(&record_path) {
        Ok(r) => match r.trusted_pieces(&*files.storage, meta.info_hash) {
            Ok(t) => t,
            Err(e) => {
                tracing::info!("ignoring the resume record: {e}");
                Bitfield::new(count)
            }
        },
        Err(_) => Bitfield::new(count),
    };
    let trusted_count = trusted.count_ones();
    let hashes: Vec<PieceCheck> = (0..count)
        .map(|p| {
            meta.info
                .piece_check(v2, riffle_protocol::PieceIndex::new(p))
        })
        .collect();
    let workers = s.links.config.hash_workers.max(1);
    let checked = Arc::new(AtomicU32::new(0));
    let check_storage = files.storage.clone();
    let status = s.status.clone();
    let have = tokio::task::spawn_blocking(move || {
        check_pieces_with(&*check_storage, &hashes, workers, &trusted, |_, _| {
            let n = checked.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_multiple_of(16) {
                status.send_modify(|st| st.checked_pieces = n);
            }
        })
    })
    .await
    .context("the check task failed")?
    .context("cannot check the data on disk")?;
    Ok((have, trusted_count))
}

/// The block claims, verified bits and picker of a torrent holding
/// `pieces`: held pieces and pieces only of skipped files are claimed
/// (never requested; blocks of them a peer sends unasked are dropped).
fn piece_state(
    geometry: PieceGeometry,
    files: &[riffle_protocol::metainfo::FileEntry],
    pieces: &Pieces,
    policies: &super::Policies,
    seeds: &mut StdRng,
) -> anyhow::Result<(BlockClaims, AtomicBits, Box<dyn PiecePicker>)> {
    // BEP 47: blocks wholly inside pad files are known zeros.
    let pad = std::sync::Arc::new(riffle_protocol::pad::VirtualBlocks::from_files(
        &geometry,
        &files.iter().map(|f| (f.length, f.pad)).collect::<Vec<_>>(),
    ));
    let claims = BlockClaims::new(&geometry).with_pad(pad.clone());
    let verified = AtomicBits::new(geometry.piece_count() as usize);
    let mut picker: Box<dyn PiecePicker> = match policies.seed_picker {
        Some(from_seeds) if from_seeds != policies.picker => {
            policies
                .picker
                .build_split(from_seeds, geometry, seeds.next_u64())
        }
        _ => policies.picker.build(geometry, seeds.next_u64()),
    };
    picker.set_pad_blocks(pad);
    for p in pieces.have.ones() {
        claims.claim_piece(p);
        verified.set(p.idx());
        picker.we_have(p).context("picker")?;
    }
    for p in pieces.done.ones().filter(|p| !pieces.have.has(*p)) {
        claims.claim_piece(p);
        picker.we_have(p).context("picker")?;
    }
    Ok((claims, verified, picker))
}

/// What we offer peers in our handshakes.
fn offer(meta: &Metainfo, links: &Links, dht: Option<&crate::dht::Dht>) -> Offer {
    Offer {
        fast: true,
        extended: Some(ExtendedHandshake {
            listen_port: Some(links.listen_port),
            client: Some(format!("riffle {}", env!("CARGO_PKG_VERSION"))),
            reqq: Some(links.config.peer.max_peer_requests as u32),
            // BEP 9: we serve the info dictionary to peers that came by a
            // magnet link.
            m: {
                let mut m: std::collections::BTreeMap<String, u8> = [(
                    UT_METADATA.to_owned(),
                    crate::engine::metadata::OUR_UT_METADATA,
                )]
                .into();
                // BEP 27: no peer exchange for a private torrent.
                if !meta.info.private {
                    m.insert(UT_PEX.to_owned(), crate::engine::pex::OUR_UT_PEX);
                }
                m
            },
            metadata_size: Some(meta.info_bytes.len() as u64),
            host_key: Some(links.exchange.host_key()),
            ..ExtendedHandshake::default()
        }),
        // BEP 5 PORT: peers that run a DHT learn of our node.
        dht_port: dht.map(|d| d.local_addr().port()),
        v2: meta.info.version != riffle_protocol::metainfo::Version::V1,
    }
}

/// Build the running torrent from its files and pieces: policies, shared
/// state, buckets, a fresh run-time state (no peers yet).
pub(super) fn assemble(
    s: Spawn,
    files: Files,
    v2: V2Hashes,
    layers: Option<super::layers::LayerFetch>,
    pieces: Pieces,
    mut seeds: StdRng,
) -> anyhow::Result<Box<Torrent>> {
    let meta = s.meta.clone();
    let links = s.links.clone();
    let geometry = files.geometry;
    let policies = s.options.policies.clone();
    let (claims, verified, picker) =
        piece_state(geometry, &meta.info.files, &pieces, &policies, &mut seeds)?;
    let burst = links.config.burst_bytes;
    let torrent_up = Bucket::shared_with_burst(s.options.max_upload_rate, burst);
    let torrent_down = Bucket::shared_with_burst(s.options.max_download_rate, burst);
    // BEP 27: a private torrent finds peers through its trackers only.
    let dht = links.dht.clone().filter(|_| !meta.info.private);
    let swarm = super::exchange::SwarmLink::new(links.exchange.clone(), burst);
    let honor = s.options.honor_session_limits;
    let shared = Arc::new(TorrentShared {
        info_hash: meta.info_hash,
        our_id: links.our_id,
        geometry,
        storage: files.storage,
        claims,
        verified,
        up: if honor {
            vec![
                links.session_up.clone(),
                swarm.slot.bucket().clone(),
                torrent_up.clone(),
            ]
        } else {
            vec![torrent_up.clone()]
        },
        down: if honor {
            vec![links.session_down.clone(), torrent_down.clone()]
        } else {
            vec![torrent_down.clone()]
        },
        counters: Counters::default(),
        peer_config: links.config.peer.clone(),
        offer: offer(&meta, &links, dht.as_ref()),
        info_bytes: bytes::Bytes::from(meta.info_bytes.clone()),
        dht: dht.clone(),
        v2: std::sync::RwLock::new(v2),
    });
    let (leech_choker, seed_choker) = chokers(
        &policies,
        ChokerSettings {
            slots: policies.upload_slots,
            rechoke_interval: links.config.scaled(RECHOKE_INTERVAL),
            piece_bytes: u64::from(geometry.piece_length()),
        },
        links.config.locality.as_deref(),
        &mut seeds,
    );
    let service = super::choking::Service::new(s.options.max_upload_rate, policies.one_club_rate);
    let (transfer_tx, _) = watch::channel(super::Progress::default());
    let status = s.status.borrow().clone();
    let now = Instant::now();
    Ok(Box::new(Torrent {
        meta,
        options: s.options,
        links,
        shared,
        picker,
        leech_choker,
        seed_choker,
        torrent_up,
        torrent_down,
        paused: false,
        service,
        per_piece_deadline: None,
        next_opportunity: None,
        turn_held: false,
        rng: rand::rngs::SmallRng::seed_from_u64(seeds.next_u64()),
        have: pieces.have,
        done: pieces.done,
        wanted_left: pieces.wanted_left,
        wanted_missing: pieces.wanted_missing,
        peers: HashMap::new(),
        next_key: 0,
        candidates: Candidates::default(),
        contributors: HashMap::new(),
        dirty: HashSet::new(),
        hash_results: LazyChannel::new(64),
        from_peers: LazyChannel::new(FROM_PEERS),
        inputs: s.inputs,
        status_tx: s.status,
        status,
        announcer: None,
        transfer_tx,
        tracker_peers: None,
        dht: dht.map(super::dht::TorrentDht::new),
        layers,
        swarm,
        last_rechoke: now,
        last_want_peers: now,
        status_rate_at: now,
        idle_since: now,
        rechoke_soon: false,
        dial_soon: false,
        filling: true,
        local_ip: None,
        completed: false,
        stopping: false,
        resume_saves: tokio::task::JoinSet::new(),
    }))
}

/// Pieces that touch a wanted file (all of them when every file is
/// wanted). A zero-length file touches none.
fn wanted_pieces(layout: &Layout, wanted_files: Option<&[bool]>, pads: &[bool]) -> Bitfield {
    let count = layout.piece_count();
    let Some(wanted) = wanted_files.filter(|w| w.iter().any(|x| !x)) else {
        return Bitfield::full(count);
    };
    let mut out = Bitfield::new(count);
    // A pad file's piece is the tail of the file before it: wanted only
    // with that file.
    let payload = |i: usize| !pads.get(i).copied().unwrap_or(false);
    for (i, _) in wanted
        .iter()
        .enumerate()
        .filter(|(i, w)| **w && payload(*i))
    {
        if let Ok(range) = layout.file_pieces(i) {
            for p in range {
                out.set(riffle_protocol::PieceIndex::new(p), true);
            }
        }
    }
    out
}

/// The leech and seed chokers of `policies`, each near-first under
/// `locality`, seeded from `seeds`.
fn chokers(
    policies: &super::Policies,
    settings: ChokerSettings,
    locality: Option<&riffle_policies::locality::Locality>,
    seeds: &mut StdRng,
) -> (
    Box<dyn riffle_policies::choker::Choker>,
    Box<dyn riffle_policies::choker::Choker>,
) {
    let leech = policies.choker.build(&settings, seeds.next_u64());
    let leech = near_first(leech, locality, seeds.next_u64());
    let seed = policies.seed_choker.build(&settings, seeds.next_u64());
    let seed = near_first(seed, locality, seeds.next_u64());
    (leech, seed)
}

/// `choker` with its optimistic unchoke near-first under `locality`
/// ([`riffle_policies::choker::NearOptimistic`]); itself without one.
pub(super) fn near_first(
    choker: Box<dyn riffle_policies::choker::Choker>,
    locality: Option<&riffle_policies::locality::Locality>,
    seed: u64,
) -> Box<dyn riffle_policies::choker::Choker> {
    use rand::SeedableRng;
    match locality {
        None => choker,
        Some(l) => Box::new(riffle_policies::choker::NearOptimistic::new(
            choker,
            l.local_share(),
            rand::rngs::StdRng::seed_from_u64(seed),
        )),
    }
}
