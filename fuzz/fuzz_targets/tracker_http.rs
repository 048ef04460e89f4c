#![no_main]
//! Tracker bodies and announce queries never panic their parsers.
use libfuzzer_sys::fuzz_target;
use riffle_protocol::tracker::{http, http_server, scrape};

fuzz_target!(|data: &[u8]| {
    let _ = http::parse_announce_response(data);
    let _ = scrape::parse_scrape_response(data);
    let _ = http_server::parse_announce_query(data);
    let _ = scrape::parse_scrape_query(data);
});
