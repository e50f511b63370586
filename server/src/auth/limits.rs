//! What password checks need from rate limits, stated by the domain: a [`Counter`] per key and
//! the three counters of [`SignInLimits`]. The transport kernel keeps the counters
//! (`http::rate_limit`, in memory per instance) and implements these traits, so `auth` depends
//! on no part of the transport.

use std::net::IpAddr;
use std::time::Duration;

/// A request over a limit, and when the next one would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Time until the client may try again.
    pub retry_after: Duration,
}

impl Limited {
    /// `Retry-After` in whole seconds, rounded up so a client that waits is let in.
    pub fn retry_after_secs(&self) -> u64 {
        let secs = self.retry_after.as_secs();
        if self.retry_after.subsec_nanos() > 0 {
            secs + 1
        } else {
            secs.max(1)
        }
    }
}

/// One limit over keys `K`.
pub trait Counter<K>: Sync {
    /// Counts one request of `key`, or refuses it without counting.
    fn take(&self, key: K) -> Result<(), Limited>;
    /// Undoes one counted request of `key`.
    fn give_back(&self, key: &K);
    /// Whether the next request of `key` would be refused.
    fn exhausted(&self, key: &K) -> bool;
    /// Forgets `key`'s count.
    fn clear(&self, key: &K);
}

/// The limits a password check counts against (see `auth::sign_in`).
pub trait SignInLimits: Sync {
    /// Sign-ins per client.
    fn sign_ins(&self) -> &dyn Counter<IpAddr>;
    /// Wrong passwords per account and client.
    fn wrong_passwords(&self) -> &dyn Counter<(String, IpAddr)>;
    /// Wrong passwords per account from all clients together.
    fn wrong_passwords_per_account(&self) -> &dyn Counter<String>;
}
