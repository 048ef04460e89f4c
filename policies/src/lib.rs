//! riffle-policies: every decision riffle makes, as plain state machines
//! with no I/O. Time comes in as arguments, randomness from an injected
//! seeded generator, so the same objects run in the client, the swarm lab
//! and the simulator, and tests are deterministic.
//!
//! Concepts and the terms of the scalability paper they implement:
//!
//! - [`peer::PeerKey`]: an opaque peer handle; policies never see sockets.
//! - [`picker`]: block selection ("what to transmit"). [`picker::PiecePicker`]
//!   is the seam; [`picker::RarestFirst`] is *rarest first block selection*
//!   (RFB). Random useful block (RUB) and sequential plug in as other
//!   [`picker::PieceOrder`]s over the same shared bookkeeping
//!   ([`picker::BlockBook`]).
//! - [`choker`]: peer selection ("to whom to transmit"), i.e. who gets our
//!   upload slots. [`choker::Choker`] is the seam; [`choker::TitForTat`] is
//!   BitTorrent's reciprocating leecher choker, [`choker::RoundRobin`] is
//!   libtorrent's seeding rotation. *Random peer* (RP), *random useful peer*
//!   (RUP) and the publisher's *most deprived peer* (MDP) plug in as other
//!   chokers over the same per-peer view ([`choker::PeerView`]).
//! - Still to come behind their own seam: service-rate policies (the
//!   paper's *one-club throttling*: upload at a reduced rate mu' while
//!   holding all pieces but one) and swarm bandwidth allocation.

pub mod catalog;
pub mod choker;
pub mod peer;
pub mod picker;
pub mod service;
pub mod tracker;

#[cfg(test)]
mod uniformity;

pub use peer::PeerKey;
