//! The tracker module against real trackers running in the test's own
//! runtime on 127.0.0.1 (see [`servers`]), with scaled-down intervals and
//! timeouts so each test takes about a second.

mod announcer;
mod once;
mod servers;

use std::time::Duration;

use riffle_protocol::{InfoHash, PeerId};

use super::AnnounceConfig;

/// The torrent every test announces.
pub fn info_hash() -> InfoHash {
    InfoHash([0xab; 20])
}

/// Our peer id in every test.
pub fn peer_id() -> PeerId {
    PeerId(*b"-RF0100-testtesttest")
}

/// Fast timeouts, no shuffling, a small floor on intervals.
pub fn fast_config() -> AnnounceConfig {
    AnnounceConfig {
        numwant: 30,
        min_interval: Duration::from_millis(100),
        default_interval: Duration::from_secs(1),
        http_timeout: Duration::from_millis(500),
        udp_base_timeout: Duration::from_millis(100),
        udp_attempts: 2,
        retry_interval: Duration::from_millis(200),
        max_retry_interval: Duration::from_secs(10),
        shuffle_tiers: false,
        time_scale: 1.0,
        bind_ip: None,
    }
}
