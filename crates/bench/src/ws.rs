//! A minimal WebSocket client (RFC 6455): the opening handshake, masked text frames out, and
//! the server's frames in.
//!
//! Written for the generator rather than taken from a library because the generator shares
//! the machine's cores with the server it measures: every microsecond it spends per frame is
//! a microsecond of latency it adds to the measurement. It reads many frames per system call
//! into one buffer, never zeroes memory, and answers pings itself. It supports exactly what
//! the scenarios need: plain `ws://`, text frames, fragmented messages, ping, pong and close.

use std::io;

use base64::Engine;
use bytes::{Buf, BytesMut};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bytes asked of the kernel per read; the buffer grows for larger frames.
const READ_CHUNK: usize = 4 * 1024;

/// A read buffer with more room than this once empty is freed, so a connection keeps only
/// [`READ_CHUNK`] between large frames.
const KEEP_READ_CAPACITY: usize = 64 * 1024;

/// The longest HTTP response head accepted in the handshake.
const MAX_HEAD: usize = 16 * 1024;

const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// What the server sent.
#[derive(Debug)]
pub(crate) enum Frame {
    /// A complete text message.
    Text(String),
    /// A close frame, with its code if it had one.
    Close(Option<u16>),
}

/// Why a connection failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WsError {
    /// The socket failed, or the server closed it without a close frame.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The server did not accept the upgrade (its status line), or broke the protocol.
    #[error("{0}")]
    Protocol(String),
}

/// A connected WebSocket client.
#[derive(Debug)]
pub(crate) struct WsClient {
    stream: TcpStream,
    read: BytesMut,
    /// A fragmented text message being assembled.
    partial: Option<Vec<u8>>,
    max_message: usize,
    /// Masks of outgoing frames, from a per-connection xorshift: clients must mask, and
    /// the masks need not be secret here.
    mask_state: u32,
}

impl WsClient {
    /// Connects to `host:port` and upgrades `path` (with its query). `nonce` makes the
    /// handshake key and the frame masks differ between connections.
    pub(crate) async fn connect(
        host: &str,
        port: u16,
        path: &str,
        nonce: u64,
        max_message: usize,
    ) -> Result<Self, WsError> {
        let mut stream = TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        let key = base64::engine::general_purpose::STANDARD
            .encode([nonce.to_le_bytes(), (!nonce).rotate_left(17).to_le_bytes()].concat());
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut read = BytesMut::with_capacity(READ_CHUNK);
        let head_len = loop {
            if let Some(at) = read.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if read.len() > MAX_HEAD {
                return Err(WsError::Protocol("handshake answer too long".into()));
            }
            read.reserve(READ_CHUNK);
            if stream.read_buf(&mut read).await? == 0 {
                return Err(WsError::Protocol("closed during the handshake".into()));
            }
        };
        let head = String::from_utf8_lossy(&read[..head_len]).into_owned();
        read.advance(head_len);
        let status = head.lines().next().unwrap_or_default();
        if !status.starts_with("HTTP/1.1 101") {
            return Err(WsError::Protocol(format!("upgrade refused: {status}")));
        }
        let expected = accept_key(key.as_bytes());
        let accepted = head.lines().any(|line| {
            line.split_once(':').is_some_and(|(name, value)| {
                name.eq_ignore_ascii_case("sec-websocket-accept") && value.trim() == expected
            })
        });
        if !accepted {
            return Err(WsError::Protocol("wrong Sec-WebSocket-Accept".into()));
        }
        Ok(Self {
            stream,
            read,
            partial: None,
            max_message,
            // Xorshift must not start at zero.
            #[allow(clippy::cast_possible_truncation)]
            mask_state: (nonce as u32) | 1,
        })
    }

    /// Sends a text frame.
    pub(crate) async fn send_text(&mut self, text: &str) -> Result<(), WsError> {
        let frame = self.masked(0x1, text.as_bytes());
        self.stream.write_all(&frame).await?;
        Ok(())
    }

    /// Sends a close frame (code 1000).
    pub(crate) async fn send_close(&mut self) -> Result<(), WsError> {
        let frame = self.masked(0x8, &1000u16.to_be_bytes());
        self.stream.write_all(&frame).await?;
        Ok(())
    }

    /// The next text message or close frame. Pings are answered, pongs skipped.
    pub(crate) async fn next(&mut self) -> Result<Frame, WsError> {
        loop {
            while let Some(frame) = self.parse()? {
                match frame {
                    Parsed::Message(frame) => return Ok(frame),
                    Parsed::Ping(payload) => {
                        let pong = self.masked(0xA, &payload);
                        self.stream.write_all(&pong).await?;
                    }
                    Parsed::Nothing => {}
                }
            }
            if self.read.is_empty() && self.read.capacity() > KEEP_READ_CAPACITY {
                // Grown for a large frame (a member list of thousands): give it back, or every
                // connection of a large channel keeps megabytes and the generator's own memory
                // traffic shows up in what it measures.
                self.read = BytesMut::with_capacity(READ_CHUNK);
            }
            self.read.reserve(READ_CHUNK);
            if self.stream.read_buf(&mut self.read).await? == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
            }
        }
    }

    /// Decodes one frame from the read buffer, if a whole one is there.
    fn parse(&mut self) -> Result<Option<Parsed>, WsError> {
        let buf = &self.read[..];
        let [first, second, ..] = *buf else {
            return Ok(None);
        };
        if second & 0x80 != 0 {
            return Err(WsError::Protocol("the server masked a frame".into()));
        }
        let (len, header) = match second & 0x7F {
            126 => match buf.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(None),
            },
            127 => match buf.get(2..10) {
                Some(b) => {
                    let mut be = [0u8; 8];
                    be.copy_from_slice(b);
                    (u64::from_be_bytes(be), 10)
                }
                None => return Ok(None),
            },
            n => (u64::from(n), 2),
        };
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > self.max_message {
            return Err(WsError::Protocol(format!("a {len}-byte frame")));
        }
        if self.read.len() < header + len {
            let missing = header + len - self.read.len();
            self.read.reserve(missing);
            return Ok(None);
        }
        let fin = first & 0x80 != 0;
        let opcode = first & 0x0F;
        self.read.advance(header);
        let payload = self.read.split_to(len);
        let parsed = match opcode {
            0x1 if fin => Parsed::Message(Frame::Text(utf8(payload.to_vec())?)),
            0x1 => {
                self.partial = Some(payload.to_vec());
                Parsed::Nothing
            }
            0x0 => {
                let Some(partial) = self.partial.as_mut() else {
                    return Err(WsError::Protocol("a continuation out of place".into()));
                };
                partial.extend_from_slice(&payload);
                if partial.len() > self.max_message {
                    return Err(WsError::Protocol("a message over the size limit".into()));
                }
                match self.partial.take_if(|_| fin) {
                    Some(whole) => Parsed::Message(Frame::Text(utf8(whole)?)),
                    None => Parsed::Nothing,
                }
            }
            0x8 => Parsed::Message(Frame::Close(
                payload
                    .get(..2)
                    .map(|code| u16::from_be_bytes([code[0], code[1]])),
            )),
            0x9 => Parsed::Ping(payload.to_vec()),
            // Pongs, and binary frames no scenario expects.
            _ => Parsed::Nothing,
        };
        Ok(Some(parsed))
    }

    fn masked(&mut self, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = Vec::with_capacity(payload.len() + 14);
        frame.push(0x80 | opcode);
        match payload.len() {
            // Each arm's range bounds the cast.
            #[allow(clippy::cast_possible_truncation)]
            n @ 0..=125 => frame.push(0x80 | n as u8),
            #[allow(clippy::cast_possible_truncation)]
            n @ 126..=65535 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mut x = self.mask_state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.mask_state = x;
        let mask = x.to_le_bytes();
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        frame
    }
}

enum Parsed {
    Message(Frame),
    Ping(Vec<u8>),
    Nothing,
}

fn utf8(bytes: Vec<u8>) -> Result<String, WsError> {
    String::from_utf8(bytes).map_err(|_| WsError::Protocol("a text frame is not UTF-8".into()))
}

fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(ACCEPT_GUID);
    base64::engine::general_purpose::STANDARD.encode(sha1.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_the_rfc_example() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
