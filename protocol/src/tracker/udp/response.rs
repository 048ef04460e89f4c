//! UDP tracker replies (BEP 15): connect, announce, scrape and error;
//! encoded by the tracker, decoded and checked by the client.

use std::net::SocketAddr;

use super::{Action, AddressFamily, Reader, UdpError};
use crate::tracker::peers::{
    decode_compact_v4, decode_compact_v6, encode_compact_into, CompactLengthError,
};

/// One torrent's counts in a UDP scrape reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScrapeEntry {
    /// Seeds.
    pub seeders: u32,
    /// Times the torrent was completed.
    pub completed: u32,
    /// Leechers.
    pub leechers: u32,
}

/// A reply, as the client decodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Action 0.
    Connect {
        /// Echo of the request's.
        transaction_id: u32,
        /// Use in announces and scrapes for the next minute.
        connection_id: u64,
    },
    /// Action 1.
    Announce {
        /// Echo of the request's.
        transaction_id: u32,
        /// Seconds until the next regular announce.
        interval: u32,
        /// Leechers in the swarm.
        leechers: u32,
        /// Seeds in the swarm.
        seeders: u32,
        /// Peers, all of the request's address family; port 0 dropped.
        peers: Vec<SocketAddr>,
    },
    /// Action 2: counts in the order of the request's hashes.
    Scrape {
        /// Echo of the request's.
        transaction_id: u32,
        /// One per requested hash.
        entries: Vec<ScrapeEntry>,
    },
    /// Action 3.
    Error {
        /// Echo of the request's.
        transaction_id: u32,
        /// The tracker's message.
        message: String,
    },
}

impl Response {
    /// The transaction id the reply carries.
    pub fn transaction_id(&self) -> u32 {
        match self {
            Response::Connect { transaction_id, .. }
            | Response::Announce { transaction_id, .. }
            | Response::Scrape { transaction_id, .. }
            | Response::Error { transaction_id, .. } => *transaction_id,
        }
    }

    /// The reply's action.
    pub fn action(&self) -> Action {
        match self {
            Response::Connect { .. } => Action::Connect,
            Response::Announce { .. } => Action::Announce,
            Response::Scrape { .. } => Action::Scrape,
            Response::Error { .. } => Action::Error,
        }
    }

    /// Check this reply answers the request with `expected` action and
    /// `transaction_id`: a mismatched id is an error (the caller should
    /// ignore the packet), an error reply becomes [`UdpError::Tracker`].
    pub fn check(self, expected: Action, transaction_id: u32) -> Result<Response, UdpError> {
        let got = self.transaction_id();
        if got != transaction_id {
            return Err(UdpError::TransactionMismatch {
                expected: transaction_id,
                got,
            });
        }
        match self {
            Response::Error { message, .. } => Err(UdpError::Tracker(message)),
            r if r.action() == expected => Ok(r),
            r => Err(UdpError::UnexpectedAction {
                expected,
                got: r.action(),
            }),
        }
    }

    /// Encode this reply. Announce peers not of `family` are left out (an
    /// IPv4 reply has no room for IPv6 peers and vice versa).
    pub fn encode(&self, family: AddressFamily) -> Vec<u8> {
        let mut out = Vec::with_capacity(20);
        out.extend_from_slice(&self.action().code().to_be_bytes());
        out.extend_from_slice(&self.transaction_id().to_be_bytes());
        match self {
            Response::Connect { connection_id, .. } => {
                out.extend_from_slice(&connection_id.to_be_bytes())
            }
            Response::Announce {
                interval,
                leechers,
                seeders,
                peers,
                ..
            } => {
                out.extend_from_slice(&interval.to_be_bytes());
                out.extend_from_slice(&leechers.to_be_bytes());
                out.extend_from_slice(&seeders.to_be_bytes());
                for p in peers {
                    if p.is_ipv4() == (family == AddressFamily::V4) {
                        encode_compact_into(*p, &mut out);
                    }
                }
            }
            Response::Scrape { entries, .. } => {
                for e in entries {
                    out.extend_from_slice(&e.seeders.to_be_bytes());
                    out.extend_from_slice(&e.completed.to_be_bytes());
                    out.extend_from_slice(&e.leechers.to_be_bytes());
                }
            }
            Response::Error { message, .. } => out.extend_from_slice(message.as_bytes()),
        }
        out
    }

    /// Decode a reply (the client's side); `family` is the one the request
    /// went over.
    pub fn decode(packet: &[u8], family: AddressFamily) -> Result<Response, UdpError> {
        let mut r = Reader::new(packet, "reply", 8)?;
        let action = Action::from_code(r.u32()?)?;
        let transaction_id = r.u32()?;
        match action {
            Action::Connect => {
                let mut r = Reader::new(packet, "connect reply", 16)?;
                r.pos = 8;
                Ok(Response::Connect {
                    transaction_id,
                    connection_id: r.u64()?,
                })
            }
            Action::Announce => {
                let mut r = Reader::new(packet, "announce reply", 20)?;
                r.pos = 8;
                let (interval, leechers, seeders) = (r.u32()?, r.u32()?, r.u32()?);
                let trailing = |e: CompactLengthError| UdpError::Trailing {
                    what: "peer",
                    len: e.len,
                    entry: e.entry,
                };
                let peers = match family {
                    AddressFamily::V4 => decode_compact_v4(r.rest())
                        .map_err(trailing)?
                        .into_iter()
                        .map(SocketAddr::V4)
                        .collect(),
                    AddressFamily::V6 => decode_compact_v6(r.rest())
                        .map_err(trailing)?
                        .into_iter()
                        .map(SocketAddr::V6)
                        .collect(),
                };
                Ok(Response::Announce {
                    transaction_id,
                    interval,
                    leechers,
                    seeders,
                    peers,
                })
            }
            Action::Scrape => {
                let rest = r.rest();
                let chunks = rest.chunks_exact(12);
                if !chunks.remainder().is_empty() {
                    return Err(UdpError::Trailing {
                        what: "scrape",
                        len: rest.len(),
                        entry: 12,
                    });
                }
                let entries = chunks
                    .map(|c| {
                        let mut r = Reader::new(c, "scrape entry", 12)?;
                        Ok(ScrapeEntry {
                            seeders: r.u32()?,
                            completed: r.u32()?,
                            leechers: r.u32()?,
                        })
                    })
                    .collect::<Result<_, UdpError>>()?;
                Ok(Response::Scrape {
                    transaction_id,
                    entries,
                })
            }
            Action::Error => Ok(Response::Error {
                transaction_id,
                message: String::from_utf8_lossy(r.rest()).into_owned(),
            }),
        }
    }
}
