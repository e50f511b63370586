//! The enrollment QR: what the admin console's 设备管理 page shows beside a one-time code, so a
//! device fills in the server address and the code by scanning instead of typing.
//!
//! The text is `SPENROLL:1:<code>:<server URL>` (docs/protocol.md, "Enrollment QR"): a fixed
//! prefix, a format version, the code (letters, digits and `-`, as the server makes it) and the
//! base URL the admin's browser reached the server at. The URL comes last so it may itself
//! contain `:`. [`parse`] is total: any text gives a value or a [`EnrollQrError`] that says what
//! is wrong, never a panic, so it can face whatever a camera reads.

use reqwest::Url;
use serde::{Deserialize, Serialize};
use shuipiao_shared::credential::SignedCredential;
use thiserror::Error;

/// The prefix that marks an enrollment QR (matched without regard to case).
pub const PREFIX: &str = "SPENROLL:";
/// The format version this device reads and writes.
pub const VERSION: &str = "1";
/// Longest enrollment text accepted, in bytes.
pub const MAX_LEN: usize = 512;
/// Longest code accepted, in characters.
const MAX_CODE_LEN: usize = 64;

/// What an enrollment QR carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollQr {
    /// Server base URL, `http` or `https`, without a trailing slash, query or fragment.
    pub server_url: String,
    /// The one-time enrollment code.
    pub code: String,
}

impl EnrollQr {
    /// The QR text of this enrollment, as the admin console writes it.
    pub fn to_text(&self) -> String {
        format!("{PREFIX}{VERSION}:{}:{}", self.code, self.server_url)
    }
}

/// Why a scanned text is not a usable enrollment QR.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EnrollQrError {
    /// A water ticket was scanned instead.
    #[error("this is a ticket, not an enrollment code")]
    Ticket,
    /// Some other code.
    #[error("not an enrollment QR")]
    NotEnrollment,
    /// Longer than [`MAX_LEN`].
    #[error("enrollment text longer than {MAX_LEN} bytes")]
    TooLong,
    /// A format version this app does not know.
    #[error("unsupported enrollment QR version {0:?}")]
    UnsupportedVersion(String),
    /// Version, code and URL are not all there.
    #[error("enrollment QR lacks its code or server URL")]
    Incomplete,
    /// The code has characters a server never puts in one, or is too long.
    #[error("malformed enrollment code")]
    BadCode,
    /// The server URL is not an absolute `http`/`https` URL with a host (and nothing else).
    #[error("bad server URL: {0}")]
    BadServerUrl(&'static str),
}

impl EnrollQrError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            EnrollQrError::Ticket => "enroll_qr_ticket",
            EnrollQrError::NotEnrollment => "enroll_qr_other",
            EnrollQrError::TooLong => "enroll_qr_too_long",
            EnrollQrError::UnsupportedVersion(_) => "enroll_qr_version",
            EnrollQrError::Incomplete => "enroll_qr_incomplete",
            EnrollQrError::BadCode => "enroll_qr_code",
            EnrollQrError::BadServerUrl(_) => "enroll_qr_url",
        }
    }

    /// zh-CN text for the courier.
    pub fn user_message(&self) -> &'static str {
        match self {
            EnrollQrError::Ticket => "这是水票二维码，请扫描管理后台“设备管理”页上的注册二维码",
            EnrollQrError::NotEnrollment | EnrollQrError::TooLong => {
                "这不是设备注册二维码，请扫描管理后台“设备管理”页上的注册二维码"
            }
            EnrollQrError::UnsupportedVersion(_) => "注册二维码版本较新，请先升级本应用",
            EnrollQrError::Incomplete | EnrollQrError::BadCode => {
                "注册二维码不完整或已损坏，请在管理后台重新生成"
            }
            EnrollQrError::BadServerUrl(_) => {
                "注册二维码中的服务器地址不正确，请用水厂服务器的正式地址打开管理后台后重新生成"
            }
        }
    }
}

/// Reads an enrollment QR text. Surrounding whitespace is ignored; the prefix may be in any
/// case (QR alphanumeric mode upper-cases).
pub fn parse(text: &str) -> Result<EnrollQr, EnrollQrError> {
    let text = text.trim();
    if text.len() > MAX_LEN {
        return Err(EnrollQrError::TooLong);
    }
    let rest = match text.get(..PREFIX.len()) {
        Some(head) if head.eq_ignore_ascii_case(PREFIX) => &text[PREFIX.len()..],
        _ if SignedCredential::from_qr_text(text).is_ok() => return Err(EnrollQrError::Ticket),
        _ => return Err(EnrollQrError::NotEnrollment),
    };
    let mut fields = rest.splitn(3, ':');
    let version = fields.next().unwrap_or_default();
    if version.is_empty() {
        return Err(EnrollQrError::Incomplete);
    }
    if version != VERSION {
        return Err(EnrollQrError::UnsupportedVersion(
            version.chars().take(8).collect(),
        ));
    }
    let (Some(code), Some(url)) = (fields.next(), fields.next()) else {
        return Err(EnrollQrError::Incomplete);
    };
    if code.is_empty() || url.is_empty() {
        return Err(EnrollQrError::Incomplete);
    }
    if code.len() > MAX_CODE_LEN || !code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(EnrollQrError::BadCode);
    }
    Ok(EnrollQr {
        server_url: server_url(url)?,
        code: code.to_owned(),
    })
}

/// Checks a server base URL and returns it without a trailing slash.
fn server_url(text: &str) -> Result<String, EnrollQrError> {
    if text
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(EnrollQrError::BadServerUrl("whitespace"));
    }
    let url = Url::parse(text).map_err(|_| EnrollQrError::BadServerUrl("unparsable"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(EnrollQrError::BadServerUrl("scheme"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(EnrollQrError::BadServerUrl("host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(EnrollQrError::BadServerUrl("credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(EnrollQrError::BadServerUrl("query"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ok(server_url: &str, code: &str) -> EnrollQr {
        EnrollQr {
            server_url: server_url.to_owned(),
            code: code.to_owned(),
        }
    }

    #[test]
    fn reads_what_the_admin_console_writes() {
        assert_eq!(
            parse("SPENROLL:1:ABCDEFGHIJKLMNOP:https://shuipiao.example.com"),
            Ok(ok("https://shuipiao.example.com", "ABCDEFGHIJKLMNOP"))
        );
        assert_eq!(
            parse("  spenroll:1:K7Q2X3:http://127.0.0.1:8080/\n"),
            Ok(ok("http://127.0.0.1:8080", "K7Q2X3")),
            "any case, whitespace and a trailing slash"
        );
        assert_eq!(
            parse("SPENROLL:1:AB-12:https://[::1]:8443/shuipiao/"),
            Ok(ok("https://[::1]:8443/shuipiao", "AB-12")),
            "IPv6, a port and a path prefix"
        );
        assert_eq!(
            parse("SPENROLL:1:ABC:HTTPS://Water.Example.COM"),
            Ok(ok("https://water.example.com", "ABC")),
            "the URL is normalised"
        );
    }

    #[test]
    fn every_kind_of_wrong_text_says_what_is_wrong() {
        let cases: &[(&str, EnrollQrError)] = &[
            ("", EnrollQrError::NotEnrollment),
            ("ABCDEFGHIJKLMNOP", EnrollQrError::NotEnrollment),
            ("https://example.com/", EnrollQrError::NotEnrollment),
            ("SPENROL", EnrollQrError::NotEnrollment),
            ("SPENROLL:", EnrollQrError::Incomplete),
            (
                "SPENROLL:2:ABC:https://a.example",
                EnrollQrError::UnsupportedVersion("2".into()),
            ),
            ("SPENROLL:1", EnrollQrError::Incomplete),
            ("SPENROLL:1:ABC", EnrollQrError::Incomplete),
            ("SPENROLL:1::https://a.example", EnrollQrError::Incomplete),
            ("SPENROLL:1:ABC:", EnrollQrError::Incomplete),
            ("SPENROLL:1:AB C:https://a.example", EnrollQrError::BadCode),
            ("SPENROLL:1:码:https://a.example", EnrollQrError::BadCode),
            (
                "SPENROLL:1:ABC:ftp://a.example",
                EnrollQrError::BadServerUrl("scheme"),
            ),
            (
                "SPENROLL:1:ABC:a.example",
                EnrollQrError::BadServerUrl("unparsable"),
            ),
            (
                "SPENROLL:1:ABC:https://admin:pw@a.example",
                EnrollQrError::BadServerUrl("credentials"),
            ),
            (
                "SPENROLL:1:ABC:https://a.example/?x=1",
                EnrollQrError::BadServerUrl("query"),
            ),
            (
                "SPENROLL:1:ABC:https://a.example/#top",
                EnrollQrError::BadServerUrl("query"),
            ),
            (
                "SPENROLL:1:ABC:https://a. example",
                EnrollQrError::BadServerUrl("whitespace"),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text).as_ref(), Err(expected), "{text:?}");
            assert!(!expected.user_message().is_empty());
        }
        let long = format!("SPENROLL:1:ABC:https://a.example/{}", "x".repeat(MAX_LEN));
        assert_eq!(parse(&long), Err(EnrollQrError::TooLong));
        let code = "A".repeat(MAX_CODE_LEN + 1);
        assert_eq!(
            parse(&format!("SPENROLL:1:{code}:https://a.example")),
            Err(EnrollQrError::BadCode)
        );
    }

    #[test]
    fn a_water_ticket_is_recognised_as_one() {
        let credential = shuipiao_shared::credential::Credential {
            kid: shuipiao_shared::keyring::Kid([0; 4]),
            book_id: shuipiao_shared::ids::BookId(1),
            product: shuipiao_shared::ids::ProductCode(189),
            units: 4,
            scope: shuipiao_shared::ids::ScopeId(1),
            valid_from: 0,
            valid_until: u32::MAX,
            holder_tag: 0,
        };
        let ticket = credential
            .sign(&ed25519_dalek::SigningKey::from_bytes(&[7; 32]))
            .to_qr_text();
        assert_eq!(parse(&ticket), Err(EnrollQrError::Ticket));
    }

    proptest! {
        #[test]
        fn any_text_parses_or_fails_cleanly(text in "\\PC{0,80}") {
            let _ = parse(&text);
        }

        #[test]
        fn any_text_after_the_prefix_parses_or_fails_cleanly(
            text in "[A-Za-z0-9:/\\[\\]@?#%. -]{0,80}",
        ) {
            if let Ok(qr) = parse(&format!("SPENROLL:{text}")) {
                prop_assert_eq!(parse(&qr.to_text()), Ok(qr));
            }
        }

        #[test]
        fn written_texts_read_back(
            code in "[A-Z2-7]{1,64}",
            host in "[a-z][a-z0-9]{0,20}(\\.[a-z][a-z0-9]{0,10}){0,3}",
            port in proptest::option::of(1u16..),
            https in any::<bool>(),
            path in "(/[a-z0-9]{1,8}){0,2}",
        ) {
            let scheme = if https { "https" } else { "http" };
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let qr = ok(&format!("{scheme}://{host}{port}{path}"), &code);
            let parsed = parse(&qr.to_text()).expect("a written text reads back");
            prop_assert_eq!(&parsed.code, &qr.code);
            // The default port of the scheme is dropped by normalisation; nothing else changes.
            prop_assert_eq!(parse(&parsed.to_text()), Ok(parsed.clone()));
            let origin = format!("{scheme}://{host}");
            prop_assert!(parsed.server_url.starts_with(&origin));
            prop_assert!(parsed.server_url.ends_with(&path));
        }
    }
}
