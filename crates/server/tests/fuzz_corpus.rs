//! Replays the fuzz corpus of `verify_token` (fuzz/corpus/verify_token): hostile tokens are
//! refused, never accepted and never a panic.

use std::path::Path;

use rollcall_server::auth::verify_token;

#[test]
fn the_verify_token_corpus_is_refused_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/verify_token");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).expect("the corpus exists") {
        let bytes = std::fs::read(entry.expect("readable entry").path()).expect("readable file");
        if let Ok(token) = std::str::from_utf8(&bytes) {
            let result = verify_token(token, b"fuzz-secret", "dev", 1_800_000_000);
            assert!(result.is_err(), "a corpus token verified: {token:?}");
        }
        replayed += 1;
    }
    assert!(replayed >= 3, "the corpus went missing: {replayed} files");
}
