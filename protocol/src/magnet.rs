//! Magnet links (BEP 9): `magnet:?xt=urn:btih:<hash>&dn=..&tr=..&x.pe=..`,
//! and BEP 52's `xt=urn:btmh:1220<sha-256>` for v2 (alone, or beside a
//! `btih` for a hybrid).
//!
//! Parsing follows libtorrent's `parse_magnet_uri` where it matters:
//! parameter names are case-insensitive and may carry a `.N` suffix
//! (`tr.1`), values are form-decoded (`%XX`, and `+` is a space), the
//! info-hash is 40 hex digits or 32 base32 characters, the v2 hash a
//! multihash (`1220` then 64 hex digits), and unknown parameters are
//! ignored. Stricter than libtorrent: two different hashes of one kind
//! are an error rather than "last one wins".

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
    #[error("magnet link has no xt=urn:btih: or xt=urn:btmh: info-hash")]
    MissingInfoHash,
    #[error("magnet link v2 hash {0:?} is not 1220 and 64 hex digits (a SHA-256 multihash)")]
    BadV2Hash(String),
    #[error("magnet link info-hash {0:?} is neither 40 hex digits nor 32 base32 characters")]
    BadInfoHash(String),
    #[error("magnet link names two different info-hashes")]
    ConflictingInfoHash,
}

/// A parsed magnet link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Magnet {
    /// The swarm to join: the v1 info-hash (`xt=urn:btih:`), or for a
    /// v2-only link the v2 hash truncated to 20 bytes. All a client needs
    /// to find the swarm and fetch the metadata from peers.
    pub info_hash: InfoHash,
    /// The v2 info-hash (`xt=urn:btmh:`), if the link has one: the
    /// metadata must hash to it (SHA-256) when there is no `btih`.
    pub info_hash_v2: Option<[u8; 32]>,
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
        let mut v2: Option<[u8; 32]> = None;
        let mut display_name = None;
        let mut trackers: Vec<String> = Vec::new();
        let mut peers = Vec::new();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let name = strip_number_suffix(&name).to_ascii_lowercase();
            match name.as_str() {
                "xt" if value.starts_with("urn:btmh:") => {
                    let hash = parse_v2(&value["urn:btmh:".len()..])?;
                    match v2 {
                        Some(h) if h != hash => return Err(MagnetError::ConflictingInfoHash),
                        _ => v2 = Some(hash),
                    }
                }
                "xt" => {
                    let Some(hash) = value.strip_prefix("urn:btih:") else {
                        continue; // other URNs: not ours
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
        let info_hash = match (info_hash, v2) {
            (Some(h), _) => h,
            (None, Some(v)) => {
                InfoHash::from_slice(&v[..20]).map_err(|_| MagnetError::MissingInfoHash)?
            }
            (None, None) => return Err(MagnetError::MissingInfoHash),
        };
        Ok(Magnet {
            info_hash,
            info_hash_v2: v2,
            display_name,
            trackers,
            peers,
        })
    }

    /// The magnet URI for this link (hex info-hash, values form-encoded);
    /// [`Magnet::parse`] reads it back to an equal value.
    pub fn to_uri(&self) -> String {
        let mut out = match (self.v2_only(), self.info_hash_v2) {
            (true, Some(v2)) => format!("magnet:?xt=urn:btmh:1220{}", hex::encode(v2)),
            (false, Some(v2)) => format!(
                "magnet:?xt=urn:btih:{}&xt=urn:btmh:1220{}",
                self.info_hash.to_hex(),
                hex::encode(v2)
            ),
            _ => format!("magnet:?xt=urn:btih:{}", self.info_hash.to_hex()),
        };
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

impl Magnet {
    /// A link with only a v2 hash: its swarm identity is that hash
    /// truncated, and the metadata is checked with SHA-256.
    pub fn v2_only(&self) -> bool {
        self.info_hash_v2
            .is_some_and(|v| v[..20] == self.info_hash.0)
    }
}

/// `1220` (SHA-256, 32 bytes) and 64 hex digits.
fn parse_v2(s: &str) -> Result<[u8; 32], MagnetError> {
    let bad = || MagnetError::BadV2Hash(s.to_owned());
    let hex_part = s.strip_prefix("1220").ok_or_else(bad)?;
    let bytes = hex::decode(hex_part).map_err(|_| bad())?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| bad())
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
    fn v2_hashes_hybrid_and_alone() {
        let hybrid = Magnet::parse(&format!(
            "magnet:?xt=urn:btmh:1220{}&xt=urn:btih:{HEX}",
            "ab".repeat(32)
        ))
        .unwrap();
        assert_eq!(
            hybrid.info_hash.to_hex(),
            HEX,
            "a hybrid joins the v1 swarm"
        );
        assert_eq!(hybrid.info_hash_v2, Some([0xab; 32]));
        assert!(!hybrid.v2_only());
        assert_eq!(Magnet::parse(&hybrid.to_uri()).unwrap(), hybrid);
        let v2 =
            Magnet::parse(&format!("magnet:?xt=urn:btmh:1220{}&dn=x", "cd".repeat(32))).unwrap();
        assert!(v2.v2_only());
        assert_eq!(v2.info_hash.0, [0xcd; 20], "the truncated v2 hash");
        assert_eq!(Magnet::parse(&v2.to_uri()).unwrap(), v2);
        assert!(matches!(
            Magnet::parse("magnet:?xt=urn:btmh:1114abcd"),
            Err(MagnetError::BadV2Hash(_))
        ));
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
                info_hash_v2: None,
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
