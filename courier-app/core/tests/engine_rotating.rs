//! Holder-bound rotating codes (v2) at the door, against a real encrypted device database: the
//! camera (a rendered frame through the decoder chain) and the keyboard-wedge paths accept a
//! current code, and the same code shown again 91 s later (a screenshot) is refused with its
//! zh-CN reason and logged.

mod engine_support;

use std::num::NonZeroU16;

use engine_support::*;
use shuipiao_courier::decode::{Decoder, recommended};
use shuipiao_courier::engine::{OutcomeKind, ScanInput, ScanSource};
use shuipiao_courier::frame::{FrameSource, SyntheticSource};
use shuipiao_courier::wedge::{WedgeConfig, WedgeParser};
use shuipiao_shared::event::{EventBody, Refusal};
use shuipiao_shared::holder::{self, HolderCredential, RotatingCode};
use shuipiao_shared::verdict::RejectReason;

fn holder() -> ed25519_dalek::SigningKey {
    key(0x48)
}

/// Book `book_id` bound to the test holder, presented in the window of `at` (unix seconds).
fn rotating(book_id: u64, at: u64) -> RotatingCode {
    HolderCredential {
        credential: book(book_id, 10),
        holder_key: holder().verifying_key().to_bytes(),
    }
    .sign(&issuer())
    .present(&holder(), holder::window_at(at))
}

fn scan_from(source: ScanSource) -> ScanInput<'static> {
    ScanInput {
        product: BUCKET,
        quantity: NonZeroU16::MIN,
        source,
        supervisor_pin: None,
    }
}

#[test]
fn a_current_code_is_accepted_and_a_screenshot_91_s_later_is_refused() {
    let device = Device::enrolled(&[], NOW - HOUR);
    let mut engine = device.engine();
    let code = rotating(4001, NOW);
    // The phone camera sees the 319-character code (QR version 11) and decodes it.
    let frame = SyntheticSource::new(code.to_qr_text(), 1280, 720)
        .seeded(11)
        .next_frame()
        .expect("a camera frame");
    let decoded = recommended().decode(&frame).expect("the code decodes");
    assert_eq!(decoded, vec![code.to_qr_text()]);
    let accepted = engine
        .scan(&decoded[0], &scan_from(ScanSource::Camera))
        .unwrap();
    assert_eq!(accepted.kind, OutcomeKind::Accepted);
    assert_eq!(accepted.remaining, Some(9));

    let window_start = u64::from(code.window) * holder::WINDOW_SECS;
    device
        .clock
        .advance_millis((window_start + 91 - NOW) * 1000);
    let refused = engine
        .scan(&code.to_qr_text(), &scan_from(ScanSource::Camera))
        .unwrap();
    assert_eq!(refused.kind, OutcomeKind::Rejected);
    assert_eq!(refused.reason, Some(RejectReason::HolderProofExpired));
    assert_eq!(refused.title, "动态码已过期（截图无效）");
    let logged = engine.history(1).unwrap()[0].event.event;
    assert!(matches!(
        logged.body,
        EventBody::ScanAttempt {
            refusal: Refusal::Rejected(RejectReason::HolderProofExpired),
            ..
        }
    ));
}

#[test]
fn a_counter_scanner_reads_the_long_code_through_the_wedge() {
    let device = Device::enrolled(&[], NOW - HOUR);
    let mut engine = device.engine();
    let text = rotating(4002, NOW).to_qr_text();
    let mut wedge = WedgeParser::new(WedgeConfig::default());
    // Caps Lock on: the scanner types the code in lower case, then Enter.
    let lines = wedge.push_str(&format!("{}\n", text.to_ascii_lowercase()), 0);
    assert_eq!(lines.len(), 1, "one scanned line");
    let outcome = engine
        .scan(&lines[0], &scan_from(ScanSource::Scanner))
        .unwrap();
    assert_eq!(outcome.kind, OutcomeKind::Accepted);

    let mut edited = rotating(4003, NOW);
    edited.window += 1;
    let forged = engine
        .scan(&edited.to_qr_text(), &scan_from(ScanSource::Scanner))
        .unwrap();
    assert_eq!(forged.reason, Some(RejectReason::BadSignature));
}
