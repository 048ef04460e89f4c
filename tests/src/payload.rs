//! Payloads the interop tests move: trees of files filled with
//! deterministic pseudo-random bytes (fast to make, different in every
//! file and every position), and a byte-for-byte comparison of two trees.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One file of a payload: its path under the payload's top folder and its
/// length.
#[derive(Debug, Clone)]
pub struct FileSpec {
    /// Relative path, `/`-separated.
    pub path: String,
    /// Length in bytes.
    pub len: u64,
}

fn spec(path: &str, len: u64) -> FileSpec {
    FileSpec {
        path: path.to_string(),
        len,
    }
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// The big multi-file payload: 24 files in nested folders, one of them
/// empty, 64 MiB + a few KiB in total, every length odd so that no power-of-
/// two piece length divides any of them.
pub fn big_tree() -> Vec<FileSpec> {
    vec![
        spec("README.txt", 1_999),
        spec("empty.dat", 0),
        spec("a.bin", 1),
        spec("docs/intro.txt", 16_383),
        spec("docs/guide/part1.txt", 16_385),
        spec("docs/guide/part2.txt", 100_001),
        spec("docs/guide/deep/er/still/notes.md", 3 * KIB + 7),
        spec("media/video/one.mkv", 12 * MIB + 12_345),
        spec("media/video/two.mkv", 9 * MIB + 999),
        spec("media/video/three.mkv", 7 * MIB + 77_777),
        spec("media/audio/a.flac", 5 * MIB + 5),
        spec("media/audio/b.flac", 3 * MIB + 333),
        spec("media/audio/c.flac", 262_143),
        spec("media/audio/d.flac", 262_145),
        spec("src/lib/mod.rs", 4_095),
        spec("src/lib/util.rs", 8_193),
        spec("src/main.rs", 12_289),
        spec("data/x/y/z/blob1", 11 * MIB + 1_001),
        spec("data/x/y/z/blob2", 8 * MIB + 4_097),
        spec("data/x/y/blob3", 4 * MIB + 65_537),
        spec("data/x/blob4", 2 * MIB + 131_071),
        spec("data/blob5", MIB + 524_287),
        spec("zz/last-but-one.bin", 777_777),
        spec("zz/last.bin", 5 * MIB + 3),
    ]
}

/// A small multi-file payload (about `mib` MiB) for the slower peers:
/// 9 files in nested folders, one empty, odd lengths.
pub fn small_tree(mib: u64) -> Vec<FileSpec> {
    let share = mib * MIB / 4;
    vec![
        spec("readme.txt", 1_234),
        spec("empty", 0),
        spec("one/a.bin", share + 1),
        spec("one/b.bin", 16_385),
        spec("one/two/c.bin", share - 12_345),
        spec("one/two/three/d.bin", 7),
        spec("e.bin", share + 99_999),
        spec("f/g.bin", share - 3),
        spec("f/h.bin", 250_001),
    ]
}

/// Total length of `files`.
pub fn total_len(files: &[FileSpec]) -> u64 {
    files.iter().map(|f| f.len).sum()
}

/// Write `files` under `parent/name/`, each filled from its own
/// pseudo-random stream seeded by `seed` and its path; returns the top
/// folder.
pub fn write_tree(parent: &Path, name: &str, files: &[FileSpec], seed: u64) -> PathBuf {
    let top = parent.join(name);
    for f in files {
        let path = top.join(&f.path);
        std::fs::create_dir_all(path.parent().expect("file has a parent"))
            .unwrap_or_else(|e| panic!("mkdir for {}: {e}", path.display()));
        let mut out = std::io::BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(&path)
                .unwrap_or_else(|e| panic!("create {}: {e}", path.display())),
        );
        let mut rng = Rng::new(seed ^ fnv1a(f.path.as_bytes()));
        let mut buf = vec![0u8; 1 << 20];
        let mut left = f.len;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            rng.fill(&mut buf[..n]);
            out.write_all(&buf[..n])
                .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            left -= n as u64;
        }
        out.flush()
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
    top
}

/// Every file under `root` (recursively) with its length, by relative path.
pub fn list_tree(root: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
        for entry in entries {
            let entry = entry.unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
            let path = entry.path();
            let meta = entry
                .metadata()
                .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()));
            if meta.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, meta.len());
            }
        }
    }
    out
}

/// Panics unless `actual` holds exactly the files of `expected` (no file
/// missing, none extra) with identical bytes, comparing every file.
pub fn assert_same_tree(expected: &Path, actual: &Path) {
    compare_trees(expected, actual, false);
}

/// [`assert_same_tree`] for Transmission 3.00's downloads: it never
/// creates zero-length files, so those alone may be missing.
pub fn assert_same_tree_but_empty_files(expected: &Path, actual: &Path) {
    compare_trees(expected, actual, true);
}

fn compare_trees(expected: &Path, actual: &Path, empty_may_miss: bool) {
    assert!(
        actual.is_dir(),
        "{} was not created (expected a copy of {})",
        actual.display(),
        expected.display()
    );
    let mut want = list_tree(expected);
    if empty_may_miss {
        let got = list_tree(actual);
        want.retain(|rel, len| *len > 0 || got.contains_key(rel));
    }
    let got = list_tree(actual);
    let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} differs from {}: missing {missing:?}, extra {extra:?}",
        actual.display(),
        expected.display()
    );
    for (rel, len) in &want {
        assert_eq!(
            got[rel], *len,
            "{rel}: length {} instead of {len}",
            got[rel]
        );
        let a = std::fs::read(expected.join(rel)).expect("read expected file");
        let b = std::fs::read(actual.join(rel)).expect("read downloaded file");
        if a != b {
            let first = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(0);
            panic!("{rel}: contents differ (first difference at byte {first} of {len})");
        }
    }
}

/// FNV-1a, to seed each file's stream from its path.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// xorshift64*: plenty for filler bytes, and fast even unoptimised.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}
