//! The locality file's contents, as any serde format reads them (riffle
//! writes TOML; see docs/locality.md):
//!
//! ```toml
//! local_share = 0.7
//! [pids]
//! east = ["127.0.1.0/24"]
//! [costs]
//! east.west = 4.0
//! [prices]
//! west.east = 20.0
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{LocalityError, LocalityMap, PidDef, Prefix};

/// A locality file as written; [`LocalityFile::into_map`] checks it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LocalityFile {
    /// The near share (None: the default 0.7).
    pub local_share: Option<f64>,
    /// PID name -> its prefixes.
    pub pids: BTreeMap<String, Vec<String>>,
    /// From -> to -> cost (P4P's inter-PID costs).
    #[serde(default)]
    pub costs: BTreeMap<String, BTreeMap<String, f64>>,
    /// From -> to -> transit price (MultiTrack).
    #[serde(default)]
    pub prices: BTreeMap<String, BTreeMap<String, f64>>,
}

impl LocalityFile {
    /// The map the file describes, or what is wrong with it.
    pub fn into_map(self) -> Result<LocalityMap, LocalityError> {
        let mut pids = Vec::new();
        for (name, prefixes) in self.pids {
            let prefixes = prefixes
                .iter()
                .map(|p| p.parse::<Prefix>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| LocalityError::BadPrefix(format!("in PID {name}: {e}")))?;
            pids.push(PidDef { name, prefixes });
        }
        let mut map = LocalityMap::new(pids)?;
        for (from, row) in &self.costs {
            for (to, cost) in row {
                map.set_cost(from, to, *cost)?;
            }
        }
        for (from, row) in &self.prices {
            for (to, price) in row {
                map.set_price(from, to, *price)?;
            }
        }
        if let Some(share) = self.local_share {
            map.set_local_share(share)?;
        }
        Ok(map)
    }
}
