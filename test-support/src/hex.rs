//! Bytes as the test vectors write them: lowercase hex, in JSON strings. The protocol crate's
//! vector tests include this file by path, since `shared` cannot depend on this crate (which
//! depends on the server); the server's tests use it from here.

use serde_json::Value;

/// `bytes` as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

/// The bytes of a JSON string of lowercase hex; a vector that holds anything else is broken.
pub fn unhex(value: &Value) -> Vec<u8> {
    let text = value.as_str().expect("a hex string");
    data_encoding::HEXLOWER
        .decode(text.as_bytes())
        .expect("valid hex")
}
