#![no_main]
//! Magnet parsing never panics, and an accepted link survives a round trip.
use libfuzzer_sys::fuzz_target;
use riffle_protocol::magnet::Magnet;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(m) = Magnet::parse(&text) {
        let again = Magnet::parse(&m.to_uri()).expect("our own URI parses");
        assert_eq!(again.info_hash, m.info_hash);
    }
});
