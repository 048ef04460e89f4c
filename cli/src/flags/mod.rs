//! Flag groups several commands share.

pub mod dht;
pub mod experiment;
pub mod peer;
pub mod policy;
