//! Authentication: passwords and their rule, signing in with the wrong-password locks, changing
//! and resetting passwords, sessions, and bearer/session tokens.

pub mod credentials;
pub mod limits;
pub mod password;
pub mod session;
pub mod sign_in;
pub mod token;
