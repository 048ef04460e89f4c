//! BEP 11 peer exchange on the engine's side: which peers to tell each
//! connected peer of, and when.
//!
//! Every peer that speaks `ut_pex` (on a torrent that is not private) is
//! told, at most once a minute and first a few seconds after it
//! connected, which dialable peers we are connected to now that we did
//! not tell it of before (`added`, with flags), and which of those told
//! ones are gone (`dropped`); at most 50 of each per message, as BEP 11
//! asks. What peers tell us joins the candidates to dial (see
//! `torrent/peers.rs`), at most [`MAX_TAKEN`] per message.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use riffle_protocol::wire::pex::{PexMessage, FLAG_REACHABLE, FLAG_SEED};

/// The id we want `ut_pex` messages under (our `m` dictionary).
pub const OUR_UT_PEX: u8 = 1;
/// At most one message per peer per this long (BEP 11).
pub const INTERVAL: Duration = Duration::from_secs(60);
/// The first message goes this long after a peer connected.
pub const FIRST_AFTER: Duration = Duration::from_secs(3);
/// Peers per list per message (BEP 11: 50).
pub const PER_MESSAGE: usize = 50;
/// Peers taken from one message a peer sends us.
pub const MAX_TAKEN: usize = 50;

/// One dialable peer we are connected to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Known {
    /// Where it can be dialled.
    pub addr: SocketAddr,
    /// It holds every piece.
    pub seed: bool,
    /// We dialled it (so it is reachable).
    pub reachable: bool,
}

/// The message for a peer that was told `told` before, given the peers we
/// know now (the peer itself excluded by the caller); `told` becomes what
/// it will have been told. None when there is nothing new.
pub fn message_for(told: &mut HashSet<SocketAddr>, now: &[Known]) -> Option<PexMessage> {
    let current: HashSet<SocketAddr> = now.iter().map(|k| k.addr).collect();
    let added: Vec<(SocketAddr, u8)> = now
        .iter()
        .filter(|k| !told.contains(&k.addr))
        .take(PER_MESSAGE)
        .map(|k| {
            let mut flags = 0;
            if k.seed {
                flags |= FLAG_SEED;
            }
            if k.reachable {
                flags |= FLAG_REACHABLE;
            }
            (k.addr, flags)
        })
        .collect();
    let dropped: Vec<SocketAddr> = told
        .iter()
        .filter(|a| !current.contains(a))
        .take(PER_MESSAGE)
        .copied()
        .collect();
    if added.is_empty() && dropped.is_empty() {
        return None;
    }
    for (a, _) in &added {
        told.insert(*a);
    }
    for a in &dropped {
        told.remove(a);
    }
    Some(PexMessage { added, dropped })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(port: u16) -> Known {
        Known {
            addr: SocketAddr::from(([10, 0, 0, 1], port)),
            seed: port == 1,
            reachable: true,
        }
    }

    #[test]
    fn added_then_dropped_then_nothing() {
        let mut told = HashSet::new();
        let m = message_for(&mut told, &[k(1), k(2)]).unwrap();
        assert_eq!(m.added.len(), 2);
        assert_eq!(m.added[0].1, FLAG_SEED | FLAG_REACHABLE);
        assert!(message_for(&mut told, &[k(1), k(2)]).is_none());
        let m = message_for(&mut told, &[k(2), k(3)]).unwrap();
        assert_eq!(m.added, vec![(k(3).addr, FLAG_REACHABLE)]);
        assert_eq!(m.dropped, vec![k(1).addr]);
        let many: Vec<Known> = (100..300).map(k).collect();
        let m = message_for(&mut HashSet::new(), &many).unwrap();
        assert_eq!(m.added.len(), PER_MESSAGE);
    }
}
