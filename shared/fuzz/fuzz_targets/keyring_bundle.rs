//! Keyring bundle parser. The first input byte picks whether the rest is taken as is or re-signed
//! with the fuzzing root key, so the fuzzer also explores the parts behind the signature check.
#![no_main]

use ed25519_dalek::{Signer, SigningKey};
use libfuzzer_sys::fuzz_target;
use shuipiao_shared::keyring::Keyring;

fuzz_target!(|bytes: &[u8]| {
    let root = SigningKey::from_bytes(&[1; 32]);
    let Some((&mode, rest)) = bytes.split_first() else {
        return;
    };
    let bundle = if mode & 1 == 1 {
        let mut signed = rest.to_vec();
        signed.extend_from_slice(&root.sign(rest).to_bytes());
        signed
    } else {
        rest.to_vec()
    };
    if let Ok(ring) = Keyring::open(&bundle, &root.verifying_key()) {
        assert_eq!(Keyring::open(&ring.sign(&root), &root.verifying_key()), Ok(ring));
    }
});
