//! Flag groups several commands share.

pub mod dht;
pub mod exchange;
pub mod experiment;
pub mod locality;
pub mod peer;
pub mod policy;
