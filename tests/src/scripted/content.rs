//! The bytes a scripted swarm moves: deterministic file contents, their
//! `.torrent` (built in process with riffle-protocol's `TorrentBuilder`),
//! and the checks a test runs on what a downloader wrote.

use std::ops::Range;
use std::path::{Path, PathBuf};

use riffle_protocol::metainfo::TorrentBuilder;
use riffle_protocol::InfoHash;
use sha1::{Digest, Sha1};

/// One torrent's content held in memory, so a scripted seeder can serve
/// any block without touching the disk and a test can compare a download
/// byte for byte.
#[derive(Debug, Clone)]
pub struct Content {
    /// Torrent name: the file of a single-file torrent, the top folder of a
    /// multi-file one. The downloader writes `DIR/<name>`.
    pub name: String,
    /// Bytes per piece (all but the last).
    pub piece_length: u32,
    /// `None` for a single-file torrent; the files below the top folder,
    /// in torrent order, for a multi-file one.
    pub files: Option<Vec<(Vec<String>, u64)>>,
    /// Every file laid end to end: the torrent's byte stream, what pieces
    /// are cut from.
    pub data: Vec<u8>,
    /// The `.torrent` file's bytes.
    pub torrent: Vec<u8>,
    /// The torrent's identity, checked in every handshake.
    pub info_hash: InfoHash,
}

/// Deterministic bytes (xorshift64), so a failure reproduces exactly and
/// no two pieces are alike.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let take = (len - out.len()).min(8);
        out.extend_from_slice(&x.to_le_bytes()[..take]);
    }
    out
}

impl Content {
    /// A single-file torrent `name` of `len` pseudo-random bytes.
    pub fn single_file(name: &str, len: usize, piece_length: u32, seed: u64) -> Content {
        let data = pseudo_random(len, seed);
        let mut b = TorrentBuilder::new(name.to_owned(), piece_length);
        b.single_file(len as u64);
        Content::finish(name, piece_length, None, data, b)
    }

    /// A multi-file torrent: folder `name` holding `files` (paths with
    /// `/`, lengths), each file filled with its own pseudo-random bytes.
    pub fn multi_file(
        name: &str,
        files: &[(&str, usize)],
        piece_length: u32,
        seed: u64,
    ) -> Content {
        let mut data = Vec::new();
        let mut list = Vec::new();
        let mut b = TorrentBuilder::new(name.to_owned(), piece_length);
        for (i, (path, len)) in files.iter().enumerate() {
            data.extend(pseudo_random(*len, seed.wrapping_add(i as u64 + 1)));
            let parts: Vec<String> = path.split('/').map(str::to_owned).collect();
            b.file(parts.clone(), *len as u64);
            list.push((parts, *len as u64));
        }
        Content::finish(name, piece_length, Some(list), data, b)
    }

    fn finish(
        name: &str,
        piece_length: u32,
        files: Option<Vec<(Vec<String>, u64)>>,
        data: Vec<u8>,
        mut b: TorrentBuilder,
    ) -> Content {
        let hashes = data
            .chunks(piece_length as usize)
            .map(|p| Sha1::digest(p).into())
            .collect();
        b.piece_hashes(hashes)
            .created_by("riffle-tests scripted".into());
        let (torrent, info_hash) = b.build().expect("the scripted torrent builds");
        Content {
            name: name.to_owned(),
            piece_length,
            files,
            data,
            torrent,
            info_hash,
        }
    }

    /// Total payload bytes.
    pub fn total_length(&self) -> u64 {
        self.data.len() as u64
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.data.len().div_ceil(self.piece_length as usize) as u32
    }

    /// Length of piece `index` (0 past the end).
    pub fn piece_len(&self, index: u32) -> u32 {
        self.piece_range(index)
            .map_or(0, |r| (r.end - r.start) as u32)
    }

    /// Byte range of piece `index` in [`Content::data`], `None` past the end.
    pub fn piece_range(&self, index: u32) -> Option<Range<usize>> {
        let pl = self.piece_length as usize;
        let start = (index as usize).checked_mul(pl)?;
        if start >= self.data.len() {
            return None;
        }
        Some(start..(start + pl).min(self.data.len()))
    }

    /// The bytes of block `(piece, offset, length)`, `None` if it does not
    /// lie inside the piece (a request no honest seeder answers).
    pub fn block(&self, piece: u32, offset: u32, length: u32) -> Option<&[u8]> {
        let r = self.piece_range(piece)?;
        let start = r.start.checked_add(offset as usize)?;
        let end = start.checked_add(length as usize)?;
        if length == 0 || end > r.end {
            return None;
        }
        self.data.get(start..end)
    }

    /// Byte range of file `i` in the torrent's byte stream.
    pub fn file_range(&self, i: usize) -> Range<u64> {
        match &self.files {
            None => 0..self.total_length(),
            Some(files) => {
                let start: u64 = files.iter().take(i).map(|f| f.1).sum();
                start..start + files.get(i).map_or(0, |f| f.1)
            }
        }
    }

    /// Pieces holding at least one byte of file `i`.
    pub fn pieces_of_file(&self, i: usize) -> Range<u32> {
        let r = self.file_range(i);
        let pl = u64::from(self.piece_length);
        if r.is_empty() {
            return 0..0;
        }
        (r.start / pl) as u32..r.end.div_ceil(pl) as u32
    }

    /// Relative path of file `i` below the download directory.
    pub fn file_path(&self, i: usize) -> PathBuf {
        let mut p = PathBuf::from(&self.name);
        if let Some(files) = &self.files {
            for part in &files[i].0 {
                p.push(part);
            }
        }
        p
    }

    /// Number of files.
    pub fn file_count(&self) -> usize {
        self.files.as_ref().map_or(1, Vec::len)
    }

    /// Write the `.torrent` into `dir` as `<name>.torrent`; its path.
    pub fn write_torrent(&self, dir: &Path) -> PathBuf {
        let path = dir.join(format!("{}.torrent", self.name));
        std::fs::write(&path, &self.torrent).expect("write the .torrent");
        path
    }

    /// Lay the complete content out below `dir` as a downloader would.
    pub fn write_data(&self, dir: &Path) {
        for i in 0..self.file_count() {
            let path = dir.join(self.file_path(i));
            std::fs::create_dir_all(path.parent().expect("a file has a parent"))
                .expect("create the content's folders");
            let r = self.file_range(i);
            std::fs::write(&path, &self.data[r.start as usize..r.end as usize])
                .expect("write a content file");
        }
    }

    /// Check that `dir` holds the complete content byte for byte; the
    /// error names the first file and offset that differ.
    pub fn verify_download(&self, dir: &Path) -> Result<(), String> {
        for i in 0..self.file_count() {
            let path = dir.join(self.file_path(i));
            let got = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let r = self.file_range(i);
            let want = &self.data[r.start as usize..r.end as usize];
            if got.len() != want.len() {
                return Err(format!(
                    "{}: {} bytes, expected {}",
                    path.display(),
                    got.len(),
                    want.len()
                ));
            }
            if let Some(at) = got.iter().zip(want).position(|(a, b)| a != b) {
                return Err(format!(
                    "{}: first wrong byte at offset {at} (piece {})",
                    path.display(),
                    (r.start + at as u64) / u64::from(self.piece_length)
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use riffle_protocol::metainfo::Metainfo;

    #[test]
    fn riffle_protocol_reads_the_torrent_back() {
        let c = Content::multi_file(
            "multi",
            &[("a.bin", 40_000), ("d/b.bin", 30_000)],
            16 * 1024,
            3,
        );
        let m = Metainfo::from_bytes(&c.torrent).expect("parses");
        assert_eq!(m.info_hash, c.info_hash);
        assert_eq!(m.info.total_length(), 70_000);
        assert_eq!(m.info.piece_count(), c.piece_count());
        assert_eq!(c.piece_count(), 5);
        assert_eq!(c.piece_len(4), 70_000 - 4 * 16 * 1024);
        assert_eq!(c.pieces_of_file(0), 0..3);
        assert_eq!(c.pieces_of_file(1), 2..5);
        assert_eq!(c.file_path(1), PathBuf::from("multi/d/b.bin"));
        for (i, h) in m.info.piece_hashes.iter().enumerate() {
            let r = c.piece_range(i as u32).unwrap();
            let got: [u8; 20] = Sha1::digest(&c.data[r]).into();
            assert_eq!(&got, h);
        }
    }

    #[test]
    fn blocks_stay_inside_their_piece() {
        let c = Content::single_file("one.bin", 50_000, 16 * 1024, 1);
        assert_eq!(c.block(0, 0, 16384).map(<[u8]>::len), Some(16384));
        assert!(c.block(0, 1, 16384).is_none(), "crosses into piece 1");
        assert!(c.block(3, 0, 50_000 - 3 * 16384).is_some());
        assert!(c.block(3, 0, 50_000 - 3 * 16384 + 1).is_none());
        assert!(c.block(4, 0, 1).is_none());
        assert!(c.block(0, u32::MAX, u32::MAX).is_none());
        assert!(c.block(0, 0, 0).is_none());
    }

    #[test]
    fn verify_download_finds_the_first_difference() {
        let c = Content::multi_file("m", &[("x", 20_000), ("y", 20_000)], 16 * 1024, 9);
        let dir = tempfile::tempdir().unwrap();
        c.write_data(dir.path());
        assert_eq!(c.verify_download(dir.path()), Ok(()));
        let y = dir.path().join("m/y");
        let mut bytes = std::fs::read(&y).unwrap();
        bytes[100] ^= 1;
        std::fs::write(&y, bytes).unwrap();
        let err = c.verify_download(dir.path()).unwrap_err();
        assert!(
            err.contains("offset 100") && err.contains("piece 1"),
            "{err}"
        );
    }
}
