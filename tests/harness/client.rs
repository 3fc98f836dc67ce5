//! An HTTPS client that trusts exactly one certificate (the gateway's,
//! pinned by DER) and opens a fresh connection per request, so tests see
//! every handshake.

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme, SupportedProtocolVersion};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Accepts only the pinned certificate.
#[derive(Debug)]
struct Pinned {
    certificate: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.certificate.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "certificate is not the pinned one".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A response read in full.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
    /// The negotiated TLS version.
    pub tls_version: Option<rustls::ProtocolVersion>,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How long one request to the gateway may take, from connecting to the
/// last byte of the answer.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);

/// A client for one gateway.
#[derive(Clone)]
pub struct Client {
    addr: SocketAddr,
    connector: TlsConnector,
    h2_connector: TlsConnector,
}

impl Client {
    /// A client pinning `certificate`, offering `versions`.
    pub fn new(
        addr: SocketAddr,
        certificate: CertificateDer<'static>,
        versions: &[&'static SupportedProtocolVersion],
    ) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .expect("protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned {
                certificate,
                provider,
            }))
            .with_no_client_auth();
        let mut h2_config = config.clone();
        h2_config.alpn_protocols = vec![b"h2".to_vec()];
        Self {
            addr,
            connector: TlsConnector::from(Arc::new(config)),
            h2_connector: TlsConnector::from(Arc::new(h2_config)),
        }
    }

    /// Opens a TLS connection that negotiates HTTP/2 (ALPN `h2`).
    pub async fn connect_h2(&self) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.addr).await?;
        let name = ServerName::try_from("localhost").expect("server name");
        self.h2_connector.connect(name, tcp).await
    }

    /// Opens a TLS connection (for handshake-level tests).
    pub async fn connect(&self) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.addr).await?;
        let name = ServerName::try_from("localhost").expect("server name");
        self.connector.connect(name, tcp).await
    }

    /// Sends one request on a new connection. The whole exchange —
    /// connecting, the TLS handshake, the request and the body — must end
    /// within [`EXCHANGE_TIMEOUT`]: a gateway that stops answering fails
    /// the test that asked, naming the request, instead of hanging the
    /// suite.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> anyhow::Result<Reply> {
        let what = format!("{method} {path}");
        tokio::time::timeout(EXCHANGE_TIMEOUT, self.exchange(method, path, headers, body))
            .await
            .map_err(|_| anyhow::anyhow!("{what}: no whole answer within {EXCHANGE_TIMEOUT:?}"))?
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> anyhow::Result<Reply> {
        let stream = self.connect().await?;
        let tls_version = stream.get_ref().1.protocol_version();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let mut request = Request::builder().method(method).uri(path);
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("host"))
        {
            request = request.header("host", "localhost");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(Bytes::copy_from_slice(body)))?;
        let response = sender.send_request(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
            tls_version,
        })
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> anyhow::Result<Reply> {
        self.send(Method::GET, path, &[], b"").await
    }

    /// `GET path` with headers.
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> anyhow::Result<Reply> {
        self.send(Method::GET, path, headers, b"").await
    }
}

/// A keep-alive HTTP/1.1 connection, for benchmarks.
pub struct Session {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Session {
    /// Opens a keep-alive session over `io`.
    pub async fn over<T>(io: T) -> anyhow::Result<Self>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
        tokio::spawn(connection);
        Ok(Self { sender })
    }

    /// `GET path`; returns the status after reading the whole body.
    pub async fn get(&mut self, path: &str) -> anyhow::Result<StatusCode> {
        self.sender.ready().await?;
        let request = Request::get(path)
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        response.into_body().collect().await?;
        Ok(status)
    }
}

impl Client {
    /// A keep-alive TLS session to the gateway.
    pub async fn session(&self) -> anyhow::Result<Session> {
        Session::over(self.connect().await?).await
    }
}
