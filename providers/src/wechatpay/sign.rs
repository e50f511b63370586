//! WeChat Pay API v3 signatures: the merchant signs requests, the platform signs responses and
//! notifications.
//!
//! Request signature (签名生成, <https://pay.weixin.qq.com/wiki/doc/apiv3/wechatpay/wechatpay4_0.shtml>): the
//! five-line message `METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n`, where URL is the path with its
//! query string and BODY the exact JSON sent (empty for GET), signed SHA256withRSA with the
//! merchant API key and sent as
//! `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",timestamp="…",serial_no="…"`.
//!
//! Response and notification signature (签名验证, <https://pay.weixin.qq.com/wiki/doc/apiv3/wechatpay/wechatpay4_1.shtml>):
//! the three-line message `TIMESTAMP\nNONCE\nBODY\n` from the `Wechatpay-Timestamp`,
//! `Wechatpay-Nonce` headers and the exact body, checked against `Wechatpay-Signature` with the
//! platform certificate or platform public key named by `Wechatpay-Serial`. The documentation asks
//! the merchant to refuse a timestamp more than five minutes away from its own clock.

use std::collections::HashMap;

use crate::keys::{PrivateKey, PublicKey};

/// The authentication scheme of API v3 requests.
pub const SCHEMA: &str = "WECHATPAY2-SHA256-RSA2048";

/// How far (seconds) a signed timestamp may be from the verifier's clock, either way.
pub const TIMESTAMP_WINDOW_SECS: i64 = 5 * 60;

/// Why a signed request, response or notification was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    /// A `Wechatpay-*` header (or an `Authorization` field) is missing or malformed.
    #[error("missing or malformed signature header: {0}")]
    MissingHeader(&'static str),
    /// The serial names no key this side trusts.
    #[error("unknown certificate or public key serial {0:?}")]
    UnknownSerial(String),
    /// The signed timestamp is further than the window from this side's clock: a replay, or a
    /// clock gone wrong.
    #[error(
        "signed timestamp {timestamp} is outside the {TIMESTAMP_WINDOW_SECS}s window around {now}"
    )]
    Expired {
        /// The signed timestamp.
        timestamp: i64,
        /// This side's clock.
        now: i64,
    },
    /// The signature does not verify: forged, or body, timestamp or nonce altered.
    #[error("signature does not verify")]
    BadSignature,
}

/// The message a merchant signs for a request.
pub fn request_message(
    method: &str,
    path_and_query: &str,
    timestamp: i64,
    nonce: &str,
    body: &str,
) -> String {
    format!("{method}\n{path_and_query}\n{timestamp}\n{nonce}\n{body}\n")
}

/// The message the platform signs for a response or notification.
pub fn response_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut message = format!("{timestamp}\n{nonce}\n").into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    message
}

/// A merchant's signing identity: merchant number, API certificate serial and API private key.
#[derive(Debug)]
pub struct MerchantSigner {
    /// 商户号.
    pub mchid: String,
    /// Serial number of the merchant API certificate (商户API证书序列号).
    pub serial_no: String,
    /// The merchant API private key (`apiclient_key.pem`).
    pub key: PrivateKey,
}

impl MerchantSigner {
    /// The `Authorization` header value for one request.
    pub fn authorization(
        &self,
        method: &str,
        path_and_query: &str,
        timestamp: i64,
        nonce: &str,
        body: &str,
    ) -> String {
        let signature = self.key.sign_base64(
            request_message(method, path_and_query, timestamp, nonce, body).as_bytes(),
        );
        format!(
            "{SCHEMA} mchid=\"{}\",nonce_str=\"{nonce}\",signature=\"{signature}\",timestamp=\"{timestamp}\",serial_no=\"{}\"",
            self.mchid, self.serial_no
        )
    }
}

/// The fields of an `Authorization` header, as the platform (here, the simulator) reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// 商户号.
    pub mchid: String,
    /// Request nonce.
    pub nonce_str: String,
    /// Base64 signature.
    pub signature: String,
    /// Request timestamp (seconds).
    pub timestamp: i64,
    /// Merchant certificate serial.
    pub serial_no: String,
}

impl Authorization {
    /// Parses `WECHATPAY2-SHA256-RSA2048 k="v",…` (the five fields in any order, as documented).
    pub fn parse(header: &str) -> Result<Self, SignatureError> {
        let fields = header
            .strip_prefix(SCHEMA)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or(SignatureError::MissingHeader("Authorization schema"))?;
        let mut map = HashMap::new();
        for field in fields.split(',') {
            let (key, value) = field
                .trim()
                .split_once('=')
                .ok_or(SignatureError::MissingHeader("Authorization field"))?;
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .ok_or(SignatureError::MissingHeader("Authorization quoting"))?;
            if map.insert(key, value.to_owned()).is_some() {
                return Err(SignatureError::MissingHeader(
                    "Authorization duplicate field",
                ));
            }
        }
        let mut take =
            |name: &'static str| map.remove(name).ok_or(SignatureError::MissingHeader(name));
        Ok(Self {
            mchid: take("mchid")?,
            nonce_str: take("nonce_str")?,
            signature: take("signature")?,
            timestamp: take("timestamp")?
                .parse()
                .map_err(|_| SignatureError::MissingHeader("timestamp"))?,
            serial_no: take("serial_no")?,
        })
    }

    /// Checks this header against the request and the merchant key named by `serial_no`.
    pub fn verify(
        &self,
        keys: &HashMap<String, PublicKey>,
        method: &str,
        path_and_query: &str,
        body: &str,
        now: i64,
    ) -> Result<(), SignatureError> {
        let key = keys
            .get(&self.serial_no)
            .ok_or_else(|| SignatureError::UnknownSerial(self.serial_no.clone()))?;
        check_window(self.timestamp, now)?;
        let message = request_message(
            method,
            path_and_query,
            self.timestamp,
            &self.nonce_str,
            body,
        );
        if key.verify_base64(message.as_bytes(), &self.signature) {
            Ok(())
        } else {
            Err(SignatureError::BadSignature)
        }
    }
}

/// The four `Wechatpay-*` headers of a response or notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `Wechatpay-Timestamp`.
    pub timestamp: String,
    /// `Wechatpay-Nonce`.
    pub nonce: String,
    /// `Wechatpay-Signature` (base64).
    pub signature: String,
    /// `Wechatpay-Serial`: which platform certificate or public key signed.
    pub serial: String,
}

impl SignedHeaders {
    /// Reads the four headers; header names are case-insensitive.
    pub fn from_headers(headers: &axum::http::HeaderMap) -> Result<Self, SignatureError> {
        let get = |name: &'static str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .ok_or(SignatureError::MissingHeader(name))
        };
        Ok(Self {
            timestamp: get("Wechatpay-Timestamp")?,
            nonce: get("Wechatpay-Nonce")?,
            signature: get("Wechatpay-Signature")?,
            serial: get("Wechatpay-Serial")?,
        })
    }

    /// Signs `body` as the platform does (used by the simulator).
    pub fn sign(key: &PrivateKey, serial: &str, timestamp: i64, nonce: &str, body: &[u8]) -> Self {
        let timestamp = timestamp.to_string();
        let signature = key.sign_base64(&response_message(&timestamp, nonce, body));
        Self {
            timestamp,
            nonce: nonce.to_owned(),
            signature,
            serial: serial.to_owned(),
        }
    }

    /// The headers as `(name, value)` pairs, to attach to a response or notification.
    pub fn pairs(&self) -> [(&'static str, &str); 4] {
        [
            ("Wechatpay-Timestamp", &self.timestamp),
            ("Wechatpay-Nonce", &self.nonce),
            ("Wechatpay-Signature", &self.signature),
            ("Wechatpay-Serial", &self.serial),
        ]
    }
}

/// The platform keys a merchant trusts, by serial (a platform certificate serial, or a
/// `PUB_KEY_ID_…` platform public key ID), so that a key rotation can overlap.
#[derive(Debug, Clone, Default)]
pub struct PlatformVerifier {
    keys: HashMap<String, PublicKey>,
}

impl PlatformVerifier {
    /// A verifier trusting `key` under `serial`.
    pub fn new(serial: impl Into<String>, key: PublicKey) -> Self {
        let mut verifier = Self::default();
        verifier.add(serial, key);
        verifier
    }

    /// A verifier trusting a platform certificate under its own serial.
    pub fn from_certificate(certificate: crate::keys::Certificate) -> Self {
        Self::new(certificate.serial, certificate.public_key)
    }

    /// Trusts one more key (the new one during a rotation).
    pub fn add(&mut self, serial: impl Into<String>, key: PublicKey) {
        self.keys.insert(serial.into(), key);
    }

    /// Checks a response's or notification's headers and exact body at time `now` (seconds).
    pub fn verify(
        &self,
        headers: &SignedHeaders,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        let key = self
            .keys
            .get(&headers.serial)
            .ok_or_else(|| SignatureError::UnknownSerial(headers.serial.clone()))?;
        let timestamp: i64 = headers
            .timestamp
            .parse()
            .map_err(|_| SignatureError::MissingHeader("Wechatpay-Timestamp"))?;
        check_window(timestamp, now)?;
        let message = response_message(&headers.timestamp, &headers.nonce, body);
        if key.verify_base64(&message, &headers.signature) {
            Ok(())
        } else {
            Err(SignatureError::BadSignature)
        }
    }
}

fn check_window(timestamp: i64, now: i64) -> Result<(), SignatureError> {
    if timestamp.abs_diff(now) > TIMESTAMP_WINDOW_SECS.unsigned_abs() {
        return Err(SignatureError::Expired { timestamp, now });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn platform() -> (PrivateKey, PlatformVerifier) {
        let key = PrivateKey::from_pem(include_str!("../../test-keys/wechatpay-platform.key.pem"))
            .unwrap();
        let verifier = PlatformVerifier::new("PUB_KEY_ID_TEST", PublicKey::from(&key));
        (key, verifier)
    }

    fn merchant() -> MerchantSigner {
        MerchantSigner {
            mchid: "1900009191".into(),
            serial_no: "TESTSERIAL".into(),
            key: PrivateKey::from_pem(include_str!("../../test-keys/wechatpay-merchant.key.pem"))
                .unwrap(),
        }
    }

    #[test]
    fn the_request_message_is_five_lines_each_ending_in_a_newline() {
        assert_eq!(
            request_message(
                "GET",
                "/v3/certificates",
                1554208460,
                "593BEC0C930BF1AFEB40B4A08C8FB242",
                ""
            ),
            "GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n"
        );
        assert_eq!(response_message("1", "n", b"{}"), b"1\nn\n{}\n");
    }

    #[test]
    fn an_authorization_header_parses_back_and_verifies() {
        let signer = merchant();
        let header = signer.authorization(
            "POST",
            "/v3/pay/transactions/jsapi",
            1_700_000_000,
            "NONCE",
            "{\"a\":1}",
        );
        assert!(header.starts_with("WECHATPAY2-SHA256-RSA2048 mchid=\"1900009191\","));
        let parsed = Authorization::parse(&header).unwrap();
        assert_eq!(parsed.timestamp, 1_700_000_000);
        let keys = HashMap::from([("TESTSERIAL".to_owned(), PublicKey::from(&signer.key))]);
        let verify = |method, path, body, now| parsed.verify(&keys, method, path, body, now);
        assert_eq!(
            verify(
                "POST",
                "/v3/pay/transactions/jsapi",
                "{\"a\":1}",
                1_700_000_000
            ),
            Ok(())
        );
        assert_eq!(
            verify(
                "GET",
                "/v3/pay/transactions/jsapi",
                "{\"a\":1}",
                1_700_000_000
            ),
            Err(SignatureError::BadSignature)
        );
        assert_eq!(
            verify(
                "POST",
                "/v3/pay/transactions/h5",
                "{\"a\":1}",
                1_700_000_000
            ),
            Err(SignatureError::BadSignature)
        );
        assert_eq!(
            verify(
                "POST",
                "/v3/pay/transactions/jsapi",
                "{\"a\":2}",
                1_700_000_000
            ),
            Err(SignatureError::BadSignature)
        );
        assert!(matches!(
            verify(
                "POST",
                "/v3/pay/transactions/jsapi",
                "{\"a\":1}",
                1_700_000_301
            ),
            Err(SignatureError::Expired { .. })
        ));
        assert!(Authorization::parse("Bearer x").is_err());
        assert!(Authorization::parse(&header.replace("serial_no", "serial")).is_err());
    }

    proptest! {
        #[test]
        fn any_body_signs_and_verifies_and_any_bit_flip_fails(
            body in proptest::collection::vec(any::<u8>(), 0..300),
            nonce in "[A-Za-z0-9]{1,32}",
            skew in -TIMESTAMP_WINDOW_SECS..=TIMESTAMP_WINDOW_SECS,
            flip in any::<proptest::sample::Index>(),
            bit in 0u8..8,
            field in 0usize..4,
        ) {
            let (key, verifier) = platform();
            let now = 1_700_000_000;
            let headers = SignedHeaders::sign(&key, "PUB_KEY_ID_TEST", now + skew, &nonce, &body);
            prop_assert_eq!(verifier.verify(&headers, &body, now), Ok(()));

            let mut body2 = body.clone();
            let mut headers2 = headers.clone();
            let flip_in = |bytes: &mut Vec<u8>| { let i = flip.index(bytes.len()); bytes[i] ^= 1 << bit; };
            match field {
                0 if !body2.is_empty() => flip_in(&mut body2),
                0 => body2.push(b' '),
                1 => { let mut t = headers2.timestamp.into_bytes(); flip_in(&mut t); headers2.timestamp = String::from_utf8_lossy(&t).into_owned(); }
                2 => { let mut n = headers2.nonce.into_bytes(); flip_in(&mut n); headers2.nonce = String::from_utf8_lossy(&n).into_owned(); }
                _ => {
                    let mut s = data_encoding::BASE64.decode(headers2.signature.as_bytes()).unwrap();
                    let i = flip.index(s.len()); s[i] ^= 1 << bit;
                    headers2.signature = data_encoding::BASE64.encode(&s);
                }
            }
            prop_assert!(verifier.verify(&headers2, &body2, now).is_err());
        }

        #[test]
        fn timestamps_outside_the_window_fail(skew in (TIMESTAMP_WINDOW_SECS + 1)..100_000i64, past in any::<bool>()) {
            let (key, verifier) = platform();
            let now = 1_700_000_000;
            let timestamp = if past { now - skew } else { now + skew };
            let headers = SignedHeaders::sign(&key, "PUB_KEY_ID_TEST", timestamp, "n", b"{}");
            prop_assert_eq!(verifier.verify(&headers, b"{}", now), Err(SignatureError::Expired { timestamp, now }));
        }
    }

    #[test]
    fn an_unknown_serial_is_refused_before_anything_else() {
        let (key, verifier) = platform();
        let headers = SignedHeaders::sign(&key, "OTHER", 1, "n", b"{}");
        assert_eq!(
            verifier.verify(&headers, b"{}", 1),
            Err(SignatureError::UnknownSerial("OTHER".into()))
        );
    }
}
