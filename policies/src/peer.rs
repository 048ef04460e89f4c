//! How policies name peers.

/// An opaque handle for a connected peer, chosen by the caller (a
/// connection id, an index in a slab, a simulator's peer number).
///
/// Policies never look inside it: they only compare keys, so the same
/// picker and chokers serve the real client, the swarm lab and the
/// simulator. The caller must not reuse a key while the picker still holds
/// requests under it (release them first with `release_peer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerKey(pub u64);
