//! riffle-client: the engine everything drives — a tokio session of
//! torrents, peer connections, tracker announces, the DHT and rate limits.
//!
//! It knows nothing of commands, experiments, plots or screens: the
//! `riffle` binary (riffle-cli), the swarm lab (riffle-lab), the terminal
//! UI's controller and the end-to-end tests all drive this same session
//! code from above.

pub mod dht;
pub mod engine;
pub mod sync;
pub mod tracker;
pub use sync::watch;
