//! Locality flags (`tracker`, `download`, `seed`, `tui`) and the locality
//! file: PIDs by address prefix, optional costs between them (P4P) and
//! transit prices between their trackers (MultiTrack).
//!
//! ```toml
//! local_share = 0.7              # optional: the asker's own PID's share
//! [pids]
//! east = ["127.0.1.0/24", "10.1.0.0/16"]
//! west = ["127.0.2.0/24"]
//! [costs]                        # optional: both ways unless both given
//! east.west = 4.0
//! [prices]                       # optional: from.to, per forwarded arrival
//! west.east = 20.0
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use riffle_policies::locality::{Locality, LocalityFile, LocalityMap};

/// Read a locality file.
pub fn load_map(path: &Path) -> Result<LocalityMap> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the locality file {}", path.display()))?;
    parse_map(&text).with_context(|| format!("bad locality file {}", path.display()))
}

/// Parse a locality file's text.
pub fn parse_map(text: &str) -> Result<LocalityMap> {
    let file: LocalityFile = toml::from_str(text)?;
    Ok(file.into_map()?)
}

fn parse_share(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!("{s:?} is not a share between 0 and 1")),
    }
}

/// Prefer peers of our own network (papers 000 and 001).
#[derive(clap::Args, Debug, Default)]
pub struct LocalityFlags {
    /// Networks (PIDs) by address prefix from a TOML file: peers of our
    /// PID are preferred and a share of the others kept (see
    /// docs/locality.md for the format).
    #[arg(long, value_name = "FILE", conflicts_with = "prefer_local")]
    pub locality: Option<PathBuf>,
    /// Prefer peers of our own /24 (IPv4) or /48 (IPv6), with no file.
    #[arg(long)]
    pub prefer_local: bool,
    /// Share of peers drawn from our own network (default 0.7, P4P's
    /// shape; 1.0 is local only, with others only where too few local
    /// peers exist). Overrides the file's `local_share`.
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    pub local_share: Option<f64>,
}

impl LocalityFlags {
    /// The locality asked for, if any.
    pub fn locality(&self) -> Result<Option<Locality>> {
        let base = match (&self.locality, self.prefer_local) {
            (Some(path), _) => Locality::from_map(load_map(path)?),
            (None, true) => Locality::prefer_local(),
            (None, false) => {
                if self.local_share.is_some() {
                    anyhow::bail!("--local-share needs --locality FILE or --prefer-local");
                }
                return Ok(None);
            }
        };
        Ok(Some(match self.local_share {
            Some(s) => base.with_local_share(s)?,
            None => base,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locality_file_reads_pids_costs_prices_and_share() {
        let map = parse_map(
            r#"
            local_share = 0.8
            [pids]
            east = ["127.0.1.0/24", "10.1.0.0/16"]
            west = ["127.0.2.0/24"]
            [costs]
            east.west = 4.0
            [prices]
            west.east = 20.0
            "#,
        )
        .unwrap();
        let l = Locality::from_map(map.clone());
        assert_eq!(l.local_share(), 0.8);
        assert_eq!(map.pid_of("10.1.9.9".parse().unwrap()), map.pid("east"));
        let (east, west) = (map.pid("east").unwrap(), map.pid("west").unwrap());
        assert_eq!(map.price(west, east), 20.0);
        assert!(map.has_costs());
    }

    #[test]
    fn bad_locality_files_say_what_is_wrong() {
        for (text, says) in [
            ("[pids]\na = [\"10.0.0.0/33\"]", "bad prefix"),
            ("[pids]\na = []", "no prefix"),
            (
                "[pids]\na = [\"10.0.0.0/8\"]\n[costs]\na.b = 1.0",
                "no such PID",
            ),
            (
                "[pids]\na = [\"10.0.0.0/8\"]\n[prices]\na.a = -1.0",
                "positive",
            ),
            ("local_share = 2.0\n[pids]\na = [\"10.0.0.0/8\"]", "share"),
            ("extra = 1\n[pids]\na = [\"10.0.0.0/8\"]", "unknown field"),
        ] {
            let err = format!("{:#}", parse_map(text).unwrap_err());
            assert!(err.contains(says), "{text:?}: {err}");
        }
    }
}
