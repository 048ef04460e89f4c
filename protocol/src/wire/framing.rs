//! Cutting a byte stream into messages, mini-redis style.
//!
//! [`Framer::check`] looks only at the 4-byte length prefix: it says whether
//! a whole frame is buffered ([`Frame::Complete`]) or not yet
//! ([`Frame::Incomplete`], an ordinary outcome: read more and call again),
//! and rejects a prefix over the limit at once, before any of the body has
//! arrived, so a hostile peer cannot make us buffer 2 GiB.
//! [`Framer::parse`] then splits the frame off the read buffer (no copy: the
//! message's payloads are `Bytes` views of it) and decodes it.
//!
//! Unknown message ids are not an error: they decode to
//! [`Message::Unknown`] and the connection skips them. libtorrent drops a
//! peer on an unknown id; riffle is more lenient so that peers speaking a
//! newer dialect (BEP 52 hash messages, ids 21–23) are not lost over a
//! message we would ignore anyway.

use bytes::BytesMut;
use thiserror::Error;

use super::message::{Message, MessageError};

/// Default largest frame: 1 MiB plus a PIECE header.
///
/// A PIECE frame is at most 16 KiB + 13 bytes, but a BITFIELD grows with the
/// torrent (1 MiB covers 8,388,608 pieces) and extension messages such as a
/// BEP 9 metadata piece or a large PEX message can exceed 16 KiB. libtorrent
/// bounds a peer's receive buffer at 2 MiB; 1 MiB + 13 is generous for every
/// real message and still small enough to hold per connection.
pub const DEFAULT_MAX_FRAME_LEN: u32 = (1 << 20) + 13;

/// Why the stream cannot be framed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// The length prefix exceeds the limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLong {
        /// The length the peer announced.
        len: u32,
        /// Our limit.
        max: u32,
    },
    /// The frame is complete but its body is not a valid message.
    #[error(transparent)]
    Message(#[from] MessageError),
}

/// What [`Framer::check`] found at the start of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A whole frame of this many bytes (prefix included) is buffered.
    Complete(usize),
    /// More bytes are needed; `needed` is the total frame size when the
    /// prefix is known, or 4 while the prefix itself is incomplete.
    Incomplete { needed: usize },
}

/// Splits length-prefixed frames off a read buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framer {
    /// Largest accepted frame body (the value of the length prefix).
    max_frame_len: u32,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new(DEFAULT_MAX_FRAME_LEN)
    }
}

impl Framer {
    /// A framer accepting bodies of up to `max_frame_len` bytes.
    pub fn new(max_frame_len: u32) -> Self {
        Framer { max_frame_len }
    }

    /// The limit on frame bodies.
    pub fn max_frame_len(&self) -> u32 {
        self.max_frame_len
    }

    /// Is a whole frame at the start of `buf`?
    pub fn check(&self, buf: &[u8]) -> Result<Frame, FrameError> {
        let Some(prefix) = buf.get(..4) else {
            return Ok(Frame::Incomplete { needed: 4 });
        };
        let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        if len > self.max_frame_len {
            return Err(FrameError::TooLong {
                len,
                max: self.max_frame_len,
            });
        }
        // len <= max_frame_len <= u32::MAX, and usize is at least 32 bits on
        // every target riffle supports; saturate to stay panic-free anyway.
        let total = usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(4))
            .unwrap_or(usize::MAX);
        if buf.len() >= total {
            Ok(Frame::Complete(total))
        } else {
            Ok(Frame::Incomplete { needed: total })
        }
    }

    /// Split the next frame off `buf` and decode it; `Ok(None)` when no
    /// whole frame is buffered yet (nothing is consumed then).
    pub fn parse(&self, buf: &mut BytesMut) -> Result<Option<Message>, FrameError> {
        match self.check(buf)? {
            Frame::Incomplete { .. } => Ok(None),
            Frame::Complete(total) => {
                let mut frame = buf.split_to(total).freeze();
                let body = frame.split_off(4);
                Ok(Some(Message::decode(body)?))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::message::tests::arb_message;
    use proptest::prelude::*;

    #[test]
    fn incomplete_is_ordinary() {
        let f = Framer::default();
        assert_eq!(f.check(&[0, 0]), Ok(Frame::Incomplete { needed: 4 }));
        assert_eq!(
            f.check(&[0, 0, 0, 5, 4]),
            Ok(Frame::Incomplete { needed: 9 })
        );
        assert_eq!(f.check(&[0, 0, 0, 0]), Ok(Frame::Complete(4)));
        let mut buf = BytesMut::from(&[0, 0, 0, 5, 4, 0][..]);
        assert_eq!(f.parse(&mut buf), Ok(None));
        assert_eq!(buf.len(), 6, "nothing consumed while incomplete");
        buf.extend_from_slice(&[0, 0, 7, 0, 0]);
        assert_eq!(f.parse(&mut buf), Ok(Some(Message::Have(7))));
        assert_eq!(&buf[..], &[0, 0], "the next frame's start stays buffered");
    }

    #[test]
    fn oversized_prefix_rejected_before_body() {
        let f = Framer::default();
        assert_eq!(
            f.check(&[0x7f, 0xff, 0xff, 0xff]),
            Err(FrameError::TooLong {
                len: 0x7fff_ffff,
                max: DEFAULT_MAX_FRAME_LEN
            })
        );
        let small = Framer::new(16 * 1024 + 9);
        assert!(small.check(&[0, 0, 0x40, 0x09]).is_ok());
        assert!(small.check(&[0, 0, 0x40, 0x0a]).is_err());
    }

    /// Decode a whole stream: the messages, then the error if any.
    fn decode_all(f: &Framer, chunks: &[&[u8]]) -> (Vec<Message>, Option<FrameError>, usize) {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            loop {
                match f.parse(&mut buf) {
                    Ok(Some(m)) => out.push(m),
                    Ok(None) => break,
                    Err(e) => return (out, Some(e), buf.len()),
                }
            }
        }
        (out, None, buf.len())
    }

    proptest! {
        #[test]
        fn stream_round_trip(msgs in proptest::collection::vec(arb_message(), 0..20), cuts in proptest::collection::vec(any::<usize>(), 0..10)) {
            let mut stream = BytesMut::new();
            for m in &msgs {
                m.encode(&mut stream);
            }
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut last = 0;
            for p in points {
                chunks.push(&stream[last..p]);
                last = p;
            }
            chunks.push(&stream[last..]);
            let (got, err, left) = decode_all(&Framer::default(), &chunks);
            prop_assert_eq!(err, None);
            prop_assert_eq!(left, 0);
            prop_assert_eq!(got, msgs);
        }

        #[test]
        fn arbitrary_split_points_do_not_change_the_result(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            cut in any::<usize>(),
            max in 0u32..64,
        ) {
            let f = Framer::new(max);
            let whole = decode_all(&f, &[&bytes]);
            let cut = cut % (bytes.len() + 1);
            let split = decode_all(&f, &[&bytes[..cut], &bytes[cut..]]);
            prop_assert_eq!(whole.0, split.0);
            prop_assert_eq!(whole.1, split.1);
        }
    }
}
