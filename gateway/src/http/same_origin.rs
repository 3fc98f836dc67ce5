//! Cross-site request forgery: a state-changing request that authenticates
//! with the session cookie must come from the gateway's own origin.
//!
//! Browsers attach the cookie to requests other sites trigger (with
//! `SameSite=Lax`, still to top-level navigations and to same-site
//! siblings), so the cookie alone never proves the user meant the request.
//! The rule applies to every cookie-authenticated request with an unsafe
//! method, wherever it goes: the control-plane API and proxied routes
//! alike. Requests with an `Authorization` credential are not affected: a
//! browser never adds one on its own.

use super::ApiError;
use http::request::Parts;
use http::{Method, header};

/// Whether `method` is safe (RFC 9110 §9.2.1): it changes nothing, so a
/// forged one does no harm.
pub fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Refuses a cookie-authenticated, unsafe request that does not come from
/// `origin_host` (the gateway's public host, `host[:port]`).
///
/// Browsers say where a request comes from with `Sec-Fetch-Site` (all
/// current ones) and `Origin` (every cross-origin and every unsafe
/// request). Both are checked when present; a browser sends at least one
/// of them on every unsafe request, and a non-browser client forging
/// neither cannot be tricked into sending the cookie anyway.
pub fn check(parts: &Parts, origin_host: &str) -> Result<(), ApiError> {
    if is_safe(&parts.method) {
        return Ok(());
    }
    let cross_site =
        || ApiError::NotPermitted("cross-site requests cannot use the session cookie".into());
    for site in parts.headers.get_all("sec-fetch-site") {
        if !matches!(site.as_bytes(), b"same-origin" | b"none") {
            return Err(cross_site());
        }
    }
    let expected = format!("https://{origin_host}");
    for origin in parts.headers.get_all(header::ORIGIN) {
        let same = origin
            .to_str()
            .is_ok_and(|o| o.eq_ignore_ascii_case(&expected));
        if !same {
            return Err(cross_site());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: Method, headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::builder().method(method).uri("/x");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn unsafe_requests_from_other_origins_are_refused() {
        let host = "gw.example:8443";
        let refused = [
            vec![("origin", "https://evil.example")],
            vec![("origin", "http://gw.example:8443")],
            vec![("origin", "https://gw.example:8443.evil")],
            vec![("origin", "null")],
            vec![("sec-fetch-site", "same-site")],
            vec![("sec-fetch-site", "cross-site")],
            vec![
                ("sec-fetch-site", "same-origin"),
                ("origin", "https://sibling.gw.example"),
            ],
        ];
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            for headers in &refused {
                assert!(
                    check(&parts(method.clone(), headers), host).is_err(),
                    "{method} {headers:?}"
                );
            }
        }
        for headers in [
            vec![],
            vec![("origin", "https://gw.example:8443")],
            vec![("sec-fetch-site", "same-origin")],
            vec![("sec-fetch-site", "none")],
        ] {
            assert!(
                check(&parts(Method::POST, &headers), host).is_ok(),
                "{headers:?}"
            );
        }
        let evil = [("origin", "https://evil.example")];
        assert!(check(&parts(Method::GET, &evil), host).is_ok());
    }
}
