//! UDP tracker requests (BEP 15): connect, announce (with BEP 41 URL
//! data) and scrape; encoded by the client, decoded by the tracker.

use super::{Action, Reader, UdpError, ANNOUNCE_LEN, PROTOCOL_ID};
use crate::tracker::Event;
use crate::types::{InfoHash, PeerId};

/// A UDP announce (IPv4 request format, which BEP 15 uses for IPv6 too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceRequest {
    /// From the connect reply.
    pub connection_id: u64,
    /// Chosen by the client to match the reply.
    pub transaction_id: u32,
    /// The torrent.
    pub info_hash: InfoHash,
    /// This client's id.
    pub peer_id: PeerId,
    /// Bytes downloaded since `started`.
    pub downloaded: u64,
    /// Bytes still missing.
    pub left: u64,
    /// Bytes uploaded since `started`.
    pub uploaded: u64,
    /// State change reported.
    pub event: Event,
    /// IPv4 address to announce instead of the source; 0 = the source.
    pub ip: u32,
    /// Lets the tracker recognise this client after an IP change.
    pub key: u32,
    /// Peers wanted; -1 leaves it to the tracker.
    pub num_want: i32,
    /// Port accepting peer connections.
    pub port: u16,
    /// BEP 41 URL data: the announce URL's path and query (`/announce?pk=…`),
    /// which private trackers use to carry a passkey. Empty = no option.
    pub url_data: Vec<u8>,
}

/// A request, as the tracker decodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Action 0: asks for a connection id.
    Connect {
        /// Chosen by the client.
        transaction_id: u32,
    },
    /// Action 1.
    Announce(AnnounceRequest),
    /// Action 2.
    Scrape {
        /// From the connect reply.
        connection_id: u64,
        /// Chosen by the client.
        transaction_id: u32,
        /// Torrents to report on (1 or more).
        info_hashes: Vec<InfoHash>,
    },
}

impl Request {
    /// Encode this request.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ANNOUNCE_LEN);
        match self {
            Request::Connect { transaction_id } => {
                out.extend_from_slice(&PROTOCOL_ID.to_be_bytes());
                out.extend_from_slice(&Action::Connect.code().to_be_bytes());
                out.extend_from_slice(&transaction_id.to_be_bytes());
            }
            Request::Announce(a) => {
                out.extend_from_slice(&a.connection_id.to_be_bytes());
                out.extend_from_slice(&Action::Announce.code().to_be_bytes());
                out.extend_from_slice(&a.transaction_id.to_be_bytes());
                out.extend_from_slice(a.info_hash.as_bytes());
                out.extend_from_slice(a.peer_id.as_bytes());
                out.extend_from_slice(&a.downloaded.to_be_bytes());
                out.extend_from_slice(&a.left.to_be_bytes());
                out.extend_from_slice(&a.uploaded.to_be_bytes());
                out.extend_from_slice(&a.event.udp_code().to_be_bytes());
                out.extend_from_slice(&a.ip.to_be_bytes());
                out.extend_from_slice(&a.key.to_be_bytes());
                out.extend_from_slice(&a.num_want.to_be_bytes());
                out.extend_from_slice(&a.port.to_be_bytes());
                encode_url_data(&a.url_data, &mut out);
            }
            Request::Scrape {
                connection_id,
                transaction_id,
                info_hashes,
            } => {
                out.extend_from_slice(&connection_id.to_be_bytes());
                out.extend_from_slice(&Action::Scrape.code().to_be_bytes());
                out.extend_from_slice(&transaction_id.to_be_bytes());
                for h in info_hashes {
                    out.extend_from_slice(h.as_bytes());
                }
            }
        }
        out
    }

    /// Decode a request (the tracker's side).
    pub fn decode(packet: &[u8]) -> Result<Request, UdpError> {
        let mut r = Reader::new(packet, "request", 16)?;
        let connection_id = r.u64()?;
        let action = Action::from_code(r.u32()?)?;
        let transaction_id = r.u32()?;
        match action {
            Action::Connect if connection_id == PROTOCOL_ID => {
                Ok(Request::Connect { transaction_id })
            }
            Action::Connect => Err(UdpError::BadProtocolId),
            Action::Announce => {
                let mut r = Reader::new(packet, "announce request", ANNOUNCE_LEN)?;
                r.pos = 16;
                let info_hash = InfoHash(r.take()?);
                let peer_id = PeerId(r.take()?);
                let downloaded = r.u64()?;
                let left = r.u64()?;
                let uploaded = r.u64()?;
                let code = r.u32()?;
                let event = Event::from_udp_code(code).ok_or(UdpError::UnknownEvent(code))?;
                let ip = r.u32()?;
                let key = r.u32()?;
                let num_want = i32::from_be_bytes(r.take()?);
                let port = r.u16()?;
                let url_data = decode_url_data(r.rest())?;
                Ok(Request::Announce(AnnounceRequest {
                    connection_id,
                    transaction_id,
                    info_hash,
                    peer_id,
                    downloaded,
                    left,
                    uploaded,
                    event,
                    ip,
                    key,
                    num_want,
                    port,
                    url_data,
                }))
            }
            Action::Scrape => {
                let rest = r.rest();
                let hashes = rest.chunks_exact(20);
                if rest.is_empty() || !hashes.remainder().is_empty() {
                    return Err(UdpError::Trailing {
                        what: "scrape info-hash",
                        len: rest.len(),
                        entry: 20,
                    });
                }
                let info_hashes = hashes
                    .filter_map(|c| InfoHash::from_slice(c).ok())
                    .collect();
                Ok(Request::Scrape {
                    connection_id,
                    transaction_id,
                    info_hashes,
                })
            }
            Action::Error => Err(UdpError::UnknownAction(Action::Error.code())),
        }
    }
}

/// BEP 41 option types.
const OPT_END: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_URL_DATA: u8 = 2;

/// Append `data` as URL-data options (chunks of at most 255 bytes), then
/// an end-of-options marker; nothing at all when `data` is empty.
fn encode_url_data(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    for chunk in data.chunks(255) {
        out.push(OPT_URL_DATA);
        out.push(u8::try_from(chunk.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(chunk);
    }
    out.push(OPT_END);
}

/// Concatenate the URL-data options found after an announce's fixed part.
/// Stops at end-of-options; skips NOPs and unknown options (by length).
fn decode_url_data(mut opts: &[u8]) -> Result<Vec<u8>, UdpError> {
    let mut data = Vec::new();
    while let Some((&kind, rest)) = opts.split_first() {
        match kind {
            OPT_END => break,
            OPT_NOP => opts = rest,
            _ => {
                let (&len, rest) = rest.split_first().ok_or(UdpError::BadOption)?;
                let len = usize::from(len);
                let body = rest.get(..len).ok_or(UdpError::BadOption)?;
                if kind == OPT_URL_DATA {
                    data.extend_from_slice(body);
                }
                opts = rest.get(len..).unwrap_or_default();
            }
        }
    }
    Ok(data)
}
