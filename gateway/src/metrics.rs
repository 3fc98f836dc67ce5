//! Prometheus metrics: requests, plugin calls, outcomes and latencies.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;

/// Labels of a plugin call outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginCallLabels {
    /// The plugin's name.
    pub plugin: String,
    /// `ok`, `deadline`, `memory`, `trap` or `instantiate`.
    pub outcome: &'static str,
}

/// Labels naming a plugin.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabels {
    /// The plugin's name.
    pub plugin: String,
}

/// Labels of an auth provider's answer to a credential.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderAnswerLabels {
    /// The provider's name.
    pub plugin: String,
    /// `authenticated`, `invalid_credentials`, `expired`, `unsupported`,
    /// `not_found`, `invalid_input`, `throttled`, `failed` (the plugin
    /// reported an error) or `call_failed` (the call itself failed).
    pub answer: &'static str,
}

/// Labels of a disagreement between the active and the shadow authorizer.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShadowLabels {
    /// The active authorizer's name.
    pub active: String,
    /// The shadow authorizer's name.
    pub shadow: String,
    /// `active_allowed` (the shadow would deny) or `active_denied`.
    pub disagreement: &'static str,
}

/// Labels of a finished HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route name, or the gateway's own endpoint.
    pub route: String,
    /// Status class: `2xx`, `4xx`, ...
    pub status: &'static str,
}

/// The status classes requests are counted by, in the order
/// [`status_class`] numbers them.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The index in [`STATUS_CLASSES`] of `status`'s class (anything outside
/// 100–499 counts as a server error).
fn status_class(status: u16) -> usize {
    match status {
        100..=499 => usize::from(status / 100 - 1),
        _ => 4,
    }
}

/// One route's request counters, bound to their series on first use, so
/// the hot path neither formats labels nor looks them up.
#[derive(Debug, Default)]
pub struct RouteCounters {
    by_class: [std::sync::OnceLock<Counter>; STATUS_CLASSES.len()],
}

fn latency_histogram() -> Histogram {
    // 5 µs .. ~5 s
    Histogram::new(exponential_buckets(0.000_005, 2.0, 21))
}

/// Counters for one plugin's successful calls.
#[derive(Debug, Clone)]
pub struct PluginCallHandles {
    ok: Counter,
    latency: Histogram,
}

impl PluginCallHandles {
    /// Records one successful call.
    pub fn ok(&self, elapsed: Duration) {
        self.ok.inc();
        self.latency.observe(elapsed.as_secs_f64());
    }
}

/// Every metric the gateway exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    plugin_calls: Family<PluginCallLabels, Counter>,
    plugin_latency: Family<PluginLabels, Histogram, fn() -> Histogram>,
    requests: Family<RequestLabels, Counter>,
    provider_answers: Family<ProviderAnswerLabels, Counter>,
    api_key_lookups: Counter,
    shadow_disagreements: Family<ShadowLabels, Counter>,
    audit_degraded: Gauge,
    audit_unsigned: Gauge,
    audit_dropped: Gauge,
    audit_suppressed: Gauge,
    sso_certificates_expiring: Gauge,
}

impl Metrics {
    /// Creates and registers all metrics.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("portcullis");
        let plugin_calls = Family::<PluginCallLabels, Counter>::default();
        let plugin_latency =
            Family::<PluginLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        let requests = Family::<RequestLabels, Counter>::default();
        let api_key_lookups = Counter::default();
        let provider_answers = Family::<ProviderAnswerLabels, Counter>::default();
        let shadow_disagreements = Family::<ShadowLabels, Counter>::default();
        let audit_degraded = Gauge::default();
        let audit_unsigned = Gauge::default();
        let audit_dropped = Gauge::default();
        let audit_suppressed = Gauge::default();
        let sso_certificates_expiring = Gauge::default();
        registry.register(
            "sso_certificates_expiring",
            "Certificates identity providers trust to sign logins that expire within 30 days or have expired",
            sso_certificates_expiring.clone(),
        );
        registry.register(
            "audit_events_suppressed",
            "Refusals repeated from one source past the flood limit, counted in the next recorded one",
            audit_suppressed.clone(),
        );
        registry.register(
            "audit_degraded",
            "1 while the audit log cannot be written (administrative changes are refused)",
            audit_degraded.clone(),
        );
        registry.register(
            "audit_unsigned_events",
            "Audit events no checkpoint covers yet",
            audit_unsigned.clone(),
        );
        registry.register(
            "audit_events_dropped",
            "Audit events dropped because the queue was full (never changes to records)",
            audit_dropped.clone(),
        );
        registry.register(
            "authz_shadow_disagreements",
            "Checks on which the shadow authorizer decided otherwise than the active one",
            shadow_disagreements.clone(),
        );
        registry.register(
            "auth_provider_answers",
            "Auth provider answers to request credentials, by provider and answer",
            provider_answers.clone(),
        );
        registry.register(
            "api_key_store_lookups",
            "API keys looked up in the store (cache misses); malformed keys never are",
            api_key_lookups.clone(),
        );
        registry.register(
            "plugin_calls",
            "Plugin calls by outcome",
            plugin_calls.clone(),
        );
        registry.register(
            "plugin_call_duration_seconds",
            "Plugin call latency",
            plugin_latency.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route and status class",
            requests.clone(),
        );
        Arc::new(Self {
            registry,
            plugin_calls,
            plugin_latency,
            requests,
            provider_answers,
            api_key_lookups,
            shadow_disagreements,
            audit_degraded,
            audit_unsigned,
            audit_dropped,
            audit_suppressed,
            sso_certificates_expiring,
        })
    }

    /// Pre-resolved handles for a plugin's successful calls, so the hot
    /// path records without building labels or taking the family's lock.
    pub fn plugin_handles(&self, plugin: &str) -> PluginCallHandles {
        PluginCallHandles {
            ok: self
                .plugin_calls
                .get_or_create(&PluginCallLabels {
                    plugin: plugin.to_string(),
                    outcome: "ok",
                })
                .clone(),
            latency: self
                .plugin_latency
                .get_or_create(&PluginLabels {
                    plugin: plugin.to_string(),
                })
                .clone(),
        }
    }

    /// Records one plugin call.
    pub fn plugin_call(&self, plugin: &str, outcome: &'static str, elapsed: Duration) {
        self.plugin_calls
            .get_or_create(&PluginCallLabels {
                plugin: plugin.to_string(),
                outcome,
            })
            .inc();
        self.plugin_latency
            .get_or_create(&PluginLabels {
                plugin: plugin.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Records one auth provider answer to a request credential.
    pub fn provider_answer(&self, plugin: &str, answer: &'static str) {
        self.provider_answers
            .get_or_create(&ProviderAnswerLabels {
                plugin: plugin.to_string(),
                answer,
            })
            .inc();
    }

    /// Records a check on which the shadow authorizer disagreed.
    pub fn shadow_disagreement(&self, active: &str, shadow: &str, active_allowed: bool) {
        self.shadow_disagreements
            .get_or_create(&ShadowLabels {
                active: active.to_string(),
                shadow: shadow.to_string(),
                disagreement: if active_allowed {
                    "active_allowed"
                } else {
                    "active_denied"
                },
            })
            .inc();
    }

    /// Records one API key looked up in the store.
    pub fn api_key_lookup(&self) {
        self.api_key_lookups.inc();
    }

    /// Records one finished request.
    pub fn request(&self, route: &str, status: u16) {
        self.request_counter(route, status_class(status)).inc();
    }

    /// Records one finished request on a route whose counters are kept in
    /// `counters`: after each status class's first request, recording
    /// allocates nothing and takes no lock.
    pub fn route_request(&self, counters: &RouteCounters, route: &str, status: u16) {
        let class = status_class(status);
        counters.by_class[class]
            .get_or_init(|| self.request_counter(route, class))
            .inc();
    }

    fn request_counter(&self, route: &str, class: usize) -> Counter {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                status: STATUS_CLASSES[class],
            })
            .clone()
    }

    /// Sets the audit log's gauges (read when metrics are scraped).
    pub fn set_audit(&self, degraded: bool, unsigned: u64, dropped: u64, suppressed: u64) {
        self.audit_suppressed
            .set(i64::try_from(suppressed).unwrap_or(i64::MAX));
        self.audit_degraded.set(i64::from(degraded));
        self.audit_unsigned
            .set(i64::try_from(unsigned).unwrap_or(i64::MAX));
        self.audit_dropped
            .set(i64::try_from(dropped).unwrap_or(i64::MAX));
    }

    /// Sets how many trusted IdP certificates expire soon (read when
    /// metrics are scraped).
    pub fn set_sso_certificates_expiring(&self, count: usize) {
        self.sso_certificates_expiring
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A route's bound counters feed the same series as the by-name path,
    /// one per status class, each counted separately.
    #[test]
    fn route_counters_count_into_the_routes_series_by_status_class() {
        let metrics = Metrics::new();
        let counters = RouteCounters::default();
        for status in [200, 204, 404, 502] {
            metrics.route_request(&counters, "items", status);
        }
        metrics.request("items", 201);
        let text = metrics.render();
        let line = |class: &str| {
            format!("portcullis_http_requests_total{{route=\"items\",status=\"{class}\"}} ")
        };
        assert!(text.contains(&format!("{}3", line("2xx"))), "{text}");
        assert!(text.contains(&format!("{}1", line("4xx"))), "{text}");
        assert!(text.contains(&format!("{}1", line("5xx"))), "{text}");
        assert!(!text.contains(&line("3xx")), "{text}");
    }
}
