//! What the gateway reports about the certificates an identity provider
//! trusts (a SAML IdP's signing certificates): whose they are and when
//! they expire, so an operator sees a rotation coming (the admin API, and
//! a gauge in `/metrics`).

use crate::plugin::host::crypto::der::{self, Tag};
use base64::Engine;
use serde::Serialize;

/// How far ahead an expiry counts as "soon".
pub const EXPIRING_WITHIN_SECS: i64 = 30 * 24 * 3600;

/// One trusted certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[schemars(rename = "TrustedCertificate")]
pub struct CertificateFacts {
    /// The subject's common name (or the whole subject's DER in hex when
    /// it has none).
    pub subject: String,
    /// Start of validity (Unix seconds).
    pub not_before: i64,
    /// End of validity (Unix seconds).
    pub not_after: i64,
    /// SHA-256 of the certificate (DER), hex.
    pub sha256_fingerprint: String,
}

impl CertificateFacts {
    /// Whether it expires before `now + EXPIRING_WITHIN_SECS` (or has).
    pub fn expires_soon(&self, now: i64) -> bool {
        self.not_after < now.saturating_add(EXPIRING_WITHIN_SECS)
    }
}

/// The expiry of every identity provider's trusted certificates, as
/// last described, for the `/metrics` gauge.
#[derive(Debug, Default)]
pub struct CertificateWatch(std::sync::Mutex<std::collections::HashMap<String, Vec<i64>>>);

impl CertificateWatch {
    fn entries(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Vec<i64>>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records what provider `id` trusts now.
    pub fn record(&self, id: &str, certificates: &[CertificateFacts]) {
        let expiries = certificates.iter().map(|c| c.not_after).collect();
        self.entries().insert(id.to_string(), expiries);
    }

    /// Forgets provider `id` (deleted).
    pub fn forget(&self, id: &str) {
        self.entries().remove(id);
    }

    /// How many trusted certificates expire within
    /// [`EXPIRING_WITHIN_SECS`] of `now`, or have expired.
    pub fn expiring(&self, now: i64) -> usize {
        let soon = now.saturating_add(EXPIRING_WITHIN_SECS);
        self.entries()
            .values()
            .flatten()
            .filter(|not_after| **not_after < soon)
            .count()
    }
}

const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const UTC_TIME: Tag = Tag(0x17);
const GENERALIZED_TIME: Tag = Tag(0x18);

/// Reads the facts of a PEM certificate.
pub fn facts(pem: &str) -> Result<CertificateFacts, String> {
    let body = pem
        .split_once("-----BEGIN CERTIFICATE-----")
        .and_then(|(_, rest)| rest.split_once("-----END CERTIFICATE-----"))
        .map(|(body, _)| body)
        .ok_or("no PEM CERTIFICATE block")?;
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der_bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| "the PEM body is not base64")?;
    let (certificate, _) = der::expect(&der_bytes, Tag::SEQUENCE)?;
    let (tbs, _) = der::expect(certificate, Tag::SEQUENCE)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = der::read(rest)?.2;
    }
    // serial, signature algorithm, issuer.
    for _ in 0..3 {
        rest = der::read(rest)?.2;
    }
    let (validity, rest) = der::expect(rest, Tag::SEQUENCE)?;
    let (not_before, after) = time(validity)?;
    let (not_after, _) = time(after)?;
    let (subject, _) = der::expect(rest, Tag::SEQUENCE)?;
    let digest = ring::digest::digest(&ring::digest::SHA256, &der_bytes);
    Ok(CertificateFacts {
        subject: common_name(subject)?.unwrap_or_else(|| hex::encode(subject)),
        not_before,
        not_after,
        sha256_fingerprint: hex::encode(digest.as_ref()),
    })
}

/// The first common name of a Name (a sequence of sets of
/// attribute-type-and-value sequences).
fn common_name(mut name: &[u8]) -> Result<Option<String>, String> {
    while !name.is_empty() {
        let (set, rest) = der::expect(name, Tag(0x31))?;
        name = rest;
        let (pair, _) = der::expect(set, Tag::SEQUENCE)?;
        let (oid, value) = der::expect(pair, Tag::OID)?;
        if oid == OID_COMMON_NAME {
            let (_, text, _) = der::read(value)?;
            return Ok(Some(String::from_utf8_lossy(text).into_owned()));
        }
    }
    Ok(None)
}

/// One `Time` (UTCTime or GeneralizedTime, in `Z`) as Unix seconds.
fn time(input: &[u8]) -> Result<(i64, &[u8]), String> {
    let (tag, text, rest) = der::read(input)?;
    let text = std::str::from_utf8(text).map_err(|_| "a certificate time is not text")?;
    let digits = text
        .strip_suffix('Z')
        .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
        .ok_or("a certificate time is not in UTC")?;
    let number = |range: std::ops::Range<usize>| -> Result<i64, String> {
        digits
            .get(range)
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| "a certificate time is malformed".to_string())
    };
    let (year, at) = match (tag, digits.len()) {
        (UTC_TIME, 12) => {
            let yy = number(0..2)?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, 2)
        }
        (GENERALIZED_TIME, 14) => (number(0..4)?, 4),
        _ => return Err("a certificate time is malformed".into()),
    };
    let month = number(at..at + 2)?;
    let day = number(at + 2..at + 4)?;
    let seconds =
        number(at + 4..at + 6)? * 3600 + number(at + 6..at + 8)? * 60 + number(at + 8..at + 10)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err("a certificate time is malformed".into());
    }
    Ok((days_from_civil(year, month, day) * 86_400 + seconds, rest))
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> String {
        let mut params = rcgen::CertificateParams::new(vec!["idp.test".into()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Acme IdP signing");
        params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn reads_subject_validity_and_fingerprint() {
        // 2049 is a UTCTime, 2051 a GeneralizedTime (RFC 5280 4.1.2.5).
        for (year, expected) in [(2049, 2_493_072_000), (2051, 2_556_144_000)] {
            let pem = certificate((2024, 1, 1), (year, 1, 1));
            let facts = facts(&pem).unwrap();
            assert_eq!(facts.subject, "Acme IdP signing");
            assert_eq!(facts.not_before, 1_704_067_200);
            assert_eq!(facts.not_after, expected);
            assert_eq!(facts.sha256_fingerprint.len(), 64);
        }
    }

    #[test]
    fn soon_means_within_thirty_days() {
        let facts = facts(&certificate((2024, 1, 1), (2030, 1, 1))).unwrap();
        assert!(!facts.expires_soon(facts.not_after - EXPIRING_WITHIN_SECS - 1));
        assert!(facts.expires_soon(facts.not_after - EXPIRING_WITHIN_SECS + 1));
        assert!(
            facts.expires_soon(facts.not_after + 1),
            "expired counts too"
        );
    }

    #[test]
    fn refuses_what_is_not_a_certificate() {
        assert!(facts("hello").is_err());
        assert!(facts("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----").is_err());
    }
}
