//! `azure_core`'s HTTP transport over the SDK's `wasi:http` client, which
//! also notes the authority a vault's 401 challenge names.

use azure_core::error::ErrorKind;
use azure_core::http::headers::Headers;
use azure_core::http::{AsyncRawResponse, Body, HttpClient, Request, StatusCode};
use std::sync::{Arc, Mutex};

/// The authority (`https://login.microsoftonline.com/{tenant}`) the
/// vault's most recent `WWW-Authenticate: Bearer authorization="…"`
/// challenge named, shared by the transport that sees it and the
/// credential that asks it for tokens.
#[derive(Debug, Clone, Default)]
pub struct Challenges(Arc<Mutex<Option<String>>>);

impl Challenges {
    /// The authority named last, if any.
    pub fn authority(&self) -> Option<String> {
        self.0.lock().ok().and_then(|a| a.clone())
    }

    fn note(&self, header: &str) {
        if let Some(authority) = challenge_parameter(header, "authorization")
            .or_else(|| challenge_parameter(header, "authorization_uri"))
            && let Ok(mut noted) = self.0.lock()
        {
            *noted = Some(authority.trim_end_matches('/').to_string());
        }
    }
}

/// The value of `name="…"` in a Bearer challenge.
fn challenge_parameter<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    let rest = header.trim().strip_prefix("Bearer")?;
    rest.split(',').find_map(|part| {
        let (key, value) = part.trim().split_once('=')?;
        (key.trim().eq_ignore_ascii_case(name)).then(|| value.trim().trim_matches('"'))
    })
}

/// Sends the SDK's requests with `portcullis_sdk::http`.
#[derive(Debug)]
pub struct WasiTransport {
    challenges: Challenges,
}

impl WasiTransport {
    /// A transport that notes challenges in `challenges`.
    pub fn new(challenges: Challenges) -> Self {
        Self { challenges }
    }
}

#[async_trait::async_trait]
impl HttpClient for WasiTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let body = match request.body() {
            Body::Bytes(bytes) => bytes.to_vec(),
            Body::SeekableStream(_) => {
                return Err(azure_core::Error::with_message(
                    ErrorKind::Other,
                    "streamed request bodies are not supported",
                ));
            }
        };
        let outgoing = portcullis_sdk::http::Request {
            method: request.method().to_string(),
            url: request.url().to_string(),
            headers: request
                .headers()
                .iter()
                .map(|(name, value)| (name.as_str().to_string(), value.as_str().to_string()))
                .collect(),
            body,
        };
        let response = portcullis_sdk::http::send(&outgoing)
            .map_err(|e| azure_core::Error::with_message(ErrorKind::Io, e.to_string()))?;
        if response.status == 401
            && let Some(challenge) = response.header("www-authenticate")
        {
            self.challenges.note(challenge);
        }
        let mut headers = Headers::new();
        for (name, value) in response.headers {
            headers.insert(name, value);
        }
        let body = azure_core::Bytes::from(response.body);
        let stream = futures::stream::once(async move { Ok(body) });
        Ok(AsyncRawResponse::new(
            StatusCode::from(response.status),
            headers,
            Box::pin(stream),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authority_is_read_from_a_key_vault_challenge() {
        let challenges = Challenges::default();
        challenges.note(
            r#"Bearer authorization="https://login.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47", resource="https://vault.azure.net""#,
        );
        assert_eq!(
            challenges.authority().as_deref(),
            Some("https://login.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47")
        );
        let other = Challenges::default();
        other.note("Basic realm=\"x\"");
        assert_eq!(other.authority(), None);
    }
}
