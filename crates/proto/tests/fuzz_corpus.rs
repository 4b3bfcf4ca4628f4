//! Replays the fuzz corpus of `decode_request` (fuzz/corpus/decode_request): every input that a
//! fuzzer found interesting, or that once crashed the decoder, must decode or fail cleanly.

use std::path::Path;

use rollcall_proto::{ErrorCode, decode_request};

#[test]
fn the_decode_request_corpus_decodes_or_fails_with_a_documented_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/decode_request");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).expect("the corpus exists") {
        let bytes = std::fs::read(entry.expect("readable entry").path()).expect("readable file");
        if let Ok(text) = std::str::from_utf8(&bytes) {
            if let Err(error) = decode_request(text) {
                assert!(ErrorCode::ALL.contains(&error.code));
            }
        }
        replayed += 1;
    }
    assert!(replayed >= 5, "the corpus went missing: {replayed} files");
}
