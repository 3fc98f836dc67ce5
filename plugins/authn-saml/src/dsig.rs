//! XML signatures (XML-DSig) as SAML uses them, checked strictly: the
//! signature is a direct child of the element it signs, its one reference
//! is that element's `ID`, the transforms are exactly enveloped-signature
//! and exclusive c14n, and the algorithms are RSA-SHA256 or ECDSA-SHA256
//! with SHA-256 digests (SHA-1 is refused). The key is one of the
//! configured IdP certificates, never anything the message carries
//! (`KeyInfo` is ignored). The signature itself is verified by the
//! gateway's native crypto.

use crate::c14n::canonicalize;
use base64::Engine;
use portcullis_sdk::crypto::{self, HashAlgorithm, PublicKey, SignatureAlgorithm};
use roxmltree::Node;

/// The XML-DSig namespace.
pub const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

/// The `ds:Signature` that is a direct child of `element`, if any.
pub fn signature_of<'a, 'i>(element: Node<'a, 'i>) -> Option<Node<'a, 'i>> {
    element
        .children()
        .find(|c| c.is_element() && c.has_tag_name((DSIG, "Signature")))
}

fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Result<Node<'a, 'i>, String> {
    let mut found = node
        .children()
        .filter(|c| c.is_element() && c.has_tag_name((DSIG, name)));
    let first = found.next().ok_or_else(|| format!("no ds:{name}"))?;
    if found.next().is_some() {
        return Err(format!("more than one ds:{name}"));
    }
    Ok(first)
}

fn algorithm_of<'a>(node: Node<'a, '_>) -> &'a str {
    node.attribute("Algorithm").unwrap_or_default()
}

/// The text of an element that holds only text (base64 values).
fn base64_of(node: Node<'_, '_>, what: &str) -> Result<Vec<u8>, String> {
    if node.children().any(|c| !c.is_text()) {
        return Err(format!("{what} holds more than text"));
    }
    let text: String = node
        .children()
        .filter_map(|c| c.text())
        .collect::<String>()
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| format!("{what} is not base64"))
}

/// Checks that `element` is signed by its direct-child signature with one
/// of `certificates` (PEM). The caller reads identity from `element` only.
pub fn verify(element: Node<'_, '_>, certificates: &[String]) -> Result<(), String> {
    let signature = signature_of(element).ok_or("the element is not signed")?;
    let id = element
        .attribute("ID")
        .ok_or("the signed element has no ID")?;
    let doc = element.document();
    let same_id = doc
        .descendants()
        .filter(|n| n.is_element() && n.attribute("ID") == Some(id))
        .count();
    if same_id != 1 {
        return Err(format!("the ID `{id}` is not unique in the message"));
    }
    let signed_info = child(signature, "SignedInfo")?;
    let c14n_method = child(signed_info, "CanonicalizationMethod")?;
    if algorithm_of(c14n_method) != EXC_C14N {
        return Err("the signed info is not canonicalized with exclusive c14n".into());
    }
    let method = algorithm_of(child(signed_info, "SignatureMethod")?).to_string();
    let reference = child(signed_info, "Reference")?;
    if reference.attribute("URI") != Some(&format!("#{id}")) {
        return Err("the signature's reference is not the signed element".into());
    }
    let transforms: Vec<Node<'_, '_>> = child(reference, "Transforms")?
        .children()
        .filter(|c| c.is_element())
        .collect();
    let [enveloped, exclusive] = transforms.as_slice() else {
        return Err("the transforms are not enveloped-signature then exclusive c14n".into());
    };
    if !enveloped.has_tag_name((DSIG, "Transform"))
        || algorithm_of(*enveloped) != ENVELOPED
        || !exclusive.has_tag_name((DSIG, "Transform"))
        || algorithm_of(*exclusive) != EXC_C14N
    {
        return Err("the transforms are not enveloped-signature then exclusive c14n".into());
    }
    let prefix_list = |node: Node<'_, '_>| -> Vec<String> {
        node.children()
            .find(|c| c.is_element() && c.tag_name().name() == "InclusiveNamespaces")
            .and_then(|n| n.attribute("PrefixList"))
            .map(|list| list.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    };
    let reference_prefixes = prefix_list(*exclusive);
    if algorithm_of(child(reference, "DigestMethod")?) != SHA256 {
        return Err("the digest is not SHA-256 (SHA-1 is refused)".into());
    }
    let expected_digest = base64_of(child(reference, "DigestValue")?, "DigestValue")?;
    let prefixes: Vec<&str> = reference_prefixes.iter().map(String::as_str).collect();
    let canonical = canonicalize(element, Some(signature.id()), &prefixes).map_err(|e| e.0)?;
    let digest = crypto::digest(HashAlgorithm::Sha256, canonical.as_bytes());
    if !crypto::constant_time_equals(&digest, &expected_digest) {
        return Err("the digest does not match the signed element (it was changed)".into());
    }
    let signed_info_prefixes = prefix_list(c14n_method);
    let prefixes: Vec<&str> = signed_info_prefixes.iter().map(String::as_str).collect();
    let signed_bytes = canonicalize(signed_info, None, &prefixes).map_err(|e| e.0)?;
    let value = base64_of(child(signature, "SignatureValue")?, "SignatureValue")?;
    let algorithm = match method.as_str() {
        RSA_SHA256 => SignatureAlgorithm::Rs256,
        // XML-DSig 1.1: r || s; some signers send DER.
        ECDSA_SHA256 if value.len() == 64 => SignatureAlgorithm::Es256,
        ECDSA_SHA256 => SignatureAlgorithm::Es256Der,
        other => {
            return Err(format!(
                "signature method `{other}` is not allowed (RSA-SHA256 or ECDSA-SHA256; SHA-1 is refused)"
            ));
        }
    };
    let by_a_configured_key = certificates.iter().any(|certificate| {
        matches!(
            crypto::verify_signature(
                algorithm,
                &PublicKey::Pem(certificate.clone()),
                signed_bytes.as_bytes(),
                &value,
            ),
            Ok(true)
        )
    });
    if by_a_configured_key {
        return Ok(());
    }
    Err("the signature is not by a configured IdP certificate".into())
}
