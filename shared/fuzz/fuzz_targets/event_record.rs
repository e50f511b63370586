//! Device event record parser: total, and byte-exact on round trip (records are hashed, so two
//! encodings of one event would break the chain).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shuipiao_shared::event::SignedEvent;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(event) = SignedEvent::from_bytes(bytes) {
        assert_eq!(event.to_bytes(), bytes);
    }
});
