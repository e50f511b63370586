//! Binary credential payload parser: total, and byte-exact on round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shuipiao_shared::credential::SignedCredential;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(signed) = SignedCredential::from_bytes(bytes) {
        assert_eq!(&signed.to_bytes()[..], bytes);
    }
});
