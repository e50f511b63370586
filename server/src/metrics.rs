//! Process metrics in the Prometheus text format: request counts by route and status, handler
//! panics by route, and sync verdict counts. Counters only; they reset when the process restarts.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use shuipiao_shared::sync::PushVerdict;

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
