//! RFC 6455 framing, without I/O: a decoder for what clients send (masked frames, possibly
//! fragmented, interleaved with control frames) and the header of what the server sends
//! (unmasked, unfragmented).

/// A complete message or control frame from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// A text message, validated as UTF-8.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping; its payload (at most 125 bytes) goes back in the pong.
    Ping(Vec<u8>),
    /// A pong.
    Pong,
    /// A close frame, with its status code if it had one. Nothing after it is read.
    Close(Option<u16>),
}

/// Why the client's bytes cannot be read as WebSocket frames: each closes the connection with
/// its own close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Violation {
    /// Bad framing: an unmasked frame, reserved bits or opcodes, a fragmented or oversized
    /// control frame, a continuation out of place, a close frame with a reserved code (1002).
    Protocol,
    /// A text message (or close reason) that is not UTF-8 (1007).
    InvalidUtf8,
    /// A frame or message over the size limit (1009).
    TooBig,
}

/// Frame opcodes (RFC 6455 §5.2).
pub(crate) mod opcode {
    pub(crate) const CONTINUATION: u8 = 0x0;
    pub(crate) const TEXT: u8 = 0x1;
    pub(crate) const BINARY: u8 = 0x2;
    pub(crate) const CLOSE: u8 = 0x8;
    pub(crate) const PING: u8 = 0x9;
    pub(crate) const PONG: u8 = 0xA;
}

const FIN: u8 = 0x80;
const RSV: u8 = 0x70;
const MASKED: u8 = 0x80;
/// Control frames carry at most this many payload bytes and are never fragmented.
const MAX_CONTROL_PAYLOAD: u64 = 125;

/// The header of an unmasked, final server frame carrying `len` payload bytes: at most 10
/// bytes, returned with how many of them are used.
pub(crate) fn header(opcode: u8, len: usize) -> ([u8; 10], usize) {
    let mut header = [0u8; 10];
    header[0] = FIN | opcode;
    // `as` casts below are checked by the ranges they are in.
    #[allow(clippy::cast_possible_truncation)]
    let used = if len < 126 {
        header[1] = len as u8;
        2
    } else if let Ok(short) = u16::try_from(len) {
        header[1] = 126;
        header[2..4].copy_from_slice(&short.to_be_bytes());
        4
    } else {
        header[1] = 127;
        header[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    (header, used)
}

/// Appends a whole server frame to `out`.
pub(crate) fn encode(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    let (header, used) = header(opcode, payload.len());
    out.extend_from_slice(&header[..used]);
    out.extend_from_slice(payload);
}

/// The payload of a close frame: the code, then the reason.
pub(crate) fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(reason.as_bytes());
    payload
}

/// Whether a client may send this close code (RFC 6455 §7.4: 1004–1006 and 1015 are never sent;
/// below 1000 and 1016–2999 are unassigned or reserved for the protocol).
fn is_sendable_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The frame whose payload is being read.
#[derive(Debug)]
struct FrameInProgress {
    opcode: u8,
    fin: bool,
    mask: [u8; 4],
    /// Payload bytes already read (the mask's position).
    read: u64,
    len: u64,
}

/// A fragmented (or not yet fully read) data message.
#[derive(Debug, Default)]
struct Message {
    text: bool,
    data: Vec<u8>,
    /// How much of `data` is known to be valid UTF-8: text is checked as it arrives, so a bad
    /// sequence fails the connection at once, not after the whole message.
    checked: usize,
}

/// Turns the client's bytes into [`Incoming`] messages. Holds no memory while the connection
/// is idle: buffers exist only while a frame is partly read.
#[derive(Debug)]
pub(crate) struct Decoder {
    max_message_bytes: usize,
    /// Bytes read but not yet decoded.
    input: Vec<u8>,
    /// Where decoding resumes in `input`.
    at: usize,
    frame: Option<FrameInProgress>,
    message: Option<Message>,
    /// Set after a close frame or a violation: nothing more is decoded.
    done: bool,
}

impl Decoder {
    /// A decoder refusing messages (and frames) over `max_message_bytes`.
    pub(crate) fn new(max_message_bytes: usize) -> Self {
        Self {
            max_message_bytes,
            input: Vec::new(),
            at: 0,
            frame: None,
            message: None,
            done: false,
        }
    }

    /// Adds bytes read from the socket.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        if !self.done {
            self.input.extend_from_slice(bytes);
        }
    }

    /// The next complete message, `Ok(None)` if more bytes are needed, or why the input is not
    /// a valid WebSocket stream (after which the decoder returns `Ok(None)` forever).
    pub(crate) fn next(&mut self) -> Result<Option<Incoming>, Violation> {
        if self.done {
            return Ok(None);
        }
        let result = self.decode();
        if result.is_err() || matches!(result, Ok(Some(Incoming::Close(_)))) {
            self.done = true;
            self.input = Vec::new();
            self.at = 0;
            self.message = None;
        } else if self.at == self.input.len() {
            // Everything read was decoded: free the buffer, so an idle connection holds none.
            self.input = Vec::new();
            self.at = 0;
        }
        result
    }

    fn decode(&mut self) -> Result<Option<Incoming>, Violation> {
        loop {
            if self.frame.is_none() && !self.read_header()? {
                return Ok(None);
            }
            let Some(frame) = self.frame.as_mut() else {
                continue;
            };
            if frame.opcode >= opcode::CLOSE {
                // Control frames are short: wait for the whole payload.
                let len = usize::try_from(frame.len).unwrap_or(usize::MAX);
                if self.input.len() - self.at < len {
                    return Ok(None);
                }
                let mut payload = self.input[self.at..self.at + len].to_vec();
                self.at += len;
                unmask(&mut payload, frame.mask, 0);
                let opcode = frame.opcode;
                self.frame = None;
                return control(opcode, payload).map(Some);
            }
            let available = (self.input.len() - self.at) as u64;
            let take = available.min(frame.len - frame.read);
            let take = usize::try_from(take).unwrap_or(usize::MAX);
            let Some(message) = self.message.as_mut() else {
                return Err(Violation::Protocol);
            };
            let start = message.data.len();
            message
                .data
                .extend_from_slice(&self.input[self.at..self.at + take]);
            self.at += take;
            unmask(&mut message.data[start..], frame.mask, frame.read);
            frame.read += take as u64;
            if message.text {
                check_utf8(message)?;
            }
            if frame.read < frame.len {
                return Ok(None);
            }
            let fin = frame.fin;
            self.frame = None;
            if fin {
                let Some(message) = self.message.take() else {
                    return Err(Violation::Protocol);
                };
                return finish(message).map(Some);
            }
        }
    }

    /// Decodes a frame header if it is all there. Returns whether a frame was started.
    fn read_header(&mut self) -> Result<bool, Violation> {
        let input = &self.input[self.at..];
        let [first, second, ..] = *input else {
            return Ok(false);
        };
        if first & RSV != 0 {
            return Err(Violation::Protocol);
        }
        if second & MASKED == 0 {
            return Err(Violation::Protocol);
        }
        let fin = first & FIN != 0;
        let opcode = first & 0x0F;
        let (len, mut used) = match second & 0x7F {
            126 => {
                let Some(bytes) = input.get(2..4) else {
                    return Ok(false);
                };
                (u64::from(u16::from_be_bytes([bytes[0], bytes[1]])), 4)
            }
            127 => {
                let Some(bytes) = input.get(2..10) else {
                    return Ok(false);
                };
                let mut be = [0u8; 8];
                be.copy_from_slice(bytes);
                let len = u64::from_be_bytes(be);
                if len >> 63 != 0 {
                    return Err(Violation::Protocol);
                }
                (len, 10)
            }
            short => (u64::from(short), 2),
        };
        let Some(mask) = input.get(used..used + 4) else {
            return Ok(false);
        };
        let mask = [mask[0], mask[1], mask[2], mask[3]];
        used += 4;
        match opcode {
            opcode::CLOSE | opcode::PING | opcode::PONG => {
                if !fin || len > MAX_CONTROL_PAYLOAD {
                    return Err(Violation::Protocol);
                }
            }
            opcode::CONTINUATION => {
                let Some(message) = &self.message else {
                    return Err(Violation::Protocol);
                };
                if message.data.len() as u64 + len > self.max_message_bytes as u64 {
                    return Err(Violation::TooBig);
                }
            }
            opcode::TEXT | opcode::BINARY => {
                if self.message.is_some() {
                    return Err(Violation::Protocol);
                }
                if len > self.max_message_bytes as u64 {
                    return Err(Violation::TooBig);
                }
                self.message = Some(Message {
                    text: opcode == opcode::TEXT,
                    ..Message::default()
                });
            }
            _ => return Err(Violation::Protocol),
        }
        self.at += used;
        self.frame = Some(FrameInProgress {
            opcode,
            fin,
            mask,
            read: 0,
            len,
        });
        Ok(true)
    }
}

/// XORs `data` with the mask, starting `offset` bytes into the frame's payload.
fn unmask(data: &mut [u8], mask: [u8; 4], offset: u64) {
    // `offset % 4` is below 4.
    #[allow(clippy::cast_possible_truncation)]
    let shift = (offset % 4) as usize;
    for (i, byte) in data.iter_mut().enumerate() {
        *byte ^= mask[(i + shift) % 4];
    }
}

/// Checks the text received so far, allowing a sequence cut at the end (its rest may come in
/// the next frame).
fn check_utf8(message: &mut Message) -> Result<(), Violation> {
    match std::str::from_utf8(&message.data[message.checked..]) {
        Ok(_) => {
            message.checked = message.data.len();
            Ok(())
        }
        Err(error) if error.error_len().is_none() => {
            message.checked += error.valid_up_to();
            Ok(())
        }
        Err(_) => Err(Violation::InvalidUtf8),
    }
}

fn finish(message: Message) -> Result<Incoming, Violation> {
    if message.text {
        String::from_utf8(message.data)
            .map(Incoming::Text)
            .map_err(|_| Violation::InvalidUtf8)
    } else {
        Ok(Incoming::Binary(message.data))
    }
}

fn control(opcode: u8, payload: Vec<u8>) -> Result<Incoming, Violation> {
    match opcode {
        opcode::PING => Ok(Incoming::Ping(payload)),
        opcode::PONG => Ok(Incoming::Pong),
        _ => match payload.as_slice() {
            [] => Ok(Incoming::Close(None)),
            [_] => Err(Violation::Protocol),
            [high, low, reason @ ..] => {
                let code = u16::from_be_bytes([*high, *low]);
                if !is_sendable_close_code(code) {
                    return Err(Violation::Protocol);
                }
                std::str::from_utf8(reason).map_err(|_| Violation::InvalidUtf8)?;
                Ok(Incoming::Close(Some(code)))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A masked client frame, as a browser would send it.
    fn client_frame(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut out = vec![first];
        match payload.len() {
            len @ 0..=125 => out.push(MASKED | u8::try_from(len).unwrap_or(0)),
            len @ 126..=65535 => {
                out.push(MASKED | 126);
                out.extend_from_slice(&u16::try_from(len).unwrap_or(0).to_be_bytes());
            }
            len => {
                out.push(MASKED | 127);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    const MASK: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

    fn decode_all(bytes: &[u8]) -> Result<Vec<Incoming>, Violation> {
        let mut decoder = Decoder::new(1 << 20);
        decoder.push(bytes);
        let mut out = Vec::new();
        while let Some(message) = decoder.next()? {
            out.push(message);
        }
        Ok(out)
    }

    #[test]
    fn decodes_text_binary_and_control_frames() {
        let mut bytes = client_frame(FIN | opcode::TEXT, b"hello", MASK);
        bytes.extend(client_frame(FIN | opcode::BINARY, &[1, 2, 3], MASK));
        bytes.extend(client_frame(FIN | opcode::PING, b"p", MASK));
        bytes.extend(client_frame(FIN | opcode::PONG, b"", MASK));
        bytes.extend(client_frame(
            FIN | opcode::CLOSE,
            &close_payload(1000, "bye"),
            MASK,
        ));
        bytes.extend(client_frame(FIN | opcode::TEXT, b"after close", MASK));
        assert_eq!(
            decode_all(&bytes),
            Ok(vec![
                Incoming::Text("hello".into()),
                Incoming::Binary(vec![1, 2, 3]),
                Incoming::Ping(b"p".to_vec()),
                Incoming::Pong,
                Incoming::Close(Some(1000)),
            ])
        );
    }

    #[test]
    fn reassembles_fragments_around_a_control_frame() {
        let mut bytes = client_frame(opcode::TEXT, b"hel", MASK);
        bytes.extend(client_frame(FIN | opcode::PING, b"", MASK));
        bytes.extend(client_frame(opcode::CONTINUATION, b"lo ", MASK));
        bytes.extend(client_frame(FIN | opcode::CONTINUATION, b"world", MASK));
        assert_eq!(
            decode_all(&bytes),
            Ok(vec![
                Incoming::Ping(Vec::new()),
                Incoming::Text("hello world".into())
            ])
        );
    }

    #[test]
    fn uses_the_extended_lengths() {
        for len in [125, 126, 65535, 65536] {
            let payload = vec![b'a'; len];
            let bytes = client_frame(FIN | opcode::TEXT, &payload, MASK);
            assert_eq!(
                decode_all(&bytes),
                Ok(vec![Incoming::Text("a".repeat(len))])
            );
        }
    }

    #[test]
    fn refuses_what_rfc_6455_forbids() {
        let cases: Vec<(&str, Vec<u8>, Violation)> = vec![
            ("unmasked", vec![FIN | opcode::TEXT, 0], Violation::Protocol),
            (
                "reserved bit",
                client_frame(FIN | 0x40 | opcode::TEXT, b"", MASK),
                Violation::Protocol,
            ),
            (
                "reserved opcode",
                client_frame(FIN | 0x3, b"", MASK),
                Violation::Protocol,
            ),
            (
                "fragmented ping",
                client_frame(opcode::PING, b"", MASK),
                Violation::Protocol,
            ),
            (
                "long ping",
                client_frame(FIN | opcode::PING, &[0; 126], MASK),
                Violation::Protocol,
            ),
            (
                "lone continuation",
                client_frame(FIN | opcode::CONTINUATION, b"x", MASK),
                Violation::Protocol,
            ),
            (
                "text inside a fragmented message",
                [
                    client_frame(opcode::TEXT, b"a", MASK),
                    client_frame(FIN | opcode::TEXT, b"b", MASK),
                ]
                .concat(),
                Violation::Protocol,
            ),
            (
                "one-byte close",
                client_frame(FIN | opcode::CLOSE, &[3], MASK),
                Violation::Protocol,
            ),
            (
                "reserved close code",
                client_frame(FIN | opcode::CLOSE, &close_payload(1005, ""), MASK),
                Violation::Protocol,
            ),
            (
                "invalid UTF-8 text",
                client_frame(FIN | opcode::TEXT, &[0xC3, 0x28], MASK),
                Violation::InvalidUtf8,
            ),
            (
                "invalid UTF-8 close reason",
                client_frame(FIN | opcode::CLOSE, &[0x03, 0xE8, 0xFF], MASK),
                Violation::InvalidUtf8,
            ),
            (
                "text cut in the middle of a character",
                client_frame(FIN | opcode::TEXT, &[b'a', 0xE2, 0x82], MASK),
                Violation::InvalidUtf8,
            ),
        ];
        for (name, bytes, violation) in cases {
            assert_eq!(decode_all(&bytes), Err(violation), "{name}");
        }
    }

    #[test]
    fn refuses_oversized_frames_from_their_header() {
        let mut decoder = Decoder::new(100);
        // Only the header of a 1 GiB frame: refused before any payload is buffered.
        decoder.push(&[FIN | opcode::TEXT, MASKED | 127, 0, 0, 0, 0, 0x40, 0, 0, 0]);
        decoder.push(&MASK);
        assert_eq!(decoder.next(), Err(Violation::TooBig));
        let mut decoder = Decoder::new(4);
        decoder.push(&client_frame(opcode::TEXT, b"abc", MASK));
        decoder.push(&client_frame(FIN | opcode::CONTINUATION, b"de", MASK));
        assert_eq!(decoder.next(), Err(Violation::TooBig));
    }

    #[test]
    fn fails_fast_on_bad_utf8_in_a_frame_still_arriving() {
        let bytes = client_frame(FIN | opcode::TEXT, &[b'a', 0xFF, b'b', b'c'], MASK);
        let mut decoder = Decoder::new(100);
        decoder.push(&bytes[..8]);
        assert_eq!(decoder.next(), Err(Violation::InvalidUtf8));
    }

    #[test]
    fn a_character_split_across_fragments_is_valid() {
        let euro = "€".as_bytes();
        let mut bytes = client_frame(opcode::TEXT, &euro[..1], MASK);
        bytes.extend(client_frame(FIN | opcode::CONTINUATION, &euro[1..], MASK));
        assert_eq!(decode_all(&bytes), Ok(vec![Incoming::Text("€".into())]));
    }

    #[test]
    fn frees_its_buffer_once_everything_is_decoded() {
        let mut decoder = Decoder::new(100);
        decoder.push(&client_frame(FIN | opcode::TEXT, b"hi", MASK));
        assert!(decoder.next().is_ok());
        assert_eq!(decoder.input.capacity(), 0);
    }

    #[test]
    fn server_headers_use_the_shortest_length() {
        assert_eq!(header(opcode::TEXT, 5).1, 2);
        assert_eq!(header(opcode::TEXT, 126).1, 4);
        assert_eq!(header(opcode::TEXT, 70_000).1, 10);
        let (bytes, used) = header(opcode::TEXT, 300);
        assert_eq!(&bytes[..used], &[0x81, 126, 1, 44]);
    }

    proptest! {
        /// Whatever the client sends, the decoder neither panics nor holds more than one header
        /// and one control frame of undecoded input, or more than the limit of message data.
        #[test]
        fn hostile_bytes_are_decoded_or_refused_within_bounds(
            mut bytes in proptest::collection::vec(any::<u8>(), 0..600),
            chunk in 1usize..50,
        ) {
            // Mostly masked headers, so decoding goes past the first byte pair.
            if let Some(second) = bytes.get_mut(1) {
                *second |= MASKED;
            }
            let mut decoder = Decoder::new(64);
            for piece in bytes.chunks(chunk) {
                decoder.push(piece);
                while let Ok(Some(_)) = decoder.next() {}
                prop_assert!(decoder.input.len() - decoder.at <= 14 + 125);
                let held = decoder.message.as_ref().map_or(0, |m| m.data.len());
                prop_assert!(held <= 64);
            }
        }

        /// However the bytes are split into reads, the same messages come out.
        #[test]
        fn any_split_decodes_the_same(
            texts in proptest::collection::vec("\\PC{0,300}", 1..6),
            cuts in proptest::collection::vec(1usize..64, 1..40),
        ) {
            let mut bytes = Vec::new();
            for text in &texts {
                let half = text.len() / 2;
                let first = if text.is_char_boundary(half) { half } else { 0 };
                bytes.extend(client_frame(opcode::TEXT, &text.as_bytes()[..first], MASK));
                bytes.extend(client_frame(FIN | opcode::CONTINUATION, &text.as_bytes()[first..], MASK));
            }
            let mut decoder = Decoder::new(1 << 20);
            let mut out = Vec::new();
            let mut rest = bytes.as_slice();
            let mut cut = cuts.iter().cycle();
            while !rest.is_empty() {
                let n = (*cut.next().unwrap_or(&1)).min(rest.len());
                decoder.push(&rest[..n]);
                rest = &rest[n..];
                while let Some(message) = decoder.next().map_err(|e| TestCaseError::fail(format!("{e:?}")))? {
                    out.push(message);
                }
            }
            let expected: Vec<Incoming> = texts.into_iter().map(Incoming::Text).collect();
            prop_assert_eq!(out, expected);
        }
    }
}
