//! The routing table: which nodes we know, kept by how close they are to
//! our own id (Kademlia k-buckets, BEP 5).
//!
//! Bucket `i` holds at most [`K`] nodes whose id shares exactly `i`
//! leading bits with ours (160 buckets, flat: the table never holds more
//! than 160 × K nodes, so memory is bounded whatever the network sends).
//! A node is refreshed when it answers or queries us; a full bucket takes
//! a newcomer only in place of a node that stopped answering
//! ([`MAX_FAILURES`] queries in a row). Lookups ask for the closest nodes
//! to a target (a sort of at most 1,280 entries).

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use super::krpc::{NodeId, NodeInfo};

/// Nodes per bucket (BEP 5's K).
pub const K: usize = 8;
/// Queries a node may leave unanswered in a row before it is replaced.
pub const MAX_FAILURES: u8 = 3;
/// A bucket untouched this long is refreshed (a lookup of an id in it).
pub const REFRESH_AFTER: Duration = Duration::from_secs(15 * 60);

/// One known node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Contact {
    /// Its id and address.
    pub info: NodeInfo,
    /// When it last answered or queried us.
    pub last_seen: Instant,
    /// Queries it left unanswered since then.
    pub failures: u8,
}

/// What [`RoutingTable::seen`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A node we did not know is in the table.
    Added,
    /// A node we knew was refreshed.
    Refreshed,
    /// Its bucket is full of nodes that answer: not taken.
    Full,
    /// It claims our own id, or an address we know under another id.
    Refused,
}

/// The table.
#[derive(Clone, Debug)]
pub struct RoutingTable {
    own: NodeId,
    buckets: Vec<Vec<Contact>>,
    /// When each bucket last changed (for refreshes).
    touched: Vec<Option<Instant>>,
}

impl RoutingTable {
    /// An empty table around our id.
    pub fn new(own: NodeId) -> RoutingTable {
        RoutingTable {
            own,
            buckets: vec![Vec::new(); 160],
            touched: vec![None; 160],
        }
    }

    /// Our id.
    pub fn own_id(&self) -> NodeId {
        self.own
    }

    /// Nodes in the table.
    pub fn len(&self) -> usize {
        self.buckets.iter().map(Vec::len).sum()
    }

    /// Is it empty?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A node answered or queried us.
    pub fn seen(&mut self, info: NodeInfo, now: Instant) -> Seen {
        let prefix = self.own.shared_prefix(&info.id);
        if prefix >= 160 {
            return Seen::Refused;
        }
        // One id per address: a node that changes its id is not trusted
        // with the old one's place.
        if self
            .buckets
            .iter()
            .flatten()
            .any(|c| c.info.addr == info.addr && c.info.id != info.id)
        {
            return Seen::Refused;
        }
        let bucket = &mut self.buckets[prefix];
        self.touched[prefix] = Some(now);
        if let Some(c) = bucket.iter_mut().find(|c| c.info.id == info.id) {
            c.info.addr = info.addr;
            c.last_seen = now;
            c.failures = 0;
            return Seen::Refreshed;
        }
        let contact = Contact {
            info,
            last_seen: now,
            failures: 0,
        };
        if bucket.len() < K {
            bucket.push(contact);
            return Seen::Added;
        }
        match bucket
            .iter()
            .enumerate()
            .filter(|(_, c)| c.failures >= MAX_FAILURES)
            .max_by_key(|(_, c)| c.failures)
        {
            Some((i, _)) => {
                bucket[i] = contact;
                Seen::Added
            }
            None => Seen::Full,
        }
    }

    /// Do we know this node (by id and address)?
    pub fn contains(&self, info: &NodeInfo) -> bool {
        let prefix = self.own.shared_prefix(&info.id);
        prefix < 160 && self.buckets[prefix].iter().any(|c| c.info == *info)
    }

    /// Would [`seen`](Self::seen) take a node with this id (its bucket has
    /// room or a node that stopped answering)?
    pub fn would_take(&self, id: &NodeId) -> bool {
        let prefix = self.own.shared_prefix(id);
        prefix < 160 && {
            let b = &self.buckets[prefix];
            b.len() < K || b.iter().any(|c| c.failures >= MAX_FAILURES)
        }
    }

    /// A query to `addr` went unanswered.
    pub fn failed(&mut self, addr: SocketAddrV4) {
        for bucket in &mut self.buckets {
            if let Some(c) = bucket.iter_mut().find(|c| c.info.addr == addr) {
                c.failures = c.failures.saturating_add(1);
            }
            // A node failing far past the limit with a full bucket
            // behind it is forgotten outright.
            bucket.retain(|c| c.failures < MAX_FAILURES * 2);
        }
    }

    /// The `n` nodes closest to `target` (answering ones only).
    pub fn closest(&self, target: &NodeId, n: usize) -> Vec<NodeInfo> {
        let mut all: Vec<&Contact> = self
            .buckets
            .iter()
            .flatten()
            .filter(|c| c.failures < MAX_FAILURES)
            .collect();
        all.sort_by_key(|c| c.info.id.distance(target));
        all.into_iter().take(n).map(|c| c.info).collect()
    }

    /// Every node, for saving the table.
    pub fn all(&self) -> Vec<NodeInfo> {
        self.buckets.iter().flatten().map(|c| c.info).collect()
    }

    /// Ids to look up to refresh buckets untouched for [`REFRESH_AFTER`]
    /// (only buckets that hold nodes, or the one next to them: the rest
    /// of the id space is empty in any real table). Marks them touched.
    pub fn due_refreshes(&mut self, now: Instant, random: [u8; 20]) -> Vec<NodeId> {
        let deepest = self
            .buckets
            .iter()
            .rposition(|b| !b.is_empty())
            .map_or(0, |i| (i + 1).min(159));
        let mut out = Vec::new();
        for i in 0..=deepest {
            let due = self.touched[i].is_none_or(|t| now.duration_since(t) >= REFRESH_AFTER);
            if due && (!self.buckets[i].is_empty() || i == deepest) {
                self.touched[i] = Some(now);
                out.push(id_in_bucket(&self.own, i, random));
            }
        }
        out
    }
}

/// An id sharing exactly `prefix` leading bits with `own`, the rest from
/// `random`.
pub fn id_in_bucket(own: &NodeId, prefix: usize, random: [u8; 20]) -> NodeId {
    let mut id = random;
    for bit in 0..=prefix.min(159) {
        let (byte, mask) = (bit / 8, 0x80u8 >> (bit % 8));
        let ours = own.0[byte] & mask;
        let want = if bit == prefix { ours ^ mask } else { ours };
        id[byte] = (id[byte] & !mask) | want;
    }
    NodeId(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(first: u8, last: u8, port: u16) -> NodeInfo {
        let mut id = [0u8; 20];
        id[0] = first;
        id[19] = last;
        NodeInfo {
            id: NodeId(id),
            addr: SocketAddrV4::new([10, 0, 0, 1].into(), port),
        }
    }

    #[test]
    fn buckets_fill_refuse_and_replace() {
        let now = Instant::now();
        let mut t = RoutingTable::new(NodeId([0; 20]));
        assert_eq!(t.seen(node(0, 0, 1), now), Seen::Refused, "our own id");
        // Bucket 0: ids with the top bit set.
        for i in 0..K as u8 {
            assert_eq!(t.seen(node(0x80, i, 100 + u16::from(i)), now), Seen::Added);
        }
        assert_eq!(t.seen(node(0x80, 99, 999), now), Seen::Full);
        assert_eq!(t.seen(node(0x80, 0, 100), now), Seen::Refreshed);
        assert_eq!(
            t.seen(node(0x81, 0, 100), now),
            Seen::Refused,
            "same address, new id"
        );
        for _ in 0..MAX_FAILURES {
            t.failed(SocketAddrV4::new([10, 0, 0, 1].into(), 101));
        }
        assert_eq!(
            t.seen(node(0x80, 99, 999), now),
            Seen::Added,
            "replaces a dead node"
        );
        assert_eq!(t.len(), K);
    }

    #[test]
    fn closest_and_refresh_targets() {
        let now = Instant::now();
        let mut t = RoutingTable::new(NodeId([0; 20]));
        for (first, port) in [(0x80, 1), (0x40, 2), (0x20, 3), (0x01, 4)] {
            t.seen(node(first, 1, port), now);
        }
        let mut target = [0u8; 20];
        target[0] = 0x41;
        let c = t.closest(&NodeId(target), 2);
        assert_eq!(c[0].addr.port(), 2);
        assert_eq!(c.len(), 2);
        for prefix in [0, 7, 100, 159] {
            let id = id_in_bucket(&NodeId([0x5a; 20]), prefix, [0xff; 20]);
            assert_eq!(NodeId([0x5a; 20]).shared_prefix(&id), prefix);
        }
        let due = t.due_refreshes(now + REFRESH_AFTER, [7; 20]);
        assert!(!due.is_empty());
        assert!(
            t.due_refreshes(now + REFRESH_AFTER, [7; 20]).is_empty(),
            "marked"
        );
    }
}
