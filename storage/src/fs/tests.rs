use riffle_protocol::PieceIndex;

use super::*;

fn names(files: &[&[&str]]) -> Vec<Vec<String>> {
    files
        .iter()
        .map(|f| f.iter().map(|c| c.to_string()).collect())
        .collect()
}

#[test]
fn refuses_bad_components() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(vec![4, 4], 4).unwrap();
    for bad in [
        &["t", ".."][..],
        &["..", "x"],
        &["t", "."],
        &["t", ""],
        &["t", "a/b"],
        &["t", "a\\b"],
        &["t", "a\0b"],
        &[],
    ] {
        let files = names(&[&["t", "ok"], bad]);
        let err = FsStorage::new(dir.path(), layout.clone(), &files).unwrap_err();
        assert!(
            matches!(err, StorageError::BadPathComponent { file_index: 1, .. }),
            "{bad:?} gave {err:?}"
        );
    }
    let dup = names(&[&["t", "a"], &["t", "a"]]);
    assert!(matches!(
        FsStorage::new(dir.path(), layout.clone(), &dup),
        Err(StorageError::DuplicatePath { .. })
    ));
    // Pad files may share a path (libtorrent's `.pad/<length>`), the
    // payload files still may not.
    let pads = names(&[&["t", ".pad", "7"], &["t", ".pad", "7"]]);
    assert!(FsStorage::with_pads(dir.path(), layout.clone(), &pads, vec![true, true]).is_ok());
    assert!(FsStorage::with_pads(dir.path(), layout.clone(), &dup, vec![true, false]).is_ok());
    assert!(matches!(
        FsStorage::with_pads(dir.path(), layout.clone(), &dup, vec![false, false]),
        Err(StorageError::DuplicatePath { .. })
    ));
    assert!(matches!(
        FsStorage::new(dir.path(), layout, &names(&[&["a"]])),
        Err(StorageError::FileCountMismatch { .. })
    ));
    // Nothing was created by the refused constructions.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn writes_create_sparse_full_length_files_lazily() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(vec![10, 0, 1 << 20], 8).unwrap();
    let files = names(&[&["t", "a"], &["t", "empty"], &["t", "sub", "big"]]);
    let s = FsStorage::new(dir.path(), layout, &files).unwrap();
    assert!(!dir.path().join("t").exists());
    assert_eq!(s.file_status(2).unwrap(), None);

    // Piece 1 covers a[8..10] and big[0..6].
    s.write_block(PieceIndex::new(1), 0, b"ABCDEFGH").unwrap();
    let big = dir.path().join("t/sub/big");
    assert_eq!(std::fs::metadata(&big).unwrap().len(), 1 << 20);
    assert_eq!(s.file_status(2).unwrap().unwrap().length, 1 << 20);
    assert_eq!(&std::fs::read(dir.path().join("t/a")).unwrap()[8..], b"AB");
    // A 1 MiB file with 6 bytes written should occupy far less than 1 MiB.
    {
        use std::os::unix::fs::MetadataExt;
        let blocks = std::fs::metadata(&big).unwrap().blocks();
        assert!(
            blocks * 512 < 1 << 20,
            "file is not sparse: {blocks} blocks"
        );
    }
    let mut buf = [0xffu8; 8];
    s.read_block(PieceIndex::new(1), 0, &mut buf).unwrap();
    assert_eq!(&buf, b"ABCDEFGH");
    // Unwritten parts of an existing file are holes: zeros.
    s.read_block(PieceIndex::new(0), 0, &mut buf).unwrap();
    assert_eq!(buf, [0; 8]);
    // The empty file appears only when asked for.
    assert!(!dir.path().join("t/empty").exists());
    s.create_empty_files().unwrap();
    s.create_empty_files().unwrap();
    assert_eq!(
        std::fs::metadata(dir.path().join("t/empty")).unwrap().len(),
        0
    );
    assert_eq!(s.file_status(1).unwrap().unwrap().length, 0);
    s.sync_all().unwrap();
}

#[test]
fn missing_and_truncated_files_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(vec![16, 16], 16).unwrap();
    let s = FsStorage::new(dir.path(), layout, &names(&[&["a"], &["b"]])).unwrap();
    let mut buf = [0u8; 16];
    let err = s.read_block(PieceIndex::new(1), 0, &mut buf).unwrap_err();
    assert!(matches!(err, StorageError::Missing { file_index: 1, .. }));
    assert!(err.is_absent_data());
    assert!(err.to_string().contains(&*dir.path().to_string_lossy()));

    std::fs::write(dir.path().join("b"), b"short").unwrap();
    let err = s.read_block(PieceIndex::new(1), 0, &mut buf).unwrap_err();
    assert!(matches!(err, StorageError::Truncated { file_index: 1, .. }));
    // Out-of-range requests are refused before any I/O.
    assert!(matches!(
        s.read_block(PieceIndex::new(2), 0, &mut buf),
        Err(StorageError::PieceOutOfRange { .. })
    ));
    assert!(matches!(
        s.write_at(0, 10, &[0; 7]),
        Err(StorageError::FileRangeOutOfBounds { .. })
    ));
}

#[test]
fn handle_cache_is_bounded_and_survives_eviction() {
    let dir = tempfile::tempdir().unwrap();
    let n = 10;
    let layout = Layout::new(vec![4; n], 4).unwrap();
    let files: Vec<Vec<String>> = (0..n).map(|i| vec![format!("f{i}")]).collect();
    let s = FsStorage::with_cache_capacity(dir.path(), layout, &files, 3).unwrap();
    for i in 0..n as u32 {
        s.write_block(PieceIndex::new(i), 0, &i.to_be_bytes())
            .unwrap();
        assert!(s.open_handles() <= 3);
    }
    for i in 0..n as u32 {
        let mut buf = [0u8; 4];
        s.read_block(PieceIndex::new(i), 0, &mut buf).unwrap();
        assert_eq!(buf, i.to_be_bytes());
    }
    s.sync_all().unwrap();
    s.close_handles();
    assert_eq!(s.open_handles(), 0);
}

#[test]
fn read_only_handle_is_upgraded_for_writing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a"), [1u8; 8]).unwrap();
    let layout = Layout::single_file(8, 8).unwrap();
    let s = FsStorage::new(dir.path(), layout, &names(&[&["a"]])).unwrap();
    let mut buf = [0u8; 8];
    s.read_block(PieceIndex::new(0), 0, &mut buf).unwrap();
    assert_eq!(buf, [1; 8]);
    s.write_block(PieceIndex::new(0), 2, &[9, 9]).unwrap();
    s.read_block(PieceIndex::new(0), 0, &mut buf).unwrap();
    assert_eq!(buf, [1, 1, 9, 9, 1, 1, 1, 1]);
}

#[test]
fn many_threads_write_disjoint_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let pieces = 64u32;
    let layout = Layout::new(vec![1000, 0, 3000, u64::from(pieces) * 64 - 4000], 64).unwrap();
    let files = names(&[&["t", "a"], &["t", "e"], &["t", "b"], &["t", "c"]]);
    let s = FsStorage::with_cache_capacity(dir.path(), layout, &files, 2).unwrap();
    std::thread::scope(|scope| {
        for t in 0..4u32 {
            let s = &s;
            scope.spawn(move || {
                for piece in (t..pieces).step_by(4) {
                    s.write_block(PieceIndex::new(piece), 0, &[piece as u8; 64])
                        .unwrap();
                }
            });
        }
    });
    for piece in 0..pieces {
        let mut buf = [0u8; 64];
        s.read_block(PieceIndex::new(piece), 0, &mut buf).unwrap();
        assert_eq!(buf, [piece as u8; 64]);
    }
}

#[test]
fn sync_reaches_evicted_files_and_never_recreates_deleted_ones() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(vec![4, 4, 4], 4).unwrap();
    let files = names(&[&["a"], &["b"], &["c"]]);
    let s = FsStorage::with_cache_capacity(dir.path(), layout, &files, 1).unwrap();
    for i in 0..3 {
        s.write_block(PieceIndex::new(i), 0, &[i as u8; 4]).unwrap();
    }
    assert_eq!(s.open_handles(), 1);
    std::fs::remove_file(dir.path().join("a")).unwrap();
    s.sync_all().unwrap();
    assert!(!dir.path().join("a").exists());
    assert_eq!(std::fs::read(dir.path().join("b")).unwrap(), [1; 4]);
    // Nothing is dirty any more: a second sync has nothing to do.
    s.sync_all().unwrap();
}

#[test]
fn preallocate_reserves_full_files_and_keeps_written_data() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(vec![10, 0, 1 << 20], 8).unwrap();
    let files = names(&[&["t", "a"], &["t", "empty"], &["t", "sub", "big"]]);
    let s = FsStorage::new(dir.path(), layout, &files).unwrap();
    // Data written before the reservation survives it.
    s.write_block(PieceIndex::new(0), 0, b"12345678").unwrap();
    s.preallocate().unwrap();
    s.preallocate().unwrap();
    let a = std::fs::read(dir.path().join("t/a")).unwrap();
    assert_eq!(&a[..8], b"12345678");
    assert_eq!(a.len(), 10);
    let big = std::fs::metadata(dir.path().join("t/sub/big")).unwrap();
    assert_eq!(big.len(), 1 << 20);
    // Reserved, not sparse (where the filesystem supports fallocate).
    if big.blocks() * 512 < 1 << 20 {
        eprintln!("filesystem without fallocate: file left sparse");
    }
    // The empty file is not the reservation's business.
    assert!(!dir.path().join("t/empty").exists());
    let mut buf = [0xffu8; 8];
    s.read_block(PieceIndex::new(2), 0, &mut buf).unwrap();
    assert_eq!(buf, [0; 8], "reserved space reads as zeros");
}

#[test]
fn writeback_hint_accepts_pieces_across_files_and_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(vec![10, 20], 8).unwrap();
    let files = names(&[&["t", "a"], &["t", "b"]]);
    let s = FsStorage::new(dir.path(), layout, &files).unwrap();
    s.write_block(PieceIndex::new(1), 0, b"ABCDEFGH").unwrap();
    // Piece 1 spans both files; piece 3 was never written (no handle yet).
    s.start_writeback(PieceIndex::new(1)).unwrap();
    s.start_writeback(PieceIndex::new(3)).unwrap();
    assert!(
        s.start_writeback(PieceIndex::new(9)).is_err(),
        "past the end"
    );
    s.sync_all().unwrap();
    let mut buf = [0u8; 8];
    s.read_block(PieceIndex::new(1), 0, &mut buf).unwrap();
    assert_eq!(&buf, b"ABCDEFGH");
}

#[test]
fn skipped_files_are_never_created_their_boundary_bytes_go_to_the_part_file() {
    let dir = tempfile::tempdir().unwrap();
    // Three files of 6, 10 and 6 bytes in pieces of 8: piece 0 = a[0..6] +
    // b[0..2], piece 1 = b[2..10], piece 2 = c[0..6]. b is skipped.
    let layout = Layout::new(vec![6, 10, 6], 8).unwrap();
    let parts = dir.path().join("state/x.parts");
    let s = FsStorage::new(
        dir.path(),
        layout,
        &names(&[&["t", "a"], &["t", "b"], &["t", "c"]]),
    )
    .unwrap()
    .skipping(vec![false, true, false], parts.clone());
    s.preallocate().unwrap();
    s.create_empty_files().unwrap();
    assert!(!dir.path().join("t/b").exists(), "preallocation skips it");
    // Piece 0 spans a and b: b's two bytes go to the part file.
    s.write_block(PieceIndex::new(0), 0, b"AAAAAABB").unwrap();
    let mut back = [0u8; 8];
    s.read_block(PieceIndex::new(0), 0, &mut back).unwrap();
    assert_eq!(&back, b"AAAAAABB");
    assert!(!dir.path().join("t/b").exists(), "still not created");
    assert_eq!(std::fs::read(dir.path().join("t/a")).unwrap(), b"AAAAAA");
    // The part file holds b's bytes at their offset in the torrent.
    let p = std::fs::read(&parts).unwrap();
    assert_eq!(&p[6..8], b"BB");
    s.sync_all().unwrap();
    assert!(s.file_status(1).unwrap().is_none());
    // A piece wholly inside b that was never written reads as missing
    // data, not a crash.
    let fresh = FsStorage::new(
        dir.path(),
        Layout::new(vec![6, 10, 6], 8).unwrap(),
        &names(&[&["t", "a"], &["t", "b"], &["t", "c"]]),
    )
    .unwrap()
    .skipping(
        vec![false, true, false],
        dir.path().join("state/none.parts"),
    );
    assert!(fresh.read_block(PieceIndex::new(1), 0, &mut back).is_err());
}

#[test]
fn pad_files_are_virtual_zeros() {
    let dir = tempfile::tempdir().unwrap();
    // a (5 bytes), a pad file (3 bytes), b (4 bytes); pieces of 8.
    let layout = Layout::new(vec![5, 3, 4], 8).unwrap();
    let s = FsStorage::new(
        dir.path(),
        layout,
        &names(&[&["t", "a"], &["t", ".pad", "3"], &["t", "b"]]),
    )
    .unwrap()
    .with_pad_files(vec![false, true, false]);
    // A peer's bytes for the padding are dropped; reads give zeros.
    s.write_block(PieceIndex::new(0), 0, b"hello\xff\xff\xff")
        .unwrap();
    s.write_block(PieceIndex::new(1), 0, b"wxyz").unwrap();
    s.preallocate().unwrap();
    s.create_empty_files().unwrap();
    let mut piece = [0u8; 8];
    s.read_block(PieceIndex::new(0), 0, &mut piece).unwrap();
    assert_eq!(&piece, b"hello\0\0\0");
    assert!(
        !dir.path().join("t").join(".pad").exists(),
        "no pad file on disk"
    );
    assert_eq!(s.file_status(1).unwrap().unwrap().length, 3);
    // The data verifies against a hash of the zero-padded piece.
    let have = crate::check_pieces(
        &s,
        &[
            crate::sha1_digest(b"hello\0\0\0"),
            crate::sha1_digest(b"wxyz"),
        ],
        1,
    )
    .unwrap();
    assert!(have.is_full());
}

#[test]
fn executable_files_and_symlinks_inside_the_folder() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(vec![4, 0, 0], 4).unwrap();
    let s = FsStorage::new(
        dir.path(),
        layout,
        &names(&[
            &["t", "bin", "run"],
            &["t", "docs", "link"],
            &["t", "empty-exec"],
        ]),
    )
    .unwrap()
    .with_attributes(
        vec![true, false, true],
        vec![
            None,
            Some(vec!["t".into(), "bin".into(), "run".into()]),
            None,
        ],
    )
    .unwrap();
    s.write_block(PieceIndex::new(0), 0, b"#!sh").unwrap();
    s.create_empty_files().unwrap();
    let run = dir.path().join("t/bin/run");
    assert_ne!(
        std::fs::metadata(&run).unwrap().permissions().mode() & 0o111,
        0
    );
    let exec = dir.path().join("t/empty-exec");
    assert_ne!(
        std::fs::metadata(&exec).unwrap().permissions().mode() & 0o111,
        0
    );
    let link = dir.path().join("t/docs/link");
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        std::path::PathBuf::from("../bin/run")
    );
    assert_eq!(std::fs::read(&link).unwrap(), b"#!sh");
    assert_eq!(s.file_status(1).unwrap().unwrap().length, 0);
    // A target outside the root is refused as a path is.
    let bad = FsStorage::new(
        dir.path(),
        Layout::new(vec![4, 0], 4).unwrap(),
        &names(&[&["u", "a"], &["u", "l"]]),
    )
    .unwrap()
    .with_attributes(vec![], vec![None, Some(vec!["..".into(), "etc".into()])]);
    assert!(bad.is_err());
}
