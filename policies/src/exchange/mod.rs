//! Cross-swarm exchange (papers 003 and 004): what a host running many
//! torrents decides across them rather than inside one.
//!
//! - [`credit`]: a session-wide ledger of what each remote host gave us and
//!   took from us over every torrent we share with it, decayed with time,
//!   so a host that gives in one torrent is served in another.
//! - [`cpm`]: the content propagation metric of one swarm, measured from
//!   the wire: after we send a piece to a peer, how many of our other
//!   neighbours in that swarm announce the piece within tau.
//! - [`allocation`]: how a session's upload limit is split between its
//!   torrents (per interested peer, equally, or toward the swarms where our
//!   bandwidth propagates most).

pub mod allocation;
pub mod cpm;
pub mod credit;

pub use allocation::{Allocator, SwarmAllocation, SwarmDemand};
pub use cpm::{auto_tau, CpmEstimator};
pub use credit::{CreditLedger, HostId};
