#![no_main]
//! Parsing a .torrent never panics; an accepted one has consistent geometry.
use libfuzzer_sys::fuzz_target;
use riffle_protocol::metainfo::Metainfo;
use riffle_protocol::PieceIndex;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Metainfo::from_bytes(data) {
        let info = &m.info;
        let n = info.piece_count();
        assert!(n > 0);
        let sum: u64 = (0..n).map(|i| u64::from(info.piece_len(PieceIndex::new(i)))).sum();
        assert_eq!(sum, info.total_length());
        for i in 0..info.files.len() {
            assert!(!info.file_path(i).is_empty());
        }
    }
});
