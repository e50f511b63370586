//! Random bytes from the operating system, for keys, tokens, codes and event ids.

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;

/// `N` random bytes.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    OsRng.fill_bytes(&mut out);
    out
}
