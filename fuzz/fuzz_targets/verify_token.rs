//! Any token in a connection URL must verify or be refused, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        let _ = rollcall_server::auth::verify_token(token, b"fuzz-secret", "dev", 1_800_000_000);
    }
});
