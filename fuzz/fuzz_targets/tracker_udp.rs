#![no_main]
//! UDP tracker packets never panic their decoders, and a decoded request
//! re-encodes to a packet that decodes to the same request.
use libfuzzer_sys::fuzz_target;
use riffle_protocol::tracker::udp::{AddressFamily, Request, Response};

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = Request::decode(data) {
        let again = Request::decode(&r.encode()).expect("own encoding decodes");
        assert_eq!(again, r);
    }
    let _ = Response::decode(data, AddressFamily::V4);
    let _ = Response::decode(data, AddressFamily::V6);
});
