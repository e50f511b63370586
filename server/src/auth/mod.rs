//! Authentication: passwords and their rule, signing in with the wrong-password locks, changing
//! and resetting passwords, and bearer/session tokens.

pub mod credentials;
pub mod password;
pub mod sign_in;
pub mod token;
