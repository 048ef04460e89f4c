//! The demo swarms of `riffle demo`: real riffle sessions on 127.0.0.1,
//! made and run here; the binary only shows them.
//!
//! - [`plain`]: one capped seeder and a few leechers sharing a generated
//!   payload until every leecher holds a verified copy.
//! - [`live`]: a swarm that keeps going — a slow publisher on riffle's own
//!   tracker, leechers with one-club throttling arriving, finishing and
//!   leaving — for the terminal UI.

pub mod live;
pub mod plain;
