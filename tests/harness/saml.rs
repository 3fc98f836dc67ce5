//! The SAML identity provider tests sign in with: pysaml2 (pinned in
//! `tests/peers/saml/requirements.txt`) signing with Debian's xmlsec1, on
//! loopback (`tests/peers/saml/idp.py`). One serves the whole test binary;
//! it exits when the test binary does (its standard input closes).

use crate::browser::Browser;
use crate::peer::PeerProcess;
use std::sync::OnceLock;

/// A running IdP.
pub struct SamlIdp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its certificate (PEM).
    pub certificate: String,
    /// A certificate of another key that expires in 10 days (PEM).
    pub expiring_certificate: String,
    _process: PeerProcess,
}

/// The IdP's answer to an AuthnRequest, for the browser to post.
pub struct SamlAnswer {
    /// The ACS path on the gateway (the AuthnRequest's, host removed).
    pub acs_path: String,
    /// The base64 `SAMLResponse`.
    pub saml_response: String,
    /// The `RelayState` it echoes.
    pub relay_state: String,
    /// The SP entity id the AuthnRequest named (its `Issuer`).
    pub sp_entity_id: String,
    /// What the IdP found of the request's signature: `valid`, `invalid`
    /// or `none`.
    pub request_signature: String,
}

/// `value` percent-encoded for a query or form.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl SamlAnswer {
    /// The form body a browser posts to the ACS.
    pub fn form(&self) -> String {
        format!(
            "SAMLResponse={}&RelayState={}",
            encode(&self.saml_response),
            encode(&self.relay_state)
        )
    }
}

static SHARED: OnceLock<SamlIdp> = OnceLock::new();

impl SamlIdp {
    /// Starts an IdP.
    pub fn start() -> Self {
        let (mut base, mut certificate, mut expiring_certificate) = (None, None, None);
        let process = PeerProcess::python(
            "saml/idp.py",
            "make test-deps installs pysaml2 and xmlsec1",
            |line| {
                if let Some(path) = line.strip_prefix("certificate ") {
                    certificate = std::fs::read_to_string(path.trim()).ok();
                } else if let Some(path) = line.strip_prefix("expiring-certificate ") {
                    expiring_certificate = std::fs::read_to_string(path.trim()).ok();
                } else if let Some(rest) = line.strip_prefix("listening ") {
                    base = Some(rest.trim().to_string());
                }
                base.is_some()
            },
        );
        let base =
            base.expect("the SAML IdP did not start (make test-deps installs pysaml2 and xmlsec1)");
        let certificate = certificate.expect("the IdP's certificate");
        Self {
            base,
            certificate,
            expiring_certificate: expiring_certificate.expect("the expiring certificate"),
            _process: process,
        }
    }

    /// The IdP every test of this binary shares.
    pub fn shared() -> &'static Self {
        SHARED.get_or_init(Self::start)
    }

    /// The IdP's entity id.
    pub fn entity_id(&self) -> String {
        format!("{}/idp", self.base)
    }

    /// The IdP's single sign-on URL.
    pub fn sso_url(&self) -> String {
        format!("{}/sso", self.base)
    }

    /// Signs `login` in, answering the AuthnRequest in `redirect` (the URL
    /// the gateway sent the browser to); `mode` makes the answer wrong in
    /// one way (see `idp.py`).
    pub async fn answer(&self, redirect: &str, login: &str, mode: Option<&str>) -> SamlAnswer {
        assert!(redirect.starts_with(&self.sso_url()), "{redirect}");
        let mut url = format!("{redirect}&login={login}");
        if let Some(mode) = mode {
            url.push_str(&format!("&mode={mode}"));
        }
        Self::answer_at(&url).await
    }

    /// A login the IdP starts itself for `login`, to the ACS at the
    /// gateway's `acs_path` for `sp_entity_id`; with `in_response_to`, it
    /// claims to answer that request.
    pub async fn unsolicited(
        &self,
        acs_path: &str,
        sp_entity_id: &str,
        login: &str,
        in_response_to: Option<&str>,
    ) -> SamlAnswer {
        let mut url = format!(
            "{}/idp-initiated?acs={}&sp={}&login={login}",
            self.base,
            encode(&format!("https://localhost{acs_path}")),
            encode(sp_entity_id)
        );
        if let Some(id) = in_response_to {
            url.push_str(&format!("&in_response_to={}", encode(id)));
        }
        Self::answer_at(&url).await
    }

    async fn answer_at(url: &str) -> SamlAnswer {
        let reply = Browser::default().get(url).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let body = reply.json();
        let acs = body["acs_url"].as_str().expect("acs_url");
        SamlAnswer {
            acs_path: acs.trim_start_matches("https://localhost").to_string(),
            saml_response: body["SAMLResponse"].as_str().expect("response").to_string(),
            relay_state: body["RelayState"].as_str().unwrap_or_default().to_string(),
            request_signature: body["request_signature"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            sp_entity_id: body["request"]["sp_entity_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        }
    }

    /// The URL of the IdP's metadata document `name` (each name rotates
    /// on its own).
    pub fn metadata_url(&self, name: &str) -> String {
        format!("{}/metadata/{name}", self.base)
    }

    /// Rotates metadata document `name` to list the other key's
    /// certificate (the one `mode=other-key` answers are signed with);
    /// how many times the document had been read.
    pub async fn rotate_metadata(&self, name: &str) -> u64 {
        self.metadata_mode(name, "other").await
    }

    /// Makes metadata document `name` list the IdP's own certificate
    /// (`idp`), the other key's (`other`) or answer 503 (`down`); how many
    /// times it had been asked for.
    pub async fn metadata_mode(&self, name: &str, mode: &str) -> u64 {
        let url = format!("{}/__test/metadata/{name}?signing={mode}", self.base);
        let reply = Browser::default().post_form(&url, "").await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()["fetches"].as_u64().expect("fetches")
    }

    /// A key pair for the gateway to sign AuthnRequests with, whose
    /// certificate the IdP checks them against: `(private key, certificate)`.
    pub async fn sp_keypair(&self) -> (String, String) {
        let reply = Browser::default()
            .get(&format!("{}/__test/sp-keypair", self.base))
            .await;
        let body = reply.json();
        (
            body["private_key"].as_str().expect("key").to_string(),
            body["certificate"]
                .as_str()
                .expect("certificate")
                .to_string(),
        )
    }

    /// What pysaml2 reads from SP metadata `xml`: `{"entity_id",
    /// "acs_url"}`, or `{"error"}` with status 400.
    pub async fn read_sp_metadata(&self, xml: &str) -> (http::StatusCode, serde_json::Value) {
        let url = format!("{}/__test/sp-metadata", self.base);
        let reply = Browser::default().post_form(&url, xml).await;
        (reply.status, reply.json())
    }
}
