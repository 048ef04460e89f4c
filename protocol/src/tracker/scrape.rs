//! HTTP scrape (BEP 48), both sides: swarm counts for one or more torrents
//! without announcing.
//!
//! A tracker supports scrape when its announce URL's last path component
//! starts with `announce`; the scrape URL swaps that word for `scrape`
//! ([`scrape_url`]). The request repeats `info_hash` once per torrent; the
//! reply's `files` maps each 20-byte info-hash to its counts.

use std::collections::BTreeMap;

use url::Url;

use super::http::{
    append_query, count, parse_http_url, reply_dict, QueryBuilder, ResponseError, UrlError,
};
use super::http_server::{int, parse_query, RequestError};
use crate::bencode::{encode, Owned, Value};
use crate::types::InfoHash;

/// The scrape URL for an http(s) announce URL, or `None` when the tracker
/// has no scrape convention (last path component not `announce…`).
/// The query (a passkey, say) is kept.
pub fn scrape_url(announce: &str) -> Result<Option<Url>, UrlError> {
    let mut url = parse_http_url(announce)?;
    let path = url.path();
    let (dir, last) = match path.rfind('/') {
        Some(slash) => path.split_at(slash + 1),
        None => ("", path),
    };
    let Some(rest) = last.strip_prefix("announce") else {
        return Ok(None);
    };
    let new_path = format!("{dir}scrape{rest}");
    url.set_path(&new_path);
    Ok(Some(url))
}

/// The scrape request URL asking about `hashes` (one `info_hash` each).
pub fn scrape_request_url(scrape: &Url, hashes: &[InfoHash]) -> Url {
    let mut q = QueryBuilder::default();
    for h in hashes {
        q.push("info_hash", h.as_bytes());
    }
    append_query(scrape.clone(), &q.finish())
}

/// One torrent's counts in a scrape reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScrapeStats {
    /// Seeds: peers with the whole torrent.
    pub complete: u64,
    /// How many times the tracker saw a `completed` event.
    pub downloaded: u64,
    /// Leechers: peers still downloading.
    pub incomplete: u64,
}

/// A scrape reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScrapeResponse {
    /// Counts per torrent the tracker knows of.
    pub files: BTreeMap<InfoHash, ScrapeStats>,
    /// Seconds to wait before scraping again (`flags.min_request_interval`).
    pub min_request_interval: Option<u32>,
}

/// Parse a scrape reply. Entries whose key is not 20 bytes or whose value
/// is not a dictionary are skipped; a missing count reads as 0; a negative
/// or non-integer count is an error. `failure reason` is
/// [`ResponseError::Failure`].
pub fn parse_scrape_response(body: &[u8]) -> Result<ScrapeResponse, ResponseError> {
    let d = reply_dict(body)?;
    let files = match d.get(b"files") {
        Some(Value::Dict(files)) => files,
        Some(_) => {
            return Err(ResponseError::InvalidField {
                field: "files",
                why: "not a dictionary",
            })
        }
        None => {
            return Err(ResponseError::InvalidField {
                field: "files",
                why: "missing",
            })
        }
    };
    let mut out = ScrapeResponse::default();
    for entry in &files.entries {
        let (Ok(hash), Some(stats)) = (InfoHash::from_slice(entry.key), entry.value.as_dict())
        else {
            continue;
        };
        out.files.insert(
            hash,
            ScrapeStats {
                complete: count(stats, "complete")?.unwrap_or(0),
                downloaded: count(stats, "downloaded")?.unwrap_or(0),
                incomplete: count(stats, "incomplete")?.unwrap_or(0),
            },
        );
    }
    out.min_request_interval = d
        .get_dict(b"flags")
        .and_then(|f| f.get_int(b"min_request_interval"))
        .and_then(|n| u32::try_from(n).ok());
    Ok(out)
}

/// Encode a scrape reply.
pub fn encode_scrape_response(resp: &ScrapeResponse) -> Vec<u8> {
    let files = resp
        .files
        .iter()
        .map(|(h, s)| {
            (
                h.as_bytes().to_vec(),
                Owned::dict([
                    ("complete", int(s.complete)),
                    ("downloaded", int(s.downloaded)),
                    ("incomplete", int(s.incomplete)),
                ]),
            )
        })
        .collect();
    let mut d = Owned::dict([("files", Owned::Dict(files))]);
    if let Some(m) = resp.min_request_interval {
        d.insert(
            "flags",
            Owned::dict([("min_request_interval", Owned::Int(i64::from(m)))]),
        );
    }
    encode(&d)
}

/// The info-hashes of a scrape request's query string, in order. Empty
/// means a full scrape (all torrents), which a tracker may refuse.
pub fn parse_scrape_query(query: impl AsRef<[u8]>) -> Result<Vec<InfoHash>, RequestError> {
    parse_query(query.as_ref())
        .into_iter()
        .filter(|(name, _)| name == b"info_hash")
        .map(|(_, v)| {
            InfoHash::from_slice(&v).map_err(|_| RequestError::Invalid {
                field: "info_hash",
                why: "not 20 bytes",
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn scrape_url_follows_bep48() {
        let cases = [
            (
                "http://example.com/announce",
                Some("http://example.com/scrape"),
            ),
            (
                "http://example.com/x/announce",
                Some("http://example.com/x/scrape"),
            ),
            (
                "http://example.com/announce.php",
                Some("http://example.com/scrape.php"),
            ),
            ("http://example.com/a", None),
            (
                "http://example.com/announce?x2%0644",
                Some("http://example.com/scrape?x2%0644"),
            ),
            (
                "http://example.com/announce?x=2/4",
                Some("http://example.com/scrape?x=2/4"),
            ),
            ("http://example.com/x%064announce", None),
            ("https://t.example/pk/announce/", None),
        ];
        for (announce, want) in cases {
            let got = scrape_url(announce).unwrap();
            assert_eq!(got.as_ref().map(Url::as_str), want, "{announce}");
        }
        assert!(matches!(
            scrape_url("udp://t.example:6969/announce"),
            Err(UrlError::UnsupportedScheme(_))
        ));
    }

    #[test]
    fn scrape_request_repeats_info_hash() {
        let a = InfoHash([0xaa; 20]);
        let b = InfoHash(*b"abcdefghij0123456789");
        let base = scrape_url("http://t.example/announce?pk=1")
            .unwrap()
            .unwrap();
        let url = scrape_request_url(&base, &[a, b]);
        assert_eq!(
            url.as_str(),
            format!(
                "http://t.example/scrape?pk=1&info_hash={}&info_hash=abcdefghij0123456789",
                "%AA".repeat(20)
            )
        );
        assert_eq!(
            parse_scrape_query(url.query().unwrap()).unwrap(),
            vec![a, b]
        );
        assert_eq!(parse_scrape_query("").unwrap(), vec![]);
        assert!(parse_scrape_query("info_hash=abc").is_err());
    }

    #[test]
    fn parses_real_reply() {
        let mut body = b"d5:filesd20:".to_vec();
        body.extend_from_slice(&[0x11; 20]);
        body.extend_from_slice(b"d8:completei12e10:downloadedi4000000000e10:incompletei3ee");
        body.extend_from_slice(b"3:bad");
        body.extend_from_slice(b"d8:completei1eee5:flagsd20:min_request_intervali3600eee");
        let r = parse_scrape_response(&body).unwrap();
        assert_eq!(r.files.len(), 1);
        assert_eq!(
            r.files[&InfoHash([0x11; 20])],
            ScrapeStats {
                complete: 12,
                downloaded: 4_000_000_000,
                incomplete: 3
            }
        );
        assert_eq!(r.min_request_interval, Some(3600));
        assert_eq!(
            parse_scrape_response(b"d14:failure reason4:nopee"),
            Err(ResponseError::Failure("nope".into()))
        );
        assert!(parse_scrape_response(b"de").is_err());
        assert!(parse_scrape_response(b"d5:filesi1ee").is_err());
    }

    proptest! {
        #[test]
        fn reply_round_trips(entries in proptest::collection::btree_map(
            any::<[u8; 20]>().prop_map(InfoHash),
            (0..=i64::MAX as u64, 0..=i64::MAX as u64, 0..=i64::MAX as u64)
                .prop_map(|(complete, downloaded, incomplete)| ScrapeStats { complete, downloaded, incomplete }),
            0..8),
            interval in proptest::option::of(any::<u32>())) {
            let resp = ScrapeResponse { files: entries, min_request_interval: interval };
            prop_assert_eq!(parse_scrape_response(&encode_scrape_response(&resp)).unwrap(), resp);
        }

        #[test]
        fn request_round_trips(hashes in proptest::collection::vec(any::<[u8; 20]>().prop_map(InfoHash), 0..5)) {
            let base = Url::parse("http://t.example/scrape").unwrap();
            let url = scrape_request_url(&base, &hashes);
            prop_assert_eq!(parse_scrape_query(url.query().unwrap_or("")).unwrap(), hashes);
        }

        #[test]
        fn arbitrary_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_scrape_response(&bytes);
            let _ = parse_scrape_query(&bytes);
        }
    }
}
