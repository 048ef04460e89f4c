//! KRPC, the DHT's wire format (BEP 5): one bencoded dictionary per UDP
//! datagram — a query (`y` = `q`, method `q`, arguments `a`), a response
//! (`y` = `r`, values `r`) or an error (`y` = `e`) — tied together by a
//! transaction id (`t`) the querier chooses.
//!
//! Decoding never panics and bounds its work (a datagram is at most
//! [`MAX_DATAGRAM`] bytes, the decoder's depth and item count are small);
//! unknown methods and keys are kept or skipped as BEP 5 asks, malformed
//! compact lists are read as far as they go. Only IPv4 nodes and peers
//! are read (`nodes`, 6-byte `values`); `nodes6` is ignored.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use thiserror::Error;

use crate::bencode::{self, Dict, Limits, Owned, Value};
use crate::InfoHash;

/// The largest datagram read (anything longer is not KRPC).
pub const MAX_DATAGRAM: usize = 1500;
/// Most transaction-id bytes accepted.
pub const MAX_TRANSACTION: usize = 16;
/// Most peers read from (or put in) one `values` list.
pub const MAX_VALUES: usize = 100;
/// Most nodes read from one `nodes` string.
pub const MAX_NODES: usize = 16;

/// A node id (160 bits, like an info-hash).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NodeId(pub [u8; 20]);

impl std::fmt::Debug for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeId({})", hex::encode(&self.0[..4]))
    }
}

impl NodeId {
    /// XOR distance to `other`.
    pub fn distance(&self, other: &NodeId) -> [u8; 20] {
        let mut d = [0u8; 20];
        for (i, b) in d.iter_mut().enumerate() {
            *b = self.0[i] ^ other.0[i];
        }
        d
    }

    /// How many leading bits it shares with `other` (160: the same id).
    pub fn shared_prefix(&self, other: &NodeId) -> usize {
        for (i, b) in self.distance(other).iter().enumerate() {
            if *b != 0 {
                return i * 8 + b.leading_zeros() as usize;
            }
        }
        160
    }

    /// The id of an info-hash, for lookups.
    pub fn of(hash: &InfoHash) -> NodeId {
        NodeId(hash.0)
    }
}

/// A node as compact node info lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeInfo {
    /// Its id.
    pub id: NodeId,
    /// Where it answers.
    pub addr: SocketAddrV4,
}

/// The four methods of BEP 5.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    /// Are you there?
    Ping,
    /// Which nodes are closest to `target`?
    FindNode {
        /// The id looked for.
        target: NodeId,
    },
    /// Who has `info_hash` (or which nodes are closer)?
    GetPeers {
        /// The torrent.
        info_hash: InfoHash,
    },
    /// I have `info_hash`, reachable at `port` (or the UDP source port
    /// with `implied_port`), and here is the token you gave me.
    AnnouncePeer {
        /// The torrent.
        info_hash: InfoHash,
        /// Its TCP port.
        port: u16,
        /// Use the datagram's source port instead.
        implied_port: bool,
        /// From an earlier `get_peers` answer.
        token: Vec<u8>,
    },
    /// A method we do not know (answered with an error 204).
    Unknown(String),
}

/// What a response carries (every field optional but `id`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Response {
    /// The responder's id.
    pub id: NodeId,
    /// Nodes close to what was asked.
    pub nodes: Vec<NodeInfo>,
    /// Peers of the torrent asked for.
    pub values: Vec<SocketAddr>,
    /// Token for a later `announce_peer`.
    pub token: Option<Vec<u8>>,
}

/// The body of a KRPC message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// A query from `id`.
    Query {
        /// The querier's id.
        id: NodeId,
        /// What it asks.
        query: Query,
    },
    /// A response.
    Response(Response),
    /// An error: code and message.
    Error(i64, String),
}

/// One KRPC message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The transaction id.
    pub transaction: Vec<u8>,
    /// What it says.
    pub body: Body,
    /// A read-only node (BEP 43): not to be added to routing tables.
    pub read_only: bool,
}

/// Why a datagram is not a usable KRPC message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KrpcError {
    /// Too long to be KRPC.
    #[error("datagram of {0} bytes is too long for KRPC")]
    TooLong(usize),
    /// Not a bencoded dictionary.
    #[error("not a bencoded dictionary: {0}")]
    Bencode(String),
    /// A key is missing or of the wrong type.
    #[error("KRPC message lacks a valid {0}")]
    Missing(&'static str),
}

fn id_of(v: Option<&Value<'_>>, what: &'static str) -> Result<NodeId, KrpcError> {
    let b = v
        .and_then(|v| v.as_bytes())
        .ok_or(KrpcError::Missing(what))?;
    <[u8; 20]>::try_from(b)
        .map(NodeId)
        .map_err(|_| KrpcError::Missing(what))
}

/// Compact IPv4 node infos (26 bytes each), as far as they go.
pub fn decode_nodes(bytes: &[u8]) -> Vec<NodeInfo> {
    bytes
        .chunks_exact(26)
        .take(MAX_NODES)
        .filter_map(|c| {
            let mut id = [0u8; 20];
            id.copy_from_slice(&c[..20]);
            let ip = Ipv4Addr::new(c[20], c[21], c[22], c[23]);
            let port = u16::from_be_bytes([c[24], c[25]]);
            (port != 0).then_some(NodeInfo {
                id: NodeId(id),
                addr: SocketAddrV4::new(ip, port),
            })
        })
        .collect()
}

/// Compact IPv4 node infos of `nodes`.
pub fn encode_nodes(nodes: &[NodeInfo]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nodes.len() * 26);
    for n in nodes {
        out.extend_from_slice(&n.id.0);
        out.extend_from_slice(&n.addr.ip().octets());
        out.extend_from_slice(&n.addr.port().to_be_bytes());
    }
    out
}

fn compact_peer(addr: &SocketAddr) -> Option<Vec<u8>> {
    match addr {
        SocketAddr::V4(a) => {
            let mut v = a.ip().octets().to_vec();
            v.extend_from_slice(&a.port().to_be_bytes());
            Some(v)
        }
        SocketAddr::V6(_) => None,
    }
}

fn decode_query(method: &[u8], a: &Dict<'_>) -> Result<Query, KrpcError> {
    let hash = |key: &'static str| -> Result<InfoHash, KrpcError> {
        let b = a
            .get(key.as_bytes())
            .and_then(|v| v.as_bytes())
            .ok_or(KrpcError::Missing(key))?;
        InfoHash::from_slice(b).map_err(|_| KrpcError::Missing(key))
    };
    Ok(match method {
        b"ping" => Query::Ping,
        b"find_node" => Query::FindNode {
            target: id_of(a.get(b"target"), "target")?,
        },
        b"get_peers" => Query::GetPeers {
            info_hash: hash("info_hash")?,
        },
        b"announce_peer" => {
            let port = a
                .get_int(b"port")
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(0);
            let implied_port = a.get_int(b"implied_port").is_some_and(|v| v != 0);
            if port == 0 && !implied_port {
                return Err(KrpcError::Missing("port"));
            }
            let token = a
                .get(b"token")
                .and_then(|v| v.as_bytes())
                .ok_or(KrpcError::Missing("token"))?;
            Query::AnnouncePeer {
                info_hash: hash("info_hash")?,
                port,
                implied_port,
                token: token.iter().take(64).copied().collect(),
            }
        }
        other => Query::Unknown(String::from_utf8_lossy(other).chars().take(32).collect()),
    })
}

fn decode_response(r: &Dict<'_>) -> Result<Response, KrpcError> {
    let id = id_of(r.get(b"id"), "id")?;
    let nodes = r
        .get(b"nodes")
        .and_then(|v| v.as_bytes())
        .map(decode_nodes)
        .unwrap_or_default();
    let values = match r.get(b"values") {
        Some(Value::List(items)) => items
            .iter()
            .filter_map(|v| v.as_bytes())
            .filter(|b| b.len() == 6)
            .map(|b| {
                SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::new(b[0], b[1], b[2], b[3]),
                    u16::from_be_bytes([b[4], b[5]]),
                ))
            })
            .filter(|a| a.port() != 0)
            .take(MAX_VALUES)
            .collect(),
        _ => Vec::new(),
    };
    let token = r
        .get(b"token")
        .and_then(|v| v.as_bytes())
        .map(|t| t.iter().take(64).copied().collect());
    Ok(Response {
        id,
        nodes,
        values,
        token,
    })
}

impl Message {
    /// Decode a datagram.
    pub fn decode(datagram: &[u8]) -> Result<Message, KrpcError> {
        if datagram.len() > MAX_DATAGRAM {
            return Err(KrpcError::TooLong(datagram.len()));
        }
        let limits = Limits {
            max_depth: 4,
            max_items: 512,
        };
        let value = bencode::decode_with(datagram, limits)
            .map_err(|e| KrpcError::Bencode(e.to_string()))?;
        let top = value
            .as_dict()
            .ok_or_else(|| KrpcError::Bencode("not a dictionary".into()))?;
        let transaction = top
            .get(b"t")
            .and_then(|v| v.as_bytes())
            .filter(|t| t.len() <= MAX_TRANSACTION)
            .ok_or(KrpcError::Missing("t"))?
            .to_vec();
        let read_only = top.get_int(b"ro") == Some(1);
        let kind = top
            .get(b"y")
            .and_then(|v| v.as_bytes())
            .ok_or(KrpcError::Missing("y"))?;
        let body = match kind {
            b"q" => {
                let method = top
                    .get(b"q")
                    .and_then(|v| v.as_bytes())
                    .ok_or(KrpcError::Missing("q"))?;
                let a = top
                    .get(b"a")
                    .and_then(|v| v.as_dict())
                    .ok_or(KrpcError::Missing("a"))?;
                Body::Query {
                    id: id_of(a.get(b"id"), "id")?,
                    query: decode_query(method, a)?,
                }
            }
            b"r" => Body::Response(decode_response(
                top.get(b"r")
                    .and_then(|v| v.as_dict())
                    .ok_or(KrpcError::Missing("r"))?,
            )?),
            b"e" => {
                let (code, msg) = match top.get(b"e") {
                    Some(Value::List(items)) => (
                        items.first().and_then(|v| v.as_int()).unwrap_or(0),
                        items
                            .get(1)
                            .and_then(|v| v.as_bytes())
                            .map(|b| String::from_utf8_lossy(b).chars().take(200).collect())
                            .unwrap_or_default(),
                    ),
                    _ => (0, String::new()),
                };
                Body::Error(code, msg)
            }
            _ => return Err(KrpcError::Missing("y")),
        };
        Ok(Message {
            transaction,
            body,
            read_only,
        })
    }

    /// The datagram to send.
    pub fn encode(&self) -> Vec<u8> {
        let mut top = Owned::dict([(&b"t"[..], Owned::bytes(&self.transaction))]);
        match &self.body {
            Body::Query { id, query } => {
                let mut a = Owned::dict([(&b"id"[..], Owned::bytes(id.0))]);
                let method: &[u8] = match query {
                    Query::Ping => b"ping",
                    Query::FindNode { target } => {
                        a.insert(b"target", Owned::bytes(target.0));
                        b"find_node"
                    }
                    Query::GetPeers { info_hash } => {
                        a.insert(b"info_hash", Owned::bytes(info_hash.0));
                        b"get_peers"
                    }
                    Query::AnnouncePeer {
                        info_hash,
                        port,
                        implied_port,
                        token,
                    } => {
                        a.insert(b"info_hash", Owned::bytes(info_hash.0));
                        a.insert(b"port", Owned::Int(i64::from(*port)));
                        if *implied_port {
                            a.insert(b"implied_port", Owned::Int(1));
                        }
                        a.insert(b"token", Owned::bytes(token));
                        b"announce_peer"
                    }
                    Query::Unknown(m) => m.as_bytes(),
                };
                top.insert(b"y", Owned::bytes(b"q"));
                top.insert(b"q", Owned::bytes(method));
                top.insert(b"a", a);
            }
            Body::Response(r) => {
                let mut d = Owned::dict([(&b"id"[..], Owned::bytes(r.id.0))]);
                if !r.nodes.is_empty() {
                    d.insert(b"nodes", Owned::Bytes(encode_nodes(&r.nodes)));
                }
                let values: Vec<Owned> = r
                    .values
                    .iter()
                    .take(MAX_VALUES)
                    .filter_map(compact_peer)
                    .map(Owned::Bytes)
                    .collect();
                if !values.is_empty() {
                    d.insert(b"values", Owned::List(values));
                }
                if let Some(t) = &r.token {
                    d.insert(b"token", Owned::bytes(t));
                }
                top.insert(b"y", Owned::bytes(b"r"));
                top.insert(b"r", d);
            }
            Body::Error(code, msg) => {
                top.insert(b"y", Owned::bytes(b"e"));
                top.insert(
                    b"e",
                    Owned::List(vec![Owned::Int(*code), Owned::bytes(msg.as_bytes())]),
                );
            }
        }
        if self.read_only {
            top.insert(b"ro", Owned::Int(1));
        }
        bencode::encode(&top)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(b: u8) -> NodeId {
        NodeId([b; 20])
    }

    #[test]
    fn every_message_round_trips() {
        let node = NodeInfo {
            id: id(3),
            addr: "10.0.0.1:6881".parse().unwrap(),
        };
        let bodies = vec![
            Body::Query {
                id: id(1),
                query: Query::Ping,
            },
            Body::Query {
                id: id(1),
                query: Query::FindNode { target: id(9) },
            },
            Body::Query {
                id: id(1),
                query: Query::GetPeers {
                    info_hash: InfoHash([5; 20]),
                },
            },
            Body::Query {
                id: id(1),
                query: Query::AnnouncePeer {
                    info_hash: InfoHash([5; 20]),
                    port: 6881,
                    implied_port: true,
                    token: b"tok".to_vec(),
                },
            },
            Body::Response(Response {
                id: id(2),
                nodes: vec![node],
                values: vec!["10.0.0.2:51413".parse().unwrap()],
                token: Some(b"t0k3n".to_vec()),
            }),
            Body::Error(201, "generic".into()),
        ];
        for body in bodies {
            let m = Message {
                transaction: b"aa".to_vec(),
                body,
                read_only: false,
            };
            assert_eq!(Message::decode(&m.encode()).unwrap(), m);
        }
    }

    #[test]
    fn the_bep_5_examples_read() {
        let ping = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
        let m = Message::decode(ping).unwrap();
        assert_eq!(m.transaction, b"aa");
        assert!(matches!(
            m.body,
            Body::Query {
                query: Query::Ping,
                ..
            }
        ));
        let err = b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee";
        assert_eq!(
            Message::decode(err).unwrap().body,
            Body::Error(201, "A Generic Error Ocurred".into())
        );
        let unknown = b"d1:ad2:id20:abcdefghij0123456789e1:q5:vote!1:t2:aa1:y1:qe";
        assert!(matches!(
            Message::decode(unknown).unwrap().body,
            Body::Query {
                query: Query::Unknown(_),
                ..
            }
        ));
    }

    #[test]
    fn refusals_and_distances() {
        for bad in [
            &b""[..],
            b"le",
            b"d1:t2:aae",
            b"d1:t2:aa1:y1:qe",
            b"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe",
            b"d1:ad2:id20:abcdefghij0123456789e1:q13:announce_peer1:t2:aa1:y1:qe",
        ] {
            assert!(
                Message::decode(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(Message::decode(&vec![b'x'; MAX_DATAGRAM + 1]).is_err());
        assert_eq!(id(0).shared_prefix(&id(0)), 160);
        let mut one = [0u8; 20];
        one[0] = 0x10;
        assert_eq!(id(0).shared_prefix(&NodeId(one)), 3);
        assert_eq!(
            decode_nodes(&[0u8; 30]).len(),
            0,
            "port 0 skipped, partial ignored"
        );
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Message::decode(&bytes);
        }
    }
}
