//! Outbound HTTP through standard `wasi:http`.
//!
//! The gateway lets a plugin reach only the hosts on its allow-list; any
//! other request fails here with [`HttpError::Denied`] and the gateway logs
//! the attempt. TLS is done by the gateway.

use std::fmt;
use wasi::http::outgoing_handler;
use wasi::http::types::{ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme};

/// An outbound request.
#[derive(Debug, Clone)]
pub struct Request {
    /// HTTP method, e.g. `GET`.
    pub method: String,
    /// Absolute `http://` or `https://` URL.
    pub url: String,
    /// Request headers.
    pub headers: Vec<(String, String)>,
    /// Request body; empty for none.
    pub body: Vec<u8>,
}

impl Request {
    /// A `GET` of `url`.
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `POST` of `body` to `url` with the given content type.
    pub fn post(url: impl Into<String>, content_type: &str, body: Vec<u8>) -> Self {
        Self {
            method: "POST".into(),
            url: url.into(),
            headers: vec![("content-type".into(), content_type.into())],
            body,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A response read in full.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Response headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why an outbound request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The URL could not be used; the text says why.
    InvalidUrl(String),
    /// The gateway refused the request: the host is not on this plugin's
    /// allow-list.
    Denied,
    /// The request failed on the way (DNS, connect, TLS, protocol).
    Transport(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUrl(why) => write!(f, "invalid url: {why}"),
            Self::Denied => f.write_str("request denied: host is not on this plugin's allow-list"),
            Self::Transport(why) => write!(f, "request failed: {why}"),
        }
    }
}

impl std::error::Error for HttpError {}

fn transport(code: ErrorCode) -> HttpError {
    match code {
        ErrorCode::HttpRequestDenied => HttpError::Denied,
        other => HttpError::Transport(format!("{other:?}")),
    }
}

/// The parts of an absolute URL that `wasi:http` wants separately.
struct UrlParts<'a> {
    scheme: Scheme,
    authority: &'a str,
    path_and_query: &'a str,
}

fn split_url(url: &str) -> Result<UrlParts<'_>, HttpError> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else {
        return Err(HttpError::InvalidUrl(format!(
            "`{url}` is not an http(s) URL"
        )));
    };
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(split);
    if authority.is_empty() {
        return Err(HttpError::InvalidUrl(format!("`{url}` has no host")));
    }
    let path_and_query = if path_and_query.is_empty() {
        "/"
    } else {
        path_and_query
    };
    Ok(UrlParts {
        scheme,
        authority,
        path_and_query,
    })
}

fn method(name: &str) -> Method {
    match name.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        "HEAD" => Method::Head,
        "OPTIONS" => Method::Options,
        other => Method::Other(other.to_string()),
    }
}

/// Sends `request` and reads the whole response. Blocks the plugin (not the
/// gateway) until the answer arrives or the plugin's deadline passes.
pub fn send(request: &Request) -> Result<Response, HttpError> {
    let parts = split_url(&request.url)?;
    let headers = Fields::new();
    for (name, value) in &request.headers {
        headers
            .append(name, value.as_bytes())
            .map_err(|e| HttpError::InvalidUrl(format!("header `{name}`: {e:?}")))?;
    }
    // The body's length is known: say it, rather than send it chunked
    // (which some servers, and every HTTP/1.0 one, do not read).
    if !request.body.is_empty()
        && !request
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-length"))
    {
        headers
            .append("content-length", request.body.len().to_string().as_bytes())
            .map_err(|e| HttpError::InvalidUrl(format!("header `content-length`: {e:?}")))?;
    }
    let outgoing = OutgoingRequest::new(headers);
    let invalid = |what: &str| HttpError::InvalidUrl(format!("`{}`: bad {what}", request.url));
    outgoing
        .set_method(&method(&request.method))
        .map_err(|()| invalid("method"))?;
    outgoing
        .set_scheme(Some(&parts.scheme))
        .map_err(|()| invalid("scheme"))?;
    outgoing
        .set_authority(Some(parts.authority))
        .map_err(|()| invalid("authority"))?;
    outgoing
        .set_path_with_query(Some(parts.path_and_query))
        .map_err(|()| invalid("path"))?;

    let body = outgoing
        .body()
        .map_err(|()| HttpError::Transport("body taken".into()))?;
    let pending = outgoing_handler::handle(outgoing, None).map_err(transport)?;
    if !request.body.is_empty() {
        let stream = body
            .write()
            .map_err(|()| HttpError::Transport("body stream".into()))?;
        for chunk in request.body.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| HttpError::Transport(format!("writing body: {e:?}")))?;
        }
        drop(stream);
    }
    OutgoingBody::finish(body, None).map_err(transport)?;

    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(transport(code)),
        Some(Err(())) | None => return Err(HttpError::Transport("response lost".into())),
    };
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(n, v)| {
            (
                n.to_ascii_lowercase(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect();
    let incoming = response
        .consume()
        .map_err(|()| HttpError::Transport("response body taken".into()))?;
    let stream = incoming
        .stream()
        .map_err(|()| HttpError::Transport("response body stream".into()))?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(wasi::io::streams::StreamError::Closed) => break,
            Err(e) => return Err(HttpError::Transport(format!("reading body: {e:?}"))),
        }
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// `GET url`.
pub fn get(url: &str) -> Result<Response, HttpError> {
    send(&Request::get(url))
}
