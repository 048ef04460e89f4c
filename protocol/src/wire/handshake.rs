//! The 68-byte handshake that opens every peer connection (BEP 3).
//!
//! ```text
//! 1 byte   pstrlen = 19
//! 19 bytes pstr    = "BitTorrent protocol"
//! 8 bytes  reserved (extension bits, see [`Reserved`])
//! 20 bytes info-hash
//! 20 bytes peer id
//! ```
//!
//! [`Handshake::decode`] returns `Ok(None)` while fewer than 68 bytes have
//! arrived, but rejects a wrong `pstrlen` or `pstr` as soon as the offending
//! byte is visible: there is no point waiting for the rest of a stream that
//! is not BitTorrent. Checking the info-hash against ours and refusing our
//! own peer id is the connection's job ([`crate::peer`]), which knows both.

use std::fmt;

use thiserror::Error;

use crate::types::{InfoHash, PeerId};

/// The protocol string every BitTorrent v1 handshake starts with.
pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";

/// Length of an encoded handshake.
pub const HANDSHAKE_LEN: usize = 68;

/// Why bytes are not a BitTorrent handshake.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HandshakeError {
    /// The first byte is not 19.
    #[error("handshake protocol string length is {0}, expected 19")]
    BadPstrLen(u8),
    /// The protocol string is not "BitTorrent protocol".
    #[error("handshake protocol string is not \"BitTorrent protocol\"")]
    BadPstr,
}

/// The eight reserved bytes: each set bit announces an extension.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Reserved(pub [u8; 8]);

impl Reserved {
    /// Byte and mask of the BEP 10 extension protocol bit.
    pub const EXTENSION_PROTOCOL: (usize, u8) = (5, 0x10);
    /// Byte and mask of the BEP 6 fast extension bit.
    pub const FAST: (usize, u8) = (7, 0x04);
    /// Byte and mask of the BEP 5 DHT bit (the peer answers PORT).
    pub const DHT: (usize, u8) = (7, 0x01);
    /// Byte and mask of the BEP 52 bit: the sender also speaks v2 (a hybrid
    /// torrent's connection may be upgraded to its v2 info-hash).
    pub const V2: (usize, u8) = (7, 0x10);

    /// No extension bits.
    pub const fn empty() -> Self {
        Reserved([0; 8])
    }

    /// Is the bit `(byte, mask)` set?
    pub fn has(&self, bit: (usize, u8)) -> bool {
        self.0.get(bit.0).is_some_and(|b| b & bit.1 != 0)
    }

    /// Set or clear the bit `(byte, mask)`; an out-of-range byte is ignored.
    pub fn set(&mut self, bit: (usize, u8), on: bool) {
        if let Some(b) = self.0.get_mut(bit.0) {
            if on {
                *b |= bit.1;
            } else {
                *b &= !bit.1;
            }
        }
    }

    /// Builder form of [`Reserved::set`].
    pub fn with(mut self, bit: (usize, u8), on: bool) -> Self {
        self.set(bit, on);
        self
    }

    /// BEP 6 fast extension offered.
    pub fn fast(&self) -> bool {
        self.has(Self::FAST)
    }

    /// BEP 10 extension protocol offered.
    pub fn extension_protocol(&self) -> bool {
        self.has(Self::EXTENSION_PROTOCOL)
    }

    /// BEP 5 DHT offered.
    pub fn dht(&self) -> bool {
        self.has(Self::DHT)
    }

    /// BEP 52 v2 offered.
    pub fn v2(&self) -> bool {
        self.has(Self::V2)
    }
}

impl fmt::Debug for Reserved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Reserved({}{}{}{})",
            hex::encode(self.0),
            if self.fast() { " fast" } else { "" },
            if self.extension_protocol() {
                " ext"
            } else {
                ""
            },
            if self.dht() { " dht" } else { "" }
        )
    }
}

/// A decoded handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    /// Extension bits the sender supports.
    pub reserved: Reserved,
    /// The torrent the sender wants to talk about.
    pub info_hash: InfoHash,
    /// Who the sender says it is (used to detect connections to ourselves
    /// and duplicate connections).
    pub peer_id: PeerId,
}

impl Handshake {
    /// The 68 wire bytes.
    pub fn encode(&self) -> [u8; HANDSHAKE_LEN] {
        let mut out = [0u8; HANDSHAKE_LEN];
        out[0] = 19;
        out[1..20].copy_from_slice(PROTOCOL);
        out[20..28].copy_from_slice(&self.reserved.0);
        out[28..48].copy_from_slice(&self.info_hash.0);
        out[48..68].copy_from_slice(&self.peer_id.0);
        out
    }

    /// Decode a handshake from the start of `buf` (extra bytes after it are
    /// left to the caller: they are the first messages). `Ok(None)` means
    /// "not all 68 bytes yet"; a wrong protocol string is an error as soon
    /// as it is visible.
    pub fn decode(buf: &[u8]) -> Result<Option<Handshake>, HandshakeError> {
        if let Some(&len) = buf.first() {
            if len != 19 {
                return Err(HandshakeError::BadPstrLen(len));
            }
        }
        let seen = buf.get(1..).unwrap_or(&[]);
        let n = seen.len().min(PROTOCOL.len());
        if seen.get(..n) != PROTOCOL.get(..n) {
            return Err(HandshakeError::BadPstr);
        }
        let Some(bytes) = buf.get(..HANDSHAKE_LEN) else {
            return Ok(None);
        };
        let field = |range: std::ops::Range<usize>| bytes.get(range).unwrap_or(&[]);
        let mut reserved = [0u8; 8];
        reserved.copy_from_slice(field(20..28));
        // The two slices are exactly 20 bytes, so these cannot fail; map the
        // impossible error rather than unwrap.
        let info_hash = InfoHash::from_slice(field(28..48)).map_err(|_| HandshakeError::BadPstr)?;
        let peer_id = PeerId::from_slice(field(48..68)).map_err(|_| HandshakeError::BadPstr)?;
        Ok(Some(Handshake {
            reserved: Reserved(reserved),
            info_hash,
            peer_id,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Handshake {
        Handshake {
            reserved: Reserved::empty()
                .with(Reserved::FAST, true)
                .with(Reserved::EXTENSION_PROTOCOL, true),
            info_hash: InfoHash([7; 20]),
            peer_id: PeerId(*b"-RF0100-abcdefghijkl"),
        }
    }

    #[test]
    fn reserved_bits_are_where_the_beps_put_them() {
        let r = sample().reserved;
        assert_eq!(r.0, [0, 0, 0, 0, 0, 0x10, 0, 0x04]);
        assert!(r.fast() && r.extension_protocol() && !r.dht());
        let r = r.with(Reserved::FAST, false).with(Reserved::DHT, true);
        assert_eq!(r.0, [0, 0, 0, 0, 0, 0x10, 0, 0x01]);
    }

    #[test]
    fn encodes_the_documented_layout() {
        let bytes = sample().encode();
        assert_eq!(bytes[0], 19);
        assert_eq!(&bytes[1..20], b"BitTorrent protocol");
        assert_eq!(&bytes[28..48], &[7; 20]);
        assert_eq!(&bytes[48..], b"-RF0100-abcdefghijkl");
    }

    #[test]
    fn incomplete_until_68_bytes() {
        let bytes = sample().encode();
        for n in 0..HANDSHAKE_LEN {
            assert_eq!(Handshake::decode(&bytes[..n]), Ok(None), "prefix {n}");
        }
        assert_eq!(Handshake::decode(&bytes), Ok(Some(sample())));
        let mut longer = bytes.to_vec();
        longer.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(Handshake::decode(&longer), Ok(Some(sample())));
    }

    #[test]
    fn rejects_wrong_protocol_early() {
        assert_eq!(
            Handshake::decode(b"\x13"),
            Ok(None),
            "a lone 19 is a valid start"
        );
        assert_eq!(
            Handshake::decode(b"GET / HTTP/1.1"),
            Err(HandshakeError::BadPstrLen(b'G'))
        );
        assert_eq!(
            Handshake::decode(b"\x13BitTorrent pro"),
            Ok(None),
            "correct so far"
        );
        assert_eq!(
            Handshake::decode(b"\x13BitTorrent Pro"),
            Err(HandshakeError::BadPstr)
        );
    }

    proptest! {
        #[test]
        fn round_trip(reserved in any::<[u8; 8]>(), ih in any::<[u8; 20]>(), id in any::<[u8; 20]>()) {
            let h = Handshake { reserved: Reserved(reserved), info_hash: InfoHash(ih), peer_id: PeerId(id) };
            prop_assert_eq!(Handshake::decode(&h.encode()), Ok(Some(h)));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = Handshake::decode(&bytes);
        }
    }
}
