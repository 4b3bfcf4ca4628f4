//! Any frame a client can send must decode to a request or a documented error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = rollcall_proto::decode_request(text);
    }
});
