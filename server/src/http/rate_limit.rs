//! Per-client rate limits on the doors guessers knock on: sign-in, SMS codes, registration and
//! device enrollment, plus the wrong-password locks of `auth::sign_in` (per account and client,
//! and a much higher ceiling per account), which `Limits` lends to `auth` through the traits
//! of `auth::limits`.
//!
//! Each limit is a GCRA (a token bucket kept as one timestamp per key): `requests` may come at
//! once, then one more every `window_secs / requests`. Keys live in memory, so each server
//! instance counts on its own and a restart forgets; this slows guessing down without a
//! database write per attempt. The per-phone SMS limits of `signup` and the per-code attempt
//! limit of the store stay in the database and hold across instances.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::serve::IncomingStream;
use tokio::net::TcpListener;

use crate::auth::limits::{Counter, Limited, SignInLimits};
use crate::config::{IpNet, LimitsConfig, Rate};
use crate::http::AppState;
use crate::http::error::ApiError;

/// Below this many keys a limiter never sweeps; above, it sweeps when the map doubles.
const SWEEP_FLOOR: usize = 4_096;

impl From<Limited> for ApiError {
    fn from(limited: Limited) -> ApiError {
        let secs = limited.retry_after_secs();
        let wait = if secs >= 120 {
            format!("{} 分钟", secs.div_ceil(60))
        } else {
            format!("{secs} 秒")
        };
        ApiError::rate_limited(secs, format!("尝试过于频繁,请 {wait}后再试"))
    }
}

struct Cells<K> {
    /// Per key, the theoretical arrival time of its next request (GCRA's TAT).
    next_at: HashMap<K, Instant>,
    sweep_at: usize,
}

/// One limit over keys `K` (client addresses, accounts).
pub struct Limiter<K> {
    /// Time one request uses up; `None` when the limit is off.
    interval: Option<Duration>,
    window: Duration,
    cells: Mutex<Cells<K>>,
}

impl<K> std::fmt::Debug for Limiter<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("interval", &self.interval)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq> Limiter<K> {
    /// A limiter allowing `rate`.
    pub fn new(rate: Rate) -> Limiter<K> {
        let window = Duration::from_secs(rate.window_secs);
        Limiter {
            interval: (rate.requests > 0).then(|| window / rate.requests),
            window,
            cells: Mutex::new(Cells {
                next_at: HashMap::new(),
                sweep_at: SWEEP_FLOOR,
            }),
        }
    }

    /// Counts one request of `key`, or refuses it without counting.
    pub fn take(&self, key: K) -> Result<(), Limited> {
        self.take_at(key, Instant::now())
    }

    /// [`Limiter::take`] at a given instant.
    pub fn take_at(&self, key: K, now: Instant) -> Result<(), Limited> {
        let Some(interval) = self.interval else {
            return Ok(());
        };
        let mut cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        if cells.next_at.len() >= cells.sweep_at {
            // A key whose arrival time has passed is as good as a new one.
            cells.next_at.retain(|_, next_at| *next_at > now);
            cells.sweep_at = (cells.next_at.len() * 2).max(SWEEP_FLOOR);
        }
        let next_at = cells.next_at.get(&key).map_or(now, |at| (*at).max(now));
        let after = next_at + interval;
        let ahead = after - now;
        if ahead > self.window {
            return Err(Limited {
                retry_after: ahead - self.window,
            });
        }
        cells.next_at.insert(key, after);
        Ok(())
    }

    /// Gives back one counted request of `key` (a request that turned out not to be a guess).
    pub fn give_back(&self, key: &K) {
        let Some(interval) = self.interval else {
            return;
        };
        let mut cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(next_at) = cells.next_at.get_mut(key) {
            *next_at = next_at.checked_sub(interval).unwrap_or(*next_at);
        }
    }

    /// Whether the next request of `key` would be refused.
    pub fn exhausted(&self, key: &K) -> bool {
        self.exhausted_at(key, Instant::now())
    }

    /// [`Limiter::exhausted`] at a given instant.
    pub fn exhausted_at(&self, key: &K, now: Instant) -> bool {
        let Some(interval) = self.interval else {
            return false;
        };
        let cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        cells
            .next_at
            .get(key)
            .is_some_and(|at| (*at).max(now) + interval - now > self.window)
    }

    /// Forgets `key`: its whole allowance is back.
    pub fn clear(&self, key: &K) {
        self.cells
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .next_at
            .remove(key);
    }
}

/// Every limit of one server instance.
#[derive(Debug)]
pub struct Limits {
    /// Sign-ins (password or SMS code, web or API) per client.
    pub login: Limiter<IpAddr>,
    /// SMS codes asked for per client.
    pub sms_code: Limiter<IpAddr>,
    /// Registrations per client.
    pub register: Limiter<IpAddr>,
    /// Failed device enrollments per client.
    pub enroll: Limiter<IpAddr>,
    /// Wrong passwords per account and client (see [`crate::auth::sign_in`]).
    pub password_failures: Limiter<(String, IpAddr)>,
    /// Wrong passwords per account from all clients together.
    pub password_failures_per_account: Limiter<String>,
    trusted_proxies: Vec<IpNet>,
}

impl<K: Hash + Eq + Send> Counter<K> for Limiter<K> {
    fn take(&self, key: K) -> Result<(), Limited> {
        Limiter::take(self, key)
    }

    fn give_back(&self, key: &K) {
        Limiter::give_back(self, key);
    }

    fn exhausted(&self, key: &K) -> bool {
        Limiter::exhausted(self, key)
    }

    fn clear(&self, key: &K) {
        Limiter::clear(self, key);
    }
}

impl SignInLimits for Limits {
    fn sign_ins(&self) -> &dyn Counter<IpAddr> {
        &self.login
    }

    fn wrong_passwords(&self) -> &dyn Counter<(String, IpAddr)> {
        &self.password_failures
    }

    fn wrong_passwords_per_account(&self) -> &dyn Counter<String> {
        &self.password_failures_per_account
    }
}

impl Limits {
    /// The limits `config` asks for.
    pub fn new(config: &LimitsConfig) -> Limits {
        Limits {
            login: Limiter::new(config.login),
            sms_code: Limiter::new(config.sms_code),
            register: Limiter::new(config.register),
            enroll: Limiter::new(config.enroll),
            password_failures: Limiter::new(config.password_failures),
            password_failures_per_account: Limiter::new(config.password_failures_per_account),
            trusted_proxies: config.trusted_proxies.clone(),
        }
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(ip))
    }

    /// The client behind a connection from `peer`: the peer itself, unless it is a trusted
    /// proxy; then the right-most `X-Forwarded-For` hop that is not a trusted proxy (hops to its
    /// left were written by the client and prove nothing).
    pub fn client_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusted(peer) {
            return peer;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect();
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            let Ok(ip) = hop.trim().parse::<IpAddr>() else {
                break;
            };
            client = ip.to_canonical();
            if !self.trusted(client) {
                break;
            }
        }
        client
    }
}

/// The address a connection came from, recorded by the server for every request (plain TCP or
/// TLS) and read back as `ConnectInfo<PeerAddr>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, TcpListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> PeerAddr {
        PeerAddr(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, crate::tls::TlsListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, crate::tls::TlsListener>) -> PeerAddr {
        PeerAddr(*stream.remote_addr())
    }
}

/// The client a request counts against: its IP address, IPv6 cut to the /64 a single
/// subscriber usually holds whole (so rotating addresses inside it buys nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(ConnectInfo(PeerAddr(peer))) = parts.extensions.get::<ConnectInfo<PeerAddr>>()
        else {
            return Err(ApiError::internal(&std::io::Error::other(
                "request without a peer address: serve the router with connect info",
            )));
        };
        let client = state.limits.client_of(peer.ip(), &parts.headers);
        Ok(ClientIp(match client {
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !(u128::MAX >> 64);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
            v4 => v4,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn at(start: Instant, millis: u64) -> Instant {
        start + Duration::from_millis(millis)
    }

    #[test]
    fn a_burst_passes_then_one_per_interval() {
        let limiter = Limiter::<u8>::new(Rate::new(3, 30));
        let start = Instant::now();
        for _ in 0..3 {
            limiter.take_at(1, start).unwrap();
        }
        let refused = limiter.take_at(1, start).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(10));
        assert_eq!(refused.retry_after_secs(), 10);
        limiter
            .take_at(2, start)
            .expect("another key has its own allowance");
        assert!(limiter.take_at(1, at(start, 9_999)).is_err());
        limiter
            .take_at(1, at(start, 10_000))
            .expect("one back after 10 s");
        assert!(limiter.take_at(1, at(start, 10_000)).is_err());
        for _ in 0..3 {
            limiter
                .take_at(1, at(start, 60_000))
                .expect("full after a window");
        }
    }

    #[test]
    fn refused_requests_are_not_counted() {
        let limiter = Limiter::<u8>::new(Rate::new(1, 10));
        let start = Instant::now();
        limiter.take_at(1, start).unwrap();
        for millis in [0, 1_000, 5_000, 9_000] {
            assert!(limiter.take_at(1, at(start, millis)).is_err());
        }
        limiter.take_at(1, at(start, 10_000)).unwrap();
    }

    #[test]
    fn give_back_and_clear_restore_allowance() {
        let limiter = Limiter::<u8>::new(Rate::new(2, 10));
        let start = Instant::now();
        limiter.take_at(1, start).unwrap();
        limiter.take_at(1, start).unwrap();
        limiter.give_back(&1);
        limiter.take_at(1, start).expect("one given back");
        assert!(limiter.take_at(1, start).is_err());
        limiter.clear(&1);
        limiter.take_at(1, start).unwrap();
        limiter.take_at(1, start).unwrap();
    }

    #[test]
    fn exhausted_tells_whether_the_next_request_would_be_refused() {
        let limiter = Limiter::<u8>::new(Rate::new(2, 10));
        let start = Instant::now();
        assert!(!limiter.exhausted_at(&1, start));
        limiter.take_at(1, start).unwrap();
        assert!(!limiter.exhausted_at(&1, start));
        limiter.take_at(1, start).unwrap();
        assert!(limiter.exhausted_at(&1, start));
        assert!(!limiter.exhausted_at(&2, start), "another key");
        assert!(
            !limiter.exhausted_at(&1, at(start, 5_000)),
            "one back after 5 s"
        );
        assert!(!Limiter::<u8>::new(Rate::new(0, 0)).exhausted_at(&1, start));
    }

    #[test]
    fn zero_requests_turns_a_limit_off() {
        let limiter = Limiter::<u8>::new(Rate::new(0, 0));
        let start = Instant::now();
        for _ in 0..1_000 {
            limiter.take_at(1, start).unwrap();
        }
    }

    #[test]
    fn old_keys_are_swept() {
        let limiter = Limiter::<usize>::new(Rate::new(1, 1));
        let start = Instant::now();
        for key in 0..SWEEP_FLOOR {
            limiter.take_at(key, start).unwrap();
        }
        limiter.take_at(SWEEP_FLOOR, at(start, 5_000)).unwrap();
        let cells = limiter.cells.lock().unwrap();
        assert_eq!(cells.next_at.len(), 1);
        assert_eq!(cells.sweep_at, SWEEP_FLOOR);
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let limits = Limits::new(&LimitsConfig {
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
            ..LimitsConfig::default()
        });
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 203.0.113.7, 10.0.0.2"),
        );
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let stranger: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(
            limits.client_of(proxy, &headers),
            "203.0.113.7".parse::<IpAddr>().unwrap(),
            "the right-most untrusted hop; the client-written left part is ignored"
        );
        assert_eq!(limits.client_of(stranger, &headers), stranger);
        assert_eq!(limits.client_of(proxy, &HeaderMap::new()), proxy);
        let mut garbage = HeaderMap::new();
        garbage.insert("x-forwarded-for", HeaderValue::from_static("unknown"));
        assert_eq!(limits.client_of(proxy, &garbage), proxy);
    }
}
