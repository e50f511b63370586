//! Signature checks in one run, interleaved so the noisy machine affects them alike: raw
//! `verify_strict` over a credential body, the credential's own verify (goal ≤ 1.1× raw), a
//! QR text parsed and verified, and a device event's signature alone and as a chain link.

use std::hint::black_box;
use std::time::Instant;

use ed25519_dalek::{Signature, SigningKey};
use shuipiao_shared::credential::SignedCredential;
use shuipiao_shared::event::{ChainTip, Event, EventBody, EventFlags, GENESIS_HASH};
use shuipiao_shared::ids::{BookId, DeviceId, EventId, UserId};

use crate::device::{self, NOW};
use crate::plant::PRODUCT;
use crate::{Cell, Options, Table};

/// Goal for a credential's verify, as a multiple of raw `verify_strict`.
pub const CREDENTIAL_GOAL: f64 = 1.1;

/// Rounds each operation runs in; the table shows the median round.
const ROUNDS: u32 = 5;

/// Times every check `options.verifications` times.
pub fn run(options: &Options) -> anyhow::Result<Table> {
    let issuer = device::issuer().verifying_key();
    let signed = device::ticket(1_234_567);
    let body = signed.credential.body_bytes();
    let signature = Signature::from_bytes(&signed.signature);
    let text = signed.to_qr_text();
    let device_key = SigningKey::from_bytes(&[0x54; 32]);
    let device_public = device_key.verifying_key();
    let event = Event {
        event_id: EventId::v7(NOW * 1000, [7; 10]),
        device_id: DeviceId(1),
        device_seq: 1,
        prev_hash: GENESIS_HASH,
        scanned_at: NOW,
        courier_id: UserId(1),
        flags: EventFlags::default(),
        body: EventBody::Redemption {
            book_id: BookId(1_234_567),
            units: 1,
            product: PRODUCT,
        },
    }
    .sign(&device_key);
    let checks: [(&str, &dyn Fn() -> bool); 5] = [
        ("raw verify_strict (credential body)", &|| {
            issuer
                .verify_strict(black_box(&body), black_box(&signature))
                .is_ok()
        }),
        ("credential verify (parsed)", &|| {
            black_box(&signed).verify(&issuer).is_ok()
        }),
        ("QR text → parse + verify", &|| {
            SignedCredential::from_qr_text(black_box(&text))
                .is_ok_and(|parsed| parsed.verify(&issuer).is_ok())
        }),
        ("event signature", &|| {
            black_box(&event).verify(&device_public)
        }),
        ("event chain link (signature + hash)", &|| {
            ChainTip::GENESIS
                .extend(DeviceId(1), &device_public, black_box(&event))
                .is_ok()
        }),
    ];
    let per_round = (options.verifications / ROUNDS).max(1);
    let mut rounds_ns: Vec<Vec<f64>> = vec![Vec::new(); checks.len()];
    for _ in 0..ROUNDS {
        for ((name, check), rounds) in checks.iter().zip(&mut rounds_ns) {
            let started = Instant::now();
            for _ in 0..per_round {
                anyhow::ensure!(check(), "{name} failed on a valid signature");
            }
            rounds.push(started.elapsed().as_nanos() as f64 / f64::from(per_round));
        }
    }
    let medians: Vec<f64> = rounds_ns
        .iter_mut()
        .map(|rounds| {
            rounds.sort_by(f64::total_cmp);
            rounds[rounds.len() / 2]
        })
        .collect();
    let mut table = Table::new(
        "verify: signature checks (one core)",
        &["check", "checks", "µs each", "per second", "vs raw"],
    );
    for ((name, _), ns) in checks.iter().zip(&medians) {
        table.rows.push(vec![
            Cell::text(*name),
            Cell::count(per_round * ROUNDS),
            Cell::figure(ns / 1000.0, 1),
            Cell::count(1e9 / ns),
            Cell::Ratio(ns / medians[0]),
        ]);
    }
    table.notes = vec![format!(
        "Goal: credential verify ≤ {CREDENTIAL_GOAL}× raw verify_strict. Each figure is the median \
         of {ROUNDS} interleaved rounds."
    )];
    Ok(table)
}
