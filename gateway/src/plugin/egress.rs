//! Outbound HTTP for plugins: only to hosts on the plugin's allow-list.
//! Anything else fails inside the plugin with `HttpRequestDenied` and a
//! warning naming the plugin and the host.

//!
//! An allow-list entry is one of:
//! - `host` — HTTPS to `host` on port 443 only;
//! - `host:port` or `https://host[:port]` — HTTPS to `host` on that port;
//! - `http://host:port` — plain HTTP to `host` on that port (the port is
//!   required, so plain HTTP is never allowed by accident).
//!
//! Nothing else matches: an entry never opens every port, nor plain HTTP.

use std::sync::Arc;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// One allowed destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressRule {
    /// Plain HTTP rather than HTTPS.
    pub plain_http: bool,
    /// Lower-case host name or address (IPv6 without brackets).
    pub host: String,
    /// The one port allowed.
    pub port: u16,
}

/// Why an allow-list entry is not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressRuleError {
    /// The entry is not of any accepted form.
    #[error("`host`, `host:port`, `https://host[:port]` or `http://host:port`")]
    Malformed,
    /// Plain HTTP without an explicit port.
    #[error("an explicit port for plain HTTP (`http://host:port`)")]
    PlainHttpWithoutPort,
}

impl EgressRule {
    /// Parses an allow-list entry.
    pub fn parse(entry: &str) -> Result<Self, EgressRuleError> {
        let entry = entry.trim().to_ascii_lowercase();
        let (plain_http, rest) = if let Some(rest) = entry.strip_prefix("http://") {
            (true, rest)
        } else if let Some(rest) = entry.strip_prefix("https://") {
            (false, rest)
        } else {
            (false, entry.as_str())
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.contains(['/', ' ', '@', '?', '#', '*']) {
            return Err(EgressRuleError::Malformed);
        }
        let (host, port) = split_host_port(rest).ok_or(EgressRuleError::Malformed)?;
        let port = match (port, plain_http) {
            (Some(port), _) => port,
            (None, false) => 443,
            (None, true) => return Err(EgressRuleError::PlainHttpWithoutPort),
        };
        Ok(Self {
            plain_http,
            host,
            port,
        })
    }
}

/// `host[:port]` or `[v6][:port]`.
fn split_host_port(value: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = value.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?.parse().ok()?),
        };
        return Some((host.to_string(), port));
    }
    match value.split_once(':') {
        Some((host, port)) if !host.is_empty() => {
            Some((host.to_string(), Some(port.parse().ok()?)))
        }
        Some(_) => None,
        None => Some((value.to_string(), None)),
    }
}

/// The hosts one plugin may reach, and the TLS its HTTPS is verified with.
#[derive(Clone)]
pub struct EgressPolicy {
    plugin: Arc<str>,
    allowed: Arc<[EgressRule]>,
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for EgressPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressPolicy")
            .field("plugin", &self.plugin)
            .field("allowed", &self.allowed)
            .finish_non_exhaustive()
    }
}

impl EgressPolicy {
    /// A policy for `plugin` allowing `allowed` (entries that do not parse
    /// allow nothing; configuration validation refuses them first), its
    /// HTTPS verified with `tls` (see [`client_tls`]).
    pub fn new(plugin: &str, allowed: &[String], tls: Arc<rustls::ClientConfig>) -> Self {
        Self {
            plugin: plugin.into(),
            allowed: allowed
                .iter()
                .filter_map(|entry| EgressRule::parse(entry).ok())
                .collect(),
            tls,
        }
    }

    /// Whether a request to `host` (no port) at `port`, over plain HTTP or
    /// HTTPS, is allowed.
    pub fn allows(&self, plain_http: bool, host: &str, port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.allowed
            .iter()
            .any(|rule| rule.plain_http == plain_http && rule.host == host && rule.port == port)
    }
}

impl WasiHttpHooks for EgressPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                    ),
                    HttpError,
                >,
            > + Send,
    > {
        let uri = request.uri();
        let host = uri.host().unwrap_or_default().to_string();
        let plain_http = uri.scheme_str() != Some("https");
        let port = uri.port_u16().unwrap_or(if plain_http { 80 } else { 443 });
        if !self.allows(plain_http, &host, port) {
            tracing::warn!(plugin = %self.plugin, host = %host, port, plain_http, "plugin egress denied: not on the allow-list");
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        tracing::debug!(plugin = %self.plugin, host = %host, port, "plugin egress");
        drop(fut);
        if !plain_http {
            return Box::new(send_https(request, options, self.tls.clone()));
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            ))
        })
    }
}

/// The TLS a plugin's outbound HTTPS is verified with: the Mozilla root
/// store, plus the CA certificates in `bundles` (PEM files: the gateway's
/// `server.egress_ca_bundles`, then the plugin's own `ca_bundles`).
/// Verification is never off; a bundle only adds trust anchors.
pub fn client_tls(bundles: &[std::path::PathBuf]) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::{CertificateDer, pem::PemObject as _};
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for path in bundles {
        let shown = path.display();
        let mut added = 0;
        for certificate in CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("CA bundle `{shown}` cannot be read: {e}"))?
        {
            let certificate =
                certificate.map_err(|e| format!("CA bundle `{shown}` is not PEM: {e}"))?;
            roots
                .add(certificate)
                .map_err(|e| format!("CA bundle `{shown}` holds an unusable certificate: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!("CA bundle `{shown}` holds no certificate"));
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Sends `request` over HTTPS verified with `tls`, as
/// `wasmtime_wasi_http::default_send_request` does over plain TCP and the
/// public roots: the connect timeout bounds the connection and the TLS
/// handshake, the first-byte timeout the wait for the response head (the
/// plugin's call deadline bounds the rest).
async fn send_https(
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    tls: Arc<rustls::ClientConfig>,
) -> Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ),
    HttpError,
> {
    use http_body_util::BodyExt as _;
    use std::time::Duration;
    let never = Duration::from_secs(600);
    let connect_timeout = options.and_then(|o| o.connect_timeout).unwrap_or(never);
    let first_byte_timeout = options.and_then(|o| o.first_byte_timeout).unwrap_or(never);
    let uri = request.uri().clone();
    let host = uri
        .host()
        .ok_or(HttpError::HttpRequestUriInvalid)?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(443);
    let server_name = rustls::pki_types::ServerName::try_from(host.clone())?;
    let connect = async {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(HttpError::Connect)?;
        tokio_rustls::TlsConnector::from(tls)
            .connect(server_name, tcp)
            .await
            .map_err(HttpError::Tls)
    };
    let stream = tokio::time::timeout(connect_timeout, connect)
        .await
        .map_err(|_| HttpError::ConnectionTimeout)??;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    let driver = tokio::spawn(connection);
    // Origin form on the wire: the authority travels in `Host`.
    if !request.headers().contains_key(http::header::HOST)
        && let Some(authority) = uri.authority()
        && let Ok(value) = http::HeaderValue::from_str(authority.as_str())
    {
        request.headers_mut().insert(http::header::HOST, value);
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    *request.uri_mut() = http::Uri::try_from(path).map_err(|_| HttpError::HttpRequestUriInvalid)?;
    let response = tokio::time::timeout(first_byte_timeout, sender.send_request(request))
        .await
        .map_err(|_| HttpError::ConnectionReadTimeout)??;
    let io = async move {
        match driver.await {
            Ok(result) => result.map_err(HttpError::from),
            Err(_) => Err(HttpError::ConnectionTerminated),
        }
    };
    Ok((
        response.map(|body| body.map_err(HttpError::from).boxed_unsync()),
        Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(entries: &[&str]) -> EgressPolicy {
        let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
        EgressPolicy::new("p", &entries, client_tls(&[]).unwrap())
    }

    #[test]
    fn a_bare_host_allows_https_on_443_only() {
        let policy = policy(&["Idp.Example.com"]);
        assert!(policy.allows(false, "idp.example.com", 443));
        assert!(!policy.allows(false, "idp.example.com", 8443));
        assert!(!policy.allows(true, "idp.example.com", 80));
        assert!(!policy.allows(true, "idp.example.com", 443));
        assert!(!policy.allows(false, "evil.example.com", 443));
        assert!(!policy.allows(false, "idp.example.com.evil.com", 443));
    }

    #[test]
    fn a_port_allows_https_on_that_port_and_plain_http_needs_its_own_entry() {
        let policy = policy(&[
            "127.0.0.1:9000",
            "https://vault.example:8200",
            "http://[::1]:8080",
        ]);
        assert!(policy.allows(false, "127.0.0.1", 9000));
        assert!(!policy.allows(true, "127.0.0.1", 9000));
        assert!(!policy.allows(false, "127.0.0.1", 9001));
        assert!(policy.allows(false, "vault.example", 8200));
        assert!(policy.allows(true, "[::1]", 8080));
        assert!(!policy.allows(false, "::1", 8080));
    }

    #[test]
    fn malformed_entries_are_refused() {
        assert_eq!(
            EgressRule::parse("http://x.example"),
            Err(EgressRuleError::PlainHttpWithoutPort)
        );
        for bad in [
            "",
            "x.example/path",
            "user@x.example",
            "*.example",
            "x:port",
            ":80",
            "ftp://x",
        ] {
            assert!(EgressRule::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            EgressRule::parse("https://x.example/"),
            Ok(EgressRule {
                plain_http: false,
                host: "x.example".into(),
                port: 443
            })
        );
    }
}
