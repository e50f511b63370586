//! The v2 holder-bound credential and its rotating QR code.
//!
//! A v2 credential is the v1 body with version byte `2` and the holder's Ed25519 public key
//! appended, signed by the issuer. The holder's browser keeps the private key (non-extractable)
//! and every 30 seconds signs the proof message `"SPH2" | book_id u64 | window u32`, where
//! `window = floor(unix seconds / 30)`. The QR then shows
//! `SP2` + base32(credential [129] | window u32 | proof signature [64]): 319 characters from
//! `A–Z 2–7`, QR alphanumeric mode, version 11 at level M.
//!
//! A device accepts the proof while it is at most [`MAX_PROOF_AGE`] seconds old by its own clock
//! and starts no more than [`MAX_CLOCK_AHEAD`] seconds in the future, so a screenshot is useless
//! after 90 seconds. A v2 credential never travels without a proof: its version byte makes it
//! unreadable as `SP1` text, so stripping the proof cannot turn it back into a static code.
//!
//! **Do not reorder or resize fields:** the byte layouts are signed.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::bytes::Reader;
use crate::credential::{
    self, BadSignature, Credential, ParseError, SignedCredential, decode_qr_text, has_prefix,
};
use crate::ids::BookId;
use crate::keyring::Kid;

/// Payload version of a holder-bound credential.
pub const VERSION: u8 = 2;
/// Length of the signed v2 body: the v1 fields and the holder key.
pub const BODY_LEN: usize = credential::BODY_LEN + 32;
/// Length of body plus issuer signature.
pub const ENCODED_LEN: usize = BODY_LEN + 64;
/// Length of a rotating code: credential, window and holder proof.
pub const CODE_LEN: usize = ENCODED_LEN + 4 + 64;
/// Prefix of rotating QR text; the `2` is the text format.
pub const QR_PREFIX: &str = "SP2";
/// Length of a rotating QR text.
pub const QR_TEXT_LEN: usize = 319;
/// Prefix of the stored text of a bound credential without a proof ([`SignedHolderCredential::to_text`]).
/// Devices refuse it as `wrong_prefix`: it is what the server keeps, never a QR code.
pub const STORED_PREFIX: &str = "SPB2";
/// Seconds per proof window: the wallet shows a new code this often.
pub const WINDOW_SECS: u64 = 30;
/// Oldest proof a device accepts, in seconds from the start of its window: a screenshot is
/// refused once it is older than this, whatever the clocks say.
pub const MAX_PROOF_AGE: u64 = 90;
/// How far the holder's phone clock may run ahead of the device's.
pub const MAX_CLOCK_AHEAD: u64 = 60;
/// Domain tag of the proof message, so the holder key signs nothing else by mistake.
pub const PROOF_TAG: &[u8; 4] = b"SPH2";
/// Length of the proof message.
pub const PROOF_MESSAGE_LEN: usize = 16;

/// A ticket book bound to one holder key. The v1 fields keep their meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolderCredential {
    /// The book's facts, as in v1.
    pub credential: Credential,
    /// The holder's Ed25519 public key; only its private half can make a valid proof.
    #[serde(with = "crate::bytes::hex_array")]
    pub holder_key: [u8; 32],
}

/// A v2 credential with its issuer signature. Not verified until
/// [`SignedHolderCredential::verify`] says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedHolderCredential {
    /// The signed body.
    pub bound: HolderCredential,
    /// Issuer's Ed25519 signature over [`HolderCredential::body_bytes`].
    pub signature: [u8; 64],
}

/// What a rotating QR code carries: the credential and the holder's proof for one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotatingCode {
    /// The holder-bound credential.
    pub signed: SignedHolderCredential,
    /// `floor(unix seconds / 30)` of the moment the wallet signed.
    pub window: u32,
    /// Holder's signature over [`proof_message`]`(book_id, window)`.
    pub proof: [u8; 64],
}

/// How a proof's window relates to the device clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofTime {
    /// Within the accepted span.
    Current,
    /// Older than [`MAX_PROOF_AGE`]: a screenshot or a page left open.
    Expired,
    /// More than [`MAX_CLOCK_AHEAD`] in the future: one of the clocks is wrong.
    Ahead,
}

/// Either QR format, as scanned at the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    /// A v1 code (`SP1`): wallet page, print-out or screenshot alike.
    Static(SignedCredential),
    /// A v2 rotating code (`SP2`) from the wallet page.
    Rotating(RotatingCode),
}

/// The window that contains `now` (unix seconds); saturates in the year 4000.
pub fn window_at(now: u64) -> u32 {
    u32::try_from(now / WINDOW_SECS).unwrap_or(u32::MAX)
}

/// The 16 bytes the holder signs for `book_id` in `window`.
pub fn proof_message(book_id: BookId, window: u32) -> [u8; PROOF_MESSAGE_LEN] {
    let mut out = [0u8; PROOF_MESSAGE_LEN];
    out[..4].copy_from_slice(PROOF_TAG);
    out[4..12].copy_from_slice(&book_id.0.to_be_bytes());
    out[12..].copy_from_slice(&window.to_be_bytes());
    out
}

impl HolderCredential {
    /// The 65 signed bytes: the v1 layout under version 2, then the holder key.
    pub fn body_bytes(&self) -> [u8; BODY_LEN] {
        let mut out = [0u8; BODY_LEN];
        out[..credential::BODY_LEN].copy_from_slice(&self.credential.fields_bytes(VERSION));
        out[credential::BODY_LEN..].copy_from_slice(&self.holder_key);
        out
    }

    /// Signs with `key`, first setting `kid` to that key's id so the two cannot disagree.
    pub fn sign(mut self, key: &SigningKey) -> SignedHolderCredential {
        self.credential.kid = Kid::of(&key.verifying_key());
        let signature = key.sign(&self.body_bytes()).to_bytes();
        SignedHolderCredential {
            bound: self,
            signature,
        }
    }
}

impl SignedHolderCredential {
    /// Body and issuer signature, 129 bytes.
    pub fn to_bytes(&self) -> [u8; ENCODED_LEN] {
        let mut out = [0u8; ENCODED_LEN];
        out[..BODY_LEN].copy_from_slice(&self.bound.body_bytes());
        out[BODY_LEN..].copy_from_slice(&self.signature);
        out
    }

    fn read(reader: &mut Reader<'_>) -> Result<SignedHolderCredential, ParseError> {
        let version = reader.u8()?;
        if version != VERSION {
            return Err(ParseError::UnsupportedVersion(version));
        }
        let credential = Credential::read_fields(reader)?;
        let bound = HolderCredential {
            credential,
            holder_key: reader.array()?,
        };
        Ok(SignedHolderCredential {
            bound,
            signature: reader.array()?,
        })
    }

    /// The text the server stores and hands to the wallet: `SPB2` + base32 of the 129 bytes.
    pub fn to_text(&self) -> String {
        let mut text = String::from(STORED_PREFIX);
        data_encoding::BASE32_NOPAD.encode_append(&self.to_bytes(), &mut text);
        text
    }

    /// Parses [`SignedHolderCredential::to_text`] with the QR text's rules and error kinds.
    pub fn from_text(text: &str) -> Result<SignedHolderCredential, ParseError> {
        let bytes = decode_qr_text(text, STORED_PREFIX)?;
        let mut reader = Reader::new(&bytes);
        let signed = SignedHolderCredential::read(&mut reader)?;
        reader.finish()?;
        Ok(signed)
    }

    /// Verifies the issuer signature with `verify_strict`; the caller picks the key by `kid`.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), BadSignature> {
        key.verify_strict(
            &self.bound.body_bytes(),
            &Signature::from_bytes(&self.signature),
        )
        .map_err(|_| BadSignature)
    }

    /// The rotating code for `window`, signed with the holder's key. The wallet does this in
    /// the browser; tests and tools use this.
    pub fn present(&self, holder: &SigningKey, window: u32) -> RotatingCode {
        let message = proof_message(self.bound.credential.book_id, window);
        RotatingCode {
            signed: *self,
            window,
            proof: holder.sign(&message).to_bytes(),
        }
    }
}

impl RotatingCode {
    /// Credential, window and proof, 197 bytes.
    pub fn to_bytes(&self) -> [u8; CODE_LEN] {
        let mut out = [0u8; CODE_LEN];
        out[..ENCODED_LEN].copy_from_slice(&self.signed.to_bytes());
        out[ENCODED_LEN..ENCODED_LEN + 4].copy_from_slice(&self.window.to_be_bytes());
        out[ENCODED_LEN + 4..].copy_from_slice(&self.proof);
        out
    }

    /// Reads a rotating code; the version byte is checked first.
    pub fn from_bytes(bytes: &[u8]) -> Result<RotatingCode, ParseError> {
        let mut reader = Reader::new(bytes);
        let signed = SignedHolderCredential::read(&mut reader)?;
        let window = reader.u32()?;
        let proof = reader.array()?;
        reader.finish()?;
        Ok(RotatingCode {
            signed,
            window,
            proof,
        })
    }

    /// The QR text: `SP2` + base32, upper case, no padding.
    pub fn to_qr_text(&self) -> String {
        let mut text = String::with_capacity(QR_TEXT_LEN);
        text.push_str(QR_PREFIX);
        data_encoding::BASE32_NOPAD.encode_append(&self.to_bytes(), &mut text);
        text
    }

    /// Parses rotating QR text with the same tolerances as v1 (whitespace, letter case).
    pub fn from_qr_text(text: &str) -> Result<RotatingCode, ParseError> {
        RotatingCode::from_bytes(&decode_qr_text(text, QR_PREFIX)?)
    }

    /// Verifies the holder's proof under the key the credential carries. Check the issuer
    /// signature first: until then the holder key is only a claim.
    pub fn verify_proof(&self) -> Result<(), BadSignature> {
        let holder =
            VerifyingKey::from_bytes(&self.signed.bound.holder_key).map_err(|_| BadSignature)?;
        let message = proof_message(self.signed.bound.credential.book_id, self.window);
        holder
            .verify_strict(&message, &Signature::from_bytes(&self.proof))
            .map_err(|_| BadSignature)
    }

    /// Where the proof's window stands against the device clock `now` (unix seconds).
    pub fn proof_time(&self, now: u64) -> ProofTime {
        let start = u64::from(self.window) * WINDOW_SECS;
        if start > now.saturating_add(MAX_CLOCK_AHEAD) {
            ProofTime::Ahead
        } else if now.saturating_sub(start) > MAX_PROOF_AGE {
            ProofTime::Expired
        } else {
            ProofTime::Current
        }
    }
}

impl Presented {
    /// Parses either format by its prefix; any other text is [`ParseError::WrongPrefix`] or
    /// another parse error, as for v1.
    pub fn from_qr_text(text: &str) -> Result<Presented, ParseError> {
        let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace());
        if has_prefix(trimmed, QR_PREFIX) {
            RotatingCode::from_qr_text(text).map(Presented::Rotating)
        } else {
            SignedCredential::from_qr_text(text).map(Presented::Static)
        }
    }

    /// The book's facts, whichever the format.
    pub fn credential(&self) -> &Credential {
        match self {
            Presented::Static(signed) => &signed.credential,
            Presented::Rotating(code) => &code.signed.bound.credential,
        }
    }

    /// Verifies the issuer signature under `key`.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), BadSignature> {
        match self {
            Presented::Static(signed) => signed.verify(key),
            Presented::Rotating(code) => code.signed.verify(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ProductCode, ScopeId};

    const NOW: u64 = 1_790_000_000;

    fn issuer() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn holder() -> SigningKey {
        SigningKey::from_bytes(&[9; 32])
    }

    fn bound() -> SignedHolderCredential {
        HolderCredential {
            credential: Credential {
                kid: Kid([0; 4]),
                book_id: BookId(42),
                product: ProductCode(1),
                units: 10,
                scope: ScopeId(3),
                valid_from: 1_700_000_000,
                valid_until: 1_800_000_000,
                holder_tag: 7,
            },
            holder_key: holder().verifying_key().to_bytes(),
        }
        .sign(&issuer())
    }

    #[test]
    fn rotating_text_has_documented_shape_and_round_trips() {
        let code = bound().present(&holder(), window_at(NOW));
        let text = code.to_qr_text();
        assert_eq!(text.len(), QR_TEXT_LEN);
        assert!(text.starts_with(QR_PREFIX));
        assert_eq!(RotatingCode::from_qr_text(&text), Ok(code));
        let noisy = format!(" {}\r\n", text.to_ascii_lowercase());
        assert_eq!(
            Presented::from_qr_text(&noisy),
            Ok(Presented::Rotating(code))
        );
        assert_eq!(code.signed.verify(&issuer().verifying_key()), Ok(()));
        assert_eq!(code.verify_proof(), Ok(()));
    }

    #[test]
    fn proof_from_another_key_or_window_fails() {
        let mut code = bound().present(&SigningKey::from_bytes(&[10; 32]), window_at(NOW));
        assert_eq!(code.verify_proof(), Err(BadSignature));
        code = bound().present(&holder(), window_at(NOW));
        code.window += 1;
        assert_eq!(code.verify_proof(), Err(BadSignature));
    }

    #[test]
    fn proof_time_allows_ninety_seconds_and_a_minute_ahead() {
        let code = bound().present(&holder(), 1000);
        let start = 1000 * WINDOW_SECS;
        assert_eq!(code.proof_time(start), ProofTime::Current);
        assert_eq!(code.proof_time(start + 90), ProofTime::Current);
        assert_eq!(code.proof_time(start + 91), ProofTime::Expired);
        assert_eq!(code.proof_time(start - 60), ProofTime::Current);
        assert_eq!(code.proof_time(start - 61), ProofTime::Ahead);
    }

    #[test]
    fn stored_text_round_trips_and_is_no_door_code() {
        let signed = bound();
        let text = signed.to_text();
        assert!(text.starts_with(STORED_PREFIX));
        assert_eq!(SignedHolderCredential::from_text(&text), Ok(signed));
        assert_eq!(
            Presented::from_qr_text(&text).map_err(|e| e.kind()),
            Err("wrong_prefix")
        );
    }

    #[test]
    fn v2_credential_is_not_readable_as_static_text() {
        let code = bound().present(&holder(), 1);
        let mut static_text = String::from(credential::QR_PREFIX);
        data_encoding::BASE32_NOPAD.encode_append(&code.signed.to_bytes(), &mut static_text);
        assert_eq!(
            Presented::from_qr_text(&static_text).map_err(|e| e.kind()),
            Err("unsupported_version")
        );
    }
}
