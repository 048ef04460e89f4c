//! The peer-facing flags `download`, `seed` and `tui` share, and the
//! parsers of addresses.

use std::net::{SocketAddr, ToSocketAddrs};

use riffle_client::engine::{SessionConfig, TorrentOptions};

use crate::units::parse_rate;

/// A peer address: `IP:PORT` or `HOST:PORT`.
pub fn parse_peer(text: &str) -> std::result::Result<SocketAddr, String> {
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Ok(a);
    }
    text.to_socket_addrs()
        .map_err(|e| format!("{text:?} is not a peer address (HOST:PORT): {e}"))?
        .next()
        .ok_or_else(|| format!("{text:?} resolves to no address"))
}

/// A listening address: `IP:PORT`.
pub fn parse_listen(text: &str) -> std::result::Result<SocketAddr, String> {
    text.parse::<SocketAddr>()
        .map_err(|_| format!("{text:?} is not a listening address (IP:PORT, e.g. 0.0.0.0:6881)"))
}

/// The peer-facing flags `download` and `seed` share.
#[derive(clap::Args, Debug)]
pub struct PeerFlags {
    /// Address to accept peers on [default: 0.0.0.0:6881, or the next free
    /// port].
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_listen)]
    pub listen: Option<SocketAddr>,
    /// Dial this peer directly (repeatable); it is re-dialled with backoff
    /// if it drops. Works with or without a tracker.
    #[arg(long = "peer", value_name = "ADDR:PORT", value_parser = parse_peer)]
    pub peers: Vec<SocketAddr>,
    /// Upload limit (the paper's mu): bytes/s, or with a unit (500k, 10MB,
    /// 2MiB); 0 = unlimited.
    #[arg(long, value_name = "RATE", value_parser = parse_rate, default_value = "0")]
    pub max_upload_rate: u64,
    /// Piece picking, upload policies and their rates.
    #[command(flatten)]
    pub policy: super::policy::PolicyFlags,
    /// The DHT.
    #[command(flatten)]
    pub dht: super::dht::DhtFlags,
    /// Credit and upload across torrents.
    #[command(flatten)]
    pub exchange: super::exchange::ExchangeFlags,
    /// Peers of our own network first.
    #[command(flatten)]
    pub locality: super::locality::LocalityFlags,
}

impl PeerFlags {
    /// Apply the flags to a session and a torrent's options (fails on a
    /// locality file that cannot be read).
    pub fn apply(
        self,
        session: &mut SessionConfig,
        options: &mut TorrentOptions,
    ) -> anyhow::Result<()> {
        if let Some(l) = self.listen {
            session.listen = l;
        }
        session.max_upload_rate = self.max_upload_rate;
        session.dht = self.dht.config(super::dht::client_state_file());
        self.exchange.apply(session);
        options.policies = self.policy.policies();
        options.peers = self.peers;
        session.locality = self.locality.locality()?.map(std::sync::Arc::new);
        Ok(())
    }
}
