//! Real trackers for the tests, on 127.0.0.1:0 in the test's runtime: an
//! HTTP tracker over a bare tokio `TcpListener` and a UDP tracker, both
//! built from riffle-protocol's tracker-side encoders, with scripted
//! behaviour (answer, refuse, hang) and a log of what they were sent.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use riffle_protocol::tracker::http::{AnnounceRequest, AnnounceResponse};
use riffle_protocol::tracker::http_server::{
    encode_announce_response, encode_failure, parse_announce_query, PeerFormat,
};
use riffle_protocol::tracker::udp::{self as wire, family_of, Request, Response};
use riffle_protocol::tracker::TrackerPeer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What the HTTP tracker does with one announce.
pub enum Reply {
    /// 200 with this body.
    Body(Vec<u8>),
    /// This status and body.
    Status(u16, Vec<u8>),
    /// Read the request, never answer.
    Hang,
}

/// A compact (or dictionary, when the request asks) announce reply.
pub fn peers_reply(
    req: &AnnounceRequest,
    interval: u32,
    min_interval: Option<u32>,
    peers: &[SocketAddr],
) -> Reply {
    let mut resp = AnnounceResponse::new(
        interval,
        peers.iter().copied().map(TrackerPeer::from_addr).collect(),
    );
    resp.min_interval = min_interval;
    resp.complete = Some(3);
    resp.incomplete = Some(4);
    Reply::Body(encode_announce_response(
        &resp,
        PeerFormat::for_request(req),
    ))
}

/// A `failure reason` reply.
pub fn failure(reason: &str) -> Reply {
    Reply::Body(encode_failure(reason))
}

type HttpBehaviour = dyn Fn(&AnnounceRequest) -> Reply + Send + Sync;

/// An HTTP tracker; every announce it parsed arrives on `log`.
pub struct HttpTracker {
    /// `http://127.0.0.1:PORT/announce`.
    pub url: String,
    log: mpsc::UnboundedReceiver<(Instant, AnnounceRequest)>,
    task: JoinHandle<()>,
}

impl Drop for HttpTracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpTracker {
    /// Start one answering with `behaviour`.
    pub async fn start(
        behaviour: impl Fn(&AnnounceRequest) -> Reply + Send + Sync + 'static,
    ) -> HttpTracker {
        HttpTracker::start_at("127.0.0.1:0", behaviour).await
    }

    /// [`start`](Self::start) on another address (e.g. `[::1]:0`).
    pub async fn start_at(
        bind: &str,
        behaviour: impl Fn(&AnnounceRequest) -> Reply + Send + Sync + 'static,
    ) -> HttpTracker {
        let listener = TcpListener::bind(bind).await.unwrap();
        let url = format!("http://{}/announce", listener.local_addr().unwrap());
        let (tx, log) = mpsc::unbounded_channel();
        let behaviour: Arc<HttpBehaviour> = Arc::new(behaviour);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (tx, behaviour) = (tx.clone(), behaviour.clone());
                tokio::spawn(serve_http(stream, tx, behaviour));
            }
        });
        HttpTracker { url, log, task }
    }

    /// The next announce, or a test failure after `within`.
    pub async fn next(&mut self, within: Duration) -> (Instant, AnnounceRequest) {
        tokio::time::timeout(within, self.log.recv())
            .await
            .expect("tracker got no announce in time")
            .expect("tracker log closed")
    }

    /// Announces received so far and not yet taken.
    pub fn drain(&mut self) -> Vec<(Instant, AnnounceRequest)> {
        let mut out = Vec::new();
        while let Ok(r) = self.log.try_recv() {
            out.push(r);
        }
        out
    }
}

async fn serve_http(
    mut stream: tokio::net::TcpStream,
    log: mpsc::UnboundedSender<(Instant, AnnounceRequest)>,
    behaviour: Arc<HttpBehaviour>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let target = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let (status, body) = match parse_announce_query(query) {
        Ok(req) => {
            let reply = behaviour(&req);
            let _ = log.send((Instant::now(), req));
            match reply {
                Reply::Body(b) => (200, b),
                Reply::Status(s, b) => (s, b),
                Reply::Hang => {
                    std::future::pending::<()>().await;
                    return;
                }
            }
        }
        Err(e) => (400, encode_failure(&e.to_string())),
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(&body).await;
    let _ = stream.shutdown().await;
}

/// An address nobody listens on (TCP connect is refused; UDP gets ICMP
/// port unreachable).
pub async fn dead_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

type UdpBehaviour = dyn Fn(&wire::AnnounceRequest) -> Option<Response> + Send + Sync;

/// A UDP tracker; every announce it decoded arrives on `log`.
pub struct UdpTracker {
    /// `udp://127.0.0.1:PORT/announce`.
    pub url: String,
    /// Connect requests answered.
    pub connects: Arc<AtomicUsize>,
    log: mpsc::UnboundedReceiver<(Instant, wire::AnnounceRequest)>,
    task: JoinHandle<()>,
}

impl Drop for UdpTracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A UDP announce reply with `peers`.
pub fn udp_peers(req: &wire::AnnounceRequest, interval: u32, peers: &[SocketAddr]) -> Response {
    Response::Announce {
        transaction_id: req.transaction_id,
        interval,
        leechers: 1,
        seeders: 2,
        peers: peers.to_vec(),
    }
}

impl UdpTracker {
    /// Start one answering announces with `behaviour` (`None`: drop the
    /// packet). Connects are always answered, with connection id 0x1234;
    /// an announce with another id gets an error reply.
    pub async fn start(
        behaviour: impl Fn(&wire::AnnounceRequest) -> Option<Response> + Send + Sync + 'static,
    ) -> UdpTracker {
        UdpTracker::start_at("127.0.0.1:0", behaviour).await
    }

    /// [`start`](Self::start) on another address (e.g. `[::1]:0`).
    pub async fn start_at(
        bind: &str,
        behaviour: impl Fn(&wire::AnnounceRequest) -> Option<Response> + Send + Sync + 'static,
    ) -> UdpTracker {
        const ID: u64 = 0x1234;
        let socket = UdpSocket::bind(bind).await.unwrap();
        let url = format!("udp://{}/announce", socket.local_addr().unwrap());
        let (tx, log) = mpsc::unbounded_channel();
        let connects = Arc::new(AtomicUsize::new(0));
        let counter = connects.clone();
        let behaviour: Box<UdpBehaviour> = Box::new(behaviour);
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let reply = match Request::decode(&buf[..n]) {
                    Ok(Request::Connect { transaction_id }) => {
                        counter.fetch_add(1, Ordering::SeqCst);
                        Some(Response::Connect {
                            transaction_id,
                            connection_id: ID,
                        })
                    }
                    Ok(Request::Announce(a)) if a.connection_id != ID => Some(Response::Error {
                        transaction_id: a.transaction_id,
                        message: "bad connection id".into(),
                    }),
                    Ok(Request::Announce(a)) => {
                        let reply = behaviour(&a);
                        let _ = tx.send((Instant::now(), a));
                        reply
                    }
                    _ => None,
                };
                if let Some(r) = reply {
                    let _ = socket.send_to(&r.encode(family_of(&from)), from).await;
                }
            }
        });
        UdpTracker {
            url,
            connects,
            log,
            task,
        }
    }

    /// The next announce, or a test failure after `within`.
    pub async fn next(&mut self, within: Duration) -> (Instant, wire::AnnounceRequest) {
        tokio::time::timeout(within, self.log.recv())
            .await
            .expect("UDP tracker got no announce in time")
            .expect("UDP tracker log closed")
    }

    /// Connect requests answered so far.
    pub fn connects(&self) -> usize {
        self.connects.load(Ordering::SeqCst)
    }
}

/// A UDP socket that reads nothing and answers nothing: a tracker behind a
/// black hole. Keep it alive for the test's duration.
pub async fn silent_udp() -> (UdpSocket, String) {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let url = format!("udp://{}/announce", s.local_addr().unwrap());
    (s, url)
}
