#![no_main]
//! BitTorrent v2 input never panics: a .torrent (v2 or hybrid, with its
//! piece layers) is parsed, its hashes set up and every piece's check
//! derived; hash requests made of the first 16 bytes are answered for
//! every file, and an answer at the piece layer with its whole proof must
//! verify against the file's root; the answer taken as a peer's hashes
//! never panics the verifier either.
use libfuzzer_sys::fuzz_target;
use riffle_protocol::merkle;
use riffle_protocol::metainfo::{Metainfo, V2Hashes};
use riffle_protocol::wire::HashRange;
use riffle_protocol::PieceIndex;

fuzz_target!(|data: &[u8]| {
    if data.len() < 16 {
        return;
    }
    let (req, torrent) = data.split_at(16);
    let word = |i: usize| u32::from_be_bytes([req[i], req[i + 1], req[i + 2], req[i + 3]]);
    let Ok(m) = Metainfo::from_bytes(torrent) else {
        return;
    };
    let (v2, _dropped) = V2Hashes::new(&m.info, &m.piece_layers);
    for p in 0..m.info.piece_count() {
        let _ = m.info.piece_check(&v2, PieceIndex::new(p));
    }
    let depth = merkle::piece_layer_depth(m.info.piece_length);
    for f in v2.files() {
        let range = HashRange {
            root: f.root,
            base_layer: word(0) % 40,
            index: word(4),
            length: word(8),
            proof_layers: word(12) % 40,
        };
        let Some(out) = v2.answer(&range) else {
            continue;
        };
        let count = range.length as usize;
        assert!(out.len() >= count);
        let (base, uncles) = out.split_at(count);
        let width = (f.pieces as usize).next_power_of_two();
        let full = width.trailing_zeros().saturating_sub(1);
        let ok = merkle::verify_range(
            &f.root,
            width,
            range.index as usize,
            base,
            merkle::pad_hash(depth),
            uncles,
        );
        let aligned = count.is_power_of_two() && (range.index as usize).is_multiple_of(count);
        if range.base_layer == depth && range.proof_layers == full && aligned {
            assert!(ok, "our own answer must prove out: {range:?}");
        }
    }
});
