#![no_main]
//! A connected PeerConnection fed arbitrary bytes after a valid handshake
//! never panics, whatever it decides about the peer.
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use riffle_protocol::peer::{Offer, PeerConfig, PeerConnection, PeerSetup};
use riffle_protocol::wire::handshake::{Handshake, Reserved};
use riffle_protocol::{Bitfield, InfoHash, PeerId, PieceGeometry};

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let info_hash = InfoHash([7; 20]);
    let setup = PeerSetup {
        info_hash,
        our_id: PeerId([1; 20]),
        geometry: PieceGeometry::from_total(300_000, 32768).expect("valid geometry"),
        bitfield: Bitfield::from_pattern("1010101010"),
        offer: Offer { fast: true, extended: None, dht_port: None },
        initiator: false,
        config: PeerConfig::default(),
    };
    let mut c = PeerConnection::new(now, setup);
    let mut reserved = Reserved::default();
    reserved.set(Reserved::FAST, true);
    let hs = Handshake { reserved, info_hash, peer_id: PeerId([2; 20]) };
    let _ = c.handle_bytes(now, &hs.encode());
    // Split the input in two to exercise partial frames.
    let mid = data.len() / 2;
    let _ = c.handle_bytes(now, &data[..mid]);
    let _ = c.handle_bytes(now + Duration::from_secs(1), &data[mid..]);
    let _ = c.handle_timeout(now + Duration::from_secs(500));
    while c.poll_transmit().is_some() {}
    while c.poll_event().is_some() {}
});
