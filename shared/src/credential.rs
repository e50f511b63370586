//! The v1 ticket-book credential: what a QR code carries (docs/protocol.md, "Ticket book credential").
//!
//! A credential is a fixed 33-byte big-endian body followed by a 64-byte Ed25519 signature over
//! the body. As QR text it is `SP1` followed by the RFC 4648 base32 of those 97 bytes (upper case,
//! no padding): 159 characters from `A–Z 2–7`, which fits QR alphanumeric mode and survives
//! keyboard-wedge scanners on any keyboard layout.
//!
//! Parsing is total: any input yields a [`SignedCredential`] or a [`ParseError`], never a panic.
//! Parsing does not verify; call [`SignedCredential::verify`] with the issuer key named by `kid`.
//!
//! **Do not reorder or resize fields:** the byte layout is signed and printed on paper.

use data_encoding::{BASE32_NOPAD, DecodeKind};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::bytes::{ReadError, Reader};
use crate::ids::{BookId, ProductCode, ScopeId};
use crate::keyring::Kid;

/// The only credential version this crate reads and writes.
pub const VERSION: u8 = 1;
/// Length of the signed body.
pub const BODY_LEN: usize = 33;
/// Length of body plus signature.
pub const ENCODED_LEN: usize = BODY_LEN + 64;
/// Prefix of the QR text; the `1` is the text format, not the payload version.
pub const QR_PREFIX: &str = "SP1";
/// Length of a v1 QR text.
pub const QR_TEXT_LEN: usize = 159;
/// Longer texts are refused before decoding, so garbage from a scanner costs nothing.
pub const MAX_QR_TEXT_LEN: usize = 512;

/// The signed facts of a ticket book. How many units are left is not here: the ledger holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// Which issuer key signed it.
    pub kid: Kid,
    /// Server serial of the book.
    pub book_id: BookId,
    /// Product the units are for.
    pub product: ProductCode,
    /// Tickets (bottles) in the book.
    pub units: u16,
    /// Where it may be redeemed; [`ScopeId::ANYWHERE`] for everywhere.
    pub scope: ScopeId,
    /// First valid second (unix, UTC).
    pub valid_from: u32,
    /// Last valid second (unix, UTC), inclusive.
    pub valid_until: u32,
    /// First 4 bytes of an HMAC of the holder's account id: lets support match a book to an
    /// account without putting personal data in the QR.
    pub holder_tag: u32,
}

/// A credential with its signature, as read from a QR code. Not verified until
/// [`SignedCredential::verify`] says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedCredential {
    /// The signed body.
    pub credential: Credential,
    /// Ed25519 signature over [`Credential::body_bytes`].
    pub signature: [u8; 64],
}

/// Why a text or byte string is not a well-formed credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ParseError {
    /// Nothing but whitespace.
    #[error("empty input")]
    Empty,
    /// Over [`MAX_QR_TEXT_LEN`] characters.
    #[error("input too long: {chars} characters")]
    TooLong {
        /// Length of the input.
        chars: usize,
    },
    /// The text does not start with the prefix of its format (`SP1`, or `SP2` for a rotating
    /// code).
    #[error("not a Shuipiao code: unknown prefix")]
    WrongPrefix,
    /// A character outside the base32 alphabet, at this character position of the trimmed text.
    #[error("invalid character at position {position}")]
    InvalidCharacter {
        /// Character index in the trimmed text.
        position: usize,
    },
    /// No whole number of bytes has this many base32 characters.
    #[error("base32 text of impossible length {chars}")]
    BadLength {
        /// Characters after the prefix.
        chars: usize,
    },
    /// Non-zero padding bits: another text already encodes these bytes.
    #[error("non-canonical base32 text")]
    NonCanonical,
    /// A version this crate does not read.
    #[error("unsupported credential version {0}")]
    UnsupportedVersion(u8),
    /// The payload is shorter or longer than its format.
    #[error("malformed payload: {0}")]
    Payload(#[from] ReadError),
}

impl ParseError {
    /// Stable snake_case name of the error kind, as used in the test vectors.
    pub fn kind(&self) -> &'static str {
        match self {
            ParseError::Empty => "empty",
            ParseError::TooLong { .. } => "too_long",
            ParseError::WrongPrefix => "wrong_prefix",
            ParseError::InvalidCharacter { .. } => "invalid_character",
            ParseError::BadLength { .. } => "bad_length",
            ParseError::NonCanonical => "non_canonical",
            ParseError::UnsupportedVersion(_) => "unsupported_version",
            ParseError::Payload(ReadError::Truncated { .. }) => "truncated",
            ParseError::Payload(ReadError::Trailing { .. }) => "trailing_bytes",
            ParseError::Payload(ReadError::BadVarint { .. }) => "bad_varint",
        }
    }
}

/// The signature does not match the body under the given key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("signature does not verify")]
pub struct BadSignature;

impl Credential {
    /// The 33 signed bytes.
    pub fn body_bytes(&self) -> [u8; BODY_LEN] {
        self.fields_bytes(VERSION)
    }

    /// The body layout under `version`: the holder-bound v2 credential
    /// ([`crate::holder`]) shares it and appends its holder key.
    pub(crate) fn fields_bytes(&self, version: u8) -> [u8; BODY_LEN] {
        let mut out = [0u8; BODY_LEN];
        out[0] = version;
        out[1..5].copy_from_slice(&self.kid.0);
        out[5..13].copy_from_slice(&self.book_id.0.to_be_bytes());
        out[13..15].copy_from_slice(&self.product.0.to_be_bytes());
        out[15..17].copy_from_slice(&self.units.to_be_bytes());
        out[17..21].copy_from_slice(&self.scope.0.to_be_bytes());
        out[21..25].copy_from_slice(&self.valid_from.to_be_bytes());
        out[25..29].copy_from_slice(&self.valid_until.to_be_bytes());
        out[29..33].copy_from_slice(&self.holder_tag.to_be_bytes());
        out
    }

    /// Reads the fields after the version byte, the inverse of [`Credential::fields_bytes`].
    pub(crate) fn read_fields(reader: &mut Reader<'_>) -> Result<Credential, ReadError> {
        Ok(Credential {
            kid: Kid(reader.array()?),
            book_id: BookId(reader.u64()?),
            product: ProductCode(reader.u16()?),
            units: reader.u16()?,
            scope: ScopeId(reader.u32()?),
            valid_from: reader.u32()?,
            valid_until: reader.u32()?,
            holder_tag: reader.u32()?,
        })
    }

    /// Signs with `key`, first setting `kid` to that key's id so the two cannot disagree.
    pub fn sign(mut self, key: &SigningKey) -> SignedCredential {
        self.kid = Kid::of(&key.verifying_key());
        let signature = key.sign(&self.body_bytes()).to_bytes();
        SignedCredential {
            credential: self,
            signature,
        }
    }

    /// Whether `now` (unix seconds) lies in `valid_from..=valid_until`.
    pub fn is_valid_at(&self, now: u64) -> bool {
        u64::from(self.valid_from) <= now && now <= u64::from(self.valid_until)
    }
}

impl SignedCredential {
    /// Body and signature, 97 bytes.
    pub fn to_bytes(&self) -> [u8; ENCODED_LEN] {
        let mut out = [0u8; ENCODED_LEN];
        out[..BODY_LEN].copy_from_slice(&self.credential.body_bytes());
        out[BODY_LEN..].copy_from_slice(&self.signature);
        out
    }

    /// Reads body and signature. The version byte is checked first, so a future format is
    /// reported as such rather than as a length error.
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedCredential, ParseError> {
        let mut reader = Reader::new(bytes);
        let version = reader.u8()?;
        if version != VERSION {
            return Err(ParseError::UnsupportedVersion(version));
        }
        let credential = Credential::read_fields(&mut reader)?;
        let signature = reader.array()?;
        reader.finish()?;
        Ok(SignedCredential {
            credential,
            signature,
        })
    }

    /// The QR text: `SP1` + base32, upper case, no padding.
    pub fn to_qr_text(&self) -> String {
        let mut text = String::with_capacity(QR_TEXT_LEN);
        text.push_str(QR_PREFIX);
        BASE32_NOPAD.encode_append(&self.to_bytes(), &mut text);
        text
    }

    /// Parses QR text. Surrounding whitespace (scanner terminators) is ignored and so is letter
    /// case (a wedge scanner with Caps Lock on inverts it); both are safe because the signature
    /// covers the decoded bytes, not the text.
    pub fn from_qr_text(text: &str) -> Result<SignedCredential, ParseError> {
        SignedCredential::from_bytes(&decode_qr_text(text, QR_PREFIX)?)
    }

    /// Verifies the signature with `verify_strict` (rejects malleable and small-order forms).
    /// The caller picks the key by [`Credential::kid`].
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), BadSignature> {
        key.verify_strict(
            &self.credential.body_bytes(),
            &Signature::from_bytes(&self.signature),
        )
        .map_err(|_| BadSignature)
    }
}

/// Decodes the base32 bytes of a QR text that starts with `prefix` (`SP1`, `SP2`), with the
/// tolerances and error kinds documented in `docs/protocol.md`; the caller parses the payload.
pub(crate) fn decode_qr_text(text: &str, prefix: &str) -> Result<Vec<u8>, ParseError> {
    let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
    if text.is_empty() {
        return Err(ParseError::Empty);
    }
    if text.len() > MAX_QR_TEXT_LEN {
        return Err(ParseError::TooLong { chars: text.len() });
    }
    if !has_prefix(text, prefix) {
        return Err(ParseError::WrongPrefix);
    }
    let body = &text.as_bytes()[prefix.len()..];
    let mut upper = Vec::with_capacity(body.len());
    for (i, &b) in body.iter().enumerate() {
        let b = b.to_ascii_uppercase();
        if !(b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)) {
            return Err(ParseError::InvalidCharacter {
                position: prefix.len() + i,
            });
        }
        upper.push(b);
    }
    BASE32_NOPAD.decode(&upper).map_err(|e| match e.kind {
        DecodeKind::Trailing => ParseError::NonCanonical,
        DecodeKind::Symbol | DecodeKind::Padding => ParseError::InvalidCharacter {
            position: prefix.len() + e.position,
        },
        DecodeKind::Length => ParseError::BadLength { chars: upper.len() },
    })
}

/// Whether `text`, already trimmed, starts with `prefix` in either letter case.
pub(crate) fn has_prefix(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SignedCredential {
        let key = SigningKey::from_bytes(&[7; 32]);
        Credential {
            kid: Kid([0; 4]),
            book_id: BookId(42),
            product: ProductCode(189),
            units: 10,
            scope: ScopeId(3),
            valid_from: 1_700_000_000,
            valid_until: 1_800_000_000,
            holder_tag: 0xdead_beef,
        }
        .sign(&key)
    }

    #[test]
    fn qr_text_has_documented_shape() {
        let text = sample().to_qr_text();
        assert_eq!(text.len(), QR_TEXT_LEN);
        assert!(text.starts_with(QR_PREFIX));
        assert!(
            text[3..]
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        );
    }

    #[test]
    fn round_trips_and_verifies() {
        let signed = sample();
        let parsed = SignedCredential::from_qr_text(&signed.to_qr_text()).unwrap();
        assert_eq!(parsed, signed);
        let key = SigningKey::from_bytes(&[7; 32]).verifying_key();
        assert_eq!(parsed.verify(&key), Ok(()));
        assert_eq!(parsed.credential.kid, Kid::of(&key));
    }

    #[test]
    fn tolerates_case_and_scanner_whitespace() {
        let text = sample().to_qr_text();
        let noisy = format!("\t {}\r\n", text.to_ascii_lowercase());
        assert_eq!(SignedCredential::from_qr_text(&noisy), Ok(sample()));
    }

    #[test]
    fn edited_body_fails_verification() {
        let mut signed = sample();
        signed.credential.units = 11;
        let key = SigningKey::from_bytes(&[7; 32]).verifying_key();
        assert_eq!(signed.verify(&key), Err(BadSignature));
    }

    #[test]
    fn reports_each_malformation() {
        let text = sample().to_qr_text();
        let parse = SignedCredential::from_qr_text;
        assert_eq!(parse("  \r\n"), Err(ParseError::Empty));
        assert_eq!(
            parse(&text.replacen("SP1", "SP2", 1)),
            Err(ParseError::WrongPrefix)
        );
        assert_eq!(
            parse(&format!("{}1", &text[..20])),
            Err(ParseError::InvalidCharacter { position: 20 })
        );
        assert_eq!(
            parse(&text[..text.len() - 1]),
            Err(ParseError::BadLength { chars: 155 })
        );
        assert!(matches!(
            parse(&text[..text.len() - 4]),
            Err(ParseError::Payload(ReadError::Truncated { .. }))
        ));
        assert!(matches!(
            parse(&format!("{text}AAAAAAAA")),
            Err(ParseError::Payload(ReadError::Trailing { extra: 5 }))
        ));
        assert_eq!(
            parse(&"A".repeat(600)),
            Err(ParseError::TooLong { chars: 600 })
        );
    }
}
