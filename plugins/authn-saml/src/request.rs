//! The SP-initiated AuthnRequest, sent with the HTTP-Redirect binding:
//! deflated, base64, in the query of the IdP's single sign-on URL.

use crate::time;
use base64::Engine;
use portcullis_sdk::crypto::{self, SignatureAlgorithm};

/// The `SigAlg` of a signed request.
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

/// `value` escaped for an XML attribute or text.
pub fn xml_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `value` percent-encoded for a URL query.
pub fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// What an AuthnRequest says.
pub struct AuthnRequest<'a> {
    /// Its ID, which the response must answer (`InResponseTo`).
    pub id: &'a str,
    /// The IdP's single sign-on URL.
    pub destination: &'a str,
    /// Where the IdP posts the response.
    pub acs_url: &'a str,
    /// This SP's entity id.
    pub issuer: &'a str,
    /// Now (Unix seconds).
    pub now: i64,
}

impl AuthnRequest<'_> {
    /// The request's XML.
    pub fn xml(&self) -> String {
        format!(
            concat!(
                r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion""#,
                r#" ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{destination}""#,
                r#" AssertionConsumerServiceURL="{acs}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">"#,
                r#"<saml:Issuer>{issuer}</saml:Issuer>"#,
                r#"<samlp:NameIDPolicy AllowCreate="true"/>"#,
                r#"</samlp:AuthnRequest>"#
            ),
            id = xml_escape(self.id),
            instant = time::format(self.now),
            destination = xml_escape(self.destination),
            acs = xml_escape(self.acs_url),
            issuer = xml_escape(self.issuer),
        )
    }

    /// The IdP URL that carries the request and `relay_state`, signed
    /// with `signing_key` (PEM PKCS#8, RSA-SHA256) when given: the
    /// HTTP-Redirect binding's signature over `SAMLRequest`,
    /// `RelayState` and `SigAlg` as sent (SAML bindings, 3.4.4.1).
    pub fn redirect_url(
        &self,
        relay_state: &str,
        signing_key: Option<&str>,
    ) -> Result<String, String> {
        let deflated = miniz_oxide::deflate::compress_to_vec(self.xml().as_bytes(), 6);
        let encoded = base64::engine::general_purpose::STANDARD.encode(deflated);
        let separator = if self.destination.contains('?') {
            '&'
        } else {
            '?'
        };
        let mut query = format!(
            "SAMLRequest={}&RelayState={}",
            url_encode(&encoded),
            url_encode(relay_state)
        );
        if let Some(key) = signing_key {
            query.push_str(&format!("&SigAlg={}", url_encode(RSA_SHA256)));
            let signature = crypto::sign(SignatureAlgorithm::Rs256, key, query.as_bytes())
                .map_err(|e| format!("the SP key cannot sign: {e:?}"))?;
            let signature = base64::engine::general_purpose::STANDARD.encode(signature);
            query.push_str(&format!("&Signature={}", url_encode(&signature)));
        }
        Ok(format!("{}{separator}{query}", self.destination))
    }
}
