//! Refusals repeated from one source (a credential sprayer, a scraper
//! hitting denied routes) are recorded up to a rate, then counted: the
//! next recorded refusal from that source says how many were left out
//! (`details.suppressed_before`). Without this, anyone able to send
//! requests could write the audit log as fast as it commits and fill the
//! disk, and a full disk refuses every administrative change.
//!
//! Only failures and denials are limited; successes and changes to records
//! (which never pass through here) are all recorded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Sources tracked before idle ones are forgotten.
const MAX_SOURCES: usize = 10_000;

/// How many refusals of one kind from one source are recorded: a burst,
/// then a steady rate (`[audit] refusal_burst`, `refusals_per_second`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloodLimit {
    /// Recorded at once, at most.
    pub burst: f64,
    /// And then per second.
    pub per_second: f64,
}

impl Default for FloodLimit {
    fn default() -> Self {
        Self {
            burst: 100.0,
            per_second: 20.0,
        }
    }
}

/// Whether to record a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Record it; this many like it were left out since the last one.
    Record {
        /// Refusals not recorded before this one.
        suppressed: u64,
    },
    /// Leave it out (it is counted).
    Suppress,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
    suppressed: u64,
}

/// A token bucket per (event, source).
#[derive(Debug, Default)]
pub struct FloodGuard {
    limit: FloodLimit,
    buckets: Mutex<HashMap<(String, String), Bucket>>,
}

impl FloodGuard {
    /// A guard that admits refusals up to `limit`.
    pub fn new(limit: FloodLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::default(),
        }
    }

    /// Whether to record a refusal `action` from `source`, now.
    pub fn admit(&self, action: &str, source: &str) -> Admit {
        self.admit_at(action, source, Instant::now())
    }

    fn admit_at(&self, action: &str, source: &str, now: Instant) -> Admit {
        let Ok(mut buckets) = self.buckets.lock() else {
            // A poisoned lock records everything: never lose an event to it.
            return Admit::Record { suppressed: 0 };
        };
        let FloodLimit { burst, per_second } = self.limit;
        if buckets.len() >= MAX_SOURCES {
            buckets.retain(|_, b| now.duration_since(b.last).as_secs_f64() * per_second < burst);
            if buckets.len() >= MAX_SOURCES {
                buckets.clear();
            }
        }
        let bucket = buckets
            .entry((action.to_string(), source.to_string()))
            .or_insert(Bucket {
                tokens: burst,
                last: now,
                suppressed: 0,
            });
        let refill = now.duration_since(bucket.last).as_secs_f64() * per_second;
        bucket.tokens = (bucket.tokens + refill).min(burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Admit::Record {
                suppressed: std::mem::take(&mut bucket.suppressed),
            }
        } else {
            bucket.suppressed += 1;
            Admit::Suppress
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_flood_from_one_source_is_recorded_up_to_the_burst_then_counted() {
        let guard = FloodGuard::default();
        let FloodLimit { burst, per_second } = FloodLimit::default();
        let start = Instant::now();
        let recorded = (0..1000)
            .filter(|_| guard.admit_at("auth.failed", "192.0.2.1", start) != Admit::Suppress)
            .count();
        assert_eq!(recorded, burst as usize);
        // Another source, and another kind of event, are not affected.
        assert_eq!(
            guard.admit_at("auth.failed", "192.0.2.2", start),
            Admit::Record { suppressed: 0 }
        );
        assert_eq!(
            guard.admit_at("access.denied", "192.0.2.1", start),
            Admit::Record { suppressed: 0 }
        );
        // After a second, the next one says how many were left out.
        let later = start + Duration::from_secs(1);
        assert_eq!(
            guard.admit_at("auth.failed", "192.0.2.1", later),
            Admit::Record { suppressed: 900 }
        );
        let recorded = (0..100)
            .filter(|_| guard.admit_at("auth.failed", "192.0.2.1", later) != Admit::Suppress)
            .count();
        assert_eq!(recorded, per_second as usize - 1);
    }

    #[test]
    fn a_configured_limit_is_the_one_applied() {
        let guard = FloodGuard::new(FloodLimit {
            burst: 3.0,
            per_second: 0.5,
        });
        let start = Instant::now();
        let recorded = (0..10)
            .filter(|_| guard.admit_at("auth.failed", "192.0.2.1", start) != Admit::Suppress)
            .count();
        assert_eq!(recorded, 3);
        // One token back after two seconds, not after one.
        let one = start + Duration::from_secs(1);
        assert_eq!(
            guard.admit_at("auth.failed", "192.0.2.1", one),
            Admit::Suppress
        );
        let two = start + Duration::from_secs(2);
        assert_eq!(
            guard.admit_at("auth.failed", "192.0.2.1", two),
            Admit::Record { suppressed: 8 }
        );
    }
}
