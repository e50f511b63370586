//! Process metrics in the Prometheus text format: request counts by route and status, handler
//! panics by route, and sync verdict counts. Counters only; they reset when the process restarts.
//! Who may read them is [`may_scrape`]'s rule: the counts name routes, statuses and traffic, which
//! outsiders should not map.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::IpAddr;
use std::sync::Mutex;

use axum::http::HeaderMap;
use shuipiao_shared::sync::PushVerdict;
use subtle::ConstantTimeEq;

use crate::config::MetricsToken;

/// Whether a request may read `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scrape {
    /// It may.
    Allowed,
    /// A token is configured and the request does not carry it.
    WrongToken,
    /// No token is configured and the request does not come from this host.
    NotLocal,
}

/// Who may read `/metrics`. With `metrics_token` configured: whoever sends it as the bearer
/// token, from anywhere. Without: only a scraper on this host, that is a connection from a
/// loopback address without any forwarding header, because a reverse proxy on the same host
/// connects from loopback too but names the outside client in such a header.
pub fn may_scrape(
    token: Option<&MetricsToken>,
    bearer: Option<&str>,
    peer: Option<IpAddr>,
    headers: &HeaderMap,
) -> Scrape {
    match token {
        Some(token) => {
            // Digests are compared so neither the length nor a prefix of the token leaks.
            let sent = crate::auth::token::sha256(bearer.unwrap_or_default().as_bytes());
            let expected = crate::auth::token::sha256(token.expose().as_bytes());
            if bool::from(sent.ct_eq(&expected)) {
                Scrape::Allowed
            } else {
                Scrape::WrongToken
            }
        }
        None => {
            let relayed = headers.keys().any(|name| {
                let name = name.as_str();
                name == "forwarded" || name == "x-real-ip" || name.starts_with("x-forwarded-")
            });
            let local = peer.is_some_and(|peer| peer.to_canonical().is_loopback());
            if local && !relayed {
                Scrape::Allowed
            } else {
                Scrape::NotLocal
            }
        }
    }
}

/// Counters shared by all requests.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    panics: Mutex<BTreeMap<&'static str, u64>>,
    verdicts: Mutex<BTreeMap<&'static str, u64>>,
}

fn verdict_label(verdict: PushVerdict) -> &'static str {
    match verdict {
        PushVerdict::Accepted => "accepted",
        PushVerdict::Duplicate => "duplicate",
        PushVerdict::Conflict => "conflict",
        PushVerdict::Rejected => "rejected",
    }
}

impl Metrics {
    /// Counts one answered request; `route` is the matched route template, not the raw path.
    pub fn record_request(&self, method: &str, route: &str, status: u16) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *requests
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
    }

    /// Counts a handler panic on `route` (a route template), answered with a 500.
    pub fn record_panic(&self, route: &'static str) {
        let mut panics = self.panics.lock().unwrap_or_else(|e| e.into_inner());
        *panics.entry(route).or_default() += 1;
    }

    /// Counts pushed events by verdict.
    pub fn record_verdicts(&self, verdicts: impl IntoIterator<Item = PushVerdict>) {
        let mut counts = self.verdicts.lock().unwrap_or_else(|e| e.into_inner());
        for verdict in verdicts {
            *counts.entry(verdict_label(verdict)).or_default() += 1;
        }
    }

    /// The Prometheus exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP shuipiao_http_requests_total HTTP requests answered.\n");
        out.push_str("# TYPE shuipiao_http_requests_total counter\n");
        for ((method, route, status), count) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "shuipiao_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {count}"
            );
        }
        out.push_str("# HELP shuipiao_http_panics_total Handler panics answered with a 500.\n");
        out.push_str("# TYPE shuipiao_http_panics_total counter\n");
        for (route, count) in self.panics.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(
                out,
                "shuipiao_http_panics_total{{route=\"{route}\"}} {count}"
            );
        }
        out.push_str("# HELP shuipiao_sync_events_total Pushed events by verdict.\n");
        out.push_str("# TYPE shuipiao_sync_events_total counter\n");
        for (verdict, count) in self
            .verdicts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "shuipiao_sync_events_total{{verdict=\"{verdict}\"}} {count}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn without_a_token_only_a_direct_local_scraper_may_read() {
        let none = HeaderMap::new();
        let loopback = Some("127.0.0.1".parse().unwrap());
        let mapped = Some("::ffff:127.0.0.1".parse().unwrap());
        let lan = Some("10.1.2.3".parse().unwrap());
        assert_eq!(may_scrape(None, None, loopback, &none), Scrape::Allowed);
        assert_eq!(may_scrape(None, None, mapped, &none), Scrape::Allowed);
        assert_eq!(
            may_scrape(None, None, Some("::1".parse().unwrap()), &none),
            Scrape::Allowed
        );
        assert_eq!(may_scrape(None, None, lan, &none), Scrape::NotLocal);
        assert_eq!(may_scrape(None, None, None, &none), Scrape::NotLocal);
        for name in [
            "x-forwarded-for",
            "x-forwarded-proto",
            "forwarded",
            "x-real-ip",
        ] {
            let mut relayed = HeaderMap::new();
            relayed.insert(name, HeaderValue::from_static("203.0.113.7"));
            assert_eq!(
                may_scrape(None, None, loopback, &relayed),
                Scrape::NotLocal,
                "{name}"
            );
        }
    }

    #[test]
    fn with_a_token_everyone_needs_it() {
        let token: MetricsToken = "0123456789abcdef".parse().unwrap();
        let none = HeaderMap::new();
        let loopback = Some("127.0.0.1".parse().unwrap());
        let lan = Some("10.1.2.3".parse().unwrap());
        let check = |bearer, peer| may_scrape(Some(&token), bearer, peer, &none);
        assert_eq!(check(Some("0123456789abcdef"), lan), Scrape::Allowed);
        assert_eq!(check(Some("0123456789abcdef"), loopback), Scrape::Allowed);
        assert_eq!(check(None, loopback), Scrape::WrongToken);
        assert_eq!(check(Some("0123456789abcde"), lan), Scrape::WrongToken);
        assert_eq!(check(Some(""), lan), Scrape::WrongToken);
    }

    #[test]
    fn renders_counters() {
        let metrics = Metrics::default();
        metrics.record_request("GET", "/healthz", 200);
        metrics.record_request("GET", "/healthz", 200);
        metrics.record_verdicts([PushVerdict::Accepted, PushVerdict::Rejected]);
        let text = metrics.render();
        assert!(
            text.contains(
                "shuipiao_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains("shuipiao_sync_events_total{verdict=\"rejected\"} 1"),
            "{text}"
        );
    }
}
