use std::sync::atomic::AtomicUsize;

use proptest::prelude::*;

use super::*;
use crate::{Layout, MemStorage};

/// Deterministic, non-repeating content.
fn content(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 8)) as u8)
        .collect()
}

fn piece_hashes(layout: &Layout, data: &[u8]) -> Vec<[u8; 20]> {
    data.chunks(layout.piece_length() as usize)
        .map(sha1_digest)
        .collect()
}

#[test]
fn digest_matches_known_vector() {
    // FIPS 180 test vector.
    assert_eq!(
        sha1_digest(b"abc"),
        [
            0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78, 0x50,
            0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d
        ]
    );
}

#[test]
fn chunked_hash_equals_whole_hash_for_large_pieces() {
    // Pieces larger than HASH_CHUNK and not a multiple of it, split over files.
    let piece_len = (HASH_CHUNK * 2 + 123) as u32;
    let total = piece_len as usize * 3 - 77;
    let layout = Layout::new(vec![1000, 0, total as u64 - 1000], piece_len).unwrap();
    let data = content(total);
    let s = MemStorage::with_content(layout.clone(), &data).unwrap();
    let hashes = piece_hashes(&layout, &data);
    let mut v = Verifier::new();
    for (i, h) in hashes.iter().enumerate() {
        assert_eq!(&v.hash_piece(&s, PieceIndex::new(i as u32)).unwrap(), h);
    }
}

#[test]
fn one_flipped_byte_fails_and_missing_file_is_false() {
    let layout = Layout::new(vec![50, 70], 32).unwrap();
    let data = content(120);
    let hashes = piece_hashes(&layout, &data);
    let s = MemStorage::with_content(layout.clone(), &data).unwrap();
    for (i, h) in hashes.iter().enumerate() {
        assert!(verify_piece(&s, PieceIndex::new(i as u32), h).unwrap());
    }
    // Flip one byte in piece 1 (which spans both files).
    s.write_at(1, 5, &[data[55] ^ 0x01]).unwrap();
    assert!(!verify_piece(&s, PieceIndex::new(1), &hashes[1]).unwrap());
    assert!(verify_piece(&s, PieceIndex::new(0), &hashes[0]).unwrap());
    // Remove file 1: pieces touching it are absent, not errors.
    s.remove_file(1).unwrap();
    assert!(!verify_piece(&s, PieceIndex::new(3), &hashes[3]).unwrap());
    let have = check_pieces(&s, &hashes, 2).unwrap();
    assert_eq!(have, riffle_protocol::Bitfield::from_pattern("1000"));
    // Out-of-range piece is an error, not a panic.
    assert!(verify_piece(&s, PieceIndex::new(4), &hashes[0]).is_err());
}

#[test]
fn check_pieces_rejects_wrong_hash_count_and_honours_trusted() {
    let layout = Layout::single_file(100, 10).unwrap();
    let data = content(100);
    let mut hashes = piece_hashes(&layout, &data);
    let s = MemStorage::new(layout);
    assert!(matches!(
        check_pieces(&s, &hashes[..9], 2),
        Err(StorageError::HashCountMismatch {
            expected: 10,
            got: 9
        })
    ));
    s.write_at(0, 0, &data).unwrap();
    hashes[4] = [0; 20];
    let trusted = riffle_protocol::Bitfield::from_pattern("0000100001");
    let calls = AtomicUsize::new(0);
    let checks: Vec<_> = hashes
        .iter()
        .map(|h| riffle_protocol::metainfo::PieceCheck::Sha1(*h))
        .collect();
    let have = check_pieces_with(&s, &checks, 3, &trusted, |_, _| {
        calls.fetch_add(1, Ordering::Relaxed);
    })
    .unwrap();
    // Piece 4 has a wrong hash but is trusted, so it is not read.
    assert!(have.is_full());
    assert_eq!(calls.load(Ordering::Relaxed), 10);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn parallel_check_matches_serial_verification(
        lengths in proptest::collection::vec(0u64..300, 1..8),
        piece_length in 1u32..128,
        corrupt in proptest::collection::vec(any::<u16>(), 0..4),
        workers in 1usize..5,
    ) {
        prop_assume!(lengths.iter().sum::<u64>() > 0);
        let layout = Layout::new(lengths, piece_length).unwrap();
        let data = content(layout.total_length() as usize);
        let hashes = piece_hashes(&layout, &data);
        let mut stored = data.clone();
        for c in &corrupt {
            let at = *c as usize % stored.len();
            stored[at] ^= 0x80;
        }
        let s = MemStorage::with_content(layout.clone(), &stored).unwrap();
        let have = check_pieces(&s, &hashes, workers).unwrap();
        for i in 0..layout.piece_count() {
            let start = i as usize * piece_length as usize;
            let end = (start + piece_length as usize).min(data.len());
            let intact = stored[start..end] == data[start..end];
            prop_assert_eq!(have.has(PieceIndex::new(i)), intact);
        }
    }
}

#[test]
fn merkle_and_hybrid_checks() {
    use riffle_protocol::merkle;
    use riffle_protocol::metainfo::PieceCheck;
    // A 40,000-byte file padded to one 64 KiB piece, as a v2 torrent lays
    // it out: the merkle root covers the file's data only, SHA-1 the piece.
    let layout = Layout::new(vec![40_000, 25_536], 65_536).unwrap();
    let s = MemStorage::new(layout);
    let data: Vec<u8> = (0..40_000u32).map(|i| (i * 7) as u8).collect();
    s.write_at(0, 0, &data).unwrap();
    s.write_at(1, 0, &vec![0; 25_536]).unwrap();
    let leaves = merkle::piece_leaves(40_000, 65_536);
    let root = merkle::piece_root(&data, leaves);
    let mut padded = data.clone();
    padded.resize(65_536, 0);
    let sha1 = crate::sha1_digest(&padded);
    let p = PieceIndex::new(0);
    let mut v = Verifier::new();
    let merkle = PieceCheck::Merkle {
        root,
        leaves,
        data_len: 40_000,
    };
    assert_eq!(v.check(&s, p, &merkle).unwrap(), Some(true));
    let both = PieceCheck::Both {
        sha1,
        root,
        leaves,
        data_len: 40_000,
    };
    assert_eq!(v.check(&s, p, &both).unwrap(), Some(true));
    let wrong = PieceCheck::Both {
        sha1: [0; 20],
        root,
        leaves,
        data_len: 40_000,
    };
    assert_eq!(
        v.check(&s, p, &wrong).unwrap(),
        Some(false),
        "both must match"
    );
    assert_eq!(v.check(&s, p, &PieceCheck::Unknown).unwrap(), None);
    s.write_at(0, 39_999, &[0xee]).unwrap();
    assert_eq!(v.check(&s, p, &merkle).unwrap(), Some(false));
}
