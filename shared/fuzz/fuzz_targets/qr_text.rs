//! QR text parser: any string must give a credential or an error, and anything accepted must
//! re-encode to the same credential (the codec is canonical).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shuipiao_shared::credential::SignedCredential;

fuzz_target!(|text: &str| {
    if let Ok(signed) = SignedCredential::from_qr_text(text) {
        assert_eq!(SignedCredential::from_qr_text(&signed.to_qr_text()), Ok(signed));
    }
});
