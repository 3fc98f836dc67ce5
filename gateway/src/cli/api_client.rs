//! A small HTTPS client for the commands that talk to a running gateway
//! (`portcullis seal`): JSON in and out, a bearer token from the
//! environment, certificate verification always on.

use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject as _};
use rustls::{ClientConfig, RootCertStore};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The largest response read.
const MAX_RESPONSE_BYTES: usize = 4 << 20;
/// How long one request may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A gateway's API at one origin.
pub struct ApiClient {
    host: String,
    port: u16,
    authority: String,
    server_name: ServerName<'static>,
    tls: TlsConnector,
    token: SecretString,
}

/// What a gateway answered: its status and JSON body (`Null` if empty).
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The body.
    pub body: Value,
}

impl Answer {
    /// The body of a success, or an error with the gateway's code and
    /// message.
    pub fn ok(self, what: &str) -> anyhow::Result<Value> {
        if self.status.is_success() {
            return Ok(self.body);
        }
        let code = self.body["code"].as_str().unwrap_or("unknown");
        let message = self.body["message"].as_str().unwrap_or("no message");
        bail!(
            "{what}: the gateway answered {} ({code}): {message}",
            self.status
        )
    }
}

impl ApiClient {
    /// A client for `gateway` (`https://host[:port]`), trusting the
    /// certificates in `ca_file` or, without one, the Mozilla root store.
    pub fn new(gateway: &str, ca_file: Option<&Path>, token: SecretString) -> anyhow::Result<Self> {
        let uri: Uri = gateway
            .parse()
            .with_context(|| format!("`{gateway}` is not a URL"))?;
        if uri.scheme_str() != Some("https") {
            bail!("the gateway URL must start with https:// (got `{gateway}`)");
        }
        if uri.path() != "/" && !uri.path().is_empty() {
            bail!("the gateway URL must have no path (got `{gateway}`)");
        }
        let host = uri
            .host()
            .ok_or_else(|| anyhow!("`{gateway}` has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(443);
        let server_name = ServerName::try_from(host.clone())
            .with_context(|| format!("`{host}` is not a host name or IP address"))?;
        let mut roots = RootCertStore::empty();
        match ca_file {
            Some(path) => {
                for certificate in CertificateDer::pem_file_iter(path)
                    .with_context(|| format!("cannot read {}", path.display()))?
                {
                    let certificate = certificate
                        .with_context(|| format!("{}: not a PEM certificate", path.display()))?;
                    roots.add(certificate).with_context(|| {
                        format!("{}: not a usable CA certificate", path.display())
                    })?;
                }
                if roots.is_empty() {
                    bail!("{} holds no certificate", path.display());
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS setup")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            authority: uri
                .authority()
                .map(ToString::to_string)
                .unwrap_or_else(|| host.clone()),
            host,
            port,
            server_name,
            tls: TlsConnector::from(Arc::new(config)),
            token,
        })
    }

    /// Sends `body` (if any) as JSON with `method` to `path`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(method, path, body))
            .await
            .map_err(|_| {
                anyhow!(
                    "the gateway did not answer within {} s",
                    REQUEST_TIMEOUT.as_secs()
                )
            })?
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .with_context(|| format!("cannot connect to {}:{}", self.host, self.port))?;
        let tls = self
            .tls
            .connect(self.server_name.clone(), tcp)
            .await
            .with_context(|| format!("TLS with {} failed", self.authority))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .context("HTTP handshake")?;
        tokio::spawn(connection);
        let bytes = match body {
            Some(body) => serde_json::to_vec(body)?,
            None => Vec::new(),
        };
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.authority)
            .header(header::ACCEPT, "application/json")
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", self.token.expose_secret()),
            );
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let response = sender
            .send_request(request.body(Full::new(Bytes::from(bytes)))?)
            .await
            .context("the request failed")?;
        let status = response.status();
        let collected = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| anyhow!("reading the answer: {e}"))?
            .to_bytes();
        let body = if collected.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&collected)
                .with_context(|| format!("the gateway's answer ({status}) is not JSON"))?
        };
        Ok(Answer { status, body })
    }
}
