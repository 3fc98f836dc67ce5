//! AWS Secrets Manager and KMS on loopback: moto's server
//! (`tests/peers/aws`, `moto[server]` pinned in its requirements.txt),
//! started once per test binary ([`Moto::shared`]) and stopped when the
//! binary exits (its standard input closes). Tests set up secrets and
//! keys through its AWS JSON 1.1 API, as any AWS client would.

use crate::peer::PeerProcess;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::net::TcpStream;

/// The region every test uses.
pub const REGION: &str = "eu-west-1";
/// The access key the plugins are configured with (moto accepts any).
pub const ACCESS_KEY_ID: &str = "AKIAPORTCULLISTEST01";
/// Its secret.
pub const SECRET_ACCESS_KEY: &str = "portcullis-test-secret-access-key-0123";

/// A running moto server.
pub struct Moto {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    _process: PeerProcess,
}

static SHARED: OnceLock<Moto> = OnceLock::new();

/// One AWS JSON 1.1 answer.
pub struct AwsReply {
    /// The status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: Value,
}

impl Moto {
    /// Starts moto on a free port.
    pub fn start() -> Self {
        let mut endpoint = None;
        let process = PeerProcess::python(
            "aws/moto_peer.py",
            "`make test-deps` installs moto[server]",
            |line| {
                endpoint = line.strip_prefix("listening ").map(str::to_string);
                endpoint.is_some()
            },
        );
        Self {
            endpoint: endpoint.expect("moto's address"),
            _process: process,
        }
    }

    /// The server every test of this binary shares.
    pub fn shared() -> &'static Self {
        SHARED.get_or_init(Self::start)
    }

    /// The `host:port`, for an egress allow-list.
    pub fn authority(&self) -> &str {
        self.endpoint.trim_start_matches("http://")
    }

    /// Calls `target` (`secretsmanager.CreateSecret`,
    /// `TrentService.CreateKey`, …) of `service` with `body`.
    pub async fn call(&self, service: &str, target: &str, body: &Value) -> AwsReply {
        let authority = self.authority().to_string();
        let stream = TcpStream::connect(&authority)
            .await
            .expect("connect to moto");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        // moto picks the service from the credential scope; it does not
        // check the signature.
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20261201/{REGION}/{service}/aws4_request, SignedHeaders=host;x-amz-target, Signature=0"
        );
        let request = Request::post("/")
            .header("host", &authority)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", target)
            .header("authorization", authorization)
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("request");
        let response = tokio::time::timeout(Duration::from_secs(20), sender.send_request(request))
            .await
            .expect("moto answers in time")
            .expect("moto answers");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        AwsReply { status, body }
    }

    /// Creates a KMS symmetric key described as `description`; its ARN.
    pub async fn create_key(&self, description: &str) -> String {
        let reply = self
            .call(
                "kms",
                "TrentService.CreateKey",
                &serde_json::json!({"Description": description}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "CreateKey: {}", reply.body);
        reply.body["KeyMetadata"]["Arn"]
            .as_str()
            .expect("the key's ARN")
            .to_string()
    }

    /// Creates secret `name` with `value`; its version id.
    pub async fn create_secret(&self, name: &str, value: &str) -> String {
        let reply = self
            .call(
                "secretsmanager",
                "secretsmanager.CreateSecret",
                &serde_json::json!({"Name": name, "SecretString": value}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "CreateSecret: {}", reply.body);
        reply.body["VersionId"]
            .as_str()
            .expect("VersionId")
            .to_string()
    }

    /// Puts a new current value of secret `name` (the old one becomes
    /// `AWSPREVIOUS`); its version id.
    pub async fn rotate_secret(&self, name: &str, value: &str) -> String {
        let reply = self
            .call(
                "secretsmanager",
                "secretsmanager.PutSecretValue",
                &serde_json::json!({"SecretId": name, "SecretString": value}),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "PutSecretValue: {}",
            reply.body
        );
        reply.body["VersionId"]
            .as_str()
            .expect("VersionId")
            .to_string()
    }
}
