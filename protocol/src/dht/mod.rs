//! The BEP 5 DHT, sans-IO: the KRPC wire format ([`krpc`]), the routing
//! table ([`routing`]), what a node keeps for others ([`store`]), one
//! iterative lookup ([`lookup`]) and the node that puts them together
//! ([`node`]). Time comes in as arguments, datagrams go in and out as
//! bytes; the client puts the node on a UDP socket.

pub mod krpc;
pub mod lookup;
pub mod node;
pub mod routing;
pub mod store;

#[cfg(test)]
mod sim_tests;

pub use krpc::{NodeId, NodeInfo};
pub use node::{Config, Event, Node, SavedState, Stats};
