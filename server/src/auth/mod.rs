//! Authentication: passwords, bearer/session tokens, and resolving a request's principal.

pub mod password;
pub mod token;
