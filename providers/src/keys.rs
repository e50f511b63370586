//! RSA keys as the providers publish them, for SHA256withRSA (PKCS#1 v1.5) signatures.
//!
//! WeChat Pay hands out PKCS#8 PEM private keys (`apiclient_key.pem`) and, for its platform,
//! SubjectPublicKeyInfo PEM public keys; Alipay hands out the same structures as bare base64
//! (no PEM armour), and older Alipay tools write PKCS#1 `RSA PRIVATE KEY`. All are accepted here.
//!
//! `ring` signs and verifies; it takes a public key only as a PKCS#1 `RSAPublicKey`, so the
//! SubjectPublicKeyInfo wrapper is taken off by a small DER walk below (a whole ASN.1 or PEM
//! crate would be far more than these few fixed structures need).

use data_encoding::BASE64;
use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair, UnparsedPublicKey};

/// A key that could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// Not PEM, not base64, or not the expected PEM label.
    #[error("key is not in a recognised PEM or base64 form: {0}")]
    Encoding(&'static str),
    /// The DER inside is not an RSA key of an accepted size.
    #[error("key is not an RSA key ring accepts: {0}")]
    Rsa(String),
}

/// A merchant's RSA private key: signs with SHA256withRSA.
pub struct PrivateKey {
    pair: RsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

impl PrivateKey {
    /// Reads a PEM `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1), or the bare base64 of
    /// either, which is how Alipay's key tool prints them.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let (label, der) = decode_pem_or_base64(text)?;
        let pair = match label.as_deref() {
            Some("PRIVATE KEY") => {
                RsaKeyPair::from_pkcs8(&der).map_err(|e| KeyError::Rsa(e.to_string()))?
            }
            Some("RSA PRIVATE KEY") => {
                RsaKeyPair::from_der(&der).map_err(|e| KeyError::Rsa(e.to_string()))?
            }
            Some(_) => return Err(KeyError::Encoding("unexpected PEM label for a private key")),
            None => RsaKeyPair::from_pkcs8(&der)
                .or_else(|_| RsaKeyPair::from_der(&der))
                .map_err(|e| KeyError::Rsa(e.to_string()))?,
        };
        Ok(Self {
            pair,
            rng: SystemRandom::new(),
        })
    }

    /// SHA256withRSA (RSASSA-PKCS1-v1_5 with SHA-256) over `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let mut signature = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &self.rng,
                message,
                &mut signature,
            )
            .expect("signing with a parsed RSA key into a modulus-sized buffer cannot fail");
        signature
    }

    /// [`Self::sign`], base64 encoded (standard alphabet, padded), as both providers send it.
    pub fn sign_base64(&self, message: &[u8]) -> String {
        BASE64.encode(&self.sign(message))
    }
}

/// A provider's (or, in the simulator, a merchant's) RSA public key: verifies SHA256withRSA.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    pkcs1: Vec<u8>,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublicKey(..)")
    }
}

impl PublicKey {
    /// Reads a PEM `PUBLIC KEY` (SubjectPublicKeyInfo), a PEM `RSA PUBLIC KEY` (PKCS#1), or the
    /// bare base64 of a SubjectPublicKeyInfo (Alipay's 支付宝公钥 as the console shows it).
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let (label, der) = decode_pem_or_base64(text)?;
        let pkcs1 = match label.as_deref() {
            Some("PUBLIC KEY") | None => spki_to_pkcs1(&der)?,
            Some("RSA PUBLIC KEY") => der,
            Some(_) => return Err(KeyError::Encoding("unexpected PEM label for a public key")),
        };
        // Check it now, so that a bad configuration fails at start-up, not at the first payment.
        signature::RsaPublicKeyComponents::<Vec<u8>>::from_pkcs1(&pkcs1)?;
        Ok(Self { pkcs1 })
    }

    /// Whether `signature` is a valid SHA256withRSA signature of `message` by this key.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &self.pkcs1)
            .verify(message, signature)
            .is_ok()
    }

    /// [`Self::verify`] with a base64 signature; a signature that is not base64 does not verify.
    pub fn verify_base64(&self, message: &[u8], signature: &str) -> bool {
        BASE64
            .decode(signature.as_bytes())
            .is_ok_and(|s| self.verify(message, &s))
    }
}

/// A platform certificate (平台证书) as WeChat Pay's certificate mode hands it out: its serial
/// number, which `Wechatpay-Serial` names, and its public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The serial number in upper-case hex, as `Wechatpay-Serial` and `openssl x509 -serial`
    /// write it.
    pub serial: String,
    /// The certified public key.
    pub public_key: PublicKey,
}

impl Certificate {
    /// Reads a PEM `CERTIFICATE`. Only the serial and the key are taken: whether to trust the
    /// certificate is the operator's decision when installing it, as for a bare public key.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let (label, der) = decode_pem_or_base64(text)?;
        if label.as_deref() != Some("CERTIFICATE") {
            return Err(KeyError::Encoding("expected a PEM CERTIFICATE"));
        }
        let (tag, certificate, _) = tlv(&der)?;
        let (tag2, tbs, _) = tlv(certificate)?;
        if tag != SEQUENCE || tag2 != SEQUENCE {
            return Err(KeyError::Rsa(
                "certificate is not a SEQUENCE of a SEQUENCE".into(),
            ));
        }
        let (mut tag, mut field, mut rest) = tlv(tbs)?;
        if tag == EXPLICIT_VERSION {
            (tag, field, rest) = tlv(rest)?;
        }
        if tag != INTEGER {
            return Err(KeyError::Rsa("certificate has no serial number".into()));
        }
        let serial = data_encoding::HEXUPPER.encode(field.strip_prefix(&[0]).unwrap_or(field));
        // signature, issuer, validity, subject, then subjectPublicKeyInfo.
        for _ in 0..4 {
            (_, _, rest) = tlv(rest)?;
        }
        let spki_len = der_len(rest)?;
        let public_key = PublicKey {
            pkcs1: spki_to_pkcs1(&rest[..spki_len])?,
        };
        signature::RsaPublicKeyComponents::<Vec<u8>>::from_pkcs1(&public_key.pkcs1)?;
        Ok(Self { serial, public_key })
    }
}

/// The whole length (header included) of the DER value at the start of `der`.
fn der_len(der: &[u8]) -> Result<usize, KeyError> {
    let (_, _, rest) = tlv(der)?;
    Ok(der.len() - rest.len())
}

/// The public half of a private key (for the simulator and tests, which hold both).
impl From<&PrivateKey> for PublicKey {
    fn from(key: &PrivateKey) -> Self {
        use ring::signature::KeyPair;
        Self {
            pkcs1: key.pair.public_key().as_ref().to_vec(),
        }
    }
}

/// Extension to check a PKCS#1 key through ring's own parser.
trait FromPkcs1: Sized {
    fn from_pkcs1(der: &[u8]) -> Result<Self, KeyError>;
}

impl FromPkcs1 for signature::RsaPublicKeyComponents<Vec<u8>> {
    fn from_pkcs1(der: &[u8]) -> Result<Self, KeyError> {
        let (tag, body, rest) = tlv(der)?;
        if tag != SEQUENCE || !rest.is_empty() {
            return Err(KeyError::Rsa("RSAPublicKey is not one SEQUENCE".into()));
        }
        let (tag, n, body) = tlv(body)?;
        let (tag2, e, rest) = tlv(body)?;
        if tag != INTEGER || tag2 != INTEGER || !rest.is_empty() {
            return Err(KeyError::Rsa("RSAPublicKey is not two INTEGERs".into()));
        }
        let n = n.strip_prefix(&[0]).unwrap_or(n);
        if !(2048..=8192).contains(&(n.len() * 8)) {
            return Err(KeyError::Rsa(format!("modulus of {} bits", n.len() * 8)));
        }
        Ok(Self {
            n: n.to_vec(),
            e: e.to_vec(),
        })
    }
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
/// `[0] EXPLICIT`: the optional version of a TBSCertificate.
const EXPLICIT_VERSION: u8 = 0xa0;
/// DER of the OID 1.2.840.113549.1.1.1 (rsaEncryption).
const RSA_ENCRYPTION_OID: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];

/// One DER tag-length-value: `(tag, value, rest)`. Only definite lengths up to 4 bytes.
fn tlv(der: &[u8]) -> Result<(u8, &[u8], &[u8]), KeyError> {
    let bad = || KeyError::Rsa("truncated or malformed DER".into());
    let (&tag, rest) = der.split_first().ok_or_else(bad)?;
    let (&first, mut rest) = rest.split_first().ok_or_else(bad)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return Err(bad());
        }
        let (bytes, after) = rest.split_at(count);
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    if rest.len() < len {
        return Err(bad());
    }
    let (value, rest) = rest.split_at(len);
    Ok((tag, value, rest))
}

/// SubjectPublicKeyInfo → the PKCS#1 RSAPublicKey inside its BIT STRING.
fn spki_to_pkcs1(der: &[u8]) -> Result<Vec<u8>, KeyError> {
    let (tag, body, rest) = tlv(der)?;
    if tag != SEQUENCE || !rest.is_empty() {
        return Err(KeyError::Rsa(
            "SubjectPublicKeyInfo is not one SEQUENCE".into(),
        ));
    }
    let (tag, algorithm, body) = tlv(body)?;
    if tag != SEQUENCE || !algorithm.starts_with(RSA_ENCRYPTION_OID) {
        return Err(KeyError::Rsa("not an rsaEncryption key".into()));
    }
    let (tag, bits, rest) = tlv(body)?;
    match (tag, bits.split_first()) {
        (BIT_STRING, Some((0, key))) if rest.is_empty() => Ok(key.to_vec()),
        _ => Err(KeyError::Rsa(
            "subjectPublicKey is not a whole-byte BIT STRING".into(),
        )),
    }
}

/// PEM (first block) → `(Some(label), der)`; bare base64 → `(None, der)`.
fn decode_pem_or_base64(text: &str) -> Result<(Option<String>, Vec<u8>), KeyError> {
    let text = text.trim();
    let (label, body) = match text.strip_prefix("-----BEGIN ") {
        Some(after) => {
            let (label, rest) = after
                .split_once("-----")
                .ok_or(KeyError::Encoding("unterminated PEM header"))?;
            let end = format!("-----END {label}-----");
            let (body, _) = rest
                .split_once(end.as_str())
                .ok_or(KeyError::Encoding("missing PEM footer"))?;
            (Some(label.to_owned()), body)
        }
        None => (None, text),
    };
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = BASE64
        .decode(compact.as_bytes())
        .map_err(|_| KeyError::Encoding("body is not base64"))?;
    Ok((label, der))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MERCHANT_KEY: &str = include_str!("../test-keys/wechatpay-merchant.key.pem");
    const MERCHANT_PUB: &str = include_str!("../test-keys/wechatpay-merchant.pub.pem");
    const PLATFORM_PUB: &str = include_str!("../test-keys/wechatpay-platform.pub.pem");

    #[test]
    fn pem_keys_sign_and_verify_and_the_public_half_matches_the_file() {
        let key = PrivateKey::from_pem(MERCHANT_KEY).unwrap();
        let public = PublicKey::from_pem(MERCHANT_PUB).unwrap();
        assert_eq!(PublicKey::from(&key), public);
        let signature = key.sign_base64(b"message");
        assert!(public.verify_base64(b"message", &signature));
        assert!(!public.verify_base64(b"messagf", &signature));
        assert!(
            !PublicKey::from_pem(PLATFORM_PUB)
                .unwrap()
                .verify_base64(b"message", &signature)
        );
    }

    #[test]
    fn bare_base64_public_keys_are_read_as_alipay_prints_them() {
        let bare: String = MERCHANT_PUB
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        assert_eq!(
            PublicKey::from_pem(&bare).unwrap(),
            PublicKey::from_pem(MERCHANT_PUB).unwrap()
        );
    }

    #[test]
    fn a_certificate_gives_the_serial_openssl_prints_and_the_key_it_certifies() {
        let certificate =
            Certificate::from_pem(include_str!("../test-keys/wechatpay-platform.cert.pem"))
                .unwrap();
        assert_eq!(
            certificate.serial,
            "6E1D414B17AFC0A15A2E4491C9C14927801AF3EC"
        );
        assert_eq!(
            certificate.public_key,
            PublicKey::from_pem(PLATFORM_PUB).unwrap()
        );
        assert!(Certificate::from_pem(PLATFORM_PUB).is_err());
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert!(matches!(
            PublicKey::from_pem("not a key"),
            Err(KeyError::Encoding(_))
        ));
        assert!(matches!(PublicKey::from_pem("AAAA"), Err(KeyError::Rsa(_))));
        assert!(PrivateKey::from_pem(MERCHANT_PUB).is_err());
        assert!(PublicKey::from_pem(MERCHANT_KEY).is_err());
    }
}
