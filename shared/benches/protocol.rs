//! Hot paths of the protocol: credential verification next to raw `verify_strict` (the goal is
//! ≤ 1.1×), the door verdict, a busy book's ledger and a million-book status snapshot.
//!
//! Run: `cargo bench -p shuipiao-shared --bench protocol`.

use std::hint::black_box;
use std::num::NonZeroU16;

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::{Signature, Signer, SigningKey};
use roaring::RoaringTreemap;
use shuipiao_shared::credential::{Credential, SignedCredential};
use shuipiao_shared::ids::{BookId, DeviceId, EventId, ProductCode, ScopeId};
use shuipiao_shared::keyring::{IssuerKey, KeyState, Keyring, Kid};
use shuipiao_shared::ledger::{self, BookTerms, LedgerEvent, LedgerEventKind};
use shuipiao_shared::status::{StatusSets, StatusSnapshot};
use shuipiao_shared::verdict::{self, BookView, DoorContext, FreshnessPolicy, StatusView};

const NOW: u64 = 1_790_000_000;

struct NoUse;

impl StatusView for NoUse {
    fn book(&self, _: BookId) -> BookView {
        BookView::default()
    }
    fn stale_units_total(&self) -> u32 {
        0
    }
}

fn issuer() -> SigningKey {
    SigningKey::from_bytes(&[11; 32])
}

fn ticket() -> SignedCredential {
    Credential {
        kid: Kid([0; 4]),
        book_id: BookId(1_234_567),
        product: ProductCode(1),
        units: 10,
        scope: ScopeId(1),
        valid_from: 1_780_000_000,
        valid_until: 1_800_000_000,
        holder_tag: 42,
    }
    .sign(&issuer())
}

fn credential_verify(c: &mut Criterion) {
    let key = issuer().verifying_key();
    let signed = ticket();
    let body = signed.credential.body_bytes();
    let signature = Signature::from_bytes(&signed.signature);
    let text = signed.to_qr_text();
    let mut group = c.benchmark_group("credential");
    group.bench_function("raw verify_strict", |b| {
        b.iter(|| key.verify_strict(black_box(&body), black_box(&signature)))
    });
    group.bench_function("verify (parsed)", |b| {
        b.iter(|| black_box(&signed).verify(&key))
    });
    group.bench_function("parse QR text + verify", |b| {
        b.iter(|| {
            SignedCredential::from_qr_text(black_box(&text))
                .map(|c| c.verify(&key))
                .is_ok()
        })
    });
    group.bench_function("raw sign (for scale)", |b| {
        let signing = issuer();
        b.iter(|| signing.sign(black_box(&body)))
    });
    group.finish();
}

fn door_verdict(c: &mut Criterion) {
    let keyring = Keyring {
        version: 1,
        issued_at: NOW,
        keys: vec![IssuerKey::new(
            issuer().verifying_key(),
            0,
            u32::MAX,
            KeyState::Active,
        )],
    };
    let text = ticket().to_qr_text();
    let scopes = [ScopeId(1)];
    let ctx = DoorContext {
        now: NOW,
        scopes: &scopes,
        product: ProductCode(1),
        quantity: NonZeroU16::MIN,
        data_age: Some(60),
        policy: FreshnessPolicy::default(),
        supervisor_override: false,
        clock_rollback: false,
        offline: true,
    };
    c.bench_function("verdict: decide from QR text", |b| {
        b.iter(|| verdict::decide(black_box(&text), &keyring, &NoUse, &ctx))
    });
}

fn busy_book_ledger(c: &mut Criterion) {
    // A 100-unit book with 1,000 events: 900 one-unit redemptions from 10 devices and 100 voids.
    let mut events: Vec<LedgerEvent> = (0..900u64)
        .map(|i| LedgerEvent {
            event_id: EventId::v7(NOW * 1000 + i, [(i % 251) as u8; 10]),
            device_id: DeviceId(i % 10),
            device_seq: i / 10 + 1,
            at: NOW + i * 7 % 900,
            kind: LedgerEventKind::Redemption { units: 1 },
        })
        .collect();
    let voids: Vec<LedgerEvent> = events
        .iter()
        .step_by(9)
        .enumerate()
        .map(|(i, target)| LedgerEvent {
            event_id: EventId::v7(NOW * 1000 + 10_000 + i as u64, [7; 10]),
            device_id: target.device_id,
            device_seq: 1000 + i as u64,
            at: target.at + 30,
            kind: LedgerEventKind::Void {
                target: target.event_id,
            },
        })
        .collect();
    events.extend(voids);
    let terms = BookTerms {
        units: 100,
        ..BookTerms::default()
    };
    c.bench_function("ledger: 100-unit book, 1000 events", |b| {
        b.iter(|| ledger::compute(black_box(&terms), black_box(&events)))
    });
}

fn million_book_snapshot(c: &mut Criterion) {
    // 1e6 books, 5 % of them revoked or used up, spread pseudo-randomly.
    let mut revoked = RoaringTreemap::new();
    let mut used_up = RoaringTreemap::new();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for book in 1..=1_000_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        match x % 100 {
            0 => {
                revoked.insert(book);
            }
            1..=4 => {
                used_up.insert(book);
            }
            _ => {}
        }
    }
    let snapshot = StatusSnapshot {
        seq: 1,
        generated_at: NOW,
        sets: StatusSets { revoked, used_up },
    };
    let root = SigningKey::from_bytes(&[3; 32]);
    let bytes = snapshot.sign(&root);
    println!(
        "status snapshot: 1e6 books, {} revoked + {} used up = {} bytes",
        snapshot.sets.revoked.len(),
        snapshot.sets.used_up.len(),
        bytes.len()
    );
    let root_public = root.verifying_key();
    let mut group = c.benchmark_group("snapshot 1e6 books 5%");
    group.sample_size(20);
    group.bench_function("encode + sign", |b| {
        b.iter(|| snapshot.sign(black_box(&root)))
    });
    group.bench_function("verify + decode", |b| {
        b.iter(|| StatusSnapshot::open(black_box(&bytes), &root_public))
    });
    group.finish();
}

criterion_group!(
    benches,
    credential_verify,
    door_verdict,
    busy_book_ledger,
    million_book_snapshot
);
criterion_main!(benches);
