//! HTTP announce (BEP 3, BEP 7, BEP 23), the client's side, and the value
//! types both sides share.
//!
//! [`AnnounceRequest`] becomes a full announce URL with [`announce_url`];
//! the tracker's bencoded body becomes an [`AnnounceResponse`] with
//! [`parse_announce_response`]. The tracker's side (parsing a request's
//! query, encoding replies) lives in [`super::http_server`] and uses the
//! same types.
//!
//! Behaviour follows libtorrent where BEP 3 is loose: a missing `interval`
//! means 1800 s; a `failure reason` wins over everything else; a compact
//! list of the wrong length is an error; in a dictionary peer list, bad
//! entries are skipped and only a list of nothing but bad entries is an
//! error.

use std::net::{IpAddr, SocketAddr};

use percent_encoding::{percent_encode, AsciiSet, NON_ALPHANUMERIC};
use thiserror::Error;
use url::Url;

use super::peers::{decode_compact_v4, decode_compact_v6, CompactLengthError};
use super::{Event, PeerEndpoint, TrackerPeer};
use crate::bencode::{self, Dict, Value};
use crate::types::{InfoHash, PeerId};

/// Interval assumed when a reply has none (libtorrent's default): 30 min.
pub const DEFAULT_INTERVAL: u32 = 1800;

/// Bytes escaped in query values: everything but BEP 3's unreserved set
/// (`0-9 a-z A-Z . - _ ~`), so binary hashes go byte by byte as `%XX`.
pub(crate) const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'~');

/// A tracker URL could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UrlError {
    /// Not a URL at all.
    #[error("invalid tracker URL: {0}")]
    Parse(#[from] url::ParseError),
    /// Not `http` or `https` (a `udp://` tracker goes through [`super::udp`]).
    #[error("tracker URL scheme {0:?} is not http or https")]
    UnsupportedScheme(String),
}

/// A tracker's reply body could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ResponseError {
    /// The tracker refused the request and said why (`failure reason`).
    #[error("tracker failure: {0}")]
    Failure(String),
    /// The body is not bencode.
    #[error("tracker reply is not bencode: {0}")]
    Bencode(#[from] bencode::DecodeError),
    /// The body is bencode but not a dictionary.
    #[error("tracker reply is not a dictionary")]
    NotADict,
    /// A field has the wrong type or an impossible value.
    #[error("tracker reply field {field:?} is invalid: {why}")]
    InvalidField {
        /// The bencode key.
        field: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A compact peer string of the wrong length.
    #[error("tracker reply field {field:?}: {source}")]
    CompactLength {
        /// `peers` or `peers6`.
        field: &'static str,
        /// The length problem.
        source: CompactLengthError,
    },
    /// A dictionary peer list where no entry was usable.
    #[error("none of the {0} peers in the reply's list is valid")]
    NoValidPeers(usize),
}

/// One announce: what the client tells the tracker, and what a tracker
/// parses from a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceRequest {
    /// The torrent this announce is about.
    pub info_hash: InfoHash,
    /// This client's id, as sent in its handshakes.
    pub peer_id: PeerId,
    /// The port this client accepts peer connections on.
    pub port: u16,
    /// Bytes uploaded since the `started` announce.
    pub uploaded: u64,
    /// Bytes downloaded since the `started` announce.
    pub downloaded: u64,
    /// Bytes still missing; 0 makes this peer a seed to the tracker.
    pub left: u64,
    /// The state change this announce reports, if any.
    pub event: Event,
    /// Ask for BEP 23 compact peers (`compact=1`); every tracker supports it.
    pub compact: bool,
    /// Ask the tracker to leave peer ids out of a dictionary reply
    /// (`no_peer_id=1`); saves bytes when compact is refused.
    pub no_peer_id: bool,
    /// How many peers to ask for; `None` leaves it to the tracker.
    pub numwant: Option<u32>,
    /// A value only this client knows, so the tracker can recognise it
    /// after an IP change. Opaque bytes (clients send e.g. 8 hex digits).
    pub key: Option<Vec<u8>>,
    /// The `tracker id` a previous reply asked to be echoed back.
    pub tracker_id: Option<Vec<u8>>,
    /// An address to announce instead of the connection's source (BEP 3
    /// allows a dotted quad, an IPv6 address or a DNS name).
    pub ip: Option<String>,
}

impl AnnounceRequest {
    /// A request with the usual defaults: compact, no peer ids, no event,
    /// no numwant, key, tracker id or ip.
    pub fn new(info_hash: InfoHash, peer_id: PeerId, port: u16, left: u64) -> AnnounceRequest {
        AnnounceRequest {
            info_hash,
            peer_id,
            port,
            uploaded: 0,
            downloaded: 0,
            left,
            event: Event::None,
            compact: true,
            no_peer_id: true,
            numwant: None,
            key: None,
            tracker_id: None,
            ip: None,
        }
    }

    /// The query parameters of this request, escaped, joined with `&`.
    pub fn query_string(&self) -> String {
        let mut q = QueryBuilder::default();
        q.push("info_hash", self.info_hash.as_bytes());
        q.push("peer_id", self.peer_id.as_bytes());
        q.push("port", self.port.to_string());
        q.push("uploaded", self.uploaded.to_string());
        q.push("downloaded", self.downloaded.to_string());
        q.push("left", self.left.to_string());
        q.push("compact", if self.compact { "1" } else { "0" });
        if self.no_peer_id {
            q.push("no_peer_id", "1");
        }
        if let Some(event) = self.event.as_http() {
            q.push("event", event);
        }
        if let Some(n) = self.numwant {
            q.push("numwant", n.to_string());
        }
        if let Some(key) = &self.key {
            q.push("key", key);
        }
        if let Some(id) = &self.tracker_id {
            q.push("trackerid", id);
        }
        if let Some(ip) = &self.ip {
            q.push("ip", ip);
        }
        q.finish()
    }
}

/// Builds an escaped query string, one `name=value` pair at a time.
#[derive(Default)]
pub(crate) struct QueryBuilder(String);

impl QueryBuilder {
    /// Append `name=value`, escaping the value byte by byte.
    pub(crate) fn push(&mut self, name: &str, value: impl AsRef<[u8]>) {
        if !self.0.is_empty() {
            self.0.push('&');
        }
        self.0.push_str(name);
        self.0.push('=');
        self.0
            .extend(percent_encode(value.as_ref(), QUERY_VALUE).map(|s: &str| s));
    }
    /// The query string.
    pub(crate) fn finish(self) -> String {
        self.0
    }
}

/// Parse a tracker URL and check it is http(s).
pub fn parse_http_url(tracker: &str) -> Result<Url, UrlError> {
    let url = Url::parse(tracker)?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(UrlError::UnsupportedScheme(other.to_owned())),
    }
}

/// `url` with `params` appended to its query: after the existing query
/// (a passkey, say) with `&`, or as the whole query if it has none.
pub(crate) fn append_query(mut url: Url, params: &str) -> Url {
    let joined = match url.query() {
        Some(q) if !q.is_empty() && !q.ends_with('&') => format!("{q}&{params}"),
        Some(q) => format!("{q}{params}"),
        None => params.to_owned(),
    };
    url.set_query(Some(&joined));
    url
}

/// The full announce URL for `req` at the tracker URL `tracker`.
pub fn announce_url(tracker: &str, req: &AnnounceRequest) -> Result<Url, UrlError> {
    Ok(append_query(parse_http_url(tracker)?, &req.query_string()))
}

/// A tracker's announce reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceResponse {
    /// A message to show the user; the announce still succeeded.
    pub warning_message: Option<String>,
    /// Seconds to wait before the next regular announce.
    pub interval: u32,
    /// Seconds the client must wait at least between announces, if set.
    pub min_interval: Option<u32>,
    /// Opaque id to send back as `trackerid` in later announces.
    pub tracker_id: Option<Vec<u8>>,
    /// Seeds in the swarm, if the tracker says.
    pub complete: Option<u64>,
    /// Leechers in the swarm, if the tracker says.
    pub incomplete: Option<u64>,
    /// The peers, from `peers` (compact or dictionaries) then `peers6`.
    pub peers: Vec<TrackerPeer>,
    /// The address the tracker saw this client connect from (BEP 24).
    pub external_ip: Option<IpAddr>,
}

impl AnnounceResponse {
    /// A reply with `interval` and `peers` and nothing else.
    pub fn new(interval: u32, peers: Vec<TrackerPeer>) -> AnnounceResponse {
        AnnounceResponse {
            warning_message: None,
            interval,
            min_interval: None,
            tracker_id: None,
            complete: None,
            incomplete: None,
            peers,
            external_ip: None,
        }
    }
}

/// A non-negative integer field, saturated to `u32` (an interval of more
/// than 136 years is as good as forever).
fn seconds(d: &Dict<'_>, field: &'static str) -> Result<Option<u32>, ResponseError> {
    Ok(count(d, field)?.map(|n| u32::try_from(n).unwrap_or(u32::MAX)))
}

/// A non-negative integer field.
pub(crate) fn count(d: &Dict<'_>, field: &'static str) -> Result<Option<u64>, ResponseError> {
    match d.get(field.as_bytes()) {
        None => Ok(None),
        Some(Value::Int(n)) => {
            u64::try_from(*n)
                .map(Some)
                .map_err(|_| ResponseError::InvalidField {
                    field,
                    why: "negative",
                })
        }
        Some(_) => Err(ResponseError::InvalidField {
            field,
            why: "not an integer",
        }),
    }
}

/// Decode a reply and return its top dictionary, or the tracker's failure.
pub(crate) fn reply_dict(body: &[u8]) -> Result<Dict<'_>, ResponseError> {
    let Value::Dict(d) = bencode::decode(body)? else {
        return Err(ResponseError::NotADict);
    };
    if let Some(reason) = d.get_bytes(b"failure reason") {
        return Err(ResponseError::Failure(
            String::from_utf8_lossy(reason).into_owned(),
        ));
    }
    Ok(d)
}

/// Parse an announce reply body.
pub fn parse_announce_response(body: &[u8]) -> Result<AnnounceResponse, ResponseError> {
    let d = reply_dict(body)?;
    let mut peers = match d.get(b"peers") {
        Some(Value::Bytes(b)) => decode_compact_v4(b)
            .map_err(|source| ResponseError::CompactLength {
                field: "peers",
                source,
            })?
            .into_iter()
            .map(|a| TrackerPeer::from_addr(SocketAddr::V4(a)))
            .collect(),
        Some(Value::List(list)) => dict_peers(list)?,
        Some(_) => {
            return Err(ResponseError::InvalidField {
                field: "peers",
                why: "neither a string nor a list",
            })
        }
        None => Vec::new(),
    };
    match d.get(b"peers6") {
        Some(Value::Bytes(b)) => peers.extend(
            decode_compact_v6(b)
                .map_err(|source| ResponseError::CompactLength {
                    field: "peers6",
                    source,
                })?
                .into_iter()
                .map(|a| TrackerPeer::from_addr(SocketAddr::V6(a))),
        ),
        Some(_) => {
            return Err(ResponseError::InvalidField {
                field: "peers6",
                why: "not a string",
            })
        }
        None => {}
    }
    let external_ip = d.get_bytes(b"external ip").and_then(|b| match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    });
    Ok(AnnounceResponse {
        warning_message: d
            .get_bytes(b"warning message")
            .map(|w| String::from_utf8_lossy(w).into_owned()),
        interval: seconds(&d, "interval")?.unwrap_or(DEFAULT_INTERVAL),
        min_interval: seconds(&d, "min interval")?,
        tracker_id: d.get_bytes(b"tracker id").map(<[u8]>::to_vec),
        complete: count(&d, "complete")?,
        incomplete: count(&d, "incomplete")?,
        peers,
        external_ip,
    })
}

/// Dictionary peers (`ip`, `port`, optional `peer id`). Entries that are
/// not dictionaries, lack `ip` or `port`, or have port 0 or out of range
/// are skipped; a non-empty list with no good entry is an error.
fn dict_peers(list: &[Value<'_>]) -> Result<Vec<TrackerPeer>, ResponseError> {
    let peers: Vec<TrackerPeer> = list.iter().filter_map(dict_peer).collect();
    if peers.is_empty() && !list.is_empty() {
        return Err(ResponseError::NoValidPeers(list.len()));
    }
    Ok(peers)
}

fn dict_peer(v: &Value<'_>) -> Option<TrackerPeer> {
    let d = v.as_dict()?;
    let ip = d.get_str(b"ip")?;
    let port = u16::try_from(d.get_int(b"port")?)
        .ok()
        .filter(|&p| p != 0)?;
    let endpoint = match ip.parse::<IpAddr>() {
        Ok(addr) => PeerEndpoint::Addr(SocketAddr::new(addr, port)),
        Err(_) if !ip.is_empty() => PeerEndpoint::Host {
            name: ip.to_owned(),
            port,
        },
        Err(_) => return None,
    };
    let peer_id = d
        .get_bytes(b"peer id")
        .and_then(|b| PeerId::from_slice(b).ok());
    Some(TrackerPeer { endpoint, peer_id })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hash() -> InfoHash {
        // Bytes chosen to cover unreserved ASCII, reserved ASCII and binary.
        let mut h = [0u8; 20];
        h[..10].copy_from_slice(b"aZ0.-_~ &%");
        h[10..].copy_from_slice(&[0x00, 0x01, 0x7f, 0x80, 0xff, 0x2b, 0x3d, 0x2f, 0x3f, 0x12]);
        InfoHash(h)
    }

    #[test]
    fn announce_url_appends_to_existing_query() {
        let mut req = AnnounceRequest::new(hash(), PeerId(*b"-RF0100-abcdefghijkl"), 6881, 1000);
        req.event = Event::Started;
        req.numwant = Some(50);
        req.key = Some(b"1A2B3C4D".to_vec());
        let url = announce_url("http://tracker.example/announce?passkey=abc", &req).unwrap();
        assert_eq!(
            url.as_str(),
            "http://tracker.example/announce?passkey=abc\
             &info_hash=aZ0.-_~%20%26%25%00%01%7F%80%FF%2B%3D%2F%3F%12\
             &peer_id=-RF0100-abcdefghijkl\
             &port=6881&uploaded=0&downloaded=0&left=1000&compact=1&no_peer_id=1\
             &event=started&numwant=50&key=1A2B3C4D"
        );
        let plain = announce_url("https://t.example:8443/a/announce", &req).unwrap();
        assert!(plain
            .as_str()
            .starts_with("https://t.example:8443/a/announce?info_hash=aZ0.-_~%20"));
    }

    #[test]
    fn escapes_the_classic_example_hash() {
        // The example from the BitTorrent protocol write-ups: hex
        // 123456789abcdef123456789abcdef123456789a.
        let h: InfoHash = "123456789abcdef123456789abcdef123456789a".parse().unwrap();
        let req = AnnounceRequest::new(h, PeerId(*b"ABCDEFGHIJKLMNOPQRST"), 6881, 0);
        let url = announce_url("http://t.example/announce", &req).unwrap();
        assert_eq!(
            url.query().unwrap().split('&').next(),
            Some("info_hash=%124Vx%9A%BC%DE%F1%23Eg%89%AB%CD%EF%124Vx%9A")
        );
    }

    #[test]
    fn announce_url_rejects_other_schemes() {
        let req = AnnounceRequest::new(hash(), PeerId([1; 20]), 1, 0);
        assert_eq!(
            announce_url("udp://tracker.example:80/announce", &req),
            Err(UrlError::UnsupportedScheme("udp".into()))
        );
        assert!(matches!(
            announce_url("not a url", &req),
            Err(UrlError::Parse(_))
        ));
    }

    #[test]
    fn parses_compact_reply() {
        let mut body = b"d8:completei3000000000e10:incompletei7e8:intervali1800e12:min intervali900e5:peers12:".to_vec();
        body.extend_from_slice(&[127, 0, 0, 1, 0x1a, 0xe1, 10, 1, 2, 3, 0, 0]);
        body.extend_from_slice(b"6:peers618:");
        body.extend_from_slice(&[
            0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xc8, 0xd5,
        ]);
        body.extend_from_slice(b"10:tracker id3:xyze");
        let r = parse_announce_response(&body).unwrap();
        assert_eq!(r.interval, 1800);
        assert_eq!(r.min_interval, Some(900));
        assert_eq!(r.complete, Some(3_000_000_000));
        assert_eq!(r.incomplete, Some(7));
        assert_eq!(r.tracker_id.as_deref(), Some(&b"xyz"[..]));
        let addrs: Vec<SocketAddr> = r.peers.iter().filter_map(|p| p.endpoint.addr()).collect();
        assert_eq!(
            addrs,
            vec![
                "127.0.0.1:6881".parse().unwrap(),
                "[fe80::1]:51413".parse().unwrap()
            ]
        );
    }

    #[test]
    fn parses_dictionary_peers() {
        let body = b"d8:intervali60e5:peersld2:ip9:10.0.0.107:peer id20:-TR3000-aaaaaaaaaaaa4:porti51413eed2:ip11:2001:db8::14:porti1eed2:ip16:peer.example.org4:porti80eed2:ip7:1.2.3.44:porti0eed2:ip7:1.2.3.44:porti70000eei5eee";
        let r = parse_announce_response(body).unwrap();
        assert_eq!(r.interval, 60);
        assert_eq!(r.peers.len(), 3);
        assert_eq!(
            r.peers[0].endpoint,
            PeerEndpoint::Addr("10.0.0.10:51413".parse().unwrap())
        );
        assert_eq!(r.peers[0].peer_id, Some(PeerId(*b"-TR3000-aaaaaaaaaaaa")));
        assert_eq!(
            r.peers[1].endpoint.addr(),
            Some("[2001:db8::1]:1".parse().unwrap())
        );
        assert_eq!(
            r.peers[2].endpoint,
            PeerEndpoint::Host {
                name: "peer.example.org".into(),
                port: 80
            }
        );
        let all_bad = b"d5:peersld2:ip7:1.2.3.44:porti0eeee";
        assert_eq!(
            parse_announce_response(all_bad),
            Err(ResponseError::NoValidPeers(1))
        );
    }

    #[test]
    fn failure_and_warning() {
        let body = b"d14:failure reason21:unregistered torrent!8:intervali30ee";
        assert_eq!(
            parse_announce_response(body),
            Err(ResponseError::Failure("unregistered torrent!".into()))
        );
        let body = b"d8:intervali1800e5:peers0:15:warning message13:slow down plse";
        let r = parse_announce_response(body).unwrap();
        assert_eq!(r.warning_message.as_deref(), Some("slow down pls"));
        assert!(r.peers.is_empty());
    }

    #[test]
    fn malformed_replies() {
        assert_eq!(
            parse_announce_response(b"d5:peers7:abcdefge"),
            Err(ResponseError::CompactLength {
                field: "peers",
                source: CompactLengthError { len: 7, entry: 6 }
            })
        );
        assert!(matches!(
            parse_announce_response(b"d6:peers65:abcdee"),
            Err(ResponseError::CompactLength {
                field: "peers6",
                ..
            })
        ));
        assert!(matches!(
            parse_announce_response(b"d8:intervali-5ee"),
            Err(ResponseError::InvalidField {
                field: "interval",
                ..
            })
        ));
        assert_eq!(parse_announce_response(b"le"), Err(ResponseError::NotADict));
        assert!(matches!(
            parse_announce_response(b"<html>"),
            Err(ResponseError::Bencode(_))
        ));
        // No interval: libtorrent's default; huge interval saturates.
        assert_eq!(parse_announce_response(b"de").unwrap().interval, 1800);
        assert_eq!(
            parse_announce_response(b"d8:intervali99999999999ee")
                .unwrap()
                .interval,
            u32::MAX
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_announce_response(&bytes);
        }

        #[test]
        fn query_escapes_every_reserved_byte(h in any::<[u8; 20]>()) {
            let req = AnnounceRequest::new(InfoHash(h), PeerId(h), 1, 0);
            let q = req.query_string();
            prop_assert!(q.bytes().all(|b| b.is_ascii_alphanumeric() || b"%-._~=&".contains(&b)));
            let value = q.split('&').next().unwrap().strip_prefix("info_hash=").unwrap();
            let decoded: Vec<u8> = percent_encoding::percent_decode_str(value).collect();
            prop_assert_eq!(decoded, h.to_vec());
        }
    }
}
