//! One scripted peer's side of a TCP connection: the handshake, then
//! length-prefixed messages cut with riffle-protocol's `Framer`, over a
//! blocking socket whose read timeout is the only clock.

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use riffle_protocol::wire::{
    write_piece_header, Framer, Handshake, Message, Reserved, HANDSHAKE_LEN,
};
use riffle_protocol::{InfoHash, PeerId};

/// How long one blocking write may stall before the connection is given up
/// (a downloader that stops reading must not hang a test's shutdown).
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a scripted connection ended.
#[derive(Debug)]
pub enum End {
    /// The remote closed the socket (EOF or reset): riffle hung up.
    Remote,
    /// The test is over.
    Stopped,
    /// Our own decision (handshake for another torrent, a write that
    /// stalled, the script ran out).
    Local(String),
}

impl From<io::Error> for End {
    fn from(e: io::Error) -> End {
        match e.kind() {
            ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof => End::Remote,
            _ => End::Local(e.to_string()),
        }
    }
}

/// A connected socket with its read buffer.
pub struct PeerStream {
    /// The socket (blocking, with read and write timeouts).
    stream: TcpStream,
    /// Bytes read but not yet a whole frame.
    buf: BytesMut,
    /// Scratch space for `read`.
    scratch: Vec<u8>,
    /// Frame cutter (riffle-protocol's limits).
    framer: Framer,
}

impl PeerStream {
    /// Wrap an accepted socket.
    pub fn new(stream: TcpStream) -> io::Result<PeerStream> {
        stream.set_nonblocking(false)?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        Ok(PeerStream {
            stream,
            buf: BytesMut::with_capacity(1 << 16),
            scratch: vec![0; 1 << 16],
            framer: Framer::default(),
        })
    }

    /// Read once, waiting at most `wait`; `Ok(0)` on timeout.
    fn fill(&mut self, wait: Duration) -> Result<usize, End> {
        self.stream
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        match self.stream.read(&mut self.scratch) {
            Ok(0) => Err(End::Remote),
            Ok(n) => {
                self.buf.extend_from_slice(&self.scratch[..n]);
                Ok(n)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(0),
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// Wait up to 10 s for the remote's handshake and consume it.
    pub fn read_handshake(&mut self, stop: &dyn Fn() -> bool) -> Result<Handshake, End> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match Handshake::decode(&self.buf) {
                Ok(Some(h)) => {
                    let _ = self.buf.split_to(HANDSHAKE_LEN);
                    return Ok(h);
                }
                Ok(None) => {}
                Err(e) => return Err(End::Local(format!("bad handshake: {e}"))),
            }
            if stop() {
                return Err(End::Stopped);
            }
            if Instant::now() > deadline {
                return Err(End::Local("no handshake within 10 s".into()));
            }
            self.fill(Duration::from_millis(20))?;
        }
    }

    /// Send a handshake for `info_hash` offering the extension bits in
    /// `reserved` (empty: the remote speaks plain BEP 3 to us).
    pub fn send_handshake(
        &mut self,
        info_hash: InfoHash,
        our_id: PeerId,
        reserved: Reserved,
    ) -> Result<(), End> {
        let ours = Handshake {
            reserved,
            info_hash,
            peer_id: our_id,
        };
        self.write_raw(&ours.encode())
    }

    /// The accepting side: wait for the remote's handshake (riffle dials,
    /// so it speaks first), check it names `info_hash`, and answer
    /// offering `reserved`.
    pub fn accept_handshake(
        &mut self,
        info_hash: InfoHash,
        our_id: PeerId,
        reserved: Reserved,
        stop: &dyn Fn() -> bool,
    ) -> Result<Handshake, End> {
        let theirs = self.read_handshake(stop)?;
        if theirs.info_hash != info_hash {
            return Err(End::Local(format!(
                "handshake for another torrent {}",
                theirs.info_hash
            )));
        }
        self.send_handshake(info_hash, our_id, reserved)?;
        Ok(theirs)
    }

    /// The next message: one already buffered, else read for at most
    /// `wait`. `Ok(None)` when none arrived in time.
    pub fn next(&mut self, wait: Duration) -> Result<Option<Message>, End> {
        if let Some(m) = self.parse()? {
            return Ok(Some(m));
        }
        if self.fill(wait)? == 0 {
            return Ok(None);
        }
        self.parse()
    }

    fn parse(&mut self) -> Result<Option<Message>, End> {
        self.framer
            .parse(&mut self.buf)
            .map_err(|e| End::Local(format!("riffle sent an unparsable frame: {e}")))
    }

    /// Send one message.
    pub fn send(&mut self, msg: &Message) -> Result<(), End> {
        let mut out = BytesMut::with_capacity(msg.encoded_len());
        msg.encode(&mut out);
        self.write_raw(&out)
    }

    /// Send a PIECE carrying `data` as block `(piece, offset)`.
    pub fn send_piece(&mut self, piece: u32, offset: u32, data: &[u8]) -> Result<(), End> {
        let mut out = BytesMut::with_capacity(data.len() + 13);
        write_piece_header(&mut out, piece, offset, data.len() as u32);
        out.extend_from_slice(data);
        self.write_raw(&out)
    }

    /// Write bytes as they are (hostile frames).
    pub fn write_raw(&mut self, bytes: &[u8]) -> Result<(), End> {
        self.stream.write_all(bytes).map_err(|e| match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => {
                End::Local(format!("write stalled for {WRITE_TIMEOUT:?}"))
            }
            _ => e.into(),
        })
    }

    /// Read and discard whatever arrives for up to `wait`; `Err(Remote)`
    /// once the remote has closed.
    pub fn drain(&mut self, wait: Duration) -> Result<(), End> {
        self.fill(wait)?;
        self.buf.clear();
        Ok(())
    }
}
