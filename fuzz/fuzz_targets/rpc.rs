//! The seedbox's RPC: any request body is an error or a checked call,
//! never a panic; an answer is always valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use riffle_daemon::rpc::{answer, parse, Call};

fuzz_target!(|data: &[u8]| {
    let result = match parse(data) {
        Ok(req) => Call::parse(&req).map(|_| serde_json::Map::new()),
        Err(e) => Err(e),
    };
    let bytes = answer(result, None);
    assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_ok());
});
