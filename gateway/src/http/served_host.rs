//! The host a request was served as: the configured public name, or the
//! request's own `Host` (`:authority` in HTTP/2) once it is checked to be
//! a plain `host[:port]`. Used for the same-origin rule and sent upstream
//! as `x-forwarded-host`; a raw client value is never passed on.

use http::request::Parts;
use http::{HeaderValue, header};

/// The host the gateway served a request as (`host[:port]`, lower case),
/// if known; held as a header value, which shares the request's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedHost(Option<HeaderValue>);

impl ServedHost {
    /// The host as text.
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_ref().and_then(|value| value.to_str().ok())
    }

    /// The host as a header value (for `x-forwarded-host`).
    pub fn header_value(&self) -> Option<&HeaderValue> {
        self.0.as_ref()
    }
}

/// Why a request's host cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the `Host` header is not a valid `host[:port]`")]
pub struct InvalidHost;

/// The served host of `parts`: `public_host` when configured, else its
/// validated `Host` or URI authority.
pub fn served_host(
    parts: &Parts,
    public_host: Option<&HeaderValue>,
) -> Result<ServedHost, InvalidHost> {
    if let Some(public) = public_host {
        return Ok(ServedHost(Some(public.clone())));
    }
    let mut hosts = parts.headers.get_all(header::HOST).iter();
    let (host, received) = match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => return Err(InvalidHost),
        (Some(value), None) => (value.to_str().map_err(|_| InvalidHost)?, Some(value)),
        (None, _) => match parts.uri.authority() {
            Some(authority) => (authority.as_str(), None),
            None => return Ok(ServedHost(None)),
        },
    };
    if !is_host_and_port(host) {
        return Err(InvalidHost);
    }
    let value = match received {
        // Already as it is kept: shared, not copied.
        Some(value) if !host.bytes().any(|b| b.is_ascii_uppercase()) => value.clone(),
        _ => HeaderValue::from_str(&host.to_ascii_lowercase()).map_err(|_| InvalidHost)?,
    };
    Ok(ServedHost(Some(value)))
}

/// Whether `value` is `name[:port]`, `ipv4[:port]` or `[ipv6][:port]`.
pub fn is_host_and_port(value: &str) -> bool {
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("x", Some(port)),
                None => return false,
            },
        }
    } else {
        match value.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (value, None),
        }
    };
    let name_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok());
    name_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_hosts_are_accepted() {
        for good in [
            "gw.example",
            "gw.example:8443",
            "127.0.0.1:8443",
            "[::1]:8443",
            "[::1]",
            "localhost",
        ] {
            assert!(is_host_and_port(good), "{good}");
        }
        for bad in [
            "",
            "gw.example:",
            "gw.example:99999",
            "evil.example/x",
            "a b",
            "gw.example:8443@evil",
            "[::1",
            "[nope]:1",
            "gw..example",
            "x\"><script>",
        ] {
            assert!(!is_host_and_port(bad), "{bad}");
        }
    }

    #[test]
    fn the_configured_public_name_wins_and_bad_hosts_are_refused() {
        let parts = |host: &str| {
            http::Request::builder()
                .uri("/")
                .header("host", host)
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        let public = HeaderValue::from_static("gw.example");
        let served = served_host(&parts("evil.example"), Some(&public)).unwrap();
        assert_eq!(served.as_str(), Some("gw.example"));
        let served = served_host(&parts("GW.example:8443"), None).unwrap();
        assert_eq!(served.as_str(), Some("gw.example:8443"));
        let served = served_host(&parts("gw.example:8443"), None).unwrap();
        assert_eq!(served.as_str(), Some("gw.example:8443"));
        assert_eq!(served_host(&parts("evil/x"), None), Err(InvalidHost));
    }
}
