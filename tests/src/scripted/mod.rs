//! Small scripted BitTorrent peers for end-to-end tests of the `riffle`
//! binary: an honest (optionally slow) seeder, a liar, and peers that send
//! one hostile thing, each a TCP listener on 127.0.0.1 that riffle dials
//! with `--peer`. They count what they upload and record when riffle
//! connects and hangs up, so tests judge riffle from the far end of the
//! wire, and they stop when dropped.
//!
//! They speak plain BEP 3 (reserved bits zero: no fast extension, no
//! extension protocol), through riffle-protocol's handshake, framing and
//! message codecs, on blocking sockets, one thread per connection.

mod behaviour;
mod content;
mod peer;
mod rate;
mod run;
mod stats;
mod stream;

#[cfg(test)]
mod selftest;

pub use behaviour::{spare_bits_only, Behaviour, TURNCOAT_HONEST_BLOCKS};
pub use content::{pseudo_random, Content};
pub use peer::ScriptedPeer;
pub use rate::RateLimit;
pub use run::{run_to_end, Exit, Riffle};
pub use stats::{Ending, Event, Stats};
pub use stream::{End, PeerStream};
