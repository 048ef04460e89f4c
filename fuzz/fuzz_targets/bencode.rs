#![no_main]
//! Strict and lenient bencode decoding never panic, and whatever the strict
//! decoder accepts re-encodes canonically to bytes that decode back to the
//! same canonical form (dictionary order aside: input keys may be unsorted).
use libfuzzer_sys::fuzz_target;
use riffle_protocol::bencode::{decode, decode_lenient, encode, Limits, Owned};

fuzz_target!(|data: &[u8]| {
    let _ = decode_lenient(data, Limits::default());
    if let Ok(v) = decode(data) {
        let canonical = encode(&Owned::from(&v));
        let back = decode(&canonical).expect("canonical output decodes");
        assert_eq!(encode(&Owned::from(&back)), canonical);
    }
});
