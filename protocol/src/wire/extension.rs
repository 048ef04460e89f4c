//! The BEP 10 extended handshake: the bencoded dictionary sent as extended
//! message 0 by peers that set the extension-protocol reserved bit.
//!
//! It maps extension names to the message ids the *sender* wants to receive
//! them under (`m`), and carries a few facts about the sender: listen port,
//! client name, request-queue depth, the address it sees us at, its own
//! addresses, and the size of the info dictionary (BEP 9).
//!
//! Real clients are sloppy: decoding ignores unknown keys, skips entries of
//! the wrong type or out of range instead of failing, and only rejects a
//! payload that is not a bencoded dictionary at all.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use thiserror::Error;

use crate::bencode::{self, Dict, Owned};

/// Extended message id reserved for the handshake itself.
pub const HANDSHAKE_ID: u8 = 0;

/// Why an extended handshake could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExtensionError {
    /// The payload is not bencode.
    #[error("extended handshake is not valid bencode: {0}")]
    Bencode(#[from] bencode::DecodeError),
    /// The payload is bencode but not a dictionary.
    #[error("extended handshake is not a dictionary")]
    NotADict,
}

/// The contents of a BEP 10 extended handshake.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExtendedHandshake {
    /// Extension name → the id the sender wants that extension's messages
    /// sent under. Id 0 means "disabled" (a later handshake can switch an
    /// extension off that way); [`ExtendedHandshake::id_of`] hides those.
    pub m: BTreeMap<String, u8>,
    /// `p`: the sender's TCP listen port, so an incoming connection can be
    /// dialled back later.
    pub listen_port: Option<u16>,
    /// `v`: client name and version, for display and interop quirks.
    pub client: Option<String>,
    /// `reqq`: how many outstanding requests the sender will queue; the
    /// request pipeline should not exceed it.
    pub reqq: Option<u32>,
    /// `yourip`: the address the sender sees us at (NAT discovery).
    pub your_ip: Option<IpAddr>,
    /// `ipv4`: the sender's own IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// `ipv6`: the sender's own IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
    /// `metadata_size` (BEP 9): size of the info dictionary, needed to
    /// fetch metadata for a magnet link.
    pub metadata_size: Option<u64>,
    /// `riffle_host`: a riffle host's persistent random key (16 bytes),
    /// naming the host for cross-swarm credit and nothing else.
    pub host_key: Option<[u8; 16]>,
}

fn ip_from(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

impl ExtendedHandshake {
    /// The id the sender wants `name` messages under, if it supports it.
    pub fn id_of(&self, name: &str) -> Option<u8> {
        self.m.get(name).copied().filter(|&id| id != 0)
    }

    /// Decode the payload of extended message 0.
    pub fn decode(payload: &[u8]) -> Result<Self, ExtensionError> {
        let value = bencode::decode(payload)?;
        let dict = value.as_dict().ok_or(ExtensionError::NotADict)?;
        Ok(Self::from_dict(dict))
    }

    fn from_dict(d: &Dict<'_>) -> Self {
        let mut m = BTreeMap::new();
        if let Some(md) = d.get_dict(b"m") {
            for e in &md.entries {
                let (Ok(name), Some(id)) = (std::str::from_utf8(e.key), e.value.as_int()) else {
                    continue;
                };
                if let Ok(id) = u8::try_from(id) {
                    m.insert(name.to_owned(), id);
                }
            }
        }
        // Some clients send strings where integers belong ("p": "6881").
        let int = |key: &[u8]| {
            d.get_int(key)
                .or_else(|| d.get_str(key).and_then(|s| s.trim().parse().ok()))
        };
        ExtendedHandshake {
            m,
            listen_port: int(b"p")
                .and_then(|p| u16::try_from(p).ok())
                .filter(|&p| p != 0),
            client: d
                .get_bytes(b"v")
                .map(|v| String::from_utf8_lossy(v).into_owned()),
            reqq: int(b"reqq").and_then(|q| u32::try_from(q).ok()),
            your_ip: d.get_bytes(b"yourip").and_then(ip_from),
            ipv4: d
                .get_bytes(b"ipv4")
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(Ipv4Addr::from),
            ipv6: d
                .get_bytes(b"ipv6")
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .map(Ipv6Addr::from),
            metadata_size: int(b"metadata_size").and_then(|s| u64::try_from(s).ok()),
            host_key: d
                .get_bytes(b"riffle_host")
                .and_then(|b| <[u8; 16]>::try_from(b).ok()),
        }
    }

    /// The bencoded payload for extended message 0.
    pub fn encode(&self) -> Vec<u8> {
        let m = Owned::dict(
            self.m
                .iter()
                .map(|(k, &v)| (k.as_bytes(), Owned::Int(i64::from(v)))),
        );
        let mut d = Owned::dict([(b"m", m)]);
        if let Some(p) = self.listen_port {
            d.insert(b"p", Owned::Int(i64::from(p)));
        }
        if let Some(v) = &self.client {
            d.insert(b"v", Owned::bytes(v));
        }
        if let Some(q) = self.reqq {
            d.insert(b"reqq", Owned::Int(i64::from(q)));
        }
        if let Some(ip) = self.your_ip {
            let bytes = match ip {
                IpAddr::V4(a) => a.octets().to_vec(),
                IpAddr::V6(a) => a.octets().to_vec(),
            };
            d.insert(b"yourip", Owned::Bytes(bytes));
        }
        if let Some(a) = self.ipv4 {
            d.insert(b"ipv4", Owned::bytes(a.octets()));
        }
        if let Some(a) = self.ipv6 {
            d.insert(b"ipv6", Owned::bytes(a.octets()));
        }
        if let Some(s) = self.metadata_size {
            d.insert(
                b"metadata_size",
                Owned::Int(i64::try_from(s).unwrap_or(i64::MAX)),
            );
        }
        if let Some(k) = self.host_key {
            d.insert(b"riffle_host", Owned::bytes(k));
        }
        bencode::encode(&d)
    }

    /// Fold a later handshake into this one (BEP 10 allows sending it again
    /// to change things): `m` entries are added or replaced, an id of 0
    /// removes one; other fields are replaced when present.
    pub fn merge(&mut self, later: ExtendedHandshake) {
        for (name, id) in later.m {
            if id == 0 {
                self.m.remove(&name);
            } else {
                self.m.insert(name, id);
            }
        }
        macro_rules! take {
            ($($f:ident),*) => { $( if later.$f.is_some() { self.$f = later.$f; } )* };
        }
        take!(
            listen_port,
            client,
            reqq,
            your_ip,
            ipv4,
            ipv6,
            metadata_size,
            host_key
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_a_libtorrent_style_handshake() {
        let payload = b"d1:md11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei31235e1:pi6881e4:reqqi500e1:v17:libtorrent/2.0.8 6:yourip4:\x7f\x00\x00\x01e";
        let h = ExtendedHandshake::decode(payload).unwrap();
        assert_eq!(h.id_of("ut_metadata"), Some(2));
        assert_eq!(h.id_of("ut_pex"), Some(1));
        assert_eq!(h.id_of("lt_donthave"), None);
        assert_eq!(h.metadata_size, Some(31235));
        assert_eq!(h.listen_port, Some(6881));
        assert_eq!(h.reqq, Some(500));
        assert_eq!(h.client.as_deref(), Some("libtorrent/2.0.8 "));
        assert_eq!(h.your_ip, Some(IpAddr::from([127, 0, 0, 1])));
    }

    #[test]
    fn sloppy_fields_are_tolerated() {
        let payload =
            b"d1:md1:ai300e1:bi-1e1:c3:str1:di0e1:ei7ee1:p4:68816:yourip3:abc4:reqq1:x3:fooi1ee";
        let h = ExtendedHandshake::decode(payload).unwrap();
        assert_eq!(h.m.len(), 2, "out of range and non-integer ids skipped");
        assert_eq!(h.id_of("d"), None, "id 0 means disabled");
        assert_eq!(h.id_of("e"), Some(7));
        assert_eq!(h.listen_port, Some(6881), "string port accepted");
        assert_eq!(h.your_ip, None, "3-byte address ignored");
        assert_eq!(h.reqq, None);
    }

    #[test]
    fn rejects_non_dictionaries() {
        assert_eq!(
            ExtendedHandshake::decode(b"li1ee"),
            Err(ExtensionError::NotADict)
        );
        assert!(matches!(
            ExtendedHandshake::decode(b"d1:m"),
            Err(ExtensionError::Bencode(_))
        ));
        assert_eq!(ExtendedHandshake::decode(b"de"), Ok(Default::default()));
    }

    #[test]
    fn merge_updates_and_removes() {
        let mut a = ExtendedHandshake::default();
        a.m.insert("ut_pex".into(), 1);
        a.m.insert("ut_metadata".into(), 2);
        a.reqq = Some(10);
        let mut b = ExtendedHandshake::default();
        b.m.insert("ut_pex".into(), 0);
        b.m.insert("ut_metadata".into(), 3);
        b.listen_port = Some(1);
        a.merge(b);
        assert_eq!(a.id_of("ut_pex"), None);
        assert_eq!(a.id_of("ut_metadata"), Some(3));
        assert_eq!((a.reqq, a.listen_port), (Some(10), Some(1)));
    }

    fn arb_handshake() -> impl Strategy<Value = ExtendedHandshake> {
        (
            proptest::collection::btree_map("[a-z_]{1,12}", any::<u8>(), 0..5),
            proptest::option::of(1u16..),
            proptest::option::of("[ -~]{0,20}"),
            proptest::option::of(any::<u32>()),
            proptest::option::of(any::<[u8; 4]>()),
            proptest::option::of(any::<[u8; 16]>()),
            proptest::option::of(0u64..(i64::MAX as u64)),
            proptest::option::of(any::<[u8; 16]>()),
        )
            .prop_map(
                |(m, listen_port, client, reqq, v4, v6, metadata_size, host_key)| {
                    ExtendedHandshake {
                        m,
                        listen_port,
                        client,
                        reqq,
                        your_ip: v6.map(IpAddr::from),
                        ipv4: v4.map(Ipv4Addr::from),
                        ipv6: v6.map(Ipv6Addr::from),
                        metadata_size,
                        host_key,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn round_trip(h in arb_handshake()) {
            prop_assert_eq!(ExtendedHandshake::decode(&h.encode()), Ok(h));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = ExtendedHandshake::decode(&bytes);
        }
    }
}
