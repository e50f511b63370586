//! The holder-bound rotating QR code (v2 credential) on the server side: which books show it,
//! binding a book to the key its holder's browser made, and turning the browser's signed proof
//! for one 30 s window into the QR text. The server never holds a holder's private key, so it
//! cannot make a proof itself; it only checks one before drawing it.

use ed25519_dalek::VerifyingKey;
use shuipiao_shared::holder::{ProofTime, RotatingCode, SignedHolderCredential};

use crate::store::models::{Book, User};
use crate::store::{Store, StoreResult};

/// How a book's QR code is shown in the wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QrMode {
    /// A v1 credential: one static code, printable.
    Static,
    /// A book of a holder-bound package without a holder key yet: the wallet binds one first.
    NeedsHolderKey,
    /// A v2 credential: the browser signs each window and the code rotates.
    Rotating(SignedHolderCredential),
}

/// Books followed back through their lineage before giving up; reissues are rare.
const MAX_LINEAGE: usize = 16;

/// The mode of `book`. A book reissued or split from a holder-bound one stays holder-bound,
/// though the replacement (signed before any browser had its key) starts as v1.
pub async fn mode(store: &Store, book: &Book) -> StoreResult<QrMode> {
    if let Ok(bound) = SignedHolderCredential::from_text(&book.issued.qr_text) {
        return Ok(QrMode::Rotating(bound));
    }
    let mut current = book.clone();
    for _ in 0..MAX_LINEAGE {
        if let Some(package_id) = current.package_id {
            let holder_bound = store.package(package_id).await?.spec.holder_bound;
            return Ok(if holder_bound {
                QrMode::NeedsHolderKey
            } else {
                QrMode::Static
            });
        }
        let Some(older) = current.issued.replaces else {
            break;
        };
        current = store.book(older).await?;
        if SignedHolderCredential::from_text(&current.issued.qr_text).is_ok() {
            return Ok(QrMode::NeedsHolderKey);
        }
    }
    Ok(QrMode::Static)
}

/// Whether `user` is the holder who may bind `book` to their browser: only the account that
/// holds it, not staff or an enterprise admin looking at a member's book.
pub fn may_bind(user: &User, book: &Book) -> bool {
    user.spec.account_id == Some(book.issued.account_id)
}

/// Reads a holder public key sent by the browser (64 hex characters): a valid Ed25519 point
/// that is not of small order, so no proof can verify under it by accident.
pub fn holder_key(hex: &str) -> Result<[u8; 32], &'static str> {
    let bytes: [u8; 32] = data_encoding::HEXLOWER_PERMISSIVE
        .decode(hex.trim().as_bytes())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or("公钥格式不正确")?;
    match VerifyingKey::from_bytes(&bytes) {
        Ok(key) if !key.is_weak() => Ok(bytes),
        _ => Err("公钥无效"),
    }
}

/// The rotating code for `bound` with the browser's `proof` (128 hex characters) for `window`,
/// if the proof verifies and its window is current at `now` by the rules the devices apply.
pub fn code(
    bound: &SignedHolderCredential,
    window: u32,
    proof_hex: &str,
    now: i64,
) -> Result<RotatingCode, &'static str> {
    let proof: [u8; 64] = data_encoding::HEXLOWER_PERMISSIVE
        .decode(proof_hex.trim().as_bytes())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or("签名格式不正确")?;
    let code = RotatingCode {
        signed: *bound,
        window,
        proof,
    };
    code.verify_proof()
        .map_err(|_| "签名与本水票绑定的手机不符,请重新启用动态码")?;
    match code.proof_time(u64::try_from(now).unwrap_or(0)) {
        ProofTime::Current => Ok(code),
        ProofTime::Expired | ProofTime::Ahead => Err("手机时间不准,请校准时间后刷新页面"),
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use shuipiao_shared::credential::Credential;
    use shuipiao_shared::holder::{HolderCredential, window_at};
    use shuipiao_shared::ids::{BookId, ProductCode, ScopeId};
    use shuipiao_shared::keyring::Kid;

    use super::*;

    const NOW: i64 = 1_790_000_000;

    fn holder() -> SigningKey {
        SigningKey::from_bytes(&[0x48; 32])
    }

    fn bound() -> SignedHolderCredential {
        HolderCredential {
            credential: Credential {
                kid: Kid([0; 4]),
                book_id: BookId(5),
                product: ProductCode(1),
                units: 3,
                scope: ScopeId::ANYWHERE,
                valid_from: 0,
                valid_until: u32::MAX,
                holder_tag: 0,
            },
            holder_key: holder().verifying_key().to_bytes(),
        }
        .sign(&SigningKey::from_bytes(&[0x26; 32]))
    }

    fn hex(bytes: &[u8]) -> String {
        data_encoding::HEXLOWER.encode(bytes)
    }

    #[test]
    fn holder_keys_must_be_sound_points() {
        let good = holder().verifying_key().to_bytes();
        assert_eq!(holder_key(&hex(&good)), Ok(good));
        assert_eq!(holder_key("abcd"), Err("公钥格式不正确"));
        assert_eq!(holder_key(&"zz".repeat(32)), Err("公钥格式不正确"));
        // The identity point has small order: anyone could "sign" under it.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(holder_key(&hex(&identity)), Err("公钥无效"));
    }

    #[test]
    fn only_a_current_proof_by_the_holder_is_drawn() {
        let window = window_at(NOW as u64);
        let proof = bound().present(&holder(), window).proof;
        let code = code(&bound(), window, &hex(&proof), NOW).expect("current proof");
        assert_eq!(code.verify_proof(), Ok(()));
        let stranger = bound()
            .present(&SigningKey::from_bytes(&[1; 32]), window)
            .proof;
        assert!(super::code(&bound(), window, &hex(&stranger), NOW).is_err());
        assert!(super::code(&bound(), window, &hex(&proof), NOW + 91).is_err());
        assert!(super::code(&bound(), window, "00", NOW).is_err());
    }
}
