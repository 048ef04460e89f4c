//! The filesystem and in-memory backends must behave the same: any sequence
//! of block writes reads back identically from both, and both agree on which
//! reads fail because data is absent.

use proptest::prelude::*;
use riffle_protocol::PieceIndex;
use riffle_storage::{FsStorage, Layout, MemStorage, Storage, StorageError};

/// One block write: piece (reduced modulo the piece count), offset and
/// length (reduced to fit the piece), and a fill seed.
type Write = (u32, u32, u32, u8);

fn layout_and_writes() -> impl Strategy<Value = (Vec<u64>, u32, Vec<Write>)> {
    let one = prop_oneof![2 => Just(0u64), 2 => 1u64..20, 2 => 20u64..300];
    (
        proptest::collection::vec(one, 1..10),
        1u32..90,
        proptest::collection::vec(any::<Write>(), 0..40),
    )
        .prop_filter("some data", |(l, _, _)| l.iter().sum::<u64>() > 0)
}

fn file_names(n: usize) -> Vec<Vec<String>> {
    (0..n)
        .map(|i| vec!["t".to_string(), format!("d{}", i % 3), format!("f{i}")])
        .collect()
}

/// Outcome of a read, comparable across backends.
fn outcome(r: Result<(), StorageError>, buf: &[u8]) -> Result<Vec<u8>, &'static str> {
    match r {
        Ok(()) => Ok(buf.to_vec()),
        Err(StorageError::Missing { .. }) => Err("missing"),
        Err(StorageError::Truncated { .. }) => Err("truncated"),
        Err(_) => Err("other"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn random_writes_read_back_identically((lengths, piece_length, writes) in layout_and_writes()) {
        let layout = Layout::new(lengths.clone(), piece_length).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let fs = FsStorage::with_cache_capacity(dir.path(), layout.clone(), &file_names(lengths.len()), 2).unwrap();
        let mem = MemStorage::new(layout.clone());
        let backends: [&dyn Storage; 2] = [&fs, &mem];

        for &(p, off, len, seed) in &writes {
            let piece = PieceIndex::new(p % layout.piece_count());
            let plen = layout.piece_len(piece).unwrap();
            let off = off % plen;
            let len = 1 + len % (plen - off);
            let data: Vec<u8> = (0..len).map(|k| seed.wrapping_add(k as u8)).collect();
            for b in backends {
                b.write_block(piece, off, &data).unwrap();
            }
        }
        for b in backends {
            b.create_empty_files().unwrap();
        }

        // Every piece reads the same from both (or fails the same way).
        for i in 0..layout.piece_count() {
            let piece = PieceIndex::new(i);
            let plen = layout.piece_len(piece).unwrap() as usize;
            let mut a = vec![0xAA; plen];
            let mut b = vec![0x55; plen];
            let ra = outcome(fs.read_block(piece, 0, &mut a), &a);
            let rb = outcome(mem.read_block(piece, 0, &mut b), &b);
            prop_assert_eq!(ra, rb);
        }
        // File existence and lengths agree; the bytes on disk equal memory's.
        for (i, &len) in lengths.iter().enumerate() {
            let sf = fs.file_status(i).unwrap().map(|s| s.length);
            let sm = mem.file_status(i).unwrap().map(|s| s.length);
            prop_assert_eq!(sf, sm);
            if let Some(l) = sf {
                prop_assert_eq!(l, len);
                let on_disk = std::fs::read(fs.path(i).unwrap()).unwrap();
                prop_assert_eq!(Some(on_disk), mem.file_contents(i).unwrap());
            }
        }
        fs.sync_all().unwrap();
    }

    #[test]
    fn out_of_range_requests_fail_alike(
        (lengths, piece_length, _) in layout_and_writes(),
        piece in any::<u32>(),
        offset in any::<u32>(),
        len in 0usize..200,
    ) {
        let layout = Layout::new(lengths.clone(), piece_length).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let fs = FsStorage::new(dir.path(), layout.clone(), &file_names(lengths.len())).unwrap();
        let mem = MemStorage::new(layout);
        let data = vec![7u8; len];
        let wf = fs.write_block(PieceIndex::new(piece), offset, &data).is_ok();
        let wm = mem.write_block(PieceIndex::new(piece), offset, &data).is_ok();
        prop_assert_eq!(wf, wm);
        let mut a = vec![0; len];
        let mut b = vec![0; len];
        let ra = outcome(fs.read_block(PieceIndex::new(piece), offset, &mut a), &a);
        let rb = outcome(mem.read_block(PieceIndex::new(piece), offset, &mut b), &b);
        prop_assert_eq!(ra, rb);
    }
}

#[test]
fn storage_is_object_safe_and_shareable() {
    fn assert_send_sync<T: Send + Sync + ?Sized>() {}
    assert_send_sync::<dyn Storage>();
    let layout = Layout::single_file(64, 16).unwrap();
    let shared: std::sync::Arc<dyn Storage> = std::sync::Arc::new(MemStorage::new(layout));
    std::thread::scope(|s| {
        for i in 0..4u32 {
            let st = std::sync::Arc::clone(&shared);
            s.spawn(move || {
                st.write_block(PieceIndex::new(i), 0, &[i as u8; 16])
                    .unwrap()
            });
        }
    });
    for i in 0..4u32 {
        let mut buf = [0u8; 16];
        shared.read_block(PieceIndex::new(i), 0, &mut buf).unwrap();
        assert_eq!(buf, [i as u8; 16]);
    }
}
