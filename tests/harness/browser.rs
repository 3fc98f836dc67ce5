//! A small cookie-keeping HTTP client for plain-HTTP loopback peers (the
//! identity providers), playing the browser at them.

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A plain-HTTP answer.
pub struct PlainReply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl PlainReply {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    /// The `Location` header.
    pub fn location(&self) -> String {
        self.headers
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .expect("a Location header")
            .to_string()
    }
}

/// A browser for plain-HTTP loopback servers: keeps cookies (by name,
/// whatever their path), follows nothing by itself.
#[derive(Default)]
pub struct Browser {
    cookies: Vec<(String, String)>,
}

impl Browser {
    /// `GET url`.
    pub async fn get(&mut self, url: &str) -> PlainReply {
        self.send(Method::GET, url, None, Bytes::new()).await
    }

    /// `POST url` with a form body.
    pub async fn post_form(&mut self, url: &str, form: &str) -> PlainReply {
        let body = Bytes::copy_from_slice(form.as_bytes());
        self.send(
            Method::POST,
            url,
            Some("application/x-www-form-urlencoded"),
            body,
        )
        .await
    }

    /// `POST url` with a JSON body.
    pub async fn post_json(&mut self, url: &str, body: &serde_json::Value) -> PlainReply {
        let body = Bytes::from(body.to_string());
        self.send(Method::POST, url, Some("application/json"), body)
            .await
    }

    /// One request on a new connection; the whole exchange must end
    /// within the client's [`EXCHANGE_TIMEOUT`](crate::client::EXCHANGE_TIMEOUT).
    async fn send(
        &mut self,
        method: Method,
        url: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> PlainReply {
        let timeout = crate::client::EXCHANGE_TIMEOUT;
        tokio::time::timeout(timeout, self.exchange(method, url, content_type, body))
            .await
            .unwrap_or_else(|_| panic!("{url}: no whole answer within {timeout:?}"))
    }

    async fn exchange(
        &mut self,
        method: Method,
        url: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> PlainReply {
        let rest = url.strip_prefix("http://").expect("a plain http URL");
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let path = if path.is_empty() { "/" } else { path };
        let stream = TcpStream::connect(authority).await.expect("connect");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", authority);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if !self.cookies.is_empty() {
            let cookies: Vec<String> = self
                .cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            request = request.header("cookie", cookies.join("; "));
        }
        let request = request.body(Full::new(body)).expect("request");
        let response = sender
            .send_request(request)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let (parts, body) = response.into_parts();
        for value in parts.headers.get_all(http::header::SET_COOKIE) {
            let Some(pair) = value.to_str().ok().and_then(|v| v.split(';').next()) else {
                continue;
            };
            if let Some((name, value)) = pair.split_once('=') {
                self.cookies.retain(|(n, _)| n != name);
                if !value.is_empty() {
                    self.cookies.push((name.to_string(), value.to_string()));
                }
            }
        }
        let body = body.collect().await.expect("body").to_bytes();
        PlainReply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }
}
