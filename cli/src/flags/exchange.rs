//! Cross-swarm exchange flags (`download`, `seed`, `tui`).

use riffle_client::engine::exchange::load_or_create_host_key;
use riffle_client::engine::SessionConfig;
use riffle_policies::exchange::SwarmAllocation;

fn parse_allocation(s: &str) -> Result<SwarmAllocation, String> {
    s.parse()
}

/// How the torrents of one session share credit and upload.
#[derive(clap::Args, Debug)]
pub struct ExchangeFlags {
    /// Rank peers for upload by what their host gave us over every
    /// torrent of this session, not in one torrent alone (riffle peers are
    /// known by a key kept in the state folder, others by address).
    #[arg(long)]
    pub cross_swarm_credit: bool,
    /// How the upload limit is split between torrents: per-peer (one
    /// bucket shared by every interested peer), equal (the same share per
    /// torrent with interested peers) or cpm (toward the torrents where our
    /// upload spreads most; paper 004).
    #[arg(long, value_name = "MODE", value_parser = parse_allocation, default_value = "per-peer")]
    pub swarm_allocation: SwarmAllocation,
}

impl ExchangeFlags {
    /// Apply them to a session; the host key comes from the state folder.
    pub fn apply(&self, session: &mut SessionConfig) {
        session.cross_swarm_credit = self.cross_swarm_credit;
        session.swarm_allocation = self.swarm_allocation;
        session.host_key =
            super::dht::client_state_dir().map(|d| load_or_create_host_key(&d.join("host.key")));
    }
}
