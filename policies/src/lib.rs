//! riffle-policies: every decision riffle makes, as plain state machines
//! with no I/O. Time comes in as arguments, randomness from an injected
//! seeded generator, so the same objects run in the client, the swarm lab
//! and the simulator, and tests are deterministic.
//!
//! Concepts and the terms of the scalability paper (paper 002) they
//! implement:
//!
//! - [`peer::PeerKey`]: an opaque peer handle; policies never see sockets.
//! - [`picker`]: block selection ("what to transmit"). [`picker::PiecePicker`]
//!   is the seam; one shared engine ([`picker::Picker`]) over shared
//!   bookkeeping ([`picker::BlockBook`]) asks a [`picker::PieceOrder`] which
//!   new piece to start:
//!   - [`picker::RarestFirst`]: *rarest first block* (RFB), ties at random;
//!   - [`picker::RandomUseful`]: *random useful block* (RUB), a uniformly
//!     random piece the remote has and we lack;
//!   - [`picker::Sequential`]: lowest index first (streaming);
//!   - [`picker::SplitOrder`]: one order for requests to seeds, another for
//!     everybody else (how the lab gives the publisher its block policy).
//! - [`choker`]: peer selection ("to whom to transmit"), i.e. who gets our
//!   upload slots. [`choker::Choker`] is the seam, over one per-peer view
//!   ([`choker::PeerView`]):
//!   - [`choker::TitForTat`]: BitTorrent's reciprocating leecher choker;
//!   - [`choker::RoundRobin`]: libtorrent's seeding rotation;
//!   - [`choker::Ranked`]: libtorrent's *fastest upload* and *anti-leech*
//!     seed choking;
//!   - [`choker::RandomPeer`]: *random peer* (RP, slot wasted on a peer that
//!     wants nothing) and *random useful peer* (RUP), re-drawn per piece;
//!   - [`choker::MostDeprived`]: the publisher's *most deprived peer* (MDP),
//!     fewest pieces first, re-decided per piece.
//! - [`service`]: service-rate policies: [`service::OneClub`] is *one-club
//!   throttling* (upload at a reduced rate mu' while holding all pieces but
//!   one).
//! - [`tracker`]: the tracker's swarm registry and its policies (shielding
//!   newcomers, admission control).
//! - [`catalog`]: every policy above by its command-line name
//!   ([`catalog::PickerKind`], [`catalog::ChokerKind`],
//!   [`catalog::SeedChokerKind`]), with help lines and builders, so the
//!   client, the swarm lab and the simulator build the same objects from
//!   the same names.
//! - [`queue`]: a seedbox's queue (which torrents start, which wait, with
//!   stalled and forced torrents) and seeding limits (share ratio, idle
//!   time).
//! - [`exchange`]: decisions across a host's swarms (papers 003 and 004):
//!   the cross-swarm credit ledger, the content propagation metric of a
//!   swarm, and the split of the upload limit between swarms.
//! - [`locality`]: networks (PIDs) by address prefix, and lists drawn
//!   near-first with a share of far peers (papers 000 and 001).

pub mod catalog;
pub mod choker;
pub mod exchange;
pub mod locality;
pub mod peer;
pub mod picker;
pub mod queue;
pub mod service;
pub mod tracker;

#[cfg(test)]
mod uniformity;

pub use peer::PeerKey;
