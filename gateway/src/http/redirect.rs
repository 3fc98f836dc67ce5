//! The plain-HTTP listener's only job: send clients to HTTPS.

use axum::response::{IntoResponse, Redirect, Response};
use http::{Request, StatusCode, header};

/// A permanent redirect of `request` to the same path on `https_port`.
pub fn redirect_to_https<B>(request: &Request<B>, https_port: u16) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<http::uri::Authority>().ok())
        .map(|a| a.host().to_string());
    let Some(host) = host else {
        return (StatusCode::BAD_REQUEST, "a Host header is required").into_response();
    };
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    Redirect::permanent(&format!("https://{host}{port}{path}")).into_response()
}
