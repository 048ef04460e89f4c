//! The daemon's configuration: a TOML file (every key in
//! `docs/daemon.md`), then command-line flags over it, then defaults that
//! follow the XDG base directories.
//!
//! The RPC listens on 127.0.0.1 unless told otherwise; listening on any
//! other address needs a password or an explicit address whitelist, or
//! the daemon refuses to start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use riffle_manager::SettingsChange;
use serde::Deserialize;
use thiserror::Error;

/// The default RPC address (Transmission's port, loopback only).
pub const DEFAULT_RPC_LISTEN: &str = "127.0.0.1:9091";
/// The default peer address (Transmission's port).
pub const DEFAULT_LISTEN: &str = "0.0.0.0:51413";
/// Default cap on an RPC request body: a large `.torrent` in base64 fits.
pub const DEFAULT_MAX_BODY: usize = 16 * 1024 * 1024;

/// Why the configuration cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for the daemon.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the key.
        message: String,
    },
    /// A setting that cannot work.
    #[error("{0}")]
    Invalid(String),
}

/// The config file's keys (all optional).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// State directory.
    pub state_dir: Option<PathBuf>,
    /// Default download directory.
    pub download_dir: Option<PathBuf>,
    /// Peer listening address.
    pub listen: Option<SocketAddr>,
    /// RPC listening address.
    pub rpc_listen: Option<SocketAddr>,
    /// Watch folder for `.torrent` files.
    pub watch_dir: Option<PathBuf>,
    /// Web interface directory served at `/transmission/web/`.
    pub web_root: Option<PathBuf>,
    /// RPC user name (with `rpc_password`: basic authentication on).
    pub rpc_username: Option<String>,
    /// RPC password.
    pub rpc_password: Option<String>,
    /// Addresses allowed to use the RPC (`192.168.*.*` patterns).
    pub rpc_whitelist: Option<Vec<String>>,
    /// Host names allowed in the Host header without a password.
    pub rpc_host_whitelist: Vec<String>,
    /// Largest RPC request body, bytes.
    pub max_body_bytes: Option<usize>,
    /// Run the DHT (default true).
    pub dht: Option<bool>,
    /// DHT routers to start from (HOST:PORT).
    pub dht_bootstrap: Option<Vec<String>>,
    /// Cross-swarm credit (default false).
    pub cross_swarm_credit: Option<bool>,
    /// Which waiting seeds start first: "queue" (default) or "scarcity".
    pub seed_priority: Option<riffle_policies::queue::SeedPriority>,
    /// How the upload limit is split between torrents (per-peer, equal,
    /// cpm; default per-peer).
    pub swarm_allocation: Option<riffle_policies::exchange::SwarmAllocation>,
    /// A locality file (networks by prefix; docs/locality.md): peers of
    /// our network first.
    pub locality: Option<PathBuf>,
    /// Prefer peers of our own /24 or /48 (no file).
    pub prefer_local: Option<bool>,
    /// The near share of dials and optimistic unchokes (default 0.7).
    pub local_share: Option<f64>,
    /// Session settings applied at every start (rates in bytes per
    /// second); what `session-set` changes at run time is kept in the
    /// state directory, and these win over it at the next start.
    pub session: SettingsChange,
}

/// Flags of `riffle daemon`, over the file.
#[derive(Clone, Debug, Default)]
pub struct Flags {
    /// `--state-dir`.
    pub state_dir: Option<PathBuf>,
    /// `--download-dir`.
    pub download_dir: Option<PathBuf>,
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--rpc-listen`.
    pub rpc_listen: Option<SocketAddr>,
    /// `--watch-dir`.
    pub watch_dir: Option<PathBuf>,
    /// `--web-root`.
    pub web_root: Option<PathBuf>,
    /// `--no-dht`.
    pub no_dht: bool,
    /// `--dht-bootstrap` (repeatable).
    pub dht_bootstrap: Vec<String>,
    /// `--cross-swarm-credit` (true when given).
    pub cross_swarm_credit: bool,
    /// `--swarm-allocation`.
    pub swarm_allocation: Option<riffle_policies::exchange::SwarmAllocation>,
    /// `--seed-priority`.
    pub seed_priority: Option<riffle_policies::queue::SeedPriority>,
    /// `--locality` / `--prefer-local` / `--local-share`, read by the
    /// command line (wins over the file's keys).
    pub locality: Option<riffle_policies::locality::Locality>,
}

/// Where the user's directories are (from the environment).
#[derive(Clone, Debug, Default)]
pub struct Xdg {
    /// `$HOME`.
    pub home: Option<PathBuf>,
    /// `$XDG_STATE_HOME`.
    pub state_home: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME`.
    pub config_home: Option<PathBuf>,
    /// `$RIFFLE_DHT_BOOTSTRAP` (the default DHT routers).
    pub dht_bootstrap: Option<String>,
}

impl Xdg {
    /// From this process's environment.
    pub fn from_env() -> Xdg {
        let var = |k| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Xdg {
            home: var("HOME"),
            state_home: var("XDG_STATE_HOME"),
            config_home: var("XDG_CONFIG_HOME"),
            dht_bootstrap: std::env::var(riffle_client::dht::BOOTSTRAP_ENV).ok(),
        }
    }

    fn home(&self) -> PathBuf {
        self.home.clone().unwrap_or_else(|| PathBuf::from("."))
    }

    /// `$XDG_CONFIG_HOME/riffle/config.toml` (`~/.config/...`).
    pub fn config_file(&self) -> PathBuf {
        self.config_home
            .clone()
            .unwrap_or_else(|| self.home().join(".config"))
            .join("riffle")
            .join("config.toml")
    }

    /// `$XDG_STATE_HOME/riffle` (`~/.local/state/riffle`).
    pub fn state_dir(&self) -> PathBuf {
        self.state_home
            .clone()
            .unwrap_or_else(|| self.home().join(".local").join("state"))
            .join("riffle")
    }

    /// `~/Downloads`.
    pub fn download_dir(&self) -> PathBuf {
        self.home().join("Downloads")
    }
}

/// The configuration in force.
#[derive(Clone, Debug)]
pub struct DaemonConfig {
    /// State directory.
    pub state_dir: PathBuf,
    /// Default download directory.
    pub download_dir: PathBuf,
    /// Peer listening address.
    pub listen: SocketAddr,
    /// RPC listening address.
    pub rpc_listen: SocketAddr,
    /// Watch folder.
    pub watch_dir: Option<PathBuf>,
    /// Web interface directory.
    pub web_root: Option<PathBuf>,
    /// RPC credentials.
    pub credentials: Option<(String, String)>,
    /// RPC address whitelist.
    pub whitelist: Option<Vec<String>>,
    /// Host names allowed without a password.
    pub host_whitelist: Vec<String>,
    /// Largest RPC request body.
    pub max_body: usize,
    /// Session settings to apply at start.
    pub session: SettingsChange,
    /// The DHT's routers (None: no DHT).
    pub dht: Option<Vec<String>>,
    /// Cross-swarm credit.
    pub cross_swarm_credit: bool,
    /// Which waiting seeds start first.
    pub seed_priority: riffle_policies::queue::SeedPriority,
    /// The split of the upload limit between torrents.
    pub swarm_allocation: riffle_policies::exchange::SwarmAllocation,
    /// Peers of our network first (None: no preference).
    pub locality: Option<riffle_policies::locality::Locality>,
}

impl FileConfig {
    /// Read `path`; a missing file is an empty configuration only when
    /// `required` is false (the default location).
    pub fn load(path: &Path, required: bool) -> Result<FileConfig, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(FileConfig::default())
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().replace('\n', " "),
        })
    }
}

/// The config file's locality keys: `locality = FILE` or `prefer_local =
/// true`, with `local_share`.
fn file_locality(
    path: Option<&Path>,
    prefer_local: Option<bool>,
    share: Option<f64>,
) -> Result<Option<riffle_policies::locality::Locality>, ConfigError> {
    use riffle_policies::locality::{Locality, LocalityFile};
    let invalid = |m: String| ConfigError::Invalid(m);
    let base = match (path, prefer_local.unwrap_or(false)) {
        (Some(p), _) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                invalid(format!(
                    "cannot read the locality file {}: {e}",
                    p.display()
                ))
            })?;
            let file: LocalityFile = toml::from_str(&text).map_err(|e| {
                invalid(format!(
                    "bad locality file {}: {}",
                    p.display(),
                    e.to_string().replace('\n', " ")
                ))
            })?;
            Locality::from_map(
                file.into_map()
                    .map_err(|e| invalid(format!("bad locality file {}: {e}", p.display())))?,
            )
        }
        (None, true) => Locality::prefer_local(),
        (None, false) => return Ok(None),
    };
    match share {
        Some(s) => base
            .with_local_share(s)
            .map(Some)
            .map_err(|e| invalid(e.to_string())),
        None => Ok(Some(base)),
    }
}

/// Flags over the file over the defaults.
pub fn resolve(file: FileConfig, flags: Flags, xdg: &Xdg) -> Result<DaemonConfig, ConfigError> {
    let rpc_listen = flags
        .rpc_listen
        .or(file.rpc_listen)
        .unwrap_or_else(|| DEFAULT_RPC_LISTEN.parse().expect("a valid address"));
    let credentials = match (file.rpc_username, file.rpc_password) {
        (Some(u), Some(p)) if !p.is_empty() => Some((u, p)),
        (None, None) => None,
        (Some(_), Some(_)) => {
            return Err(ConfigError::Invalid(
                "rpc_password must not be empty".into(),
            ))
        }
        _ => {
            return Err(ConfigError::Invalid(
                "rpc_username and rpc_password go together".into(),
            ))
        }
    };
    if !rpc_listen.ip().is_loopback() && credentials.is_none() && file.rpc_whitelist.is_none() {
        return Err(ConfigError::Invalid(format!(
            "the RPC would listen on {rpc_listen}, beyond this machine, with no password: set rpc_username and rpc_password, or an explicit rpc_whitelist, in the config file"
        )));
    }
    let download_dir = flags
        .download_dir
        .or(file.download_dir)
        .unwrap_or_else(|| xdg.download_dir());
    // Relative paths are taken from where the daemon starts, once: the
    // state directory records absolute ones.
    let abs = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
    let download_dir = abs(download_dir);
    let locality = match flags.locality {
        Some(l) => Some(l),
        None => file_locality(
            file.locality.as_deref(),
            file.prefer_local,
            file.local_share,
        )?,
    };
    let mut session = file.session;
    session.download_dir = Some(download_dir.clone());
    Ok(DaemonConfig {
        state_dir: abs(flags
            .state_dir
            .or(file.state_dir)
            .unwrap_or_else(|| xdg.state_dir())),
        download_dir,
        listen: flags
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("a valid address")),
        rpc_listen,
        watch_dir: flags.watch_dir.or(file.watch_dir).map(abs),
        web_root: flags.web_root.or(file.web_root).map(abs),
        credentials,
        whitelist: file.rpc_whitelist,
        host_whitelist: file.rpc_host_whitelist,
        max_body: file.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY).max(4096),
        session,
        cross_swarm_credit: flags.cross_swarm_credit || file.cross_swarm_credit.unwrap_or(false),
        seed_priority: flags
            .seed_priority
            .or(file.seed_priority)
            .unwrap_or_default(),
        swarm_allocation: flags
            .swarm_allocation
            .or(file.swarm_allocation)
            .unwrap_or_default(),
        locality,
        dht: (!flags.no_dht && file.dht.unwrap_or(true)).then(|| {
            if flags.dht_bootstrap.is_empty() {
                file.dht_bootstrap
                    .unwrap_or_else(|| riffle_client::dht::routers(xdg.dht_bootstrap.as_deref()))
            } else {
                flags.dht_bootstrap
            }
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xdg() -> Xdg {
        Xdg {
            home: Some("/home/u".into()),
            state_home: None,
            config_home: Some("/cfg".into()),
            dht_bootstrap: None,
        }
    }

    #[test]
    fn defaults_follow_xdg_and_flags_win() {
        let c = resolve(FileConfig::default(), Flags::default(), &xdg()).unwrap();
        assert_eq!(c.state_dir, PathBuf::from("/home/u/.local/state/riffle"));
        assert_eq!(c.download_dir, PathBuf::from("/home/u/Downloads"));
        assert_eq!(c.rpc_listen.to_string(), DEFAULT_RPC_LISTEN);
        assert_eq!(
            xdg().config_file(),
            PathBuf::from("/cfg/riffle/config.toml")
        );
        let file: FileConfig = toml::from_str(
            r#"
            download_dir = "/data"
            rpc_listen = "127.0.0.1:9999"
            [session]
            speed_limit_up = 500000
            speed_limit_up_enabled = true
            "#,
        )
        .unwrap();
        let flags = Flags {
            download_dir: Some("/flag".into()),
            ..Flags::default()
        };
        let c = resolve(file, flags, &xdg()).unwrap();
        assert_eq!(c.download_dir, PathBuf::from("/flag"));
        assert_eq!(c.rpc_listen.port(), 9999);
        assert_eq!(c.session.speed_limit_up, Some(500_000));
        assert_eq!(c.session.download_dir, Some(PathBuf::from("/flag")));
    }

    #[test]
    fn dht_routers_from_flags_file_environment_or_defaults() {
        let c = resolve(FileConfig::default(), Flags::default(), &xdg()).unwrap();
        assert_eq!(
            c.dht.unwrap().len(),
            riffle_client::dht::DEFAULT_ROUTERS.len()
        );
        let env = Xdg {
            dht_bootstrap: Some(String::new()),
            ..xdg()
        };
        assert_eq!(
            resolve(FileConfig::default(), Flags::default(), &env)
                .unwrap()
                .dht,
            Some(vec![])
        );
        let file: FileConfig = toml::from_str("dht_bootstrap = [\"10.0.0.1:6881\"]").unwrap();
        let c = resolve(file.clone(), Flags::default(), &env).unwrap();
        assert_eq!(c.dht, Some(vec!["10.0.0.1:6881".to_owned()]));
        let flags = Flags {
            dht_bootstrap: vec!["127.0.0.1:1".into()],
            ..Flags::default()
        };
        let c = resolve(file, flags, &env).unwrap();
        assert_eq!(c.dht, Some(vec!["127.0.0.1:1".to_owned()]));
        let off: FileConfig = toml::from_str("dht = false").unwrap();
        assert_eq!(resolve(off, Flags::default(), &xdg()).unwrap().dht, None);
        let flags = Flags {
            no_dht: true,
            ..Flags::default()
        };
        assert_eq!(
            resolve(FileConfig::default(), flags, &xdg()).unwrap().dht,
            None
        );
    }

    #[test]
    fn exchange_flags_win_over_the_file() {
        use riffle_policies::exchange::SwarmAllocation;
        use riffle_policies::queue::SeedPriority;
        let file: FileConfig = toml::from_str(
            "cross_swarm_credit = false\nswarm_allocation = \"equal\"\nseed_priority = \"queue\"",
        )
        .unwrap();
        let c = resolve(file.clone(), Flags::default(), &xdg()).unwrap();
        assert!(!c.cross_swarm_credit);
        assert_eq!(c.swarm_allocation, SwarmAllocation::Equal);
        assert_eq!(c.seed_priority, SeedPriority::Queue);
        let flags = Flags {
            cross_swarm_credit: true,
            swarm_allocation: Some(SwarmAllocation::Cpm),
            seed_priority: Some(SeedPriority::Scarcity),
            ..Flags::default()
        };
        let c = resolve(file, flags, &xdg()).unwrap();
        assert!(c.cross_swarm_credit);
        assert_eq!(c.swarm_allocation, SwarmAllocation::Cpm);
        assert_eq!(c.seed_priority, SeedPriority::Scarcity);
    }

    #[test]
    fn locality_comes_from_a_file_or_prefer_local_and_flags_win() {
        use riffle_policies::locality::{Group, Locality};
        let dir = tempfile::tempdir().unwrap();
        let map = dir.path().join("pids.toml");
        std::fs::write(
            &map,
            "[pids]\neast = [\"10.1.0.0/16\"]\nwest = [\"10.2.0.0/16\"]",
        )
        .unwrap();
        let file: FileConfig = toml::from_str(&format!(
            "locality = {:?}\nlocal_share = 0.9",
            map.to_str().unwrap()
        ))
        .unwrap();
        let l = resolve(file, Flags::default(), &xdg())
            .unwrap()
            .locality
            .expect("a locality");
        assert_eq!(l.local_share(), 0.9);
        assert_eq!(l.group("10.2.3.4".parse().unwrap()), Group::Pid(1));
        let near: FileConfig = toml::from_str("prefer_local = true").unwrap();
        let l = resolve(near.clone(), Flags::default(), &xdg())
            .unwrap()
            .locality
            .unwrap();
        assert!(l.is_local(
            "192.168.1.2".parse().unwrap(),
            "192.168.1.9".parse().unwrap()
        ));
        let flags = Flags {
            locality: Some(Locality::prefer_local().with_local_share(0.5).unwrap()),
            ..Flags::default()
        };
        assert_eq!(
            resolve(near, flags, &xdg())
                .unwrap()
                .locality
                .unwrap()
                .local_share(),
            0.5
        );
        assert!(resolve(FileConfig::default(), Flags::default(), &xdg())
            .unwrap()
            .locality
            .is_none());
        std::fs::write(&map, "[pids]\neast = [\"10.1.0.0/99\"]").unwrap();
        let bad: FileConfig =
            toml::from_str(&format!("locality = {:?}", map.to_str().unwrap())).unwrap();
        let err = resolve(bad, Flags::default(), &xdg())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bad locality file") && err.contains("99"),
            "{err}"
        );
    }

    #[test]
    fn refuses_an_open_rpc_and_bad_keys() {
        let open = FileConfig {
            rpc_listen: Some("0.0.0.0:9091".parse().unwrap()),
            ..FileConfig::default()
        };
        assert!(resolve(open.clone(), Flags::default(), &xdg()).is_err());
        let with_password = FileConfig {
            rpc_username: Some("u".into()),
            rpc_password: Some("p".into()),
            ..open.clone()
        };
        assert!(resolve(with_password, Flags::default(), &xdg()).is_ok());
        let with_list = FileConfig {
            rpc_whitelist: Some(vec!["192.168.*.*".into()]),
            ..open
        };
        assert!(resolve(with_list, Flags::default(), &xdg()).is_ok());
        let lone = FileConfig {
            rpc_username: Some("u".into()),
            ..FileConfig::default()
        };
        assert!(resolve(lone, Flags::default(), &xdg()).is_err());
        assert!(toml::from_str::<FileConfig>("no_such_key = 1").is_err());
        assert!(toml::from_str::<FileConfig>("[session]\nbogus = 1").is_err());
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            FileConfig::load(&dir.path().join("none.toml"), false).unwrap(),
            FileConfig::default()
        );
        assert!(FileConfig::load(&dir.path().join("none.toml"), true).is_err());
    }
}
