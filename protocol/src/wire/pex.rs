//! BEP 11 peer exchange (`ut_pex`): peers tell each other which peers
//! they have connected to and dropped since the last message, at most once
//! a minute, so a swarm is found beyond what trackers and the DHT say.
//!
//! A message is a bencoded dictionary: `added` (compact IPv4 peers, 6
//! bytes each) with `added.f` (one flag byte per peer), `dropped`, and the
//! IPv6 lists `added6`, `added6.f`, `dropped6` (18 bytes each). Decoding
//! never panics and keeps at most [`MAX_PEX_PEERS`] of each list (BEP 11
//! asks for at most 50 per message); malformed lists are skipped, not
//! fatal, as real clients are sloppy.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use thiserror::Error;

use crate::bencode::{self, Limits, Owned};

/// The extension's name in the BEP 10 handshake's `m` dictionary.
pub const UT_PEX: &str = "ut_pex";
/// Most peers taken from (or put in) one list of one message.
pub const MAX_PEX_PEERS: usize = 200;

/// Flag: the peer prefers encryption.
pub const FLAG_ENCRYPTION: u8 = 0x01;
/// Flag: the peer is a seed (or upload-only).
pub const FLAG_SEED: u8 = 0x02;
/// Flag: the peer supports uTP.
pub const FLAG_UTP: u8 = 0x04;
/// Flag: the peer supports the holepunch extension.
pub const FLAG_HOLEPUNCH: u8 = 0x08;
/// Flag: the peer is reachable (we connected to it, not it to us).
pub const FLAG_REACHABLE: u8 = 0x10;

/// Why a `ut_pex` payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PexError {
    /// Not a bencoded dictionary.
    #[error("ut_pex message is not a bencoded dictionary: {0}")]
    Bencode(String),
}

/// One `ut_pex` message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PexMessage {
    /// Peers connected since the last message, with their flags.
    pub added: Vec<(SocketAddr, u8)>,
    /// Peers dropped since the last message.
    pub dropped: Vec<SocketAddr>,
}

fn v4(chunk: &[u8]) -> SocketAddr {
    let ip = Ipv4Addr::new(chunk[0], chunk[1], chunk[2], chunk[3]);
    SocketAddr::V4(SocketAddrV4::new(
        ip,
        u16::from_be_bytes([chunk[4], chunk[5]]),
    ))
}

fn v6(chunk: &[u8]) -> SocketAddr {
    let mut octets = [0u8; 16];
    octets.copy_from_slice(&chunk[..16]);
    SocketAddr::V6(SocketAddrV6::new(
        Ipv6Addr::from(octets),
        u16::from_be_bytes([chunk[16], chunk[17]]),
        0,
        0,
    ))
}

/// Compact peers of `width` bytes each from `bytes` (a trailing partial
/// entry ignored), at most [`MAX_PEX_PEERS`], port 0 skipped.
fn compact(bytes: Option<&[u8]>, width: usize) -> Vec<SocketAddr> {
    let parse = if width == 6 { v4 } else { v6 };
    bytes
        .unwrap_or_default()
        .chunks_exact(width)
        .map(parse)
        .filter(|a| a.port() != 0)
        .take(MAX_PEX_PEERS)
        .collect()
}

impl PexMessage {
    /// Decode an extended message's payload.
    pub fn decode(payload: &[u8]) -> Result<PexMessage, PexError> {
        let limits = Limits {
            max_depth: 4,
            max_items: 64,
        };
        let value =
            bencode::decode_with(payload, limits).map_err(|e| PexError::Bencode(e.to_string()))?;
        let dict = value
            .as_dict()
            .ok_or_else(|| PexError::Bencode("not a dictionary".into()))?;
        let bytes = |key: &str| dict.get(key.as_bytes()).and_then(|v| v.as_bytes());
        let mut out = PexMessage::default();
        for (list, flags, width) in [("added", "added.f", 6), ("added6", "added6.f", 18)] {
            let flags = bytes(flags).unwrap_or_default();
            // Peers whose port is 0 were dropped by `compact`: pair flags
            // with the raw entries first.
            let raw = bytes(list).unwrap_or_default();
            for (i, chunk) in raw.chunks_exact(width).take(MAX_PEX_PEERS).enumerate() {
                let addr = if width == 6 { v4(chunk) } else { v6(chunk) };
                if addr.port() != 0 {
                    out.added.push((addr, flags.get(i).copied().unwrap_or(0)));
                }
            }
        }
        out.dropped = compact(bytes("dropped"), 6);
        out.dropped.extend(compact(bytes("dropped6"), 18));
        Ok(out)
    }

    /// The payload to send (at most [`MAX_PEX_PEERS`] per list).
    pub fn encode(&self) -> Vec<u8> {
        let mut added = Vec::new();
        let mut added_f = Vec::new();
        let mut added6 = Vec::new();
        let mut added6_f = Vec::new();
        for (addr, flags) in self.added.iter().take(MAX_PEX_PEERS) {
            match addr {
                SocketAddr::V4(a) => {
                    added.extend_from_slice(&a.ip().octets());
                    added.extend_from_slice(&a.port().to_be_bytes());
                    added_f.push(*flags);
                }
                SocketAddr::V6(a) => {
                    added6.extend_from_slice(&a.ip().octets());
                    added6.extend_from_slice(&a.port().to_be_bytes());
                    added6_f.push(*flags);
                }
            }
        }
        let mut dropped = Vec::new();
        let mut dropped6 = Vec::new();
        for addr in self.dropped.iter().take(MAX_PEX_PEERS) {
            match addr {
                SocketAddr::V4(a) => {
                    dropped.extend_from_slice(&a.ip().octets());
                    dropped.extend_from_slice(&a.port().to_be_bytes());
                }
                SocketAddr::V6(a) => {
                    dropped6.extend_from_slice(&a.ip().octets());
                    dropped6.extend_from_slice(&a.port().to_be_bytes());
                }
            }
        }
        let d = Owned::dict([
            (&b"added"[..], Owned::Bytes(added)),
            (&b"added.f"[..], Owned::Bytes(added_f)),
            (&b"added6"[..], Owned::Bytes(added6)),
            (&b"added6.f"[..], Owned::Bytes(added6_f)),
            (&b"dropped"[..], Owned::Bytes(dropped)),
            (&b"dropped6"[..], Owned::Bytes(dropped6)),
        ]);
        bencode::encode(&d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trips_both_families() {
        let m = PexMessage {
            added: vec![
                ("10.0.0.1:6881".parse().unwrap(), FLAG_SEED | FLAG_REACHABLE),
                ("[2001:db8::1]:51413".parse().unwrap(), 0),
            ],
            dropped: vec!["10.0.0.9:1".parse().unwrap()],
        };
        assert_eq!(PexMessage::decode(&m.encode()).unwrap(), m);
    }

    #[test]
    fn sloppy_input_is_read_as_far_as_it_goes() {
        // A truncated added list, missing flags, port 0, unknown keys.
        let payload = b"d5:added13:\x0a\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x00\x00\x0a1:xi3ee";
        let m = PexMessage::decode(payload).unwrap();
        assert_eq!(m.added, vec![("10.0.0.1:6881".parse().unwrap(), 0)]);
        assert!(m.dropped.is_empty());
        assert!(PexMessage::decode(b"le").is_err());
        assert!(PexMessage::decode(b"").is_err());
        // At most MAX_PEX_PEERS taken from a huge list.
        let big: Vec<u8> = (0..1000u32)
            .flat_map(|i| {
                let mut e = vec![10, 0, (i >> 8) as u8, i as u8];
                e.extend_from_slice(&1000u16.to_be_bytes());
                e
            })
            .collect();
        let mut payload = format!("d5:added{}:", big.len()).into_bytes();
        payload.extend_from_slice(&big);
        payload.push(b'e');
        assert_eq!(
            PexMessage::decode(&payload).unwrap().added.len(),
            MAX_PEX_PEERS
        );
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = PexMessage::decode(&bytes);
        }
    }
}
