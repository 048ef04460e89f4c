//! Locality (papers 000 and 001, MultiTrack and P4P): prefer peers of our
//! own network and keep a share of far ones.
//!
//! A network is a *PID* (P4P's name): a set of address prefixes
//! ([`LocalityMap`]), or, with no map, the /24 (IPv4) or /48 (IPv6) an
//! address is in ([`Locality::prefer_local`]). [`Locality::group`] puts an
//! address in its [`Group`].
//!
//! Whom to give or dial is a draw by weight over the groups present among
//! the candidates ([`Locality::weights`], [`Locality::draw`]):
//!
//! - by default P4P's shape: `local_share` (0.7) of the list from the
//!   asker's own group, the rest (30%) uniformly at random over every
//!   candidate, near ones included (MultiTrack describes P4P's BitTorrent
//!   client drawing 30% of a list from far away; drawn at random, the
//!   far share is 30% times the far candidates' fraction: with three
//!   equal networks 20% far, P4P's measured inter-ISP share);
//! - when the map gives costs between PIDs (P4P's normalized inter-PID
//!   costs), group j's weight for an asker in PID i is
//!   `w_ij = (1 / c_ij) / sum_k (1 / c_ik)` over the groups present.
//!
//! A list of `want` entries holds each group `floor` or `ceil` of
//! `want * w` (systematic sampling: one uniform offset over the
//! cumulative weights, so each count is right in expectation and the
//! counts add up to `want`); a group with fewer candidates than its count
//! gives its remainder to the other groups by weight. So the far floor of
//! the default shape is always kept (each far group gets at least
//! `floor(want * w)` entries while it has candidates) and a PID without
//! a seed is never cut off from the others.
//!
//! The client uses the same draw to order its dials, and
//! [`Locality::turnover_victim`] to pick the class of the connection to
//! close when it must make room; the tracker uses it to fill announce
//! replies.
//!
//! [`multitrack`] is the other half of paper 000: trackers of several
//! ISPs that forward arrivals to each other's swarms, each split moved by
//! replicator dynamics on delay, transit price and congestion price (a
//! transit price between PIDs is [`LocalityMap::price`]).

mod draw;
mod file;
pub mod multitrack;
mod prefix;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::IpAddr;

use rand::Rng;

pub use file::LocalityFile;
pub use prefix::Prefix;

/// The default share of a list given to the asker's own network (P4P's
/// BitTorrent heuristic as MultiTrack reports it: 70% near, 30% far).
pub const DEFAULT_LOCAL_SHARE: f64 = 0.7;

/// Prefix lengths of [`Locality::prefer_local`]: a /24 is a typical IPv4
/// LAN or small ISP block, a /48 one IPv6 site.
pub const SAME_NET_V4: u8 = 24;
/// See [`SAME_NET_V4`].
pub const SAME_NET_V6: u8 = 48;

/// A locality map or setting that cannot be used.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum LocalityError {
    /// An address prefix that does not parse or is too long.
    #[error("bad prefix: {0}")]
    BadPrefix(String),
    /// A PID named twice, or with no prefix.
    #[error("bad PID: {0}")]
    BadPid(String),
    /// A cost or price that names an unknown PID or is not a positive
    /// number.
    #[error("bad cost: {0}")]
    BadCost(String),
    /// A local share outside 0..=1.
    #[error("local share must be within 0 and 1, not {0}")]
    BadShare(f64),
}

/// The network an address is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    /// PID number `n` of the map (its order in the map).
    Pid(u16),
    /// With no map: the /24 or /48 the address is in.
    Net(IpAddr),
    /// In no PID of the map: far from everyone.
    Unknown,
}

/// One PID of a map: a name and its prefixes.
#[derive(Clone, Debug, PartialEq)]
pub struct PidDef {
    /// Its name (in logs, stats and the lab's reports).
    pub name: String,
    /// The networks it covers.
    pub prefixes: Vec<Prefix>,
}

/// PIDs by prefixes, with optional costs between them (P4P) and transit
/// prices between their trackers (MultiTrack).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LocalityMap {
    pids: Vec<PidDef>,
    /// Cost of a PID-i peer talking to a PID-j peer, by (i, j).
    costs: HashMap<(u16, u16), f64>,
    /// Transit price of sending a PID-i arrival to PID j's swarm.
    prices: HashMap<(u16, u16), f64>,
    /// Share of a list for the asker's own PID (None: the default).
    local_share: Option<f64>,
}

impl LocalityMap {
    /// A map of these PIDs, in this order (a PID's number is its index).
    /// Fails on a repeated or empty name, or a PID without prefixes.
    pub fn new(pids: Vec<PidDef>) -> Result<LocalityMap, LocalityError> {
        if pids.len() > usize::from(u16::MAX) {
            return Err(LocalityError::BadPid("too many PIDs".into()));
        }
        for (i, p) in pids.iter().enumerate() {
            if p.name.is_empty() {
                return Err(LocalityError::BadPid("a PID has no name".into()));
            }
            if p.prefixes.is_empty() {
                return Err(LocalityError::BadPid(format!("{} has no prefix", p.name)));
            }
            if pids[..i].iter().any(|q| q.name == p.name) {
                return Err(LocalityError::BadPid(format!("{} is named twice", p.name)));
            }
        }
        Ok(LocalityMap {
            pids,
            ..LocalityMap::default()
        })
    }

    /// The number of PID `name`.
    pub fn pid(&self, name: &str) -> Option<u16> {
        self.pids
            .iter()
            .position(|p| p.name == name)
            .and_then(|i| u16::try_from(i).ok())
    }

    /// The PIDs, in order.
    pub fn pids(&self) -> &[PidDef] {
        &self.pids
    }

    fn pair(
        &self,
        from: &str,
        to: &str,
        what: &str,
        value: f64,
    ) -> Result<(u16, u16), LocalityError> {
        let (Some(i), Some(j)) = (self.pid(from), self.pid(to)) else {
            return Err(LocalityError::BadCost(format!(
                "{what} {from} -> {to}: no such PID"
            )));
        };
        if !(value.is_finite() && value > 0.0) {
            return Err(LocalityError::BadCost(format!(
                "{what} {from} -> {to} must be a positive number, not {value}"
            )));
        }
        Ok((i, j))
    }

    /// Set the cost between PIDs `a` and `b`, both ways unless the other
    /// way is set on its own afterwards.
    pub fn set_cost(&mut self, a: &str, b: &str, cost: f64) -> Result<(), LocalityError> {
        let (i, j) = self.pair(a, b, "cost", cost)?;
        self.costs.insert((i, j), cost);
        self.costs.entry((j, i)).or_insert(cost);
        Ok(())
    }

    /// Set the transit price of forwarding an arrival of `from`'s tracker
    /// to `to`'s swarm (MultiTrack's p^to_from).
    pub fn set_price(&mut self, from: &str, to: &str, price: f64) -> Result<(), LocalityError> {
        let (i, j) = self.pair(from, to, "price", price)?;
        self.prices.insert((i, j), price);
        Ok(())
    }

    /// The transit price from PID `from`'s tracker to PID `to`'s swarm (0
    /// to its own swarm and where none is set).
    pub fn price(&self, from: u16, to: u16) -> f64 {
        if from == to {
            return 0.0;
        }
        self.prices.get(&(from, to)).copied().unwrap_or(0.0)
    }

    /// Give the asker's own PID this share of every list.
    pub fn set_local_share(&mut self, share: f64) -> Result<(), LocalityError> {
        if !(0.0..=1.0).contains(&share) {
            return Err(LocalityError::BadShare(share));
        }
        self.local_share = Some(share);
        Ok(())
    }

    /// Does the map give costs between PIDs?
    pub fn has_costs(&self) -> bool {
        !self.costs.is_empty()
    }

    /// The PID of `ip`: the one with the longest matching prefix.
    pub fn pid_of(&self, ip: IpAddr) -> Option<u16> {
        let mut best: Option<(u8, u16)> = None;
        for (i, p) in self.pids.iter().enumerate() {
            for prefix in &p.prefixes {
                if prefix.contains(ip) && best.is_none_or(|(len, _)| prefix.len() > len) {
                    best = u16::try_from(i).ok().map(|i| (prefix.len(), i));
                }
            }
        }
        best.map(|(_, i)| i)
    }

    /// Cost between two PIDs: the one set; else 1 within a PID and the
    /// largest cost set between different PIDs (no cost set for a pair
    /// is taken as far).
    fn cost(&self, i: u16, j: u16) -> f64 {
        if let Some(c) = self.costs.get(&(i, j)) {
            return *c;
        }
        if i == j {
            return 1.0;
        }
        self.costs.values().copied().fold(1.0, f64::max)
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Map(LocalityMap),
    SameNet,
}

/// How near each address is, and how lists are drawn (see the module's
/// documentation).
#[derive(Clone, Debug, PartialEq)]
pub struct Locality {
    kind: Kind,
    local_share: f64,
}

impl Locality {
    /// No map: an address's network is its /24 or /48.
    pub fn prefer_local() -> Locality {
        Locality {
            kind: Kind::SameNet,
            local_share: DEFAULT_LOCAL_SHARE,
        }
    }

    /// PIDs from a map.
    pub fn from_map(map: LocalityMap) -> Locality {
        let local_share = map.local_share.unwrap_or(DEFAULT_LOCAL_SHARE);
        Locality {
            kind: Kind::Map(map),
            local_share,
        }
    }

    /// The same, with another local share (1.0: local only, with remote
    /// peers only where too few local ones exist; 0.0: remote first).
    pub fn with_local_share(mut self, share: f64) -> Result<Locality, LocalityError> {
        if !(0.0..=1.0).contains(&share) {
            return Err(LocalityError::BadShare(share));
        }
        self.local_share = share;
        Ok(self)
    }

    /// The share of a list given to the asker's own network.
    pub fn local_share(&self) -> f64 {
        self.local_share
    }

    /// The map, if PIDs come from one.
    pub fn map(&self) -> Option<&LocalityMap> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            Kind::SameNet => None,
        }
    }

    /// The network `ip` is in.
    pub fn group(&self, ip: IpAddr) -> Group {
        match &self.kind {
            Kind::Map(m) => m.pid_of(ip).map_or(Group::Unknown, Group::Pid),
            Kind::SameNet => {
                let ip = ip.to_canonical();
                let len = if ip.is_ipv4() {
                    SAME_NET_V4
                } else {
                    SAME_NET_V6
                };
                Group::Net(prefix::mask(ip, len))
            }
        }
    }

    /// Are `a` and `b` in the same network (an address in no PID is near
    /// nobody)?
    pub fn is_local(&self, a: IpAddr, b: IpAddr) -> bool {
        let g = self.group(a);
        g != Group::Unknown && g == self.group(b)
    }

    /// A group's name: the PID's, or the network's prefix.
    pub fn name(&self, g: Group) -> String {
        match (g, &self.kind) {
            (Group::Pid(i), Kind::Map(m)) => m
                .pids
                .get(usize::from(i))
                .map_or_else(|| format!("pid{i}"), |p| p.name.clone()),
            (Group::Pid(i), Kind::SameNet) => format!("pid{i}"),
            (Group::Net(ip), _) => {
                let len = if ip.is_ipv4() {
                    SAME_NET_V4
                } else {
                    SAME_NET_V6
                };
                format!("{ip}/{len}")
            }
            (Group::Unknown, _) => "unknown".into(),
        }
    }

    /// The weight of each group in `present` (distinct groups, each with
    /// its number of candidates) for an asker in `asker`; they add up to 1
    /// (all zero when `present` is empty).
    pub fn weights(&self, asker: Group, present: &[(Group, usize)]) -> Vec<f64> {
        let mut w: Vec<f64> = match (&self.kind, asker) {
            (Kind::Map(m), Group::Pid(i)) if m.has_costs() => present
                .iter()
                .map(|&(g, _)| match g {
                    Group::Pid(j) => 1.0 / m.cost(i, j),
                    _ => 1.0 / m.cost(i, u16::MAX),
                })
                .collect(),
            _ => {
                // `local_share` from the asker's own network, the rest
                // uniformly at random over every candidate (near ones
                // included), so group g gets share + (1 - share) * n_g / n
                // if it is the asker's, (1 - share) * n_g / n otherwise.
                let all: usize = present.iter().map(|(_, n)| n).sum();
                let has_local = present.iter().any(|(g, _)| self.same(asker, *g));
                let local = if has_local { self.local_share } else { 0.0 };
                present
                    .iter()
                    .map(|&(g, n)| {
                        let random = (1.0 - local) * n as f64 / all.max(1) as f64;
                        if self.same(asker, g) {
                            local + random
                        } else {
                            random
                        }
                    })
                    .collect()
            }
        };
        let total: f64 = w.iter().sum();
        if total > 0.0 {
            w.iter_mut().for_each(|x| *x /= total);
        }
        w
    }

    fn same(&self, a: Group, b: Group) -> bool {
        a != Group::Unknown && a == b
    }

    /// Draw at most `want` of `candidates` (each given by its group) for an
    /// asker in `asker`: indexes into `candidates`, no repeats, by the
    /// weights of [`Locality::weights`] (see the module's documentation).
    pub fn draw(
        &self,
        asker: Group,
        candidates: &[Group],
        want: usize,
        rng: &mut impl Rng,
    ) -> Vec<usize> {
        draw::draw(self, asker, candidates, want, rng)
    }

    /// Most far connections of `slots` worth keeping: the far share of the
    /// default shape (`1 - local_share` times the far fraction of the
    /// peers we know of, `known`), at least one while a far peer is known
    /// (the far floor); 0 when none is.
    pub fn far_ceiling(&self, ours: Group, known: &[Group], slots: usize) -> usize {
        let far_known = known.iter().filter(|g| !self.same(ours, **g)).count();
        if far_known == 0 {
            return 0;
        }
        let fraction = far_known as f64 / known.len() as f64;
        (((1.0 - self.local_share) * fraction * slots as f64).ceil() as usize).max(1)
    }

    /// Should a connection be closed to make room, close a far one? Yes
    /// while far peers hold more than the far share of the default shape
    /// (`1 - local_share` times the far fraction of the peers we know of,
    /// `known`: what a list drawn 70% near and 30% at random holds), or
    /// when no near peer is connected; else a near one, so the far floor
    /// stays.
    pub fn close_far(&self, ours: Group, connected: &[Group], known: &[Group]) -> bool {
        let near = connected.iter().filter(|g| self.same(ours, **g)).count();
        let far = connected.len() - near;
        let pool = if known.is_empty() { connected } else { known };
        let far_known = pool.iter().filter(|g| !self.same(ours, **g)).count();
        let far_fraction = far_known as f64 / pool.len().max(1) as f64;
        near == 0 || far as f64 > (1.0 - self.local_share) * far_fraction * connected.len() as f64
    }

    /// Which of `idle` (indexes into `connected`, the peers that may be
    /// closed) to close to make room: one of the class [`Locality::close_far`]
    /// names (`known`: the peers we know of), uniformly, or any idle peer
    /// when none of that class is idle. None when `idle` is empty.
    pub fn turnover_victim(
        &self,
        ours: Group,
        connected: &[Group],
        known: &[Group],
        idle: &[usize],
        rng: &mut impl Rng,
    ) -> Option<usize> {
        let far = self.close_far(ours, connected, known);
        let class: Vec<usize> = idle
            .iter()
            .copied()
            .filter(|&i| connected.get(i).is_some_and(|g| self.same(ours, *g) != far))
            .collect();
        let pool = if class.is_empty() { idle } else { &class[..] };
        if pool.is_empty() {
            return None;
        }
        pool.get(rng.gen_range(0..pool.len())).copied()
    }
}
