//! riffle-client: the running program — a tokio session of torrents, peer
//! connections, trackers and rate limits — behind the `riffle` binary.
//!
//! The library half exists so the command line, the end-to-end tests and
//! (later) the swarm lab drive the same session code.

pub mod engine;
pub mod experiment;
pub mod lab;
pub mod sim;
pub mod tracker;
pub mod tracker_server;
pub mod units;
