//! A scripted peer: a TCP listener on 127.0.0.1 that riffle dials with
//! `--peer`, one thread per connection following a [`Behaviour`], all of
//! it stopped and joined when the [`ScriptedPeer`] is dropped.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use riffle_protocol::PeerId;

use super::behaviour::{self, Behaviour, Ctx};
use super::content::Content;
use super::rate::RateLimit;
use super::stats::{Ending, Event, Stats};
use super::stream::{End, PeerStream};

/// A running scripted peer. Dropping it stops the listener and every
/// connection (within ~100 ms, or a stalled write's 5 s timeout).
pub struct ScriptedPeer {
    /// Where riffle dials it.
    addr: SocketAddr,
    /// What it saw and did.
    stats: Arc<Stats>,
    /// Set on drop; every thread polls it.
    stop: Arc<AtomicBool>,
    /// The accept loop, which joins the connection threads before ending.
    accept: Option<JoinHandle<()>>,
}

/// Everything a connection thread shares with the peer.
struct Shared {
    content: Arc<Content>,
    behaviour: Behaviour,
    rate: Option<RateLimit>,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    peer_id: PeerId,
}

impl ScriptedPeer {
    /// An honest seeder uploading at most `rate` bytes/s in total over all
    /// its connections (`None`: as fast as riffle reads).
    pub fn seeder(content: Arc<Content>, rate: Option<u64>) -> ScriptedPeer {
        ScriptedPeer::spawn(content, Behaviour::Seeder, rate)
    }

    /// A fast liar: advertises every piece, serves wrong bytes.
    pub fn liar(content: Arc<Content>) -> ScriptedPeer {
        ScriptedPeer::spawn(content, Behaviour::Liar, None)
    }

    /// A peer following `behaviour`, listening on an ephemeral port.
    pub fn spawn(content: Arc<Content>, behaviour: Behaviour, rate: Option<u64>) -> ScriptedPeer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a scripted peer");
        let addr = listener.local_addr().expect("scripted peer address");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let stats = Arc::new(Stats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let mut id = *b"-SC0001-............";
        let tag = format!("{behaviour:?}{}", addr.port());
        for (slot, b) in id[8..].iter_mut().zip(tag.bytes()) {
            *slot = b;
        }
        let shared = Arc::new(Shared {
            content,
            behaviour,
            rate: rate.map(RateLimit::new),
            stats: stats.clone(),
            stop: stop.clone(),
            peer_id: PeerId(id),
        });
        let accept = std::thread::Builder::new()
            .name(format!("scripted-{behaviour:?}"))
            .spawn(move || accept_loop(listener, shared))
            .expect("spawn the accept thread");
        ScriptedPeer {
            addr,
            stats,
            stop,
            accept: Some(accept),
        }
    }

    /// Where riffle dials it (`--peer`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What it saw and did so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
}

impl Drop for ScriptedPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    let mut next_conn = 0u64;
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((socket, _)) => {
                let conn = next_conn;
                next_conn += 1;
                Stats::add(&shared.stats.connections, 1);
                shared.stats.record(Event::Accepted { conn });
                let shared = shared.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("scripted-conn-{conn}"))
                    .spawn(move || {
                        let ending = match connection(socket, &shared, conn) {
                            Ok(()) | Err(End::Stopped) => Ending::Stopped,
                            Err(End::Remote) => Ending::Remote,
                            Err(End::Local(why)) => Ending::Local(why),
                        };
                        shared.stats.record(Event::Closed { conn, ending });
                    });
                if let Ok(h) = spawned {
                    conns.push(h);
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    for h in conns {
        let _ = h.join();
    }
}

fn connection(socket: std::net::TcpStream, shared: &Shared, conn: u64) -> Result<(), End> {
    let mut ps = PeerStream::new(socket)?;
    let stop = || shared.stop.load(Ordering::SeqCst);
    ps.accept_handshake(
        shared.content.info_hash,
        shared.peer_id,
        shared.behaviour.reserved(),
        &stop,
    )?;
    Stats::add(&shared.stats.handshakes, 1);
    let ctx = Ctx {
        content: &shared.content,
        stats: &shared.stats,
        rate: shared.rate.as_ref(),
        conn,
        stop: &stop,
    };
    behaviour::run(shared.behaviour, &mut ps, &ctx)
}
