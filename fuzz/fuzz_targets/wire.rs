#![no_main]
//! Framing and message decoding never panic on any byte stream, and the
//! handshake and extended-handshake decoders never panic either.
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use riffle_protocol::wire::extension::ExtendedHandshake;
use riffle_protocol::wire::framing::Framer;
use riffle_protocol::wire::handshake::Handshake;

fuzz_target!(|data: &[u8]| {
    let _ = Handshake::decode(data);
    let _ = ExtendedHandshake::decode(data);
    let framer = Framer::default();
    let mut buf = BytesMut::from(data);
    while let Ok(Some(_msg)) = framer.parse(&mut buf) {}
});
