//! The file a lab swarm shares: K pieces of one 16 KiB block each (the
//! paper's pieces and blocks are the same thing), random bytes from the
//! replicate's seed, announced to the lab's own tracker.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use riffle_protocol::metainfo::{Metainfo, TorrentBuilder};
use riffle_protocol::{PieceIndex, BLOCK_SIZE};
use riffle_storage::{FsStorage, Layout, Verifier};

/// Name of the shared file.
const NAME: &str = "lab-payload.bin";

/// Write `pieces` blocks of random data under `dir` and return the torrent
/// for it, announcing to `announce`.
pub fn make(dir: &Path, pieces: u32, seed: u64, announce: &str) -> Result<Metainfo> {
    make_named(dir, NAME, pieces, seed, announce)
}

/// [`make`] with the file named `name` (the demo's swarm).
pub fn make_named(
    dir: &Path,
    name: &str,
    pieces: u32,
    seed: u64,
    announce: &str,
) -> Result<Metainfo> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut data = vec![0u8; BLOCK_SIZE as usize * pieces as usize];
    rng.fill_bytes(&mut data);
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(&data)
        .with_context(|| format!("cannot write {}", path.display()))?;
    drop(f);
    // Hashed through storage, as `riffle create` does.
    let layout = Layout::new(vec![data.len() as u64], BLOCK_SIZE)?;
    let storage = FsStorage::new(dir, layout, &[vec![name.to_string()]])?;
    let mut verifier = Verifier::new();
    let hashes = (0..pieces)
        .map(|p| verifier.hash_piece(&storage, PieceIndex::new(p)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut builder = TorrentBuilder::new(name.into(), BLOCK_SIZE);
    builder.single_file(data.len() as u64);
    builder.piece_hashes(hashes);
    builder.tracker_tier(vec![announce.to_string()]);
    let (bytes, _) = builder.build().context("cannot build the lab torrent")?;
    Metainfo::from_bytes(&bytes).context("the lab torrent does not parse")
}
