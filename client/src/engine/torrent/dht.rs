//! A torrent's use of the session's DHT: a lookup (with an announce of
//! our port) when it starts, then every 15 minutes — every minute while
//! it lacks pieces and has no peer — and the peers found join the
//! candidates like a tracker's. Private torrents (BEP 27) never use it.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Torrent;
use crate::dht::{Dht, Found};

/// A torrent's lookups when it has what it needs.
const INTERVAL: Duration = Duration::from_secs(15 * 60);
/// A torrent's lookups while it lacks pieces and peers.
const HUNGRY_INTERVAL: Duration = Duration::from_secs(60);

/// The DHT as one torrent uses it.
#[derive(Debug)]
pub(crate) struct TorrentDht {
    dht: Dht,
    found: Option<mpsc::Receiver<Found>>,
    /// Lookups of the running round not yet done (one per identity: a
    /// hybrid torrent is looked up under both its info-hashes).
    pending: usize,
    next: Instant,
    lookups: u32,
    /// Peers the running (or last) lookup found.
    peers: usize,
    /// Nodes that answered the last lookup.
    answered: usize,
}

impl TorrentDht {
    pub(crate) fn new(dht: Dht) -> TorrentDht {
        TorrentDht {
            dht,
            found: None,
            pending: 0,
            next: Instant::now(),
            lookups: 0,
            peers: 0,
            answered: 0,
        }
    }

    /// What the torrent's status says of it.
    pub(super) fn describe(&self, now: Instant) -> String {
        if self.found.is_some() {
            return format!("looking up ({} peers so far)", self.peers);
        }
        let next = self.next.saturating_duration_since(now).as_secs();
        format!(
            "{} peers from {} nodes; next lookup in {}:{:02}",
            self.peers,
            self.answered,
            next / 60,
            next % 60
        )
    }
}

impl TorrentDht {
    /// When the next round of lookups is due (None: one runs now).
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.found.is_none().then_some(self.next)
    }

    /// Is a round of lookups running?
    pub(super) fn looking(&self) -> bool {
        self.found.is_some()
    }

    /// Start a round if one is due at `now`: one lookup per info-hash
    /// (`ids`), each announcing `port`. True if one started.
    pub(super) fn start_if_due(
        &mut self,
        now: Instant,
        ids: Vec<riffle_protocol::InfoHash>,
        port: u16,
    ) -> bool {
        if self.found.is_some() || now < self.next {
            return false;
        }
        let (tx, rx) = mpsc::channel(64);
        self.pending = ids.len();
        for id in ids {
            self.dht.get_peers_to(id, Some(port), tx.clone());
        }
        self.found = Some(rx);
        self.answered = 0;
        self.lookups += 1;
        self.peers = 0;
        true
    }

    /// A lookup's word: the peers it found (to dial), or its end. The
    /// round ends once every lookup has (or one went away without a
    /// word); the next is due `wait` after `now`.
    pub(super) fn on_found(
        &mut self,
        found: Option<Found>,
        now: Instant,
        wait: Duration,
    ) -> Vec<std::net::SocketAddr> {
        match found {
            Some(Found::Peers(addrs)) => {
                self.peers += addrs.len();
                return addrs;
            }
            Some(Found::Done { answered, .. }) => {
                // Peers were counted as they came (both lookups' of a
                // hybrid); nodes are the most any lookup reached.
                self.answered = self.answered.max(answered);
                self.pending = self.pending.saturating_sub(1);
                if self.pending > 0 {
                    return Vec::new();
                }
            }
            None => {}
        }
        self.found = None;
        self.next = now + wait;
        Vec::new()
    }
}

/// How long until the next round: sooner while the torrent lacks pieces
/// and peers.
pub(super) fn round_wait(hungry: bool) -> Duration {
    if hungry {
        HUNGRY_INTERVAL
    } else {
        INTERVAL
    }
}

/// Word from the running lookup, as a poll (pending without one).
pub(super) fn poll_found(
    dht: &mut Option<TorrentDht>,
    cx: &mut std::task::Context<'_>,
) -> std::task::Poll<Option<Found>> {
    match dht.as_mut().and_then(|d| d.found.as_mut()) {
        Some(rx) => rx.poll_recv(cx),
        None => std::task::Poll::Pending,
    }
}

/// Wait for what the running lookup finds (forever if none runs).
pub(super) async fn recv_found(dht: &mut Option<TorrentDht>) -> Option<Found> {
    std::future::poll_fn(|cx| poll_found(dht, cx)).await
}

impl Torrent {
    /// Start a lookup if one is due.
    pub(super) fn dht_tick(&mut self, now: Instant) {
        let port = self.links.listen_port;
        let ids = self.meta.info_hashes();
        let paused = self.paused;
        let Some(d) = self.dht.as_mut() else {
            return;
        };
        if !paused {
            d.start_if_due(now, ids, port);
        }
        self.status.dht = Some(d.describe(now));
    }

    /// What the lookup found (`None`: it went away without a word).
    pub(super) fn on_dht_found(&mut self, found: Option<Found>) {
        let now = Instant::now();
        let hungry = !self.completed && self.peers.is_empty();
        let wait = self.links.config.scaled(round_wait(hungry));
        let Some(d) = self.dht.as_mut() else {
            return;
        };
        let addrs = d.on_found(found, now, wait);
        if !addrs.is_empty() {
            self.candidates.add_discovered(&addrs);
            // Now, not `now`: the candidates are due from the moment
            // they were added.
            self.dial(Instant::now());
            return;
        }
        if !d.looking() {
            self.status.dht = Some(d.describe(now));
        }
    }

    /// Look up again at once (a resumed torrent, a user's reannounce).
    pub(super) fn dht_now(&mut self) {
        if let Some(d) = self.dht.as_mut() {
            d.next = Instant::now();
        }
    }
}
