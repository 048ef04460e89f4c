//! The DHT flags every command that meets peers shares.

use std::path::PathBuf;

use riffle_client::dht::DhtConfig;

/// The default routers: `RIFFLE_DHT_BOOTSTRAP`'s list if it is set, else
/// the public ones.
pub fn default_bootstrap() -> Vec<String> {
    let env = std::env::var(riffle_client::dht::BOOTSTRAP_ENV).ok();
    riffle_client::dht::routers(env.as_deref())
}

/// `--no-dht`, `--dht-bootstrap`.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct DhtFlags {
    /// Do not use the DHT: peers come from trackers, --peer, magnet x.pe
    /// and peer exchange only.
    #[arg(long)]
    pub no_dht: bool,
    /// Join the DHT through this node (HOST:PORT, repeatable) instead of
    /// the public routers (router.bittorrent.com, dht.transmissionbt.com,
    /// router.utorrent.com, dht.libtorrent.org; or the comma-separated
    /// list in $RIFFLE_DHT_BOOTSTRAP).
    #[arg(long = "dht-bootstrap", value_name = "HOST:PORT")]
    pub bootstrap: Vec<String>,
}

impl DhtFlags {
    /// The session's DHT (None with `--no-dht`), its routing table kept
    /// in `state_file`.
    pub fn config(&self, state_file: Option<PathBuf>) -> Option<DhtConfig> {
        if self.no_dht {
            return None;
        }
        let bootstrap = if self.bootstrap.is_empty() {
            default_bootstrap()
        } else {
            self.bootstrap.clone()
        };
        Some(DhtConfig {
            bootstrap,
            state_file,
            ..DhtConfig::default()
        })
    }
}

/// Where `download`, `seed`, `info` and `tui` keep their DHT routing table
/// ($XDG_STATE_HOME/riffle/client-dht.state; the seedbox keeps its own in
/// its state directory). None if the directory cannot be made.
pub fn client_state_file() -> Option<PathBuf> {
    Some(client_state_dir()?.join("client-dht.state"))
}

/// $XDG_STATE_HOME/riffle (or ~/.local/state/riffle), made if missing.
pub fn client_state_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local").join("state"))
        })?;
    let dir = base.join("riffle");
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_choose_the_routers() {
        let off = DhtFlags {
            no_dht: true,
            ..DhtFlags::default()
        };
        assert!(off.config(None).is_none());
        let mine = DhtFlags {
            no_dht: false,
            bootstrap: vec!["127.0.0.1:7000".into()],
        };
        assert_eq!(mine.config(None).unwrap().bootstrap, vec!["127.0.0.1:7000"]);
    }
}
