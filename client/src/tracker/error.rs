//! What can go wrong talking to one tracker.

use std::time::Duration;

use riffle_protocol::tracker::http::{ResponseError, UrlError};
use riffle_protocol::tracker::udp::UdpError;
use thiserror::Error;

/// Why one announce to one tracker failed. The announcer records it in the
/// tracker's status and moves on to the tier's next tracker; none of these
/// ever stops a torrent.
#[derive(Debug, Error)]
pub enum TrackerError {
    /// The URL does not parse, or has no host / port where one is needed.
    #[error("invalid tracker URL {url:?}: {why}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// A scheme we do not speak (only `http`, `https` and `udp`).
    #[error("unsupported tracker URL scheme {0:?}")]
    UnsupportedScheme(String),
    /// The tracker answered with a `failure reason` (HTTP) or an error
    /// packet (UDP): it is up but refuses this announce.
    #[error("tracker failure: {0}")]
    Failure(String),
    /// The HTTP exchange failed below the HTTP level (connect, TLS, reset).
    #[error("HTTP request failed: {0}")]
    Http(String),
    /// The tracker answered with a non-2xx status and no bencoded failure.
    #[error("tracker answered HTTP status {0}")]
    HttpStatus(u16),
    /// The reply body is larger than any sane announce reply.
    #[error("tracker reply is larger than {limit} bytes")]
    TooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The HTTP reply is not a valid announce reply.
    #[error("bad tracker reply: {0}")]
    Response(#[from] ResponseError),
    /// A UDP reply could not be used.
    #[error("bad UDP tracker reply: {0}")]
    Udp(#[from] UdpError),
    /// No (valid) answer within the time allowed.
    #[error("tracker did not answer within {0:?}")]
    Timeout(Duration),
    /// The tracker's host name does not resolve.
    #[error("cannot resolve tracker host {host:?}: {why}")]
    Resolve {
        /// The host name.
        host: String,
        /// The resolver's answer.
        why: String,
    },
    /// The tracker has no scrape URL (BEP 48: its announce path does not
    /// end in `announce`).
    #[error("this tracker offers no scrape")]
    NoScrape,
    /// A socket error (e.g. ICMP port unreachable on a UDP tracker shows up
    /// as connection refused).
    #[error("network error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<UrlError> for TrackerError {
    fn from(e: UrlError) -> Self {
        match e {
            UrlError::UnsupportedScheme(s) => TrackerError::UnsupportedScheme(s),
            UrlError::Parse(p) => TrackerError::BadUrl {
                url: String::new(),
                why: p.to_string(),
            },
        }
    }
}

impl TrackerError {
    /// The tracker's own refusal text, when this error is one (shown apart
    /// from transport errors in status lines).
    pub fn failure_reason(&self) -> Option<&str> {
        match self {
            TrackerError::Failure(reason) => Some(reason),
            TrackerError::Response(ResponseError::Failure(reason)) => Some(reason),
            TrackerError::Udp(UdpError::Tracker(reason)) => Some(reason),
            _ => None,
        }
    }
}
