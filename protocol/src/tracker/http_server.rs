//! The tracker's side of HTTP announce: turn a request's query string into
//! an [`AnnounceRequest`], and replies into bencoded bodies.
//!
//! The query is percent-decoded to raw bytes, since `info_hash` and
//! `peer_id` are binary. A literal `+` stays a `+` (it is not form
//! encoding: clients escape a `+` byte as `%2B`). When a parameter appears
//! twice the first one counts, except `info_hash` in a scrape, which may
//! repeat (see [`super::scrape`]).

use std::net::{IpAddr, SocketAddr};

use percent_encoding::percent_decode;
use thiserror::Error;

use super::http::{AnnounceRequest, AnnounceResponse};
use super::peers::encode_compact;
use super::{Event, PeerEndpoint};
use crate::bencode::{encode, Owned};
use crate::types::{InfoHash, PeerId};

/// Why a request's query string is not a usable announce.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    /// A required parameter is absent.
    #[error("missing parameter {0:?}")]
    Missing(&'static str),
    /// A parameter has an unusable value.
    #[error("invalid parameter {field:?}: {why}")]
    Invalid {
        /// The parameter name.
        field: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// Split a query string into percent-decoded `(name, value)` byte pairs,
/// in order. A pair without `=` has an empty value; empty pairs are skipped.
pub fn parse_query(query: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    query
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(eq) => (
                    pair.get(..eq).unwrap_or_default(),
                    pair.get(eq + 1..).unwrap_or_default(),
                ),
                None => (pair, &[][..]),
            };
            (
                percent_decode(name).collect(),
                percent_decode(value).collect(),
            )
        })
        .collect()
}

/// The pairs of a query, with lookups by name.
struct Params(Vec<(Vec<u8>, Vec<u8>)>);

impl Params {
    fn get(&self, name: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(n, _)| n == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    fn required(&self, name: &'static str) -> Result<&[u8], RequestError> {
        self.get(name).ok_or(RequestError::Missing(name))
    }

    fn hash20(&self, name: &'static str) -> Result<[u8; 20], RequestError> {
        self.required(name)?
            .try_into()
            .map_err(|_| RequestError::Invalid {
                field: name,
                why: "not 20 bytes",
            })
    }

    fn number(&self, name: &'static str) -> Result<Option<u64>, RequestError> {
        self.get(name).map(|v| decimal(name, v)).transpose()
    }
}

/// A plain decimal number (no sign, no spaces) that fits in `u64`.
fn decimal(field: &'static str, v: &[u8]) -> Result<u64, RequestError> {
    let invalid = |why| RequestError::Invalid { field, why };
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return Err(invalid("not a non-negative decimal number"));
    }
    v.iter().try_fold(0u64, |n, &b| {
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(invalid("too large"))
    })
}

/// A `0`/`1` flag parameter; absent means false.
fn flag(params: &Params, field: &'static str) -> Result<bool, RequestError> {
    match params.get(field) {
        None | Some(b"0") => Ok(false),
        Some(b"1") => Ok(true),
        Some(_) => Err(RequestError::Invalid {
            field,
            why: "not 0 or 1",
        }),
    }
}

/// Parse an announce from the query string of its URL (the part after
/// `?`, still escaped). `info_hash`, `peer_id`, `port`, `uploaded`,
/// `downloaded` and `left` are required (BEP 3). A negative `numwant`
/// (some clients send UDP's -1 convention) means "tracker's choice".
pub fn parse_announce_query(query: impl AsRef<[u8]>) -> Result<AnnounceRequest, RequestError> {
    let p = Params(parse_query(query.as_ref()));
    let info_hash = InfoHash(p.hash20("info_hash")?);
    let peer_id = PeerId(p.hash20("peer_id")?);
    let port = decimal("port", p.required("port")?)?;
    let port = u16::try_from(port).map_err(|_| RequestError::Invalid {
        field: "port",
        why: "above 65535",
    })?;
    let uploaded = decimal("uploaded", p.required("uploaded")?)?;
    let downloaded = decimal("downloaded", p.required("downloaded")?)?;
    let left = decimal("left", p.required("left")?)?;
    let event = match p.get("event") {
        None => Event::None,
        Some(e) => Event::from_http(e).ok_or(RequestError::Invalid {
            field: "event",
            why: "not started, completed or stopped",
        })?,
    };
    let numwant = match p.get("numwant") {
        Some(v) if v.first() == Some(&b'-') => None,
        _ => p
            .number("numwant")?
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
    };
    let ip = p
        .get("ip")
        .map(|ip| {
            String::from_utf8(ip.to_vec()).map_err(|_| RequestError::Invalid {
                field: "ip",
                why: "not UTF-8",
            })
        })
        .transpose()?;
    Ok(AnnounceRequest {
        info_hash,
        peer_id,
        port,
        uploaded,
        downloaded,
        left,
        event,
        compact: flag(&p, "compact")?,
        no_peer_id: flag(&p, "no_peer_id")?,
        numwant,
        key: p.get("key").map(<[u8]>::to_vec),
        tracker_id: p.get("trackerid").map(<[u8]>::to_vec),
        ip,
    })
}

/// How a reply lists its peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerFormat {
    /// BEP 23 / BEP 7 compact strings `peers` and `peers6`. Peers known
    /// only by host name cannot be written this way and are left out.
    Compact,
    /// A list of dictionaries (`ip`, `port`, and `peer id` when known and
    /// `with_peer_id`, i.e. the request did not say `no_peer_id=1`).
    Dictionaries {
        /// Include each peer's `peer id` when it is known.
        with_peer_id: bool,
    },
}

impl PeerFormat {
    /// The format a request asked for.
    pub fn for_request(req: &AnnounceRequest) -> PeerFormat {
        if req.compact {
            PeerFormat::Compact
        } else {
            PeerFormat::Dictionaries {
                with_peer_id: !req.no_peer_id,
            }
        }
    }
}

/// A bencode integer from a count (saturated: bencode is signed 64-bit).
pub(crate) fn int(n: u64) -> Owned {
    Owned::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Encode an announce reply.
pub fn encode_announce_response(resp: &AnnounceResponse, format: PeerFormat) -> Vec<u8> {
    let mut d = Owned::dict([("interval", Owned::Int(i64::from(resp.interval)))]);
    if let Some(m) = resp.min_interval {
        d.insert("min interval", Owned::Int(i64::from(m)));
    }
    if let Some(w) = &resp.warning_message {
        d.insert("warning message", Owned::bytes(w));
    }
    if let Some(id) = &resp.tracker_id {
        d.insert("tracker id", Owned::bytes(id));
    }
    if let Some(c) = resp.complete {
        d.insert("complete", int(c));
    }
    if let Some(i) = resp.incomplete {
        d.insert("incomplete", int(i));
    }
    match resp.external_ip {
        Some(IpAddr::V4(ip)) => d.insert("external ip", Owned::bytes(ip.octets())),
        Some(IpAddr::V6(ip)) => d.insert("external ip", Owned::bytes(ip.octets())),
        None => {}
    }
    match format {
        PeerFormat::Compact => {
            let (v4, v6) = encode_compact(resp.peers.iter().filter_map(|p| p.endpoint.addr()));
            d.insert("peers", Owned::Bytes(v4));
            if !v6.is_empty() {
                d.insert("peers6", Owned::Bytes(v6));
            }
        }
        PeerFormat::Dictionaries { with_peer_id } => {
            let list = resp
                .peers
                .iter()
                .map(|p| {
                    let (ip, port) = match &p.endpoint {
                        PeerEndpoint::Addr(SocketAddr::V4(a)) => (a.ip().to_string(), a.port()),
                        PeerEndpoint::Addr(SocketAddr::V6(a)) => (a.ip().to_string(), a.port()),
                        PeerEndpoint::Host { name, port } => (name.clone(), *port),
                    };
                    let mut e = Owned::dict([
                        ("ip", Owned::bytes(ip)),
                        ("port", Owned::Int(i64::from(port))),
                    ]);
                    if let (true, Some(id)) = (with_peer_id, p.peer_id) {
                        e.insert("peer id", Owned::bytes(id.as_bytes()));
                    }
                    e
                })
                .collect();
            d.insert("peers", Owned::List(list));
        }
    }
    encode(&d)
}

/// Encode a failure reply: the request was refused, for `reason`.
pub fn encode_failure(reason: &str) -> Vec<u8> {
    encode(&Owned::dict([("failure reason", Owned::bytes(reason))]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::http::{parse_announce_response, ResponseError};
    use crate::tracker::TrackerPeer;
    use proptest::prelude::*;

    const QUERY: &str = "info_hash=%124Vx%9A%BC%DE%F1%23Eg%89%AB%CD%EF%124Vx%9A\
        &peer_id=-qB4650-abcdefghijkl&port=6881&uploaded=0&downloaded=10&left=1234\
        &corrupt=0&key=AB12&event=started&numwant=200&compact=1&no_peer_id=1\
        &supportcrypto=1&redundant=0";

    #[test]
    fn parses_real_world_query() {
        let r = parse_announce_query(QUERY).unwrap();
        assert_eq!(
            r.info_hash,
            "123456789abcdef123456789abcdef123456789a".parse().unwrap()
        );
        assert_eq!(r.peer_id, PeerId(*b"-qB4650-abcdefghijkl"));
        assert_eq!(
            (r.port, r.uploaded, r.downloaded, r.left),
            (6881, 0, 10, 1234)
        );
        assert_eq!(r.event, Event::Started);
        assert_eq!(r.numwant, Some(200));
        assert!(r.compact && r.no_peer_id);
        assert_eq!(r.key.as_deref(), Some(&b"AB12"[..]));
        assert_eq!(r.ip, None);
    }

    #[test]
    fn reports_missing_and_invalid_fields() {
        let without = |name: &str| {
            QUERY
                .split('&')
                .filter(|p| !p.starts_with(&format!("{name}=")))
                .collect::<Vec<_>>()
                .join("&")
        };
        for name in [
            "info_hash",
            "peer_id",
            "port",
            "uploaded",
            "downloaded",
            "left",
        ] {
            assert_eq!(
                parse_announce_query(without(name)),
                Err(RequestError::Missing(name))
            );
        }
        let bad = |extra: &str| parse_announce_query(format!("{extra}&{QUERY}"));
        assert!(matches!(
            bad("info_hash=short"),
            Err(RequestError::Invalid {
                field: "info_hash",
                ..
            })
        ));
        assert!(matches!(
            bad("port=65536"),
            Err(RequestError::Invalid { field: "port", .. })
        ));
        assert!(matches!(
            bad("left=-1"),
            Err(RequestError::Invalid { field: "left", .. })
        ));
        assert!(matches!(
            bad("left=99999999999999999999"),
            Err(RequestError::Invalid { field: "left", .. })
        ));
        assert!(matches!(
            bad("event=paused"),
            Err(RequestError::Invalid { field: "event", .. })
        ));
        assert!(matches!(
            bad("compact=yes"),
            Err(RequestError::Invalid {
                field: "compact",
                ..
            })
        ));
        assert!(matches!(
            bad("ip=%FF"),
            Err(RequestError::Invalid { field: "ip", .. })
        ));
        assert_eq!(bad("numwant=-1").unwrap().numwant, None);
    }

    fn sample() -> AnnounceResponse {
        let mut r = AnnounceResponse::new(
            1800,
            vec![
                TrackerPeer::from_addr("1.2.3.4:6881".parse().unwrap()),
                TrackerPeer {
                    endpoint: PeerEndpoint::Addr("[2001:db8::7]:51413".parse().unwrap()),
                    peer_id: Some(PeerId(*b"-TR3000-000000000000")),
                },
                TrackerPeer {
                    endpoint: PeerEndpoint::Host {
                        name: "seed.example".into(),
                        port: 80,
                    },
                    peer_id: None,
                },
            ],
        );
        r.complete = Some(5);
        r.incomplete = Some(9);
        r
    }

    #[test]
    fn encodes_compact_reply_exactly() {
        let body = encode_announce_response(&sample(), PeerFormat::Compact);
        let mut want = b"d8:completei5e10:incompletei9e8:intervali1800e5:peers6:".to_vec();
        want.extend_from_slice(&[1, 2, 3, 4, 0x1a, 0xe1]);
        want.extend_from_slice(b"6:peers618:");
        want.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]);
        want.extend_from_slice(&[0xc8, 0xd5, b'e']);
        assert_eq!(body, want);
        let back = parse_announce_response(&body).unwrap();
        assert_eq!(back.peers.len(), 2, "the host-name peer cannot be compact");
    }

    #[test]
    fn dictionary_reply_round_trips() {
        let resp = sample();
        let body = encode_announce_response(&resp, PeerFormat::Dictionaries { with_peer_id: true });
        assert_eq!(parse_announce_response(&body).unwrap(), resp);
        let body = encode_announce_response(
            &resp,
            PeerFormat::Dictionaries {
                with_peer_id: false,
            },
        );
        assert!(!body.windows(7).any(|w| w == b"peer id"));
    }

    #[test]
    fn failure_reply() {
        let body = encode_failure("torrent not registered");
        assert_eq!(body, b"d14:failure reason22:torrent not registerede");
        assert_eq!(
            parse_announce_response(&body),
            Err(ResponseError::Failure("torrent not registered".into()))
        );
    }

    fn arb_request() -> impl Strategy<Value = AnnounceRequest> {
        (
            (
                any::<[u8; 20]>(),
                any::<[u8; 20]>(),
                any::<u16>(),
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
            ),
            (
                0u32..4,
                any::<bool>(),
                any::<bool>(),
                proptest::option::of(any::<u32>()),
            ),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..10)),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..10)),
            proptest::option::of("[ -~]{0,20}"),
        )
            .prop_map(
                |((h, id, port, up, down, left), (ev, compact, npi, numwant), key, tid, ip)| {
                    AnnounceRequest {
                        info_hash: InfoHash(h),
                        peer_id: PeerId(id),
                        port,
                        uploaded: up,
                        downloaded: down,
                        left,
                        event: Event::from_udp_code(ev).unwrap_or_default(),
                        compact,
                        no_peer_id: npi,
                        numwant,
                        key,
                        tracker_id: tid,
                        ip,
                    }
                },
            )
    }

    fn arb_response() -> impl Strategy<Value = AnnounceResponse> {
        let peer = (
            any::<[u8; 16]>(),
            any::<bool>(),
            1u16..,
            proptest::option::of(any::<[u8; 20]>()),
        )
            .prop_map(|(ip, v4, port, id)| {
                let addr = if v4 {
                    SocketAddr::from(([ip[0], ip[1], ip[2], ip[3]], port))
                } else {
                    SocketAddr::from((ip, port))
                };
                TrackerPeer {
                    endpoint: PeerEndpoint::Addr(addr),
                    peer_id: id.map(PeerId),
                }
            });
        (
            any::<u32>(),
            proptest::option::of(any::<u32>()),
            proptest::option::of(0..=i64::MAX as u64),
            proptest::option::of(0..=i64::MAX as u64),
            proptest::option::of("[ -~]{0,20}"),
            proptest::collection::vec(peer, 0..10),
        )
            .prop_map(|(interval, min, c, i, w, peers)| AnnounceResponse {
                warning_message: w,
                interval,
                min_interval: min,
                tracker_id: None,
                complete: c,
                incomplete: i,
                peers,
                external_ip: None,
            })
    }

    proptest! {
        #[test]
        fn request_round_trips(req in arb_request()) {
            prop_assert_eq!(parse_announce_query(req.query_string()).unwrap(), req);
        }

        #[test]
        fn response_round_trips(resp in arb_response()) {
            let dict = encode_announce_response(&resp, PeerFormat::Dictionaries { with_peer_id: true });
            prop_assert_eq!(parse_announce_response(&dict).unwrap(), resp.clone());
            // Compact: no ids, and IPv4 peers come before IPv6 ones.
            let compact = encode_announce_response(&resp, PeerFormat::Compact);
            let mut want: Vec<TrackerPeer> = resp.peers.iter()
                .map(|p| TrackerPeer { endpoint: p.endpoint.clone(), peer_id: None })
                .collect();
            want.sort_by_key(|p| p.endpoint.addr().is_some_and(|a| a.is_ipv6()));
            prop_assert_eq!(parse_announce_response(&compact).unwrap().peers, want);
        }

        #[test]
        fn arbitrary_queries_never_panic(q in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_announce_query(&q);
        }
    }
}
