//! SAML metadata: the service provider's (written for the IdP's
//! administrator) and the identity provider's (read, so an operator can
//! configure a provider from its metadata URL or document instead of
//! copying its entity id, endpoint and certificates by hand).

use crate::request::xml_escape;
use roxmltree::{Document, Node, ParsingOptions};

const METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const HTTP_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const HTTP_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
const PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
/// Most nodes read from an IdP's metadata document.
const MAX_NODES: u32 = 20_000;

/// The media type of SAML metadata (registered with IANA by OASIS).
pub const MEDIA_TYPE: &str = "application/samlmetadata+xml";

/// The SP metadata of this gateway for one provider: its entity id, its
/// ACS (HTTP-POST) and, when requests are signed, the certificate of the
/// key that signs them; the IdP is asked for a persistent NameID, the
/// stable subject accounts are keyed by.
pub fn service_provider(
    entity_id: &str,
    acs_url: &str,
    signing_certificate: Option<&str>,
) -> String {
    let (signed, key) = match signing_certificate {
        Some(pem) => {
            let body: String = pem
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .map(str::trim)
                .collect();
            (
                "true",
                format!(
                    "    <md:KeyDescriptor use=\"signing\"><ds:KeyInfo xmlns:ds=\"{DSIG}\"><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\n",
                    xml_escape(&body)
                ),
            )
        }
        None => ("false", String::new()),
    };
    format!(
        concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            "<md:EntityDescriptor xmlns:md=\"{md}\" entityID=\"{entity}\">\n",
            "  <md:SPSSODescriptor AuthnRequestsSigned=\"{signed}\" protocolSupportEnumeration=\"{protocol}\">\n",
            "{key}",
            "    <md:NameIDFormat>{persistent}</md:NameIDFormat>\n",
            "    <md:AssertionConsumerService Binding=\"{post}\" Location=\"{acs}\" index=\"0\" isDefault=\"true\"/>\n",
            "  </md:SPSSODescriptor>\n",
            "</md:EntityDescriptor>\n"
        ),
        md = METADATA,
        entity = xml_escape(entity_id),
        protocol = PROTOCOL,
        persistent = PERSISTENT,
        post = HTTP_POST,
        acs = xml_escape(acs_url),
        signed = signed,
        key = key,
    )
}

/// What an IdP's metadata says about signing in with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityProvider {
    /// Its entity id.
    pub entity_id: String,
    /// Its single sign-on endpoint for the HTTP-Redirect binding.
    pub sso_url: String,
    /// Its signing certificates, PEM.
    pub certificates: Vec<String>,
    /// The document's `validUntil`, if it has one (Unix seconds).
    pub valid_until: Option<i64>,
}

fn is(node: &Node<'_, '_>, namespace: &str, name: &str) -> bool {
    node.is_element() && node.has_tag_name((namespace, name))
}

/// `der_base64` (the text of an `X509Certificate`) as a PEM certificate.
fn pem(der_base64: &str) -> String {
    let compact: String = der_base64.chars().filter(|c| !c.is_whitespace()).collect();
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in compact.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// Reads the IdP's metadata document `xml`: one `EntityDescriptor` (or
/// the one of an `EntitiesDescriptor` whose entity id is `entity_id`,
/// when given) with an `IDPSSODescriptor`. A document past its
/// `validUntil` (`now`, Unix seconds) is refused.
pub fn identity_provider(
    xml: &str,
    entity_id: Option<&str>,
    now: i64,
) -> Result<IdentityProvider, String> {
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(xml, options).map_err(|e| match e {
        roxmltree::Error::DtdDetected => "a DTD is refused".to_string(),
        other => format!("not well-formed XML: {other}"),
    })?;
    let root = doc.root_element();
    let candidates: Vec<Node<'_, '_>> = if is(&root, METADATA, "EntityDescriptor") {
        vec![root]
    } else if is(&root, METADATA, "EntitiesDescriptor") {
        root.descendants()
            .filter(|n| is(n, METADATA, "EntityDescriptor"))
            .filter(|n| n.children().any(|c| is(&c, METADATA, "IDPSSODescriptor")))
            .collect()
    } else {
        return Err("the document is not SAML metadata (no md:EntityDescriptor)".into());
    };
    let entity = match entity_id {
        Some(wanted) => candidates
            .into_iter()
            .find(|n| n.attribute("entityID") == Some(wanted))
            .ok_or_else(|| format!("the metadata has no identity provider `{wanted}`"))?,
        None => match candidates.as_slice() {
            [one] => *one,
            [] => return Err("the metadata describes no identity provider".into()),
            _ => {
                return Err(
                    "the metadata describes several identity providers: set `idp_entity_id` to pick one".into(),
                );
            }
        },
    };
    let valid_until = [Some(root), Some(entity)]
        .into_iter()
        .flatten()
        .filter_map(|n| n.attribute("validUntil"))
        .map(|text| crate::time::parse(text).ok_or("validUntil is not a UTC instant"))
        .collect::<Result<Vec<i64>, &str>>()?
        .into_iter()
        .min();
    if valid_until.is_some_and(|until| until <= now) {
        return Err("the metadata has expired (validUntil is past)".into());
    }
    let entity_id = entity
        .attribute("entityID")
        .filter(|id| !id.trim().is_empty())
        .ok_or("the EntityDescriptor has no entityID")?
        .to_string();
    let idp = entity
        .children()
        .find(|n| is(n, METADATA, "IDPSSODescriptor"))
        .ok_or("the entity is not an identity provider (no IDPSSODescriptor)")?;
    let sso_url = idp
        .children()
        .filter(|n| is(n, METADATA, "SingleSignOnService"))
        .find(|n| n.attribute("Binding") == Some(HTTP_REDIRECT))
        .and_then(|n| n.attribute("Location"))
        .ok_or("the identity provider offers no HTTP-Redirect SingleSignOnService")?
        .to_string();
    let certificates: Vec<String> = idp
        .children()
        .filter(|n| is(n, METADATA, "KeyDescriptor"))
        .filter(|n| n.attribute("use").is_none_or(|u| u == "signing"))
        .flat_map(|n| n.descendants().filter(|c| is(c, DSIG, "X509Certificate")))
        .filter_map(|n| n.text())
        .map(pem)
        .collect();
    if certificates.is_empty() {
        return Err("the identity provider lists no signing certificate".into());
    }
    Ok(IdentityProvider {
        entity_id,
        sso_url,
        certificates,
        valid_until,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDP: &str = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example/">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>RU5D</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
      U0lH
    </ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor><ds:KeyInfo><ds:X509Data><ds:X509Certificate>Qk9USA==</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example/post"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#;

    #[test]
    fn an_idp_document_gives_its_redirect_endpoint_and_signing_certificates() {
        let idp = identity_provider(IDP, None, 0).unwrap();
        assert_eq!(idp.entity_id, "https://idp.example/");
        assert_eq!(idp.sso_url, "https://idp.example/sso");
        assert_eq!(
            idp.certificates.len(),
            2,
            "encryption keys are not trusted to sign"
        );
        assert!(idp.certificates[0].contains("\nU0lH\n"));
        assert!(idp.certificates[1].contains("\nQk9USA==\n"));
    }

    #[test]
    fn an_expired_or_foreign_document_is_refused() {
        let expiring = IDP.replace(
            "entityID=\"https://idp.example/\"",
            "entityID=\"https://idp.example/\" validUntil=\"2020-01-01T00:00:00Z\"",
        );
        assert!(identity_provider(&expiring, None, 0).is_ok());
        let error = identity_provider(&expiring, None, 1_700_000_000).unwrap_err();
        assert!(error.contains("expired"), "{error}");
        let error = identity_provider(IDP, Some("https://other/"), 0).unwrap_err();
        assert!(
            error.contains("no identity provider `https://other/`"),
            "{error}"
        );
        let dtd = format!("<!DOCTYPE x [<!ENTITY a \"b\">]>{IDP}");
        assert!(
            identity_provider(&dtd, None, 0)
                .unwrap_err()
                .contains("DTD")
        );
        let sp = service_provider("https://sp/", "https://sp/acs", None);
        let error = identity_provider(&sp, None, 0).unwrap_err();
        assert!(error.contains("not an identity provider"), "{error}");
    }

    #[test]
    fn sp_metadata_escapes_what_it_embeds() {
        let xml = service_provider("https://sp/?a=1&b=\"2\"", "https://sp/acs", None);
        let doc = Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(root.attribute("entityID"), Some("https://sp/?a=1&b=\"2\""));
        let acs = root
            .descendants()
            .find(|n| is(n, METADATA, "AssertionConsumerService"))
            .unwrap();
        assert_eq!(acs.attribute("Location"), Some("https://sp/acs"));
        assert_eq!(acs.attribute("Binding"), Some(HTTP_POST));
    }
}
