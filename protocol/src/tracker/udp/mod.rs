//! The UDP tracker protocol (BEP 15), both sides, with BEP 41's URL data.
//!
//! Every packet is big-endian. A client first sends a [`Request::Connect`]
//! and gets a connection id, valid for a minute ([`ConnectionId`]), which
//! it puts in its announces and scrapes. The transaction id, chosen by the
//! client, ties a reply to its request: matching is the caller's job, with
//! [`Response::check`] to validate one.
//!
//! An announce reply's peers are 6 bytes each when the request went over
//! IPv4 and 18 bytes each over IPv6 ([`AddressFamily`], BEP 15's IPv6
//! extension). A lost packet is retried after 15·2ⁿ seconds, n = 0..=8
//! ([`retry_timeout`]), then the tracker is given up.

use std::net::{SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use thiserror::Error;

mod request;
mod response;

pub use request::{AnnounceRequest, Request};
pub use response::{Response, ScrapeEntry};

/// The magic constant that opens a connect request.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;
/// How long a connection id may be used after the connect reply (BEP 15).
pub const CONNECTION_ID_LIFETIME: Duration = Duration::from_secs(60);
/// Last retry attempt index: attempts 0..=8 are made, then the client gives up.
pub const MAX_ATTEMPT: u32 = 8;
/// Most info-hashes that fit one scrape request in a typical 1,500-byte
/// packet, as BEP 15 suggests.
pub const MAX_SCRAPE_HASHES: usize = 74;

/// Length of an announce request without BEP 41 options.
pub(super) const ANNOUNCE_LEN: usize = 98;

/// A UDP tracker packet is malformed or unexpected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UdpError {
    /// Shorter than its fixed part.
    #[error("{what} packet of {len} bytes is shorter than {need}")]
    TooShort {
        /// The kind of packet being decoded.
        what: &'static str,
        /// Bytes received.
        len: usize,
        /// Bytes its fixed part takes.
        need: usize,
    },
    /// A connect request without the protocol magic.
    #[error("connect request without the protocol id")]
    BadProtocolId,
    /// An action number this protocol does not define (or not valid here).
    #[error("unknown action {0}")]
    UnknownAction(u32),
    /// An announce with an event code outside 0..=3.
    #[error("unknown announce event {0}")]
    UnknownEvent(u32),
    /// Trailing bytes that are not whole peers or hashes.
    #[error("{what} entries: {len} bytes is not a multiple of {entry}")]
    Trailing {
        /// What the trailing part holds.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The size of one entry.
        entry: usize,
    },
    /// BEP 41 options that run past the end of the packet.
    #[error("truncated announce option")]
    BadOption,
    /// A reply for another transaction.
    #[error("transaction id {got:#x} does not match the request's {expected:#x}")]
    TransactionMismatch {
        /// The request's id.
        expected: u32,
        /// The reply's id.
        got: u32,
    },
    /// A reply of the wrong kind for the request.
    #[error("expected a {expected:?} reply, got {got:?}")]
    UnexpectedAction {
        /// What the request asked for.
        expected: Action,
        /// What came back.
        got: Action,
    },
    /// The tracker answered with an error message (action 3).
    #[error("tracker error: {0}")]
    Tracker(String),
}

/// BEP 15's action numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// 0: get a connection id.
    Connect,
    /// 1: announce.
    Announce,
    /// 2: scrape.
    Scrape,
    /// 3: error (replies only).
    Error,
}

impl Action {
    /// The number on the wire.
    pub fn code(self) -> u32 {
        match self {
            Action::Connect => 0,
            Action::Announce => 1,
            Action::Scrape => 2,
            Action::Error => 3,
        }
    }
    fn from_code(code: u32) -> Result<Action, UdpError> {
        match code {
            0 => Ok(Action::Connect),
            1 => Ok(Action::Announce),
            2 => Ok(Action::Scrape),
            3 => Ok(Action::Error),
            n => Err(UdpError::UnknownAction(n)),
        }
    }
}

/// The address family the announce went over, which fixes the size of
/// the peers in its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressFamily {
    /// 6-byte peers.
    V4,
    /// 18-byte peers.
    V6,
}

/// Reads big-endian fields from a packet, failing on short input.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    pub(super) pos: usize,
    what: &'static str,
    need: usize,
}

impl<'a> Reader<'a> {
    /// A reader that first checks the packet holds `need` bytes.
    pub(super) fn new(bytes: &'a [u8], what: &'static str, need: usize) -> Result<Self, UdpError> {
        if bytes.len() < need {
            return Err(UdpError::TooShort {
                what,
                len: bytes.len(),
                need,
            });
        }
        Ok(Reader {
            bytes,
            pos: 0,
            what,
            need,
        })
    }
    pub(super) fn take<const N: usize>(&mut self) -> Result<[u8; N], UdpError> {
        let end = self.pos.checked_add(N);
        let arr = end
            .and_then(|end| self.bytes.get(self.pos..end))
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .ok_or(UdpError::TooShort {
                what: self.what,
                len: self.bytes.len(),
                need: self.need,
            })?;
        self.pos += N;
        Ok(arr)
    }
    pub(super) fn u16(&mut self) -> Result<u16, UdpError> {
        self.take().map(u16::from_be_bytes)
    }
    pub(super) fn u32(&mut self) -> Result<u32, UdpError> {
        self.take().map(u32::from_be_bytes)
    }
    pub(super) fn u64(&mut self) -> Result<u64, UdpError> {
        self.take().map(u64::from_be_bytes)
    }
    pub(super) fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }
}

/// How long to wait for a reply to attempt `attempt` (0-based): 15·2ⁿ
/// seconds, or `None` after attempt [`MAX_ATTEMPT`]: give the tracker up.
pub fn retry_timeout(attempt: u32) -> Option<Duration> {
    (attempt <= MAX_ATTEMPT).then(|| Duration::from_secs(15 << attempt))
}

/// A connection id and when it was obtained, to know when to reconnect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionId {
    /// The id from the connect reply.
    pub id: u64,
    /// When the connect reply arrived.
    pub obtained: Instant,
}

impl ConnectionId {
    /// Remember `id`, received at `now`.
    pub fn new(id: u64, now: Instant) -> ConnectionId {
        ConnectionId { id, obtained: now }
    }
    /// Whether the id may still be used at `now` (less than 60 s old).
    pub fn is_valid(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.obtained) < CONNECTION_ID_LIFETIME
    }
}

/// The family of a socket address (for [`Response::encode`] / `decode`).
pub fn family_of(addr: &SocketAddr) -> AddressFamily {
    match addr {
        SocketAddr::V4(_) => AddressFamily::V4,
        SocketAddr::V6(v6) if v6.ip().to_ipv4_mapped().is_some() => AddressFamily::V4,
        SocketAddr::V6(_) => AddressFamily::V6,
    }
}

/// Convert peers for a reply: keep those of `family` (IPv4-mapped IPv6
/// addresses count as IPv4).
pub fn peers_for_family(
    peers: impl IntoIterator<Item = SocketAddr>,
    family: AddressFamily,
) -> Vec<SocketAddr> {
    peers
        .into_iter()
        .filter_map(|p| match (p, family) {
            (SocketAddr::V4(_), AddressFamily::V4) => Some(p),
            (SocketAddr::V6(v6), AddressFamily::V4) => v6
                .ip()
                .to_ipv4_mapped()
                .map(|ip| SocketAddr::V4(SocketAddrV4::new(ip, v6.port()))),
            (SocketAddr::V6(_), AddressFamily::V6) => Some(p),
            (SocketAddr::V4(_), AddressFamily::V6) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests;
