//! Status snapshot and delta parsers, including the sets behind the signature: the
//! input is re-signed with the fuzzing root key when the first byte is odd.
#![no_main]

use ed25519_dalek::{Signer, SigningKey};
use libfuzzer_sys::fuzz_target;
use shuipiao_shared::status::{StatusDelta, StatusSnapshot};

fuzz_target!(|bytes: &[u8]| {
    let root = SigningKey::from_bytes(&[1; 32]);
    let Some((&mode, rest)) = bytes.split_first() else {
        return;
    };
    let mut body = rest.to_vec();
    // Bit 1 chooses the magic so both formats get structured inputs.
    let magic: &[u8; 4] = if mode & 2 == 2 { b"SPD1" } else { b"SPS1" };
    if mode & 4 == 4 {
        body.splice(0..0, magic.iter().copied());
    }
    if mode & 1 == 1 {
        let signature = root.sign(&body).to_bytes();
        body.extend_from_slice(&signature);
    }
    let public = root.verifying_key();
    if let Ok(snapshot) = StatusSnapshot::open(&body, &public) {
        assert_eq!(StatusSnapshot::open(&snapshot.sign(&root), &public), Ok(snapshot));
    }
    if let Ok(delta) = StatusDelta::open(&body, &public) {
        assert_eq!(StatusDelta::open(&delta.sign(&root), &public), Ok(delta));
    }
});
