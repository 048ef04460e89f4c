//! Magnet links (BEP 9): `magnet:?xt=urn:btih:<hash>&dn=..&tr=..&x.pe=..`.
//!
//! Parsing follows libtorrent's `parse_magnet_uri` where it matters:
//! parameter names are case-insensitive and may carry a `.N` suffix
//! (`tr.1`), values are form-decoded (`%XX`, and `+` is a space), the
//! info-hash is 40 hex digits or 32 base32 characters, and unknown
//! parameters (including a v2 `urn:btmh:` hash next to the v1 one) are
//! ignored. Stricter than libtorrent: two different `btih` hashes are an
//! error rather than "last one wins".

use std::net::SocketAddr;

use data_encoding::BASE32;
use thiserror::Error;
use url::form_urlencoded;

use crate::types::InfoHash;

/// Why a string is not a usable magnet link.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MagnetError {
    #[error("not a magnet link (expected it to start with \"magnet:?\")")]
    WrongScheme,
    #[error("magnet link has no xt=urn:btih: info-hash (v2-only links are not supported)")]
    MissingInfoHash,
    #[error("magnet link info-hash {0:?} is neither 40 hex digits nor 32 base32 characters")]
    BadInfoHash(String),
    #[error("magnet link names two different info-hashes")]
    ConflictingInfoHash,
}

/// A parsed magnet link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Magnet {
    /// The v1 info-hash (`xt=urn:btih:`): all a client needs to find the
    /// swarm and fetch the metadata from peers.
    pub info_hash: InfoHash,
    /// Suggested name to show until the metadata arrives (`dn`).
    pub display_name: Option<String>,
    /// Tracker URLs (`tr`, repeated), in order, without duplicates.
    pub trackers: Vec<String>,
    /// Peers to try directly (`x.pe`), as `host:port`.
    pub peers: Vec<String>,
}

impl Magnet {
    /// Parse a magnet URI.
    pub fn parse(uri: &str) -> Result<Magnet, MagnetError> {
        let uri = uri.trim();
        let query = match uri.get(..8) {
            Some(p) if p.eq_ignore_ascii_case("magnet:?") => uri.get(8..).unwrap_or_default(),
            _ => return Err(MagnetError::WrongScheme),
        };
        let mut info_hash: Option<InfoHash> = None;
        let mut display_name = None;
        let mut trackers: Vec<String> = Vec::new();
        let mut peers = Vec::new();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let name = strip_number_suffix(&name).to_ascii_lowercase();
            match name.as_str() {
                "xt" => {
                    let Some(hash) = value.strip_prefix("urn:btih:") else {
                        continue; // btmh (v2) and other URNs: not ours
                    };
                    let hash = parse_hash(hash)?;
                    match info_hash {
                        Some(h) if h != hash => return Err(MagnetError::ConflictingInfoHash),
                        _ => info_hash = Some(hash),
                    }
                }
                "dn" if !value.is_empty() => display_name = Some(value.into_owned()),
                "tr" if !value.is_empty() && !trackers.iter().any(|t| *t == value) => {
                    trackers.push(value.into_owned());
                }
                "x.pe" if is_host_port(&value) => peers.push(value.into_owned()),
                _ => {}
            }
        }
        Ok(Magnet {
            info_hash: info_hash.ok_or(MagnetError::MissingInfoHash)?,
            display_name,
            trackers,
            peers,
        })
    }

    /// The magnet URI for this link (hex info-hash, values form-encoded);
    /// [`Magnet::parse`] reads it back to an equal value.
    pub fn to_uri(&self) -> String {
        let mut out = format!("magnet:?xt=urn:btih:{}", self.info_hash.to_hex());
        let mut param = |key: &str, value: &str| {
            out.push('&');
            out.push_str(key);
            out.push('=');
            out.extend(form_urlencoded::byte_serialize(value.as_bytes()));
        };
        if let Some(dn) = &self.display_name {
            param("dn", dn);
        }
        for t in &self.trackers {
            param("tr", t);
        }
        for p in &self.peers {
            param("x.pe", p);
        }
        out
    }
}

/// `tr.1` -> `tr`: libtorrent strips a `.digits` suffix from names
/// (`x.pe` keeps its suffix, which is not digits).
fn strip_number_suffix(name: &str) -> &str {
    match name.split_once('.') {
        Some((base, n)) if n.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => name,
    }
}

/// 40 hex digits or 32 base32 characters (either case).
fn parse_hash(s: &str) -> Result<InfoHash, MagnetError> {
    let bad = || MagnetError::BadInfoHash(s.to_owned());
    match s.len() {
        40 => s.parse::<InfoHash>().map_err(|_| bad()),
        32 => {
            let bytes = BASE32
                .decode(s.to_ascii_uppercase().as_bytes())
                .map_err(|_| bad())?;
            InfoHash::from_slice(&bytes).map_err(|_| bad())
        }
        _ => Err(bad()),
    }
}

/// `host:port` or `[v6]:port` with a port from 1 to 65535.
fn is_host_port(s: &str) -> bool {
    if s.parse::<SocketAddr>().is_ok() {
        return s
            .parse::<SocketAddr>()
            .map(|a| a.port() != 0)
            .unwrap_or(false);
    }
    match s.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && !host.contains(':')
                && port.parse::<u16>().map(|p| p != 0).unwrap_or(false)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HEX: &str = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";

    #[test]
    fn parses_a_full_link() {
        let m = Magnet::parse(&format!(
            "magnet:?xt=urn:btih:{HEX}&dn=Some+Name%20%C3%A9&tr=udp%3A%2F%2Ft.example%3A80&tr.1=http://b/a?x=1&x.pe=10.0.0.1:6881&x.pe=[::1]:7000&x.pe=bad&so=0,2&foo=bar"
        ))
        .unwrap();
        assert_eq!(m.info_hash.to_hex(), HEX);
        assert_eq!(m.display_name.as_deref(), Some("Some Name é"));
        assert_eq!(m.trackers, vec!["udp://t.example:80", "http://b/a?x=1"]);
        assert_eq!(m.peers, vec!["10.0.0.1:6881", "[::1]:7000"]);
    }

    #[test]
    fn base32_and_uppercase_hex() {
        let b32 = BASE32.encode(&hex::decode(HEX).unwrap());
        assert_eq!(b32.len(), 32);
        let a = Magnet::parse(&format!("magnet:?xt=urn:btih:{b32}")).unwrap();
        let b = Magnet::parse(&format!("magnet:?xt=urn:btih:{}", b32.to_lowercase())).unwrap();
        let c = Magnet::parse(&format!("MAGNET:?XT=urn:btih:{}", HEX.to_uppercase())).unwrap();
        assert_eq!(a.info_hash.to_hex(), HEX);
        assert_eq!(a, b);
        assert_eq!(a, c);
    }

    #[test]
    fn v2_hash_alongside_is_ignored() {
        let m = Magnet::parse(&format!(
            "magnet:?xt=urn:btmh:1220{}&xt=urn:btih:{HEX}",
            "ab".repeat(32)
        ))
        .unwrap();
        assert_eq!(m.info_hash.to_hex(), HEX);
    }

    #[test]
    fn rejections() {
        assert_eq!(
            Magnet::parse("http://x/?xt=urn:btih:00"),
            Err(MagnetError::WrongScheme)
        );
        assert_eq!(Magnet::parse("magnet:"), Err(MagnetError::WrongScheme));
        assert_eq!(
            Magnet::parse("magnet:?dn=x"),
            Err(MagnetError::MissingInfoHash)
        );
        assert_eq!(
            Magnet::parse(&format!("magnet:?xt=urn:btmh:1220{}", "ab".repeat(32))),
            Err(MagnetError::MissingInfoHash)
        );
        assert!(matches!(
            Magnet::parse("magnet:?xt=urn:btih:1234"),
            Err(MagnetError::BadInfoHash(_))
        ));
        assert!(matches!(
            Magnet::parse(&format!("magnet:?xt=urn:btih:{}", "g".repeat(40))),
            Err(MagnetError::BadInfoHash(_))
        ));
        assert!(matches!(
            Magnet::parse(&format!("magnet:?xt=urn:btih:{}", "1".repeat(32))),
            Err(MagnetError::BadInfoHash(_))
        ));
        let other = "0".repeat(40);
        assert_eq!(
            Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}&xt.2=urn:btih:{other}")),
            Err(MagnetError::ConflictingInfoHash)
        );
        // The same hash twice is fine.
        assert!(Magnet::parse(&format!(
            "magnet:?xt=urn:btih:{HEX}&xt=urn:btih:{}",
            HEX.to_uppercase()
        ))
        .is_ok());
    }

    proptest! {
        #[test]
        fn round_trip(
            hash in any::<[u8; 20]>(),
            dn in proptest::option::of("\\PC{1,30}"),
            trackers in proptest::collection::vec("[a-z]{1,8}://[a-z.]{1,10}(:[0-9]{1,4})?/[ -~]{0,10}", 0..4),
            peers in proptest::collection::vec((any::<[u8; 4]>(), 1u16..), 0..3),
        ) {
            let mut trackers2: Vec<String> = Vec::new();
            for t in trackers {
                if !trackers2.contains(&t) {
                    trackers2.push(t);
                }
            }
            let m = Magnet {
                info_hash: InfoHash(hash),
                display_name: dn.filter(|d| !d.is_empty()),
                trackers: trackers2,
                peers: peers
                    .into_iter()
                    .map(|(ip, port)| format!("{}:{}", std::net::Ipv4Addr::from(ip), port))
                    .collect(),
            };
            prop_assert_eq!(Magnet::parse(&m.to_uri()).unwrap(), m);
        }

        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,200}") {
            let _ = Magnet::parse(&s);
            let _ = Magnet::parse(&format!("magnet:?{s}"));
        }
    }
}
