use proptest::prelude::*;

use super::*;

fn p(i: u32) -> PieceIndex {
    PieceIndex::new(i)
}

fn spans(layout: &Layout, piece: u32) -> Vec<(usize, u64, u64)> {
    layout
        .piece_spans(p(piece))
        .unwrap()
        .map(|s| (s.file_index, s.file_offset, s.len))
        .collect()
}

#[test]
fn rejects_bad_input() {
    assert!(matches!(
        Layout::new(vec![10], 0),
        Err(StorageError::ZeroPieceLength)
    ));
    assert!(matches!(
        Layout::new(vec![], 16),
        Err(StorageError::EmptyTorrent)
    ));
    assert!(matches!(
        Layout::new(vec![0, 0, 0], 16),
        Err(StorageError::EmptyTorrent)
    ));
    assert!(matches!(
        Layout::new(vec![u64::MAX, 1], 16),
        Err(StorageError::TotalLengthOverflow)
    ));
    assert!(matches!(
        Layout::new(vec![u64::MAX], 1),
        Err(StorageError::TooManyPieces { .. })
    ));
    // Exactly u32::MAX pieces is still fine.
    let l = Layout::new(vec![u64::from(u32::MAX)], 1).unwrap();
    assert_eq!(l.piece_count(), u32::MAX);
}

#[test]
fn piece_count_and_last_piece() {
    let l = Layout::new(vec![10, 0, 7], 4).unwrap();
    assert_eq!(l.total_length(), 17);
    assert_eq!(l.piece_count(), 5);
    assert_eq!(l.last_piece_length(), 1);
    assert_eq!(l.piece_len(p(3)).unwrap(), 4);
    assert_eq!(l.piece_len(p(4)).unwrap(), 1);
    assert!(l.piece_len(p(5)).is_err());

    let exact = Layout::single_file(16, 4).unwrap();
    assert_eq!(exact.piece_count(), 4);
    assert_eq!(exact.last_piece_length(), 4);

    let tiny = Layout::single_file(3, 1 << 20).unwrap();
    assert_eq!(tiny.piece_count(), 1);
    assert_eq!(tiny.last_piece_length(), 3);
}

#[test]
fn spans_cross_files_and_skip_empty_ones() {
    // files: a=10 bytes, b=0, c=7; pieces of 4.
    let l = Layout::new(vec![10, 0, 7], 4).unwrap();
    assert_eq!(spans(&l, 0), vec![(0, 0, 4)]);
    assert_eq!(spans(&l, 2), vec![(0, 8, 2), (2, 0, 2)]);
    assert_eq!(spans(&l, 4), vec![(2, 6, 1)]);
    let mid: Vec<_> = l.range_spans(p(2), 1, 2).unwrap().collect();
    assert_eq!(
        mid,
        vec![
            FileSpan {
                file_index: 0,
                file_offset: 9,
                len: 1
            },
            FileSpan {
                file_index: 2,
                file_offset: 0,
                len: 1
            }
        ]
    );
    assert_eq!(l.range_spans(p(2), 4, 0).unwrap().count(), 0);
    assert!(l.range_spans(p(2), 3, 2).is_err());
    assert!(l.range_spans(p(4), 0, 2).is_err());
    assert!(l.range_spans(p(0), u32::MAX, u64::MAX).is_err());
}

#[test]
fn check_block_bounds() {
    let l = Layout::new(vec![10, 0, 7], 4).unwrap();
    let b = |piece, offset, length| BlockRef {
        piece: p(piece),
        offset,
        length,
    };
    assert!(l.check_block(&b(0, 0, 4)).is_ok());
    assert!(l.check_block(&b(4, 0, 1)).is_ok());
    assert!(l.check_block(&b(4, 0, 2)).is_err());
    assert!(l.check_block(&b(5, 0, 1)).is_err());
    assert!(l.check_block(&b(0, u32::MAX, u32::MAX)).is_err());
}

#[test]
fn file_pieces_ranges() {
    let l = Layout::new(vec![0, 10, 0, 7, 0], 4).unwrap();
    assert_eq!(l.file_pieces(0).unwrap(), 0..0);
    assert_eq!(l.file_pieces(1).unwrap(), 0..3);
    assert_eq!(l.file_pieces(2).unwrap(), 2..2);
    assert_eq!(l.file_pieces(3).unwrap(), 2..5);
    assert_eq!(l.file_pieces(4).unwrap(), 4..4);
    assert!(l.file_pieces(5).is_err());
}

/// File lengths skewed toward the interesting cases: empty files, files
/// smaller than a piece, files spanning many pieces.
fn file_lengths() -> impl Strategy<Value = Vec<u64>> {
    let one = prop_oneof![
        3 => Just(0u64),
        3 => 1u64..8,
        2 => 8u64..64,
        1 => 64u64..2000,
    ];
    proptest::collection::vec(one, 1..24).prop_filter("some data", |v| v.iter().sum::<u64>() > 0)
}

proptest! {
    #[test]
    fn piece_spans_tile_the_files(lengths in file_lengths(), piece_length in 1u32..100) {
        let l = Layout::new(lengths.clone(), piece_length).unwrap();
        let total: u64 = lengths.iter().sum();
        prop_assert_eq!(l.total_length(), total);
        prop_assert_eq!(u64::from(l.piece_count()), total.div_ceil(u64::from(piece_length)));

        // Walk all spans of all pieces in order: they must be exactly the
        // non-empty files' bytes, contiguous, with no gap or overlap.
        let mut file = 0usize;
        let mut file_off = 0u64;
        let mut sum = 0u64;
        for piece in 0..l.piece_count() {
            let mut piece_sum = 0u64;
            for s in l.piece_spans(p(piece)).unwrap() {
                prop_assert!(s.len > 0);
                // Skip files we have finished (and empty ones).
                while file < lengths.len() && file_off == lengths[file] {
                    file += 1;
                    file_off = 0;
                }
                prop_assert_eq!(s.file_index, file);
                prop_assert_eq!(s.file_offset, file_off);
                prop_assert!(s.file_offset + s.len <= lengths[file]);
                file_off += s.len;
                piece_sum += s.len;
            }
            prop_assert_eq!(piece_sum, u64::from(l.piece_len(p(piece)).unwrap()));
            sum += piece_sum;
        }
        prop_assert_eq!(sum, total);
        // Everything after the last span is empty files.
        prop_assert!(lengths[file..].iter().skip(1).all(|&n| n == 0));
        prop_assert_eq!(file_off, lengths[file]);
    }

    #[test]
    fn range_lookup_agrees_with_whole_piece(
        lengths in file_lengths(),
        piece_length in 1u32..100,
        piece_sel in any::<u32>(),
        a in any::<u32>(),
        b in any::<u32>(),
    ) {
        let l = Layout::new(lengths, piece_length).unwrap();
        let piece = p(piece_sel % l.piece_count());
        let plen = l.piece_len(piece).unwrap();
        let (mut lo, mut hi) = (a % (plen + 1), b % (plen + 1));
        if lo > hi { std::mem::swap(&mut lo, &mut hi); }
        // Expand whole-piece spans to (file, offset) per byte, then slice.
        let bytes: Vec<(usize, u64)> = l
            .piece_spans(piece)
            .unwrap()
            .flat_map(|s| (0..s.len).map(move |k| (s.file_index, s.file_offset + k)))
            .collect();
        let ranged: Vec<(usize, u64)> = l
            .range_spans(piece, lo, u64::from(hi - lo))
            .unwrap()
            .inspect(|s| assert!(s.len > 0))
            .flat_map(|s| (0..s.len).map(move |k| (s.file_index, s.file_offset + k)))
            .collect();
        prop_assert_eq!(&ranged[..], &bytes[lo as usize..hi as usize]);
    }

    #[test]
    fn file_pieces_agree_with_spans(lengths in file_lengths(), piece_length in 1u32..100) {
        let l = Layout::new(lengths.clone(), piece_length).unwrap();
        for (f, &flen) in lengths.iter().enumerate() {
            let touching: Vec<u32> = (0..l.piece_count())
                .filter(|&i| l.piece_spans(p(i)).unwrap().any(|s| s.file_index == f))
                .collect();
            let range: Vec<u32> = l.file_pieces(f).unwrap().collect();
            prop_assert_eq!(&range, &touching);
            prop_assert_eq!(flen == 0, range.is_empty());
        }
    }

    #[test]
    fn arbitrary_input_never_panics(
        lengths in proptest::collection::vec(any::<u64>(), 0..6),
        piece_length in any::<u32>(),
        piece in any::<u32>(),
        offset in any::<u32>(),
        len in any::<u64>(),
    ) {
        if let Ok(l) = Layout::new(lengths, piece_length) {
            let _ = l.range_spans(p(piece), offset, len).map(|s| s.take(4).count());
            let _ = l.file_pieces(piece as usize % 8);
            let _ = l.check_piece(piece);
        }
    }
}
