//! Exponential backoff after failed attempts, per account and per source
//! address. A throttled attempt is refused before any password is checked,
//! and every delay ends: there is no permanent lockout an attacker could
//! use against a real user.

use serde::{Deserialize, Serialize};

/// How failures turn into delays.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Failures allowed before any delay.
    pub free_attempts: u32,
    /// Delay after the first failure past the free ones; doubles each time.
    pub base_delay_secs: u64,
    /// Longest delay.
    pub max_delay_secs: u64,
    /// Failures are forgotten this long after the last one.
    pub forget_after_secs: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            free_attempts: 5,
            base_delay_secs: 2,
            max_delay_secs: 900,
            forget_after_secs: 3_600,
        }
    }
}

/// Failures recorded against one key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Consecutive failures.
    pub failures: u32,
    /// When the last failure happened (Unix seconds).
    pub last_failure: u64,
    /// No attempt is considered before this time (Unix seconds).
    pub blocked_until: u64,
}

impl Policy {
    /// Seconds left before `record` allows another attempt at `now`, if any.
    pub fn wait(&self, record: &Record, now: u64) -> Option<u32> {
        (record.blocked_until > now)
            .then(|| u32::try_from(record.blocked_until - now).unwrap_or(u32::MAX))
    }

    /// `record` after one more failure at `now`.
    pub fn fail(&self, record: Record, now: u64) -> Record {
        let failures = if now.saturating_sub(record.last_failure) > self.forget_after_secs {
            1
        } else {
            record.failures.saturating_add(1)
        };
        let over = failures.saturating_sub(self.free_attempts);
        let blocked_until = if over == 0 {
            0
        } else {
            let doubling = 1u64.checked_shl(over - 1).unwrap_or(u64::MAX);
            now + self
                .base_delay_secs
                .saturating_mul(doubling)
                .min(self.max_delay_secs)
        };
        Record {
            failures,
            last_failure: now,
            blocked_until,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_after_free_attempts_and_are_capped() {
        let policy = Policy {
            free_attempts: 3,
            base_delay_secs: 2,
            max_delay_secs: 10,
            forget_after_secs: 100,
        };
        let mut record = Record::default();
        let mut delays = Vec::new();
        for _ in 0..7 {
            record = policy.fail(record, 1_000);
            delays.push(policy.wait(&record, 1_000).unwrap_or(0));
        }
        assert_eq!(delays, [0, 0, 0, 2, 4, 8, 10]);
        // Never permanent: the wait ends.
        assert_eq!(policy.wait(&record, 1_010), None);
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_period() {
        let policy = Policy::default();
        let mut record = Record::default();
        for _ in 0..10 {
            record = policy.fail(record, 1_000);
        }
        let later = policy.fail(record, 1_000 + policy.forget_after_secs + 1);
        assert_eq!(later.failures, 1);
        assert_eq!(policy.wait(&later, later.last_failure), None);
    }
}
