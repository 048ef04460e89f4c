//! Tracker packets: everything a client or a tracker puts on the wire, as
//! pure encode/decode functions (no sockets, no clock).
//!
//! - [`peers`]: the peer addresses trackers hand out and their compact
//!   forms (BEP 23 IPv4, BEP 7 IPv6), shared by HTTP and UDP.
//! - [`http`]: HTTP announce (BEP 3): the request's URL, the bencoded reply.
//! - [`http_server`]: the tracker's side of HTTP announce: parse a request's
//!   query string, encode compact / dictionary / failure replies.
//! - [`scrape`]: HTTP scrape (BEP 48), both sides.
//! - [`udp`]: the UDP tracker protocol (BEP 15, BEP 41 URL data), both
//!   sides, plus its retry schedule and connection-id lifetime.
//! - [`tiers`]: the multitracker tier list (BEP 12) as a small pure state.

pub mod http;
pub mod http_server;
pub mod peers;
pub mod scrape;
pub mod tiers;
pub mod udp;

pub use peers::{PeerEndpoint, TrackerPeer};

/// What an announce tells the tracker about this peer's state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Event {
    /// A regular, periodic announce: no `event` parameter is sent.
    #[default]
    None,
    /// The first announce after starting the torrent.
    Started,
    /// The download just finished (sent once, not when starting as a seed).
    Completed,
    /// The torrent is being stopped: the tracker may forget this peer.
    Stopped,
}

impl Event {
    /// The value of HTTP's `event` parameter, or `None` when no parameter
    /// is sent.
    pub fn as_http(self) -> Option<&'static str> {
        match self {
            Event::None => None,
            Event::Started => Some("started"),
            Event::Completed => Some("completed"),
            Event::Stopped => Some("stopped"),
        }
    }

    /// Parse HTTP's `event` parameter; the empty string means a regular
    /// announce (some clients send `event=`).
    pub fn from_http(s: &[u8]) -> Option<Event> {
        match s {
            b"" | b"empty" => Some(Event::None),
            b"started" => Some(Event::Started),
            b"completed" => Some(Event::Completed),
            b"stopped" => Some(Event::Stopped),
            _ => None,
        }
    }

    /// BEP 15's event code: 0 none, 1 completed, 2 started, 3 stopped.
    pub fn udp_code(self) -> u32 {
        match self {
            Event::None => 0,
            Event::Completed => 1,
            Event::Started => 2,
            Event::Stopped => 3,
        }
    }

    /// The event for a BEP 15 code.
    pub fn from_udp_code(code: u32) -> Option<Event> {
        match code {
            0 => Some(Event::None),
            1 => Some(Event::Completed),
            2 => Some(Event::Started),
            3 => Some(Event::Stopped),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_codes_round_trip() {
        for e in [
            Event::None,
            Event::Started,
            Event::Completed,
            Event::Stopped,
        ] {
            assert_eq!(Event::from_udp_code(e.udp_code()), Some(e));
            let http = e.as_http().unwrap_or("");
            assert_eq!(Event::from_http(http.as_bytes()), Some(e));
        }
        assert_eq!(Event::Started.udp_code(), 2);
        assert_eq!(Event::Completed.udp_code(), 1);
        assert_eq!(Event::from_udp_code(4), None);
        assert_eq!(Event::from_http(b"paused"), None);
    }
}
