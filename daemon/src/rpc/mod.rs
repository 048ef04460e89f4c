//! Transmission's RPC (rpc-version 16, as Transmission 3.00 speaks it),
//! sans-IO: bytes of a request in, a typed [`Call`] out; answers rendered
//! back to JSON. Nothing here touches a socket or the manager, so every
//! malformed request is a unit test (and a fuzz target), never a crash.
//!
//! - [`parse`]: the JSON envelope (`method`, `arguments`, `tag`).
//! - [`args`]: typed reads of the arguments, lenient where Transmission
//!   is (a boolean as 0/1), strict on ranges (no negative limit).
//! - [`call`]: the method and its arguments as a [`Call`].
//! - [`torrent_fields`] and [`session_fields`]: `torrent-get` and
//!   `session-get` answers, field by field.

pub mod args;
pub mod call;
pub mod session_fields;
pub mod torrent_fields;

use serde_json::{Map, Value};

pub use call::Call;

/// The RPC version served, and the oldest one understood (Transmission
/// 3.00's).
pub const RPC_VERSION: u32 = 16;
/// See [`RPC_VERSION`].
pub const RPC_VERSION_MINIMUM: u32 = 1;

/// A request's envelope.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// The method's name.
    pub method: String,
    /// Its arguments (empty when absent).
    pub arguments: Map<String, Value>,
    /// The client's tag, echoed in the answer.
    pub tag: Option<Value>,
}

/// Parse a request body. The error is the `result` string of the answer.
pub fn parse(body: &[u8]) -> Result<Request, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("request is not JSON: {e}"))?;
    let Value::Object(mut top) = value else {
        return Err("request is not a JSON object".into());
    };
    // Only a number is a tag (as Transmission): anything else is dropped.
    let tag = top.remove("tag").filter(Value::is_number);
    let method = match top.remove("method") {
        Some(Value::String(m)) => m,
        Some(_) => return Err("method must be a string".into()),
        None => return Err("no method name".into()),
    };
    let arguments = match top.remove("arguments") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(a)) => a,
        Some(_) => return Err("arguments must be an object".into()),
    };
    Ok(Request {
        method,
        arguments,
        tag,
    })
}

/// The answer's bytes: `result` is "success" with `arguments`, or the
/// error text; the tag echoed.
pub fn answer(result: Result<Map<String, Value>, String>, tag: Option<Value>) -> Vec<u8> {
    let mut top = Map::new();
    match result {
        Ok(arguments) => {
            top.insert("arguments".into(), Value::Object(arguments));
            top.insert("result".into(), "success".into());
        }
        Err(e) => {
            top.insert("arguments".into(), Value::Object(Map::new()));
            top.insert("result".into(), e.into());
        }
    }
    if let Some(tag) = tag {
        top.insert("tag".into(), tag);
    }
    serde_json::to_vec(&Value::Object(top)).unwrap_or_else(|_| b"{\"result\":\"error\"}".to_vec())
}

/// A success's bytes whose `arguments` object is already written
/// (`torrent-get`'s, written torrent by torrent); the tag echoed. The
/// same envelope as [`answer`]'s.
pub fn answer_raw(arguments: &[u8], tag: Option<Value>) -> Vec<u8> {
    let mut out = Vec::with_capacity(arguments.len() + 48);
    out.extend_from_slice(b"{\"arguments\":");
    out.extend_from_slice(arguments);
    out.extend_from_slice(b",\"result\":\"success\"");
    if let Some(tag) = tag {
        out.extend_from_slice(b",\"tag\":");
        out.extend_from_slice(&serde_json::to_vec(&tag).unwrap_or_else(|_| b"null".to_vec()));
    }
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A raw answer is the same JSON as the tree's.
    #[test]
    fn raw_answers_match_tree_answers() {
        let mut args = Map::new();
        args.insert(
            "torrents".into(),
            serde_json::json!([{"id": 1, "name": "a\"b"}]),
        );
        for tag in [None, Some(Value::from(7)), Some(Value::from("x"))] {
            let tree: Value =
                serde_json::from_slice(&answer(Ok(args.clone()), tag.clone())).unwrap();
            let raw_args = serde_json::to_vec(&args).unwrap();
            let raw: Value = serde_json::from_slice(&answer_raw(&raw_args, tag)).unwrap();
            assert_eq!(tree, raw);
        }
    }

    #[test]
    fn envelopes() {
        let r =
            parse(br#"{"method":"torrent-get","arguments":{"fields":["id"]},"tag":7}"#).unwrap();
        assert_eq!(r.method, "torrent-get");
        assert_eq!(r.tag, Some(Value::from(7)));
        assert!(r.arguments.contains_key("fields"));
        let r = parse(br#"{"method":"session-stats","tag":"x"}"#).unwrap();
        assert!(r.arguments.is_empty() && r.tag.is_none());
        for bad in [
            &b"not json"[..],
            b"[]",
            b"{}",
            b"{\"method\":3}",
            b"{\"method\":\"x\",\"arguments\":[]}",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let a: Value = serde_json::from_slice(&answer(Err("nope".into()), Some(9.into()))).unwrap();
        assert_eq!(a["result"], "nope");
        assert_eq!(a["tag"], 9);
        assert!(a["arguments"].is_object());
    }

    proptest! {
        /// Any bytes: an error or a request, never a panic; and every
        /// call built from a parsed request is an error or a call.
        #[test]
        fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(r) = parse(&body) {
                let _ = Call::parse(&r);
            }
        }

        #[test]
        fn calls_from_arbitrary_arguments_never_panic(
            method in prop::sample::select(call::METHODS.to_vec()),
            args in arb_json(3),
        ) {
            let arguments = match args { Value::Object(m) => m, other => {
                let mut m = Map::new();
                m.insert("ids".into(), other);
                m
            }};
            let _ = Call::parse(&Request { method: method.to_owned(), arguments, tag: None });
        }
    }

    fn arb_json(depth: u32) -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            "[a-z-]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(depth, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop::sample::select(vec![
                        "ids",
                        "fields",
                        "format",
                        "filename",
                        "metainfo",
                        "download-dir",
                        "paused",
                        "peer-limit",
                        "files-unwanted",
                        "files-wanted",
                        "labels",
                        "delete-local-data",
                        "location",
                        "move",
                        "path",
                        "downloadLimit",
                        "uploadLimited",
                        "seedRatioLimit",
                        "seedRatioMode",
                        "queuePosition",
                        "speed-limit-down",
                        "alt-speed-enabled",
                        "download-queue-size",
                    ])
                    .prop_map(str::to_owned),
                    inner,
                    0..6,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
