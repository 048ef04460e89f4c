//! Peer addresses as trackers hand them out, and their compact forms.
//!
//! HTTP and UDP trackers share these: BEP 23's 6-byte IPv4 entries (4 bytes
//! of address, 2 of port, big-endian) and BEP 7's 18-byte IPv6 entries.
//! Like libtorrent, a compact string whose length is not a whole number of
//! entries is rejected as a whole rather than truncated: a tracker that gets
//! the framing wrong may have gotten the addresses wrong too.
//!
//! Peers with port 0 cannot be connected to; the decoders drop them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use thiserror::Error;

use crate::types::PeerId;

/// Bytes per compact IPv4 peer (BEP 23).
pub const COMPACT_V4_LEN: usize = 6;
/// Bytes per compact IPv6 peer (BEP 7).
pub const COMPACT_V6_LEN: usize = 18;

/// A compact peer string is not a whole number of entries.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("compact peer list of {len} bytes is not a multiple of {entry}")]
pub struct CompactLengthError {
    /// Length of the string received.
    pub len: usize,
    /// Size of one entry (6 or 18).
    pub entry: usize,
}

/// Where to reach a peer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PeerEndpoint {
    /// An IP address and port: what compact lists carry, and what a
    /// dictionary peer's `ip` usually is.
    Addr(SocketAddr),
    /// A dictionary peer whose `ip` is a DNS name (BEP 3 allows it). Kept,
    /// as libtorrent keeps it, for the caller to resolve; most trackers
    /// never send one.
    Host {
        /// The name as the tracker sent it.
        name: String,
        /// Its port (never 0).
        port: u16,
    },
}

impl PeerEndpoint {
    /// The socket address, if this is not a host name.
    pub fn addr(&self) -> Option<SocketAddr> {
        match self {
            PeerEndpoint::Addr(a) => Some(*a),
            PeerEndpoint::Host { .. } => None,
        }
    }
    /// The port.
    pub fn port(&self) -> u16 {
        match self {
            PeerEndpoint::Addr(a) => a.port(),
            PeerEndpoint::Host { port, .. } => *port,
        }
    }
}

/// One peer from an announce reply.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrackerPeer {
    /// Where to connect.
    pub endpoint: PeerEndpoint,
    /// The peer's id, when the tracker sent dictionary peers with one; lets
    /// the client check the handshake and skip connecting to itself.
    pub peer_id: Option<PeerId>,
}

impl TrackerPeer {
    /// A peer known only by its address (compact lists).
    pub fn from_addr(addr: SocketAddr) -> TrackerPeer {
        TrackerPeer {
            endpoint: PeerEndpoint::Addr(addr),
            peer_id: None,
        }
    }
}

/// Decode a BEP 23 compact IPv4 list, dropping port-0 entries.
pub fn decode_compact_v4(bytes: &[u8]) -> Result<Vec<SocketAddrV4>, CompactLengthError> {
    let entries = bytes.chunks_exact(COMPACT_V4_LEN);
    if !entries.remainder().is_empty() {
        return Err(CompactLengthError {
            len: bytes.len(),
            entry: COMPACT_V4_LEN,
        });
    }
    Ok(entries
        .filter_map(|c| {
            let ip: [u8; 4] = c.get(..4)?.try_into().ok()?;
            let port = u16::from_be_bytes(c.get(4..6)?.try_into().ok()?);
            (port != 0).then(|| SocketAddrV4::new(Ipv4Addr::from(ip), port))
        })
        .collect())
}

/// Decode a BEP 7 compact IPv6 list, dropping port-0 entries.
pub fn decode_compact_v6(bytes: &[u8]) -> Result<Vec<SocketAddrV6>, CompactLengthError> {
    let entries = bytes.chunks_exact(COMPACT_V6_LEN);
    if !entries.remainder().is_empty() {
        return Err(CompactLengthError {
            len: bytes.len(),
            entry: COMPACT_V6_LEN,
        });
    }
    Ok(entries
        .filter_map(|c| {
            let ip: [u8; 16] = c.get(..16)?.try_into().ok()?;
            let port = u16::from_be_bytes(c.get(16..18)?.try_into().ok()?);
            (port != 0).then(|| SocketAddrV6::new(Ipv6Addr::from(ip), port, 0, 0))
        })
        .collect())
}

/// Append one address in compact form: 6 bytes for IPv4, 18 for IPv6.
pub fn encode_compact_into(addr: SocketAddr, out: &mut Vec<u8>) {
    match addr.ip() {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

/// Split addresses into the compact `peers` (IPv4) and `peers6` (IPv6)
/// strings.
pub fn encode_compact(addrs: impl IntoIterator<Item = SocketAddr>) -> (Vec<u8>, Vec<u8>) {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for a in addrs {
        match a {
            SocketAddr::V4(_) => encode_compact_into(a, &mut v4),
            SocketAddr::V6(_) => encode_compact_into(a, &mut v6),
        }
    }
    (v4, v6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_compact_v4() {
        let bytes = [
            10, 0, 0, 1, 0x1a, 0xe1, 192, 168, 1, 2, 0, 0, 1, 2, 3, 4, 0, 80,
        ];
        let peers = decode_compact_v4(&bytes).unwrap();
        assert_eq!(
            peers,
            vec![
                "10.0.0.1:6881".parse().unwrap(),
                "1.2.3.4:80".parse().unwrap()
            ]
        );
        assert_eq!(
            decode_compact_v4(&bytes[..7]),
            Err(CompactLengthError { len: 7, entry: 6 })
        );
        assert_eq!(decode_compact_v4(&[]).unwrap(), vec![]);
    }

    #[test]
    fn decodes_compact_v6() {
        let mut bytes = vec![0u8; 16];
        bytes[0] = 0x20;
        bytes[1] = 0x01;
        bytes[15] = 1;
        bytes.extend_from_slice(&51413u16.to_be_bytes());
        let peers = decode_compact_v6(&bytes).unwrap();
        assert_eq!(peers, vec!["[2001::1]:51413".parse().unwrap()]);
        assert!(decode_compact_v6(&bytes[..17]).is_err());
    }

    proptest! {
        #[test]
        fn compact_round_trip(v4 in proptest::collection::vec((any::<[u8; 4]>(), 1u16..), 0..20),
                              v6 in proptest::collection::vec((any::<[u8; 16]>(), 1u16..), 0..20)) {
            let a4: Vec<SocketAddr> = v4.iter().map(|(ip, p)| SocketAddr::from((*ip, *p))).collect();
            let a6: Vec<SocketAddr> = v6.iter().map(|(ip, p)| SocketAddr::from((*ip, *p))).collect();
            let (s4, s6) = encode_compact(a4.iter().chain(a6.iter()).copied());
            prop_assert_eq!(s4.len(), a4.len() * 6);
            let d4: Vec<SocketAddr> = decode_compact_v4(&s4).unwrap().into_iter().map(SocketAddr::V4).collect();
            let d6: Vec<SocketAddr> = decode_compact_v6(&s6).unwrap().into_iter().map(SocketAddr::V6).collect();
            prop_assert_eq!(d4, a4);
            prop_assert_eq!(d6, a6);
        }

        #[test]
        fn compact_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let r4 = decode_compact_v4(&bytes);
            prop_assert_eq!(r4.is_ok(), bytes.len().checked_rem(6) == Some(0));
            let r6 = decode_compact_v6(&bytes);
            prop_assert_eq!(r6.is_ok(), bytes.len().checked_rem(18) == Some(0));
        }
    }
}
