//! Framing: each message is a big-endian `u32` length followed by that
//! many bytes of JSON. Lengths above [`MAX_FRAME_LEN`] are refused before
//! anything is allocated, so neither side can make the other allocate
//! without bound.

use std::io::{self, Read, Write};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Largest message body either side accepts.
pub const MAX_FRAME_LEN: u32 = 1 << 20;

/// Why a message could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed")]
    Closed,
    #[error("message of {0} bytes exceeds the {MAX_FRAME_LEN}-byte limit")]
    TooLarge(u64),
    #[error("reading or writing a message")]
    Io(#[source] io::Error),
    #[error("malformed message")]
    Decode(#[source] serde_json::Error),
    #[error("encoding a message")]
    Encode(#[source] serde_json::Error),
}

/// Writes `message` as one frame.
pub fn write_message<T: Serialize>(out: &mut impl Write, message: &T) -> Result<(), FrameError> {
    let body = serde_json::to_vec(message).map_err(FrameError::Encode)?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|len| *len <= MAX_FRAME_LEN)
        .ok_or(FrameError::TooLarge(body.len() as u64))?;
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&body);
    out.write_all(&frame).map_err(FrameError::Io)?;
    out.flush().map_err(FrameError::Io)
}

/// Reads one frame and decodes it. A clean end of stream before the first
/// byte is [`FrameError::Closed`].
pub fn read_message<T: DeserializeOwned>(input: &mut impl Read) -> Result<T, FrameError> {
    let mut len = [0u8; 4];
    let mut filled = 0;
    while filled < len.len() {
        match input.read(&mut len[filled..]) {
            Ok(0) if filled == 0 => return Err(FrameError::Closed),
            Ok(0) => return Err(FrameError::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    let len = u32::from_be_bytes(len);
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(u64::from(len)));
    }
    let mut body = vec![0u8; len as usize];
    input.read_exact(&mut body).map_err(FrameError::Io)?;
    serde_json::from_slice(&body).map_err(FrameError::Decode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::{Request, Response};

    #[test]
    fn round_trips_a_message() {
        let mut buf = Vec::new();
        write_message(&mut buf, &Request::Hello { version: 1 }).unwrap();
        let back: Request = read_message(&mut buf.as_slice()).unwrap();
        assert_eq!(back, Request::Hello { version: 1 });
    }

    #[test]
    fn empty_stream_is_closed() {
        let err = read_message::<Request>(&mut [].as_slice()).unwrap_err();
        assert!(matches!(err, FrameError::Closed));
    }

    #[test]
    fn truncated_length_or_body_is_an_error() {
        let err = read_message::<Request>(&mut [0u8, 0].as_slice()).unwrap_err();
        assert!(matches!(err, FrameError::Io(_)));
        let err = read_message::<Request>(&mut [0u8, 0, 0, 9, b'{'].as_slice()).unwrap_err();
        assert!(matches!(err, FrameError::Io(_)));
    }

    #[test]
    fn oversized_length_is_refused_before_allocating() {
        let frame = u32::MAX.to_be_bytes();
        let err = read_message::<Request>(&mut frame.as_slice()).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge(_)));
    }

    #[test]
    fn garbage_body_is_a_decode_error() {
        let mut frame = 3u32.to_be_bytes().to_vec();
        frame.extend_from_slice(b"{x}");
        let err = read_message::<Response>(&mut frame.as_slice()).unwrap_err();
        assert!(matches!(err, FrameError::Decode(_)));
    }
}
