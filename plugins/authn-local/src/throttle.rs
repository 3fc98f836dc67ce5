//! Exponential backoff after failed attempts. A throttled attempt is
//! refused before any password is checked, and every delay ends.
//!
//! Failures count against three keys, so that an attacker's failures do
//! not lock the real user out:
//! - the account at one client address (`pair`): the attacker's own
//!   address backs off quickly, the user's address is untouched;
//! - the client address alone (`address`): one address trying many
//!   accounts backs off;
//! - the account everywhere (`account`), with a much higher ceiling,
//!   against attacks spread over many addresses. It does not apply at
//!   addresses the account signed in from before (known-good), so even
//!   then the user can sign in from their usual place.
//!
//! Addresses are IPv4 addresses or IPv6 /64 networks (one host usually
//! owns a whole /64). Every record expires when it no longer delays
//! anything and its failures are forgotten, and the gateway deletes it.

use serde::{Deserialize, Serialize};

/// How failures turn into delays.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Failures allowed before any delay.
    pub free_attempts: u32,
    /// Delay after the first failure past the free ones; doubles each time.
    /// A delay lasts at least this long and at most a second more (time is
    /// counted in whole seconds).
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

/// The unit a client address is throttled by: the IPv4 address, or the
/// IPv6 /64 network (an IPv4-mapped IPv6 address is its IPv4 address).
/// Anything that is not an address is its own unit.
pub fn address_unit(client_ip: &str) -> String {
    match client_ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => client_ip.to_string(),
    }
}

impl Record {
    /// When this record stops mattering under `policy`: nothing blocked
    /// and its failures forgotten (Unix seconds).
    pub fn expires_at(&self, policy: &Policy) -> u64 {
        self.blocked_until
            .max(self.last_failure.saturating_add(policy.forget_after_secs))
    }
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
            let delay = self
                .base_delay_secs
                .saturating_mul(doubling)
                .min(self.max_delay_secs);
            // `now` is whole seconds, cut down: a failure at 10.9 s is at
            // 10. Counting the delay from the next second makes it last at
            // least `delay` seconds (at most one more), never less — a
            // 1 s delay counted from 10 would end 0.1 s after the failure.
            now.saturating_add(delay).saturating_add(1)
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
        // Seen within the second of the failure, each wait includes the
        // rest of that second.
        assert_eq!(delays, [0, 0, 0, 3, 5, 9, 11]);
        // Never permanent: the wait ends.
        assert_eq!(policy.wait(&record, 1_011), None);
    }

    #[test]
    fn ipv6_clients_are_throttled_per_64_and_ipv4_per_address() {
        assert_eq!(address_unit("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            address_unit("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            "2001:db8:1:2::/64"
        );
        assert_ne!(
            address_unit("2001:db8:1:3::1"),
            address_unit("2001:db8:1:2::1")
        );
        assert_eq!(address_unit("198.51.100.7"), "198.51.100.7");
        assert_eq!(address_unit("::ffff:198.51.100.7"), "198.51.100.7");
        assert_eq!(address_unit(""), "");
    }

    #[test]
    fn records_expire_once_they_delay_nothing_and_are_forgotten() {
        let policy = Policy::default();
        let mut record = Record::default();
        for _ in 0..20 {
            record = policy.fail(record, 1_000);
        }
        assert_eq!(record.expires_at(&policy), 1_000 + policy.forget_after_secs);
        let short = Policy {
            forget_after_secs: 10,
            ..Policy::default()
        };
        let blocked = short.fail(
            Record {
                failures: 30,
                last_failure: 1_000,
                blocked_until: 0,
            },
            1_000,
        );
        assert_eq!(blocked.expires_at(&short), blocked.blocked_until);
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
