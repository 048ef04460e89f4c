//! A plain blocking driver for one `PeerConnection` over a `TcpStream`:
//! write what `poll_transmit` yields, read what is available into
//! `handle_read`, fire `handle_timeout` when `poll_timeout` passes, hand
//! the events to the test. No tokio: the read timeout is the only clock.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use riffle_protocol::peer::{ConnectionError, Event, PeerConnection};

/// Longest a single read waits, so the test loop can check its deadline
/// and act on its own state between reads.
const MAX_WAIT: Duration = Duration::from_millis(20);

/// Why driving a connection stopped.
#[derive(Debug)]
pub enum Stop {
    /// The peer closed the socket.
    Eof,
    /// The socket failed (shown through `Debug` in failure messages).
    Io(#[allow(dead_code)] std::io::Error),
    /// The core rejected what the peer sent (or the peer went silent).
    Connection(ConnectionError),
}

/// One connection and its socket.
pub struct Driver {
    /// The socket (blocking, with read and write timeouts).
    pub stream: TcpStream,
    /// The state machine under test.
    pub conn: PeerConnection,
    /// Bytes read but not yet forming a whole frame.
    buf: BytesMut,
    /// Scratch space for `read`.
    scratch: Vec<u8>,
}

impl Driver {
    /// Wrap a connected socket and a fresh connection.
    pub fn new(stream: TcpStream, conn: PeerConnection) -> Driver {
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .expect("set write timeout");
        Driver {
            stream,
            conn,
            buf: BytesMut::with_capacity(1 << 17),
            scratch: vec![0; 1 << 16],
        }
    }

    /// Write every chunk the connection has queued.
    pub fn flush(&mut self) -> Result<(), Stop> {
        while let Some(chunk) = self.conn.poll_transmit() {
            self.stream.write_all(&chunk).map_err(Stop::Io)?;
        }
        Ok(())
    }

    /// One turn: flush, read once (waiting at most until the connection's
    /// next timer or [`MAX_WAIT`]), feed the bytes, run the timer if it is
    /// due, and append the events to `events`.
    pub fn step(&mut self, events: &mut Vec<Event>) -> Result<(), Stop> {
        self.flush()?;
        let now = Instant::now();
        let wait = self
            .conn
            .poll_timeout()
            .map(|t| t.saturating_duration_since(now))
            .unwrap_or(MAX_WAIT)
            .clamp(Duration::from_millis(1), MAX_WAIT);
        self.stream.set_read_timeout(Some(wait)).map_err(Stop::Io)?;
        let read = match self.stream.read(&mut self.scratch) {
            Ok(0) => Err(Stop::Eof),
            Ok(n) => Ok(n),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(0),
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(Stop::Io(e)),
        };
        // Report what arrived before the socket ended, too.
        let n = match read {
            Ok(n) => n,
            Err(stop) => {
                self.drain_events(events);
                return Err(stop);
            }
        };
        let now = Instant::now();
        if let Some(bytes) = self.scratch.get(..n) {
            if !bytes.is_empty() {
                self.buf.extend_from_slice(bytes);
                self.conn
                    .handle_read(now, &mut self.buf)
                    .map_err(Stop::Connection)?;
            }
        }
        if self.conn.poll_timeout().is_some_and(|t| t <= now) {
            self.conn.handle_timeout(now).map_err(Stop::Connection)?;
        }
        self.drain_events(events);
        Ok(())
    }

    fn drain_events(&mut self, events: &mut Vec<Event>) {
        while let Some(e) = self.conn.poll_event() {
            events.push(e);
        }
    }
}
