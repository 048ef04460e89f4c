//! Value types shared by every riffle crate: info-hash, peer id, piece
//! index, block reference and the bitfield of pieces a peer holds.

use std::fmt;
use std::str::FromStr;

use bitvec::prelude::{BitSlice, BitVec, Msb0};
use thiserror::Error;

/// Standard block (request) size: 16 KiB, what every client asks for.
pub const BLOCK_SIZE: u32 = 16 * 1024;

/// Errors turning raw values into the shared types.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TypeError {
    #[error("expected 40 hex digits, got {0:?}")]
    BadHex(String),
    #[error("expected 20 bytes, got {0}")]
    BadLength(usize),
    #[error("piece index {index} is past the last piece (the torrent has {count} pieces)")]
    PieceOutOfRange { index: u32, count: u32 },
    #[error("bitfield of {got} bytes does not fit {pieces} pieces (expected {expected} bytes)")]
    BitfieldLength {
        got: usize,
        expected: usize,
        pieces: u32,
    },
    #[error("bitfield has bits set past the last piece")]
    BitfieldSpareBits,
    #[error("bad torrent geometry: {0}")]
    BadGeometry(&'static str),
    #[error("{0:?} is not a block of this torrent")]
    BadBlock(BlockRef),
}

macro_rules! hash20 {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub [u8; 20]);

        impl $name {
            /// Build from a 20-byte slice.
            pub fn from_slice(b: &[u8]) -> Result<Self, TypeError> {
                let arr: [u8; 20] = b.try_into().map_err(|_| TypeError::BadLength(b.len()))?;
                Ok(Self(arr))
            }
            /// The raw 20 bytes.
            pub fn as_bytes(&self) -> &[u8; 20] {
                &self.0
            }
            /// 40 lowercase hex digits.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl FromStr for $name {
            type Err = TypeError;
            fn from_str(s: &str) -> Result<Self, TypeError> {
                let mut out = [0u8; 20];
                hex::decode_to_slice(s, &mut out).map_err(|_| TypeError::BadHex(s.to_owned()))?;
                Ok(Self(out))
            }
        }
    };
}

hash20!(
    InfoHash,
    "SHA-1 of a torrent's bencoded `info` dictionary (v1)."
);
hash20!(PeerId, "The 20-byte id a peer chooses for itself.");

impl PeerId {
    /// A fresh peer id in Azureus style: `-RF0100-` followed by 12 random
    /// printable bytes, drawn from `random`.
    pub fn generate(random: [u8; 12]) -> PeerId {
        const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let mut id = [0u8; 20];
        id[..8].copy_from_slice(b"-RF0100-");
        for (slot, r) in id[8..].iter_mut().zip(random) {
            *slot = ALPHABET[r as usize % ALPHABET.len()];
        }
        PeerId(id)
    }
}

/// A piece index already checked against the torrent's piece count.
///
/// Construct it with [`PieceIndex::checked`] wherever the number came from
/// outside (a peer, a file); [`PieceIndex::new`] is for indices the program
/// derived itself (loops over `0..piece_count`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct PieceIndex(u32);

impl PieceIndex {
    /// An index the caller knows to be in range.
    pub const fn new(index: u32) -> Self {
        PieceIndex(index)
    }
    /// Validate an index read from the outside world.
    pub fn checked(index: u32, piece_count: u32) -> Result<Self, TypeError> {
        if index < piece_count {
            Ok(PieceIndex(index))
        } else {
            Err(TypeError::PieceOutOfRange {
                index,
                count: piece_count,
            })
        }
    }
    /// The raw index.
    pub const fn get(self) -> u32 {
        self.0
    }
    /// As a `usize`, for indexing vectors.
    pub const fn idx(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for PieceIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One block request: `length` bytes at `offset` inside `piece`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct BlockRef {
    pub piece: PieceIndex,
    pub offset: u32,
    pub length: u32,
}

impl BlockRef {
    /// Index of this block inside its piece, for standard 16 KiB blocks.
    pub fn block_index(&self) -> u32 {
        self.offset / BLOCK_SIZE
    }
}

/// Number of 16 KiB blocks in a piece of `piece_len` bytes.
pub fn blocks_in_piece(piece_len: u32) -> u32 {
    piece_len.div_ceil(BLOCK_SIZE)
}

/// The pieces a peer holds, one bit per piece, most significant bit first
/// (the wire order of BEP 3).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Bitfield {
    bits: BitVec<u8, Msb0>,
}

impl Bitfield {
    /// `len` pieces, none held.
    pub fn new(len: u32) -> Self {
        Bitfield {
            bits: BitVec::repeat(false, len as usize),
        }
    }
    /// `len` pieces, all held (a seeder).
    pub fn full(len: u32) -> Self {
        Bitfield {
            bits: BitVec::repeat(true, len as usize),
        }
    }
    /// Parse a BITFIELD payload for a torrent of `len` pieces. The byte count
    /// must be exactly `ceil(len / 8)` and the spare bits must be clear.
    pub fn from_bytes(bytes: &[u8], len: u32) -> Result<Self, TypeError> {
        let expected = (len as usize).div_ceil(8);
        if bytes.len() != expected {
            return Err(TypeError::BitfieldLength {
                got: bytes.len(),
                expected,
                pieces: len,
            });
        }
        let mut bits = BitVec::<u8, Msb0>::from_slice(bytes);
        if bits[len as usize..].any() {
            return Err(TypeError::BitfieldSpareBits);
        }
        bits.truncate(len as usize);
        Ok(Bitfield { bits })
    }
    /// The wire form: `ceil(len / 8)` bytes, spare bits clear.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = self.bits.clone();
        v.set_uninitialized(false);
        v.into_vec()
    }
    /// Build from a string of `'1'`/`'0'` (or `'x'`/`'.'`) characters, one per piece.
    /// Handy for compact test fixtures.
    pub fn from_pattern(pattern: &str) -> Self {
        let bits = pattern
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| matches!(c, '1' | 'x' | 'X' | '#'))
            .collect();
        Bitfield { bits }
    }
    /// Number of pieces this bitfield covers.
    pub fn len(&self) -> u32 {
        self.bits.len() as u32
    }
    /// True when it covers no pieces at all.
    pub fn is_empty(&self) -> bool {
        self.bits.is_empty()
    }
    /// Does the peer hold `piece`? Out-of-range pieces are not held.
    pub fn has(&self, piece: PieceIndex) -> bool {
        self.bits.get(piece.idx()).is_some_and(|b| *b)
    }
    /// Mark `piece` held or not; returns the previous value. Out of range is ignored (returns false).
    pub fn set(&mut self, piece: PieceIndex, value: bool) -> bool {
        match self.bits.get_mut(piece.idx()) {
            Some(mut b) => std::mem::replace(&mut *b, value),
            None => false,
        }
    }
    /// Number of pieces held.
    pub fn count_ones(&self) -> u32 {
        self.bits.count_ones() as u32
    }
    /// Number of pieces missing.
    pub fn count_zeros(&self) -> u32 {
        self.bits.count_zeros() as u32
    }
    /// True if every piece is held.
    pub fn is_full(&self) -> bool {
        self.bits.all()
    }
    /// Iterate over the held pieces.
    pub fn ones(&self) -> impl Iterator<Item = PieceIndex> + '_ {
        self.bits.iter_ones().map(|i| PieceIndex(i as u32))
    }
    /// Iterate over the missing pieces.
    pub fn zeros(&self) -> impl Iterator<Item = PieceIndex> + '_ {
        self.bits.iter_zeros().map(|i| PieceIndex(i as u32))
    }
    /// The underlying bits.
    pub fn as_bitslice(&self) -> &BitSlice<u8, Msb0> {
        &self.bits
    }
    /// True if `self` holds any piece that `other` lacks (`other` would be
    /// interested in us).
    pub fn has_any_missing_from(&self, other: &Bitfield) -> bool {
        self.bits
            .iter_ones()
            .any(|i| !other.bits.get(i).is_some_and(|b| *b))
    }
}

impl fmt::Debug for Bitfield {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s: String = self
            .bits
            .iter()
            .map(|b| if *b { '1' } else { '0' })
            .collect();
        write!(f, "Bitfield({s})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hex_round_trip() {
        let h: InfoHash = "0123456789abcdef0123456789abcdef01234567".parse().unwrap();
        assert_eq!(h.to_hex(), "0123456789abcdef0123456789abcdef01234567");
        assert!("xyz".parse::<InfoHash>().is_err());
        assert!("0123".parse::<InfoHash>().is_err());
    }

    #[test]
    fn peer_id_prefix() {
        let id = PeerId::generate([200; 12]);
        assert_eq!(&id.0[..8], b"-RF0100-");
        assert!(id.0[8..].iter().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn piece_index_checked() {
        assert!(PieceIndex::checked(3, 4).is_ok());
        assert_eq!(
            PieceIndex::checked(4, 4),
            Err(TypeError::PieceOutOfRange { index: 4, count: 4 })
        );
    }

    #[test]
    fn bitfield_rejects_spare_bits_and_bad_length() {
        assert!(Bitfield::from_bytes(&[0b1110_0000], 3).is_ok());
        assert_eq!(
            Bitfield::from_bytes(&[0b1111_0000], 3),
            Err(TypeError::BitfieldSpareBits)
        );
        assert!(matches!(
            Bitfield::from_bytes(&[0, 0], 3),
            Err(TypeError::BitfieldLength { .. })
        ));
    }

    #[test]
    fn bitfield_pattern() {
        let b = Bitfield::from_pattern("1.1.x");
        assert_eq!(b.len(), 5);
        assert_eq!(b.count_ones(), 3);
        assert!(b.has(PieceIndex::new(0)));
        assert!(!b.has(PieceIndex::new(1)));
        assert!(!b.has(PieceIndex::new(99)));
    }

    proptest! {
        #[test]
        fn bitfield_round_trip(bits in proptest::collection::vec(any::<bool>(), 0..200)) {
            let mut b = Bitfield::new(bits.len() as u32);
            for (i, v) in bits.iter().enumerate() {
                b.set(PieceIndex::new(i as u32), *v);
            }
            let bytes = b.to_bytes();
            prop_assert_eq!(bytes.len(), bits.len().div_ceil(8));
            let back = Bitfield::from_bytes(&bytes, bits.len() as u32).unwrap();
            prop_assert_eq!(back, b);
        }

        #[test]
        fn bitfield_from_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40), len in 0u32..400) {
            let _ = Bitfield::from_bytes(&bytes, len);
        }
    }
}
