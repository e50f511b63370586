//! Notification resources: `AEAD_AES_256_GCM` with the APIv3 key.
//!
//! 证书和回调报文解密 (<https://pay.weixin.qq.com/wiki/doc/apiv3/wechatpay/wechatpay4_2.shtml>): the key is the
//! 32-byte APIv3 key set in the merchant platform, used as is; `nonce` (12 characters) is the
//! GCM nonce; `associated_data` is the AAD (may be absent: then empty); `ciphertext` is base64 of
//! the encrypted bytes followed by the 16-byte authentication tag.

use data_encoding::BASE64;
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};

/// The only algorithm WeChat Pay uses for notification resources.
pub const ALGORITHM: &str = "AEAD_AES_256_GCM";

/// The APIv3 key (APIv3密钥): 32 bytes.
#[derive(Clone)]
pub struct ApiV3Key([u8; 32]);

impl std::fmt::Debug for ApiV3Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiV3Key(..)")
    }
}

impl ApiV3Key {
    /// The key as the merchant platform shows it: 32 ASCII characters.
    pub fn new(key: &str) -> Result<Self, ResourceError> {
        let bytes: [u8; 32] = key
            .as_bytes()
            .try_into()
            .map_err(|_| ResourceError::KeyLength(key.len()))?;
        Ok(Self(bytes))
    }
}

/// An encrypted notification `resource` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedResource {
    /// Always [`ALGORITHM`].
    pub algorithm: String,
    /// Base64 ciphertext with the 16-byte tag appended.
    pub ciphertext: String,
    /// Additional authenticated data (`"transaction"`, `"refund"`…), absent means empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub associated_data: Option<String>,
    /// The type of the plaintext object (`"transaction"`, `"refund"`).
    pub original_type: String,
    /// The 12-character GCM nonce.
    pub nonce: String,
}

/// Why a resource could not be decrypted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResourceError {
    /// The APIv3 key is not 32 bytes.
    #[error("the APIv3 key must be 32 bytes, not {0}")]
    KeyLength(usize),
    /// `algorithm` is not `AEAD_AES_256_GCM`.
    #[error("unsupported resource algorithm {0:?}")]
    Algorithm(String),
    /// The nonce is not 12 bytes or the ciphertext is not base64 or shorter than a tag.
    #[error("malformed resource: {0}")]
    Malformed(&'static str),
    /// Authentication failed: wrong key, or ciphertext, nonce or associated data altered.
    #[error("resource does not decrypt (wrong APIv3 key or tampered ciphertext)")]
    Tampered,
}

/// Decrypts a resource to its JSON plaintext.
pub fn decrypt(key: &ApiV3Key, resource: &EncryptedResource) -> Result<Vec<u8>, ResourceError> {
    if resource.algorithm != ALGORITHM {
        return Err(ResourceError::Algorithm(resource.algorithm.clone()));
    }
    open(&aead::AES_256_GCM, &key.0, resource)
}

/// GCM opening with the key size chosen by the caller, so that the official SDK vectors (which
/// use a 16-byte key) exercise the same code as production.
pub(crate) fn open(
    algorithm: &'static aead::Algorithm,
    key: &[u8],
    resource: &EncryptedResource,
) -> Result<Vec<u8>, ResourceError> {
    let key = LessSafeKey::new(
        UnboundKey::new(algorithm, key).map_err(|_| ResourceError::KeyLength(key.len()))?,
    );
    let nonce = Nonce::try_assume_unique_for_key(resource.nonce.as_bytes())
        .map_err(|_| ResourceError::Malformed("nonce is not 12 bytes"))?;
    let mut data = BASE64
        .decode(resource.ciphertext.as_bytes())
        .map_err(|_| ResourceError::Malformed("ciphertext is not base64"))?;
    if data.len() < algorithm.tag_len() {
        return Err(ResourceError::Malformed(
            "ciphertext is shorter than the tag",
        ));
    }
    let aad = resource.associated_data.as_deref().unwrap_or("");
    let plaintext = key
        .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut data)
        .map_err(|_| ResourceError::Tampered)?;
    Ok(plaintext.to_vec())
}

/// Encrypts a plaintext into a resource, as the platform does (used by the simulator).
pub fn encrypt(
    key: &ApiV3Key,
    nonce: &str,
    associated_data: &str,
    original_type: &str,
    plaintext: &[u8],
) -> EncryptedResource {
    let sealing = LessSafeKey::new(
        UnboundKey::new(&aead::AES_256_GCM, &key.0)
            .expect("an ApiV3Key is 32 bytes, AES-256's key size"),
    );
    let gcm_nonce = Nonce::try_assume_unique_for_key(nonce.as_bytes())
        .expect("callers pass a 12-byte nonce, as the resource format requires");
    let mut data = plaintext.to_vec();
    sealing
        .seal_in_place_append_tag(gcm_nonce, Aad::from(associated_data.as_bytes()), &mut data)
        .expect("sealing fails only for plaintexts beyond GCM's 64 GiB limit");
    EncryptedResource {
        algorithm: ALGORITHM.to_owned(),
        ciphertext: BASE64.encode(&data),
        associated_data: Some(associated_data.to_owned()),
        original_type: original_type.to_owned(),
        nonce: nonce.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &str = "0123456789abcdef0123456789ABCDEF";

    proptest! {
        #[test]
        fn any_plaintext_round_trips_and_any_flip_is_caught(
            plaintext in proptest::collection::vec(any::<u8>(), 0..200),
            aad in "[a-z]{0,16}",
            nonce in "[A-Za-z0-9]{12}",
            at in any::<proptest::sample::Index>(),
            bit in 0u8..8,
            field in 0usize..3,
        ) {
            let key = ApiV3Key::new(KEY).unwrap();
            let resource = encrypt(&key, &nonce, &aad, "transaction", &plaintext);
            prop_assert_eq!(decrypt(&key, &resource).unwrap(), plaintext);

            let mut tampered = resource.clone();
            match field {
                0 => {
                    let mut bytes = BASE64.decode(tampered.ciphertext.as_bytes()).unwrap();
                    let i = at.index(bytes.len()); bytes[i] ^= 1 << bit;
                    tampered.ciphertext = BASE64.encode(&bytes);
                }
                1 => tampered.associated_data = Some(format!("{aad}x")),
                _ => { let mut n = tampered.nonce.into_bytes(); let i = at.index(n.len()); n[i] ^= 1 << (bit % 7); tampered.nonce = String::from_utf8(n).unwrap(); }
            }
            prop_assert!(decrypt(&key, &tampered).is_err());
        }
    }

    #[test]
    fn wrong_key_algorithm_or_shape_is_refused() {
        let key = ApiV3Key::new(KEY).unwrap();
        let resource = encrypt(&key, "0123456789ab", "refund", "refund", b"{}");
        assert_eq!(
            decrypt(&ApiV3Key::new(&KEY.to_lowercase()).unwrap(), &resource),
            Err(ResourceError::Tampered)
        );
        let other = EncryptedResource {
            algorithm: "AEAD_AES_128_GCM".into(),
            ..resource.clone()
        };
        assert!(matches!(
            decrypt(&key, &other),
            Err(ResourceError::Algorithm(_))
        ));
        let short = EncryptedResource {
            ciphertext: "AAAA".into(),
            ..resource.clone()
        };
        assert!(matches!(
            decrypt(&key, &short),
            Err(ResourceError::Malformed(_))
        ));
        let no_aad = EncryptedResource {
            associated_data: None,
            ..resource
        };
        assert_eq!(decrypt(&key, &no_aad), Err(ResourceError::Tampered));
        assert_eq!(
            ApiV3Key::new("short").unwrap_err(),
            ResourceError::KeyLength(5)
        );
    }
}
