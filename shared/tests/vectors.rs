//! The committed test vectors in `shared/vectors/*.json` are the contract between the server,
//! the courier engine and any third-party verifier.
//!
//! Each file is generated here from fixed seeds with the expected outcome written down by
//! intent (never computed by the code under test), then
//! 1. compared with the committed file, so code and vectors cannot drift apart, and
//! 2. read back and every case checked against the real parser, verifier, verdict, chain check
//!    and ledger.
//!
//! Regenerate after a deliberate change:
//! `SHUIPIAO_WRITE_VECTORS=1 cargo test -p shuipiao-shared --test vectors`.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU16;
use std::path::PathBuf;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::Deserialize;
use serde_json::{Value, json};
use shuipiao_shared::credential::{Credential, SignedCredential};
use shuipiao_shared::delivery::{
    self, DeliveryChange, DeliveryPayment, DeliveryRow, DeliverySlot, DeliveryTask,
};
use shuipiao_shared::event::{
    ChainTip, DeliveryOutcome, Event, EventBody, EventFlags, EventParseError, GENESIS_HASH,
    MissReason, Refusal, SignedEvent, verify_chain,
};
use shuipiao_shared::holder::{
    self, HolderCredential, Presented, RotatingCode, SignedHolderCredential,
};
use shuipiao_shared::ids::{BookId, DeviceId, EventId, ProductCode, ScopeId, UserId};
use shuipiao_shared::keyring::{IssuerKey, KeyState, Keyring, Kid};
use shuipiao_shared::ledger::{self, BookTerms, LedgerEvent, LedgerEventKind, ResolutionAction};
use shuipiao_shared::status::{StatusDelta, StatusSets, StatusSnapshot};
use shuipiao_shared::verdict::{
    self, BookView, DoorContext, FreshnessPolicy, LastUse, RejectReason, StatusView, Verdict,
};
#[path = "../../test-support/src/hex.rs"]
mod hex;
use hex::{hex, unhex};

/// "Now" for every case: 2026-09-21T14:13:20Z.
const NOW: u64 = 1_790_000_000;
const BOOK_FROM: u32 = 1_780_000_000;
const BOOK_UNTIL: u32 = 1_800_000_000;
const KEY_FROM: u32 = 1_700_000_000;
const KEY_UNTIL: u32 = 1_900_000_000;
const HOUR: u64 = 3600;
const BUCKET_18_9L: ProductCode = ProductCode(1);
const BUCKET_11_3L: ProductCode = ProductCode(2);
const WUHAN: ScopeId = ScopeId(1);
const XIANGYANG: ScopeId = ScopeId(2);

fn key(byte: u8) -> SigningKey {
    SigningKey::from_bytes(&[byte; 32])
}

/// The test keys. Their seeds are published in the vectors: they sign nothing real.
struct Keys {
    root: SigningKey,
    issuer_2025: SigningKey,
    issuer_2026: SigningKey,
    leaked: SigningKey,
    other_plant: SigningKey,
    device: SigningKey,
    holder: SigningKey,
    thief: SigningKey,
}

fn keys() -> Keys {
    Keys {
        root: key(0x01),
        issuer_2025: key(0x25),
        issuer_2026: key(0x26),
        leaked: key(0x13),
        other_plant: key(0x99),
        device: key(0x21),
        holder: key(0x48),
        thief: key(0x66),
    }
}

fn issuer(key: &SigningKey, state: KeyState) -> IssuerKey {
    IssuerKey::new(key.verifying_key(), KEY_FROM, KEY_UNTIL, state)
}

fn keyring_v1(k: &Keys) -> Keyring {
    Keyring {
        version: 1,
        issued_at: NOW - 400 * 24 * HOUR,
        keys: vec![issuer(&k.issuer_2025, KeyState::Active)],
    }
}

fn keyring_v2(k: &Keys) -> Keyring {
    Keyring {
        version: 2,
        issued_at: NOW - 30 * 24 * HOUR,
        keys: vec![
            issuer(&k.issuer_2025, KeyState::Retired),
            issuer(&k.issuer_2026, KeyState::Active),
            issuer(&k.leaked, KeyState::Active),
        ],
    }
}

/// The keyring every verdict case runs against.
fn keyring_v3(k: &Keys) -> Keyring {
    let since = u32::try_from(NOW - 2 * 24 * HOUR).expect("fits u32");
    Keyring {
        version: 3,
        issued_at: NOW - 24 * HOUR,
        keys: vec![
            issuer(&k.issuer_2025, KeyState::Retired),
            issuer(&k.issuer_2026, KeyState::Active),
            issuer(&k.leaked, KeyState::Compromised { since }),
        ],
    }
}

fn book(id: u64, units: u16) -> Credential {
    Credential {
        kid: Kid([0; 4]),
        book_id: BookId(id),
        product: BUCKET_18_9L,
        units,
        scope: WUHAN,
        valid_from: BOOK_FROM,
        valid_until: BOOK_UNTIL,
        holder_tag: 0x5a5a_0001,
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("serializable")
}

// ---------------------------------------------------------------------------------------------
// Generation.

fn credentials_file(k: &Keys) -> Value {
    let valid = book(1001, 10).sign(&k.issuer_2026);
    let text = valid.to_qr_text();
    let extreme = |value: u64| Credential {
        kid: Kid([0; 4]),
        book_id: BookId(value),
        product: ProductCode(value as u16),
        units: value as u16,
        scope: ScopeId(value as u32),
        valid_from: value as u32,
        valid_until: value as u32,
        holder_tag: value as u32,
    };
    let max = extreme(u64::MAX).sign(&k.issuer_2026);
    let min = extreme(0).sign(&k.issuer_2026);
    let with_bytes = |mutate: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = valid.to_bytes().to_vec();
        mutate(&mut bytes);
        format!("SP1{}", data_encoding::BASE32_NOPAD.encode(&bytes))
    };
    let ok = |name: &str, text: String, c: &SignedCredential, verifies: bool| {
        json!({"name": name, "text": text, "expect": {
            "credential": to_json(&c.credential), "verifies": verifies}})
    };
    let valid_ok = |name: &str, c: Credential| {
        let signed = c.sign(&k.issuer_2026);
        ok(name, signed.to_qr_text(), &signed, true)
    };
    let err = |name: &str, text: String, kind: &str| json!({"name": name, "text": text, "expect": {"error": kind}});
    let mut edited_units = valid;
    edited_units.credential.units = 100;
    let mut kid_edited = valid;
    kid_edited.credential.kid = Kid::of(&k.issuer_2025.verifying_key());
    let mut flipped_signature = valid;
    flipped_signature.signature[10] ^= 0x04;
    let mut last_char_changed = text.clone();
    last_char_changed.pop();
    last_char_changed.push(if text.ends_with('B') { 'C' } else { 'B' });
    json!({
        "description": "QR text of v1 ticket-book credentials: SP1 + base32 (RFC 4648, upper case, no padding) of a 33-byte big-endian body and its 64-byte Ed25519 signature. `verifies` is verify_strict under issuer_public_key.",
        "issuer_seed": hex(&[0x26; 32]),
        "issuer_public_key": hex(k.issuer_2026.verifying_key().as_bytes()),
        "cases": [
            valid_ok("valid 1 unit", book(1000, 1)),
            ok("valid 10 units", text.clone(), &valid, true),
            valid_ok("valid 100 units", book(1002, 100)),
            ok("valid maximum field values", max.to_qr_text(), &max, true),
            ok("valid minimum field values", min.to_qr_text(), &min, true),
            ok("lower case (Caps Lock on a wedge scanner)", text.to_ascii_lowercase(), &valid, true),
            ok("scanner whitespace around the text", format!(" \t{text}\r\n"), &valid, true),
            ok("units edited after signing", edited_units.to_qr_text(), &edited_units, false),
            ok(
                "kid edited to another key of the plant",
                kid_edited.to_qr_text(),
                &kid_edited,
                false,
            ),
            ok("signature bit flipped", flipped_signature.to_qr_text(), &flipped_signature, false),
            err("empty", String::new(), "empty"),
            err("only whitespace", "\r\n".into(), "empty"),
            err("wrong prefix", text.replacen("SP1", "XP1", 1), "wrong_prefix"),
            err("future text format", text.replacen("SP1", "SP2", 1), "wrong_prefix"),
            err("shorter than the prefix", "SP".into(), "wrong_prefix"),
            err("digit outside base32", format!("{}1{}", &text[..40], &text[41..]), "invalid_character"),
            err("base32 padding", format!("{text}===="), "invalid_character"),
            err("plus sign from a mangled layout", format!("{}+{}", &text[..70], &text[71..]), "invalid_character"),
            err("non-ASCII character", format!("{}水{}", &text[..50], &text[51..]), "invalid_character"),
            err("whitespace inside the text", format!("{} {}", &text[..80], &text[80..]), "invalid_character"),
            err("truncated by one character", text[..text.len() - 1].into(), "bad_length"),
            err("truncated by four characters", text[..text.len() - 4].into(), "truncated"),
            err("extended by eight characters", format!("{text}AAAAAAAA"), "trailing_bytes"),
            err("non-canonical final character", last_char_changed, "non_canonical"),
            err("payload version 2", with_bytes(&|b| b[0] = 2), "unsupported_version"),
            err("payload version 0", with_bytes(&|b| b[0] = 0), "unsupported_version"),
            err("far too long", format!("SP1{}", "A".repeat(600)), "too_long"),
        ],
    })
}

/// `book` bound to the test holder key and signed by the 2026 issuer.
fn bound_book(k: &Keys, id: u64) -> SignedHolderCredential {
    HolderCredential {
        credential: book(id, 10),
        holder_key: k.holder.verifying_key().to_bytes(),
    }
    .sign(&k.issuer_2026)
}

fn rotating_file(k: &Keys) -> Value {
    let window = holder::window_at(NOW);
    let valid = bound_book(k, 3001).present(&k.holder, window);
    let text = valid.to_qr_text();
    let ok = |name: &str, text: String, c: &RotatingCode, issuer_ok: bool, proof_ok: bool| {
        json!({"name": name, "text": text, "expect": {
            "credential": to_json(&c.signed.bound), "window": c.window,
            "issuer_verifies": issuer_ok, "proof_verifies": proof_ok}})
    };
    let err = |name: &str, text: String, kind: &str| json!({"name": name, "text": text, "expect": {"error": kind}});
    let with_bytes = |mutate: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = valid.to_bytes().to_vec();
        mutate(&mut bytes);
        format!("SP2{}", data_encoding::BASE32_NOPAD.encode(&bytes))
    };
    let thief_proof = bound_book(k, 3001).present(&k.thief, window);
    let mut next_window = valid;
    next_window.window += 1;
    let mut key_swapped = valid;
    key_swapped.signed.bound.holder_key = k.thief.verifying_key().to_bytes();
    let key_swapped = RotatingCode {
        proof: key_swapped.signed.present(&k.thief, window).proof,
        ..key_swapped
    };
    let other_book = bound_book(k, 3002).present(&k.holder, window);
    let mut proof_moved = valid;
    proof_moved.proof = other_book.proof;
    json!({
        "description": "QR text of v2 rotating codes: SP2 + base32 of a 65-byte big-endian body (v1 fields under version 2, then the holder's Ed25519 public key), its 64-byte issuer signature, the proof window u32 (unix seconds / 30) and the holder's signature over \"SPH2\" | book_id u64 | window u32. `issuer_verifies` is verify_strict under issuer_public_key; `proof_verifies` is verify_strict under the holder key in the credential.",
        "issuer_public_key": hex(k.issuer_2026.verifying_key().as_bytes()),
        "holder_seed": hex(&[0x48; 32]),
        "holder_public_key": hex(k.holder.verifying_key().as_bytes()),
        "cases": [
            ok("valid", text.clone(), &valid, true, true),
            ok("lower case (Caps Lock on a wedge scanner)", text.to_ascii_lowercase(), &valid, true, true),
            ok("scanner whitespace around the text", format!("\r\n{text}\t"), &valid, true, true),
            ok("proof signed by another key", thief_proof.to_qr_text(), &thief_proof, true, false),
            ok("window edited after signing", next_window.to_qr_text(), &next_window, true, false),
            ok("proof taken from another book", proof_moved.to_qr_text(), &proof_moved, true, false),
            ok("holder key replaced after issue", key_swapped.to_qr_text(), &key_swapped, false, true),
            err("static prefix on a v2 payload", text.replacen("SP2", "SP1", 1), "unsupported_version"),
            err("v1 payload under the rotating prefix", with_bytes(&|b| b[0] = 1), "unsupported_version"),
            err("future text format", text.replacen("SP2", "SP3", 1), "wrong_prefix"),
            err("digit outside base32", format!("{}0{}", &text[..40], &text[41..]), "invalid_character"),
            err("truncated by four characters", text[..text.len() - 4].into(), "truncated"),
            err("extended by eight characters", format!("{text}AAAAAAAA"), "trailing_bytes"),
            err("far too long", format!("SP2{}", "A".repeat(600)), "too_long"),
        ],
    })
}

/// One door decision: inputs and the outcome intended.
struct VerdictCase {
    name: &'static str,
    text: String,
    book: BookView,
    stale_units_total: u32,
    now: u64,
    scopes: Vec<ScopeId>,
    product: ProductCode,
    quantity: u16,
    data_age: Option<u64>,
    supervisor_override: bool,
    clock_rollback: bool,
    offline: bool,
    expect: Value,
}

fn accept(units: u16, remaining: u16, flags: EventFlags) -> Value {
    json!({"verdict": "accept", "units": units, "remaining": remaining, "flags": flags})
}

fn reject(reason: &str) -> Value {
    json!({"verdict": "reject", "reason": reason})
}

const OFFLINE: EventFlags = EventFlags {
    offline: true,
    stale: false,
    supervisor_override: false,
    clock_rollback: false,
};

fn verdict_cases(k: &Keys) -> Vec<VerdictCase> {
    let ticket = book(2001, 10).sign(&k.issuer_2026).to_qr_text();
    let signed_by = |key: &SigningKey, c: Credential| c.sign(key).to_qr_text();
    let base = || VerdictCase {
        name: "",
        text: ticket.clone(),
        book: BookView::default(),
        stale_units_total: 0,
        now: NOW,
        scopes: vec![WUHAN],
        product: BUCKET_18_9L,
        quantity: 1,
        data_age: Some(HOUR),
        supervisor_override: false,
        clock_rollback: false,
        offline: true,
        expect: Value::Null,
    };
    let used = |n| BookView {
        used_units: n,
        ..BookView::default()
    };
    let revoked = BookView {
        revoked: true,
        ..BookView::default()
    };
    let stale = EventFlags {
        stale: true,
        ..OFFLINE
    };
    let mut forged = book(2001, 10).sign(&k.issuer_2026);
    forged.signature = book(2001, 10).sign(&k.other_plant).signature;
    let mut wrong_kid = book(2001, 10).sign(&k.issuer_2026);
    wrong_kid.credential.kid = Kid::of(&k.issuer_2025.verifying_key());
    let mut edited = book(2001, 10).sign(&k.issuer_2026);
    edited.credential.units = 99;
    let outlives_key = Credential {
        valid_until: KEY_UNTIL + 1,
        ..book(2002, 10)
    };
    let anywhere = Credential {
        scope: ScopeId::ANYWHERE,
        ..book(2003, 5)
    };
    // A rotating code signed at NOW; its window starts at most 29 s before.
    let window = holder::window_at(NOW);
    let window_start = u64::from(window) * holder::WINDOW_SECS;
    let rotating = bound_book(k, 2001).present(&k.holder, window);
    let stolen_proof = bound_book(k, 2001).present(&k.thief, window);
    let mut v2_as_static = String::from("SP1");
    data_encoding::BASE32_NOPAD.encode_append(&rotating.signed.to_bytes(), &mut v2_as_static);
    vec![
        VerdictCase {
            name: "fresh data, first use",
            expect: accept(1, 9, OFFLINE),
            ..base()
        },
        VerdictCase {
            name: "online, three bottles",
            quantity: 3,
            offline: false,
            book: used(2),
            expect: accept(3, 5, EventFlags::default()),
            ..base()
        },
        VerdictCase {
            name: "last unit",
            book: used(9),
            expect: accept(1, 0, OFFLINE),
            ..base()
        },
        VerdictCase {
            name: "valid on its last second",
            now: u64::from(BOOK_UNTIL),
            expect: accept(1, 9, OFFLINE),
            ..base()
        },
        VerdictCase {
            name: "valid on its first second",
            now: u64::from(BOOK_FROM),
            expect: accept(1, 9, OFFLINE),
            ..base()
        },
        VerdictCase {
            name: "book for anywhere",
            text: signed_by(&k.issuer_2026, anywhere),
            scopes: vec![XIANGYANG],
            expect: accept(1, 4, OFFLINE),
            ..base()
        },
        VerdictCase {
            name: "retired key still honours its books",
            text: signed_by(&k.issuer_2025, book(2004, 10)),
            expect: accept(1, 9, OFFLINE),
            ..base()
        },
        VerdictCase {
            name: "clock rollback is recorded",
            clock_rollback: true,
            expect: accept(
                1,
                9,
                EventFlags {
                    clock_rollback: true,
                    ..OFFLINE
                },
            ),
            ..base()
        },
        VerdictCase {
            name: "30 h old data, within offline budget",
            data_age: Some(30 * HOUR),
            expect: accept(1, 9, stale),
            ..base()
        },
        VerdictCase {
            name: "30 h old data, book budget used up",
            data_age: Some(30 * HOUR),
            book: BookView {
                stale_units: 2,
                ..BookView::default()
            },
            expect: reject("offline_budget_exceeded"),
            ..base()
        },
        VerdictCase {
            name: "30 h old data, device budget used up",
            data_age: Some(30 * HOUR),
            stale_units_total: 50,
            expect: reject("offline_budget_exceeded"),
            ..base()
        },
        VerdictCase {
            name: "80 h old data",
            data_age: Some(80 * HOUR),
            expect: reject("stale_data"),
            ..base()
        },
        VerdictCase {
            name: "never synced",
            data_age: None,
            expect: reject("stale_data"),
            ..base()
        },
        VerdictCase {
            name: "80 h old data with supervisor override",
            data_age: Some(80 * HOUR),
            supervisor_override: true,
            expect: accept(
                1,
                9,
                EventFlags {
                    supervisor_override: true,
                    ..stale
                },
            ),
            ..base()
        },
        VerdictCase {
            name: "all units used",
            book: BookView {
                used_units: 10,
                last_use: Some(LastUse {
                    at: NOW - 600,
                    by_this_device: false,
                }),
                ..BookView::default()
            },
            expect: json!({"verdict": "already_used", "last_use": {"at": NOW - 600, "by_this_device": false}}),
            ..base()
        },
        VerdictCase {
            name: "garbage from a scanner",
            text: "]C1hello world".into(),
            expect: reject("unreadable"),
            ..base()
        },
        VerdictCase {
            name: "truncated code",
            text: ticket[..100].into(),
            expect: reject("unreadable"),
            ..base()
        },
        VerdictCase {
            name: "forged signature",
            text: forged.to_qr_text(),
            expect: reject("bad_signature"),
            ..base()
        },
        VerdictCase {
            name: "kid edited to another key of the plant",
            text: wrong_kid.to_qr_text(),
            expect: reject("bad_signature"),
            ..base()
        },
        VerdictCase {
            name: "units edited",
            text: edited.to_qr_text(),
            expect: reject("bad_signature"),
            ..base()
        },
        VerdictCase {
            name: "book outlives its key",
            text: signed_by(&k.issuer_2026, outlives_key),
            expect: reject("bad_signature"),
            ..base()
        },
        VerdictCase {
            name: "another plant's key",
            text: signed_by(&k.other_plant, book(2001, 10)),
            expect: reject("unknown_key"),
            ..base()
        },
        VerdictCase {
            name: "compromised key",
            text: signed_by(&k.leaked, book(2005, 10)),
            expect: reject("key_compromised"),
            ..base()
        },
        VerdictCase {
            name: "compromised key, scanned before the compromise",
            text: signed_by(&k.leaked, book(2005, 10)),
            now: NOW - 3 * 24 * HOUR,
            expect: accept(1, 9, OFFLINE),
            ..base()
        },
        VerdictCase {
            name: "not yet valid",
            now: u64::from(BOOK_FROM) - 1,
            expect: reject("not_yet_valid"),
            ..base()
        },
        VerdictCase {
            name: "expired",
            now: u64::from(BOOK_UNTIL) + 1,
            expect: reject("expired"),
            ..base()
        },
        VerdictCase {
            name: "revoked",
            book: revoked,
            expect: reject("revoked"),
            ..base()
        },
        VerdictCase {
            name: "revoked beats stale data",
            book: revoked,
            data_age: Some(80 * HOUR),
            expect: reject("revoked"),
            ..base()
        },
        VerdictCase {
            name: "wrong region",
            scopes: vec![XIANGYANG],
            expect: reject("out_of_scope"),
            ..base()
        },
        VerdictCase {
            name: "wrong product",
            product: BUCKET_11_3L,
            expect: reject("wrong_product"),
            ..base()
        },
        VerdictCase {
            name: "more bottles than left",
            book: used(8),
            quantity: 3,
            expect: reject("insufficient_units"),
            ..base()
        },
        VerdictCase {
            name: "rotating code, current window",
            text: rotating.to_qr_text(),
            expect: accept(1, 9, OFFLINE),
            ..base()
        },
        VerdictCase {
            name: "rotating code, 90 s after its window began",
            text: rotating.to_qr_text(),
            now: window_start + 90,
            expect: accept(1, 9, OFFLINE),
            ..base()
        },
        VerdictCase {
            name: "rotating code, screenshot 91 s old",
            text: rotating.to_qr_text(),
            now: window_start + 91,
            expect: reject("holder_proof_expired"),
            ..base()
        },
        VerdictCase {
            name: "rotating code, customer's clock 60 s ahead",
            text: rotating.to_qr_text(),
            now: window_start - 60,
            expect: accept(1, 9, OFFLINE),
            ..base()
        },
        VerdictCase {
            name: "rotating code, customer's clock 61 s ahead",
            text: rotating.to_qr_text(),
            now: window_start - 61,
            expect: reject("holder_clock_ahead"),
            ..base()
        },
        VerdictCase {
            name: "rotating code, proof signed by someone else",
            text: stolen_proof.to_qr_text(),
            expect: reject("bad_signature"),
            ..base()
        },
        VerdictCase {
            name: "rotating code on an expired book",
            text: rotating.to_qr_text(),
            now: u64::from(BOOK_UNTIL) + 1,
            expect: reject("expired"),
            ..base()
        },
        VerdictCase {
            name: "rotating code on a revoked book",
            text: rotating.to_qr_text(),
            book: revoked,
            expect: reject("revoked"),
            ..base()
        },
        VerdictCase {
            name: "v2 credential without its proof",
            text: v2_as_static,
            expect: reject("unreadable"),
            ..base()
        },
    ]
}

fn verdicts_file(k: &Keys) -> Value {
    let cases: Vec<Value> = verdict_cases(k)
        .into_iter()
        .map(|c| {
            json!({
                "name": c.name,
                "text": c.text,
                "book": c.book,
                "stale_units_total": c.stale_units_total,
                "context": {
                    "now": c.now, "scopes": c.scopes, "product": c.product, "quantity": c.quantity,
                    "data_age": c.data_age, "supervisor_override": c.supervisor_override,
                    "clock_rollback": c.clock_rollback, "offline": c.offline,
                },
                "expect": c.expect,
            })
        })
        .collect();
    json!({
        "description": "The door decision (docs/protocol.md, section Door verdict) for one scan: credential text, the device's view of the book, and the device context, against the keyring bundle below (verified with root_public_key).",
        "root_public_key": hex(k.root.verifying_key().as_bytes()),
        "keyring_bundle": hex(&keyring_v3(k).sign(&k.root)),
        "policy": FreshnessPolicy::default(),
        "cases": cases,
    })
}

fn keyring_summary(ring: &Keyring) -> Value {
    let keys: Vec<Value> = ring
        .keys
        .iter()
        .map(|key| {
            let state = match key.state {
                KeyState::Active => "active",
                KeyState::Retired => "retired",
                KeyState::Compromised { .. } => "compromised",
            };
            json!({
                "kid": key.kid, "public_key": hex(key.key.as_bytes()),
                "not_before": key.not_before, "not_after": key.not_after,
                "state": state, "compromised_since": key.compromised_since(),
            })
        })
        .collect();
    json!({"version": ring.version, "issued_at": ring.issued_at, "keys": keys})
}

fn resign(mut signed_part: Vec<u8>, root: &SigningKey) -> Vec<u8> {
    let signature = root.sign(&signed_part).to_bytes();
    signed_part.extend_from_slice(&signature);
    signed_part
}

fn keyrings_file(k: &Keys) -> Value {
    let v1 = keyring_v1(k).sign(&k.root);
    let v2 = keyring_v2(k).sign(&k.root);
    let v3 = keyring_v3(k).sign(&k.root);
    let unsigned_v1 = v1[..v1.len() - 64].to_vec();
    // One bit of the first key's not_before: only the signature can catch it.
    let mut flipped = v2.clone();
    flipped[22 + 4 + 32 + 2] ^= 0x01;
    let mut bad_magic = v2.clone();
    bad_magic[0] = b'X';
    // Header is 22 bytes; the state byte of the first key sits after kid, key and window.
    let mut bad_state = unsigned_v1.clone();
    bad_state[22 + 4 + 32 + 8] = 7;
    let mut kid_mismatch = unsigned_v1;
    kid_mismatch[22] ^= 0xff;
    let case = |name: &str, bundle: &[u8], held: Option<u64>, expect: Value| json!({"name": name, "bundle": hex(bundle), "held_version": held, "expect": expect});
    let opens = |ring: &Keyring| json!({"keyring": keyring_summary(ring)});
    let fails = |kind: &str| json!({"error": kind});
    json!({
        "description": "Root-signed keyring bundles. Open each bundle with root_public_key; when held_version is set, the device already holds that version and must accept only a newer one.",
        "root_seed": hex(&[0x01; 32]),
        "root_public_key": hex(k.root.verifying_key().as_bytes()),
        "cases": [
            case("first keyring", &v1, None, opens(&keyring_v1(k))),
            case("rotation: 2025 key retired, 2026 key active", &v2, None, opens(&keyring_v2(k))),
            case("compromise: leaked key marked compromised", &v3, None, opens(&keyring_v3(k))),
            case("update to a newer version", &v3, Some(2), opens(&keyring_v3(k))),
            case("replayed older bundle", &v2, Some(3), fails("not_newer")),
            case("same version again", &v3, Some(3), fails("not_newer")),
            case("signed by another root", &keyring_v3(k).sign(&k.other_plant), None, fails("bad_signature")),
            case("one bit flipped", &flipped, None, fails("bad_signature")),
            case("truncated", &v2[..v2.len() - 1], None, fails("malformed")),
            case("extra byte", &[v2.as_slice(), &[0]].concat(), None, fails("malformed")),
            case("not a bundle", &bad_magic, None, fails("bad_magic")),
            case("unknown key state", &resign(bad_state, &k.root), None, fails("unknown_state")),
            case("kid not derived from its key", &resign(kid_mismatch, &k.root), None, fails("kid_mismatch")),
        ],
    })
}

fn device_chain(k: &Keys) -> Vec<SignedEvent> {
    let redeemed_2002 = EventId::v7((NOW + 120) * 1000, [2; 10]);
    let redeemed_2004 = EventId::v7((NOW + 420) * 1000, [7; 10]);
    let bottles = |n: u16| NonZeroU16::new(n).expect("at least one bottle");
    let bodies = [
        EventBody::Redemption {
            book_id: BookId(2001),
            units: 1,
            product: BUCKET_18_9L,
        },
        EventBody::Redemption {
            book_id: BookId(2002),
            units: 2,
            product: BUCKET_18_9L,
        },
        EventBody::Void {
            book_id: BookId(2002),
            target: redeemed_2002,
        },
        EventBody::ScanAttempt {
            book_id: Some(BookId(2003)),
            refusal: Refusal::Rejected(RejectReason::Expired),
        },
        EventBody::ScanAttempt {
            book_id: None,
            refusal: Refusal::Rejected(RejectReason::Unreadable),
        },
        EventBody::ScanAttempt {
            book_id: Some(BookId(2001)),
            refusal: Refusal::AlreadyUsed,
        },
        // Order 9001 at the door: the scan redeems two units, the delivery names it.
        EventBody::Redemption {
            book_id: BookId(2004),
            units: 2,
            product: BUCKET_18_9L,
        },
        EventBody::Delivery {
            order_id: 9001,
            outcome: DeliveryOutcome::Tickets {
                bottles: bottles(2),
                deposits: 0,
                redemption: redeemed_2004,
            },
            empties: 2,
        },
        EventBody::Delivery {
            order_id: 9002,
            outcome: DeliveryOutcome::Cash {
                bottles: bottles(1),
                deposits: 1,
            },
            empties: 0,
        },
        EventBody::Delivery {
            order_id: 9003,
            outcome: DeliveryOutcome::NotDelivered {
                reason: MissReason::NobodyHome,
            },
            empties: 0,
        },
        EventBody::Delivery {
            order_id: 9004,
            outcome: DeliveryOutcome::Account {
                bottles: bottles(3),
                deposits: 0,
            },
            empties: 3,
        },
    ];
    let mut prev = GENESIS_HASH;
    bodies
        .into_iter()
        .zip(1u8..)
        .map(|(body, seq)| {
            let at = NOW + u64::from(seq) * 60;
            let signed = Event {
                event_id: EventId::v7(at * 1000, [seq; 10]),
                device_id: DeviceId(7),
                device_seq: u64::from(seq),
                prev_hash: prev,
                scanned_at: at,
                courier_id: UserId(31),
                flags: OFFLINE,
                body,
            }
            .sign(&k.device);
            prev = signed.hash();
            signed
        })
        .collect()
}

fn events_file(k: &Keys) -> Value {
    let chain = device_chain(k);
    let records = |events: &[SignedEvent]| -> Vec<String> {
        events.iter().map(|e| hex(&e.to_bytes())).collect()
    };
    let mut gap = chain.clone();
    gap.remove(2);
    let mut forged_link = chain.clone();
    forged_link[3] = Event {
        prev_hash: [0xab; 32],
        ..forged_link[3].event
    }
    .sign(&k.device);
    let mut edited = chain.clone();
    edited[1].event.scanned_at += 3600;
    let mut other_key = chain.clone();
    other_key[4] = other_key[4].event.sign(&k.other_plant);
    let mut other_device = chain.clone();
    other_device[0] = Event {
        device_id: DeviceId(8),
        ..other_device[0].event
    }
    .sign(&k.device);
    let mut replay = chain[..3].to_vec();
    replay.push(chain[1]);
    let broken = |name: &str, events: &[SignedEvent], index: usize, seq: u64, error: Value| {
        json!({"name": name, "records": records(events),
            "expect": {"break": {"index": index, "device_seq": seq, "error": error}}})
    };
    let listing: Vec<Value> = chain
        .iter()
        .map(|e| json!({"event": e, "record": hex(&e.to_bytes()), "hash": hex(&e.hash())}))
        .collect();
    json!({
        "unreadable_description": "Records that must not parse, each a listed delivery record with bytes changed (offsets count from the record's first byte: kind at 85, then order_id 86, outcome 94, reason 95, bottles 96, empties 98, deposits 100, redemption 102, signature 118). The error names EventParseError's variant in snake_case.",
        "unreadable": unreadable_records(&chain),
        "description": "Device events and hash chains (docs/protocol.md, section Events and the hash chain). `events` lists a valid chain of device 7 with each event's JSON form, its record bytes and its hash. Each case verifies a list of records from the genesis tip with device_public_key and expects either the final tip or the first broken link.",
        "device_seed": hex(&[0x21; 32]),
        "device_public_key": hex(k.device.verifying_key().as_bytes()),
        "device_id": 7,
        "events": listing,
        "cases": [
            json!({"name": "valid chain", "records": records(&chain),
                "expect": {"tip": {"device_seq": 11, "hash": hex(&chain[10].hash())}}}),
            broken("event 3 missing", &gap, 2, 4, json!({"kind": "gap", "expected": 3, "found": 4})),
            broken("forged link re-signed by the device", &forged_link, 3, 4, json!({"kind": "bad_link"})),
            broken("scan time edited after signing", &edited, 1, 2, json!({"kind": "bad_signature"})),
            broken("signed by another key", &other_key, 4, 5, json!({"kind": "bad_signature"})),
            broken("event of another device", &other_device, 0, 1, json!({"kind": "wrong_device"})),
            broken("event replayed", &replay, 3, 2, json!({"kind": "gap", "expected": 4, "found": 2})),
        ],
    })
}

/// Delivery records with bytes changed so that they must not parse (see `events_file`).
fn unreadable_records(chain: &[SignedEvent]) -> Vec<Value> {
    let record_of = |order: u64| {
        chain
            .iter()
            .find(|e| e.event.body.order_id() == Some(order))
            .expect("listed delivery")
            .to_bytes()
    };
    let (tickets, cash, missed) = (record_of(9001), record_of(9002), record_of(9003));
    let edit = |name: &str, record: &[u8], at: usize, bytes: &[u8], error: &str| {
        let mut record = record.to_vec();
        record[at..at + bytes.len()].copy_from_slice(bytes);
        json!({"name": name, "record": hex(&record), "error": error})
    };
    vec![
        edit("unknown kind", &cash, 85, &[5], "unknown_kind"),
        edit("unknown outcome", &cash, 94, &[5], "unknown_outcome"),
        edit("unknown reason", &missed, 95, &[9], "unknown_miss_reason"),
        edit("delivered with a reason", &cash, 95, &[1], "non_canonical"),
        edit(
            "delivered with no bottle",
            &tickets,
            96,
            &[0, 0],
            "non_canonical",
        ),
        edit(
            "cash naming a redemption",
            &cash,
            117,
            &[1],
            "non_canonical",
        ),
        edit(
            "not delivered with bottles",
            &missed,
            97,
            &[1],
            "non_canonical",
        ),
        edit(
            "not delivered with deposits",
            &missed,
            101,
            &[1],
            "non_canonical",
        ),
        json!({"name": "truncated", "record": hex(&cash[..cash.len() - 1]), "error": "malformed"}),
    ]
}

fn ledger_file() -> Value {
    let event = |id: u8, device: u64, seq: u64, at: u64, kind: LedgerEventKind| LedgerEvent {
        event_id: EventId::v7(at * 1000, [id; 10]),
        device_id: DeviceId(device),
        device_seq: seq,
        at,
        kind,
    };
    let redeem = |id, device, seq, at, units| {
        event(id, device, seq, at, LedgerEventKind::Redemption { units })
    };
    let a = redeem(1, 1, 10, NOW, 1);
    let b = redeem(2, 2, 4, NOW + 30, 1);
    let same_second = redeem(3, 1, 11, NOW + 30, 1);
    let big = redeem(4, 2, 5, NOW + 60, 3);
    let void_a = event(
        5,
        1,
        12,
        NOW + 90,
        LedgerEventKind::Void { target: a.event_id },
    );
    let foreign_void = event(
        8,
        2,
        6,
        NOW + 90,
        LedgerEventKind::Void { target: a.event_id },
    );
    let resolve = |id, target: &LedgerEvent, action| {
        let kind = LedgerEventKind::Resolution {
            target: target.event_id,
            action,
            operator: UserId(2),
        };
        event(id, 0, 0, NOW + 86_400, kind)
    };
    let case = |name: &str,
                terms: BookTerms,
                events: Vec<LedgerEvent>,
                outcomes: Vec<(&LedgerEvent, &str, Option<&str>)>,
                used: u16| {
        let expected: Vec<Value> = outcomes
            .into_iter()
            .map(|(e, outcome, resolution)| {
                json!({"event_id": e.event_id, "outcome": outcome, "resolution": resolution})
            })
            .collect();
        json!({"name": name, "terms": terms, "events": events,
            "expect": {"redemptions": expected, "used_units": used, "remaining": terms.units - used}})
    };
    let units = |n| BookTerms {
        units: n,
        ..BookTerms::default()
    };
    let revoked = BookTerms {
        units: 10,
        revoked_at: Some(NOW + 30),
        key_compromised_at: None,
    };
    let compromised = BookTerms {
        units: 10,
        revoked_at: None,
        key_compromised_at: Some(NOW + 1),
    };
    json!({
        "description": "Conflict resolution (docs/protocol.md, section Ledger): a book's ledger from its events in any order. Expected redemptions are listed in ledger order (scanned_at, device_id, device_seq).",
        "cases": [
            case("offline double spend of a 1-unit ticket", units(1), vec![b, a],
                vec![(&a, "counted", None), (&b, "over_redeemed", None)], 1),
            case("same second: lower device id first", units(1), vec![same_second, b],
                vec![(&same_second, "counted", None), (&b, "over_redeemed", None)], 1),
            case("a void frees the unit for the later redemption", units(1), vec![void_a, b, a],
                vec![(&a, "voided", None), (&b, "counted", None)], 1),
            case("a void by another device changes nothing", units(1), vec![foreign_void, b, a],
                vec![(&a, "counted", None), (&b, "over_redeemed", None)], 1),
            case("over-redemption resolved by charging", units(1),
                vec![a, b, resolve(6, &b, ResolutionAction::Charge)],
                vec![(&a, "counted", None), (&b, "over_redeemed", Some("charge"))], 1),
            case("operator voids the extra delivery", units(1),
                vec![a, b, resolve(7, &b, ResolutionAction::Void)],
                vec![(&a, "counted", None), (&b, "voided", Some("void"))], 1),
            case("a 3-unit redemption with 2 left is over-redeemed whole", units(3), vec![big, a],
                vec![(&a, "counted", None), (&big, "over_redeemed", None)], 1),
            case("redemption after revocation", revoked, vec![a, b],
                vec![(&a, "counted", None), (&b, "after_revocation", None)], 1),
            case("redemption after key compromise", compromised, vec![a, b],
                vec![(&a, "counted", None), (&b, "after_revocation", None)], 1),
            case("duplicates count once", units(10), vec![a, a, b, b, a],
                vec![(&a, "counted", None), (&b, "counted", None)], 2),
        ],
    })
}

fn sets_json(s: &StatusSnapshot) -> Value {
    json!({
        "seq": s.seq, "generated_at": s.generated_at,
        "revoked": s.sets.revoked.iter().collect::<Vec<_>>(),
        "used_up": s.sets.used_up.iter().collect::<Vec<_>>(),
    })
}

fn status_file(k: &Keys) -> Value {
    let snapshot = |seq, generated_at, revoked: &[u64], used_up: &[u64]| StatusSnapshot {
        seq,
        generated_at,
        sets: StatusSets {
            revoked: revoked.iter().copied().collect(),
            used_up: used_up.iter().copied().collect(),
        },
    };
    let old = snapshot(100, NOW - 24 * HOUR, &[3, 1 << 40], &[1, 2, 5]);
    let new = snapshot(180, NOW, &[3, 5, 1 << 40], &[1, 9]);
    json!({
        "description": "Root-signed status snapshot and delta (roaring bitmaps of revoked and used-up book ids). Applying `delta` to `snapshot` gives `after`.",
        "root_public_key": hex(k.root.verifying_key().as_bytes()),
        "snapshot": hex(&old.sign(&k.root)),
        "delta": hex(&old.delta_to(&new).sign(&k.root)),
        "expect": {"snapshot": sets_json(&old), "after": sets_json(&new)},
    })
}

fn delivery_task(order_id: u64, note: &str) -> DeliveryTask {
    let tickets = order_id % 2 == 1;
    DeliveryTask {
        order_id,
        day: "2026-09-21".into(),
        slot: if order_id < 10 {
            DeliverySlot::Morning
        } else {
            DeliverySlot::Afternoon
        },
        slot_hours: if order_id < 10 {
            "08:00-12:00".into()
        } else {
            "13:00-18:00".into()
        },
        address: format!("幸福小区 {order_id}栋 2单元 501"),
        label: if order_id == 12 {
            "三楼前台".into()
        } else {
            String::new()
        },
        region: "武汉市江汉区".into(),
        contact: "王女士".into(),
        phone: "13800138000".into(),
        product: BUCKET_18_9L,
        product_name: "18.9L 桶装水".into(),
        bottles: 2,
        payment: if tickets {
            DeliveryPayment::Tickets
        } else {
            DeliveryPayment::Cash
        },
        book_id: tickets.then_some(BookId(1000 + order_id)),
        note: note.into(),
    }
}

fn deliveries_file() -> Value {
    use DeliveryChange::{Assigned, Updated};
    let put =
        |seq, change, order, note: &str| DeliveryRow::put(seq, change, delivery_task(order, note));
    let out = DeliveryRow::withdrawn;
    let case = |name: &str,
                before: Vec<DeliveryTask>,
                pages: Vec<Vec<DeliveryRow>>,
                expect: Vec<DeliveryTask>| {
        json!({"name": name, "before": before, "pages": pages, "expect": expect})
    };
    // One courier's morning, cut into pages of two rows below.
    let day = vec![
        put(3, Assigned, 7, ""),
        put(4, Assigned, 12, ""),
        put(6, Assigned, 9, ""),
        put(8, Updated, 7, "请放门口"),
        out(9, 12),
        put(11, Assigned, 21, ""),
        out(12, 9),
        put(15, Assigned, 12, "到了打电话"),
    ];
    let day_after = vec![
        delivery_task(7, "请放门口"),
        delivery_task(12, "到了打电话"),
        delivery_task(21, ""),
    ];
    let refused = |name: &str, row: Value| json!({"name": name, "row": row});
    let mut withdrawn_with_task = to_json(&put(5, Assigned, 7, ""));
    withdrawn_with_task["change"] = json!("withdrawn");
    let mut assigned_without_task = to_json(&put(5, Assigned, 7, ""));
    assigned_without_task["task"] = Value::Null;
    let mut task_of_another_order = to_json(&put(5, Updated, 7, ""));
    task_of_another_order["order_id"] = json!(8);
    let mut unknown_field = to_json(&out(5, 7));
    unknown_field["priority"] = json!(1);
    json!({
        "description": "The courier's delivery list (docs/protocol.md, section Delivery list): applying each page of feed rows in turn to `before` gives `expect`, sorted by order id; applying all rows as one page gives the same. `refused` rows contradict their change and are refused when read.",
        "cases": [
            case("assign", vec![], vec![vec![put(1, Assigned, 7, "")]], vec![delivery_task(7, "")]),
            case("update replaces the task", vec![delivery_task(7, "")],
                vec![vec![put(2, Updated, 7, "请放门口")]], vec![delivery_task(7, "请放门口")]),
            case("withdraw", vec![delivery_task(7, ""), delivery_task(9, "")],
                vec![vec![out(2, 7)]], vec![delivery_task(9, "")]),
            case("re-assign after withdraw", vec![],
                vec![vec![put(1, Assigned, 7, ""), out(2, 7), put(5, Assigned, 7, "改派回来")]],
                vec![delivery_task(7, "改派回来")]),
            case("withdrawn order the list does not hold", vec![delivery_task(9, "")],
                vec![vec![out(4, 7)]], vec![delivery_task(9, "")]),
            case("update of an order the list does not hold puts it in", vec![],
                vec![vec![put(4, Updated, 9, "请放门口")]], vec![delivery_task(9, "请放门口")]),
            case("a day in one page", vec![], vec![day.clone()], day_after.clone()),
            case("the same day in pages of two", vec![],
                day.chunks(2).map(<[DeliveryRow]>::to_vec).collect(), day_after.clone()),
            case("the same day one row a page", vec![],
                day.chunks(1).map(<[DeliveryRow]>::to_vec).collect(), day_after),
        ],
        "refused": [
            refused("withdrawn row with a task", withdrawn_with_task),
            refused("assigned row without its task", assigned_without_task),
            refused("task of another order", task_of_another_order),
            refused("unknown field", unknown_field),
        ],
    })
}

fn generate() -> BTreeMap<&'static str, String> {
    let k = keys();
    let pretty = |v: Value| serde_json::to_string_pretty(&v).expect("json") + "\n";
    BTreeMap::from([
        ("credentials.json", pretty(credentials_file(&k))),
        ("rotating.json", pretty(rotating_file(&k))),
        ("verdicts.json", pretty(verdicts_file(&k))),
        ("keyrings.json", pretty(keyrings_file(&k))),
        ("events.json", pretty(events_file(&k))),
        ("ledger.json", pretty(ledger_file())),
        ("status.json", pretty(status_file(&k))),
        ("deliveries.json", pretty(deliveries_file())),
    ])
}

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

fn read(name: &str) -> Value {
    let text = std::fs::read_to_string(vectors_dir().join(name)).expect("vector file present");
    serde_json::from_str(&text).expect("vector file is JSON")
}

fn verifying_key(value: &Value) -> VerifyingKey {
    let bytes: [u8; 32] = unhex(value).try_into().expect("32 bytes");
    VerifyingKey::from_bytes(&bytes).expect("valid key")
}

fn cases(file: &Value) -> &Vec<Value> {
    file["cases"].as_array().expect("cases")
}

// ---------------------------------------------------------------------------------------------
// Checks.

#[test]
fn committed_vectors_match_the_generator() {
    let generated = generate();
    if std::env::var_os("SHUIPIAO_WRITE_VECTORS").is_some() {
        for (name, text) in &generated {
            std::fs::write(vectors_dir().join(name), text).expect("write vector file");
        }
    }
    for (name, text) in &generated {
        let committed = std::fs::read_to_string(vectors_dir().join(name)).unwrap_or_default();
        assert!(
            committed == *text,
            "shared/vectors/{name} differs from what the generator makes; if the change is \
             deliberate, run SHUIPIAO_WRITE_VECTORS=1 cargo test -p shuipiao-shared --test vectors"
        );
    }
}

#[test]
fn credential_vectors() {
    let file = read("credentials.json");
    let issuer = verifying_key(&file["issuer_public_key"]);
    for case in cases(&file) {
        let name = &case["name"];
        let parsed = SignedCredential::from_qr_text(case["text"].as_str().expect("text"));
        match (&parsed, case["expect"].get("error")) {
            (Ok(signed), None) => {
                let expected: Credential =
                    serde_json::from_value(case["expect"]["credential"].clone())
                        .expect("credential");
                assert_eq!(signed.credential, expected, "{name}");
                let verifies = case["expect"]["verifies"] == true;
                assert_eq!(
                    signed.verify(&issuer).is_ok(),
                    verifies,
                    "{name}: verification"
                );
                if verifies {
                    assert_eq!(signed.credential.kid, Kid::of(&issuer), "{name}: kid");
                }
            }
            (Err(e), Some(kind)) => assert_eq!(e.kind(), kind, "{name}"),
            (got, want) => panic!("{name}: parsed {got:?}, expected {want:?}"),
        }
    }
}

#[test]
fn rotating_vectors() {
    let file = read("rotating.json");
    let issuer = verifying_key(&file["issuer_public_key"]);
    for case in cases(&file) {
        let name = &case["name"];
        let parsed = Presented::from_qr_text(case["text"].as_str().expect("text"));
        match (&parsed, case["expect"].get("error")) {
            (Ok(Presented::Rotating(code)), None) => {
                let expected: HolderCredential =
                    serde_json::from_value(case["expect"]["credential"].clone())
                        .expect("credential");
                assert_eq!(code.signed.bound, expected, "{name}");
                assert_eq!(code.window, case["expect"]["window"], "{name}: window");
                assert_eq!(
                    code.signed.verify(&issuer).is_ok(),
                    case["expect"]["issuer_verifies"] == true,
                    "{name}: issuer signature"
                );
                assert_eq!(
                    code.verify_proof().is_ok(),
                    case["expect"]["proof_verifies"] == true,
                    "{name}: holder proof"
                );
            }
            (Err(e), Some(kind)) => assert_eq!(e.kind(), kind, "{name}"),
            (got, want) => panic!("{name}: parsed {got:?}, expected {want:?}"),
        }
    }
}

#[derive(Deserialize)]
struct VerdictInput {
    now: u64,
    scopes: Vec<ScopeId>,
    product: ProductCode,
    quantity: u16,
    data_age: Option<u64>,
    supervisor_override: bool,
    clock_rollback: bool,
    offline: bool,
}

struct OneBook {
    book: BookView,
    stale_units_total: u32,
}

impl StatusView for OneBook {
    fn book(&self, _: BookId) -> BookView {
        self.book
    }
    fn stale_units_total(&self) -> u32 {
        self.stale_units_total
    }
}

#[test]
fn verdict_vectors() {
    let file = read("verdicts.json");
    let root = verifying_key(&file["root_public_key"]);
    let keyring = Keyring::open(&unhex(&file["keyring_bundle"]), &root).expect("keyring opens");
    let policy: FreshnessPolicy = serde_json::from_value(file["policy"].clone()).expect("policy");
    let mut reasons_seen = BTreeSet::new();
    for case in cases(&file) {
        let name = &case["name"];
        let input: VerdictInput = serde_json::from_value(case["context"].clone()).expect("context");
        let view = OneBook {
            book: serde_json::from_value(case["book"].clone()).expect("book"),
            stale_units_total: serde_json::from_value(case["stale_units_total"].clone())
                .expect("total"),
        };
        let ctx = DoorContext {
            now: input.now,
            scopes: &input.scopes,
            product: input.product,
            quantity: NonZeroU16::new(input.quantity).expect("quantity ≥ 1"),
            data_age: input.data_age,
            policy,
            supervisor_override: input.supervisor_override,
            clock_rollback: input.clock_rollback,
            offline: input.offline,
        };
        let text = case["text"].as_str().expect("text");
        let got = match verdict::decide(text, &keyring, &view, &ctx) {
            Verdict::Accept {
                units,
                remaining,
                flags,
                ..
            } => accept(units, remaining, flags),
            Verdict::AlreadyUsed { last_use, .. } => {
                json!({"verdict": "already_used", "last_use": last_use})
            }
            Verdict::Reject { reason, .. } => {
                reasons_seen.insert(reason);
                json!({"verdict": "reject", "reason": reason})
            }
        };
        assert_eq!(got, case["expect"], "{name}");
    }
    let missing: Vec<_> = RejectReason::ALL
        .iter()
        .filter(|r| !reasons_seen.contains(r))
        .collect();
    assert!(
        missing.is_empty(),
        "no vector for reject reasons {missing:?}"
    );
}

#[test]
fn keyring_vectors() {
    let file = read("keyrings.json");
    let root = verifying_key(&file["root_public_key"]);
    for case in cases(&file) {
        let name = &case["name"];
        let bundle = unhex(&case["bundle"]);
        let result = match case["held_version"].as_u64() {
            Some(version) => Keyring {
                version,
                ..Keyring::default()
            }
            .update(&bundle, &root),
            None => Keyring::open(&bundle, &root),
        };
        match (result, case["expect"].get("error")) {
            (Ok(ring), None) => {
                assert_eq!(keyring_summary(&ring), case["expect"]["keyring"], "{name}")
            }
            (Err(e), Some(kind)) => assert_eq!(e.kind(), kind, "{name}"),
            (got, want) => panic!("{name}: got {got:?}, expected {want:?}"),
        }
    }
}

#[test]
fn event_vectors() {
    let file = read("events.json");
    let device_key = verifying_key(&file["device_public_key"]);
    let device_id = DeviceId(file["device_id"].as_u64().expect("device id"));
    for listed in file["events"].as_array().expect("events") {
        let from_json: SignedEvent =
            serde_json::from_value(listed["event"].clone()).expect("event json");
        let from_record =
            SignedEvent::from_bytes(&unhex(&listed["record"])).expect("record parses");
        assert_eq!(from_json, from_record, "JSON and record forms agree");
        assert_eq!(hex(&from_record.hash()), listed["hash"], "hash");
    }
    for case in file["unreadable"].as_array().expect("unreadable") {
        let error = match SignedEvent::from_bytes(&unhex(&case["record"])) {
            Ok(_) => "parsed",
            Err(EventParseError::BadMagic) => "bad_magic",
            Err(EventParseError::UnknownFlags(_)) => "unknown_flags",
            Err(EventParseError::UnknownKind(_)) => "unknown_kind",
            Err(EventParseError::UnknownRefusal(_)) => "unknown_refusal",
            Err(EventParseError::UnknownOutcome(_)) => "unknown_outcome",
            Err(EventParseError::UnknownMissReason(_)) => "unknown_miss_reason",
            Err(EventParseError::NonCanonical) => "non_canonical",
            Err(EventParseError::Malformed(_)) => "malformed",
        };
        assert_eq!(error, case["error"], "{}", case["name"]);
    }
    for case in cases(&file) {
        let name = &case["name"];
        let events: Vec<SignedEvent> = case["records"]
            .as_array()
            .expect("records")
            .iter()
            .map(|r| SignedEvent::from_bytes(&unhex(r)).expect("record parses"))
            .collect();
        let got = match verify_chain(ChainTip::GENESIS, device_id, &device_key, &events) {
            Ok(tip) => json!({"tip": {"device_seq": tip.device_seq, "hash": hex(&tip.hash)}}),
            Err(b) => {
                json!({"break": {"index": b.index, "device_seq": b.device_seq, "error": b.error}})
            }
        };
        assert_eq!(got, case["expect"], "{name}");
    }
}

#[test]
fn ledger_vectors() {
    let file = read("ledger.json");
    for case in cases(&file) {
        let name = &case["name"];
        let terms: BookTerms = serde_json::from_value(case["terms"].clone()).expect("terms");
        let events: Vec<LedgerEvent> =
            serde_json::from_value(case["events"].clone()).expect("events");
        let result = ledger::compute(&terms, &events);
        let redemptions: Vec<Value> = result
            .redemptions
            .iter()
            .map(|r| json!({"event_id": r.event_id, "outcome": r.outcome, "resolution": r.resolution}))
            .collect();
        let got = json!({"redemptions": redemptions, "used_units": result.used_units,
            "remaining": result.remaining});
        assert_eq!(got, case["expect"], "{name}");
    }
}

#[test]
fn status_vectors() {
    let file = read("status.json");
    let root = verifying_key(&file["root_public_key"]);
    let mut snapshot =
        StatusSnapshot::open(&unhex(&file["snapshot"]), &root).expect("snapshot opens");
    assert_eq!(sets_json(&snapshot), file["expect"]["snapshot"]);
    let delta = StatusDelta::open(&unhex(&file["delta"]), &root).expect("delta opens");
    snapshot.apply(&delta).expect("delta applies");
    assert_eq!(sets_json(&snapshot), file["expect"]["after"]);
}

#[test]
fn delivery_vectors() {
    let file = read("deliveries.json");
    let tasks = |value: &Value| -> Vec<DeliveryTask> {
        serde_json::from_value(value.clone()).expect("tasks")
    };
    for case in cases(&file) {
        let name = &case["name"];
        let pages: Vec<Vec<DeliveryRow>> =
            serde_json::from_value(case["pages"].clone()).expect("pages");
        let expect = tasks(&case["expect"]);
        let paged = pages.iter().fold(tasks(&case["before"]), |list, page| {
            delivery::apply(list, page)
        });
        assert_eq!(paged, expect, "{name}");
        let whole = delivery::apply(tasks(&case["before"]), &pages.concat());
        assert_eq!(whole, expect, "{name}: in one page");
    }
    for case in file["refused"].as_array().expect("refused") {
        let parsed = serde_json::from_value::<DeliveryRow>(case["row"].clone());
        assert!(parsed.is_err(), "{}", case["name"]);
    }
}
