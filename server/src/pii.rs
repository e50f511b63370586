//! Personal data at rest: phone numbers are stored sealed (AES-256-GCM under a subkey of the
//! master key) and found by a blind index (HMAC-SHA256 under another subkey), so a copy of the
//! database alone reveals no phone number and still supports "log in with your phone".
//! WeChat openids and app push tokens are sealed the same way.

use crate::config::MasterKey;
use crate::keys::seal::{self, UnsealError};

const INDEX_PURPOSE: &[u8] = b"shuipiao phone index v1";
const SEAL_PURPOSE: &[u8] = b"shuipiao phone seal v1";
const SEAL_CONTEXT: &[u8] = b"phone";

/// A mainland China mobile number, normalised to its 11 digits.
#[derive(Clone, PartialEq, Eq)]
pub struct Phone(String);

impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

/// Why a phone number was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("请输入 11 位手机号码")]
pub struct BadPhone;

impl Phone {
    /// Accepts `13812345678`, `138 1234 5678`, `138-1234-5678` and `+86 138…`.
    pub fn parse(text: &str) -> Result<Phone, BadPhone> {
        let digits: String = text
            .trim()
            .trim_start_matches("+86")
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .collect();
        let valid = digits.len() == 11
            && digits.bytes().all(|b| b.is_ascii_digit())
            && digits.starts_with('1')
            && matches!(digits.as_bytes()[1], b'3'..=b'9');
        if valid {
            Ok(Phone(digits))
        } else {
            Err(BadPhone)
        }
    }

    /// The 11 digits (for the SMS gateway only; never log it).
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// `138****5678`, for pages and logs.
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }

    /// The blind index stored for lookups.
    pub fn index(&self, master: &MasterKey) -> Vec<u8> {
        master.mac(INDEX_PURPOSE, self.0.as_bytes()).to_vec()
    }

    /// The number sealed for storage.
    pub fn seal(&self, master: &MasterKey) -> Vec<u8> {
        seal::seal_bytes(&seal_key(master), SEAL_CONTEXT, self.0.as_bytes())
    }

    /// Opens a sealed number.
    pub fn open(master: &MasterKey, sealed: &[u8]) -> Result<Phone, UnsealError> {
        let bytes = seal::open_bytes(&seal_key(master), SEAL_CONTEXT, sealed)?;
        let text = String::from_utf8(bytes).map_err(|_| UnsealError)?;
        Phone::parse(&text).map_err(|_| UnsealError)
    }
}

fn seal_key(master: &MasterKey) -> [u8; 32] {
    master.mac(SEAL_PURPOSE, b"")
}

const ADDRESS_PURPOSE: &[u8] = b"shuipiao address seal v1";

/// Seals a WeChat openid or push token; `channel` (e.g. `wechat`) binds it to its use.
pub fn seal_address(master: &MasterKey, channel: &str, address: &str) -> Vec<u8> {
    let key = master.mac(ADDRESS_PURPOSE, b"");
    seal::seal_bytes(&key, channel.as_bytes(), address.as_bytes())
}

/// Opens [`seal_address`].
pub fn open_address(
    master: &MasterKey,
    channel: &str,
    sealed: &[u8],
) -> Result<String, UnsealError> {
    let key = master.mac(ADDRESS_PURPOSE, b"");
    let bytes = seal::open_bytes(&key, channel.as_bytes(), sealed)?;
    String::from_utf8(bytes).map_err(|_| UnsealError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_normalise_and_bad_ones_are_refused() {
        let phone = Phone::parse("+86 138-1234-5678").unwrap();
        assert_eq!(phone.digits(), "13812345678");
        assert_eq!(phone.masked(), "138****5678");
        assert_eq!(
            format!("{phone:?}"),
            "Phone(138****5678)",
            "Debug never shows the number"
        );
        for bad in [
            "",
            "1381234567",
            "138123456789",
            "12812345678",
            "23812345678",
            "1381234567x",
        ] {
            assert_eq!(Phone::parse(bad), Err(BadPhone), "{bad}");
        }
    }

    #[test]
    fn index_is_stable_and_keyed_and_sealing_round_trips() {
        let master = MasterKey::from_bytes([3; 32]);
        let other = MasterKey::from_bytes([4; 32]);
        let phone = Phone::parse("13812345678").unwrap();
        assert_eq!(phone.index(&master), phone.index(&master));
        assert_ne!(phone.index(&master), phone.index(&other));
        let sealed = phone.seal(&master);
        assert!(!sealed.windows(11).any(|w| w == b"13812345678"));
        assert_eq!(Phone::open(&master, &sealed), Ok(phone.clone()));
        assert_eq!(Phone::open(&other, &sealed), Err(UnsealError));
        assert_ne!(phone.seal(&master), sealed, "fresh nonce each time");
    }

    #[test]
    fn addresses_round_trip_only_for_their_channel() {
        let master = MasterKey::from_bytes([3; 32]);
        let sealed = seal_address(&master, "wechat", "oAbc123");
        assert_eq!(
            open_address(&master, "wechat", &sealed).as_deref(),
            Ok("oAbc123")
        );
        assert_eq!(open_address(&master, "push", &sealed), Err(UnsealError));
        assert_eq!(Phone::open(&master, &sealed), Err(UnsealError));
    }
}
