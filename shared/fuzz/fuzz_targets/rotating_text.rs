//! Either-format QR text parser (`SP1` static, `SP2` rotating): any string gives a code or an
//! error, anything accepted re-encodes to the same code, and checking its signatures and window
//! never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shuipiao_shared::holder::{Presented, RotatingCode};

fuzz_target!(|text: &str| {
    if let Ok(Presented::Rotating(code)) = Presented::from_qr_text(text) {
        assert_eq!(RotatingCode::from_qr_text(&code.to_qr_text()), Ok(code));
        let _ = code.verify_proof();
        let _ = code.proof_time(u64::from(code.window) * 30);
    }
});
