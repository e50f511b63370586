//! Authentication: passwords, signing in with the wrong-password locks, bearer/session tokens.

pub mod password;
pub mod sign_in;
pub mod token;
