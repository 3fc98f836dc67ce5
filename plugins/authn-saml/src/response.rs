//! Validating a SAML `Response` (HTTP-POST binding) into what it asserts.
//!
//! Closes the known classes of attack on SAML by construction rather than
//! by spotting variants: the message is parsed once, by one parser, with
//! DTDs (and so entities) and processing instructions refused; it must
//! hold exactly one assertion, directly under the response; every
//! signature must sit directly in the element it signs and reference that
//! element's unique ID; the identity is read only from that one assertion,
//! which a verified signature covers (its own, or the response's); text
//! that identity is read from must be a single text node (a comment inside
//! a `NameID` is refused, not skipped).

use crate::dsig;
use crate::time;
use roxmltree::{Document, Node, ParsingOptions};

const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
/// Most nodes a response may have.
const MAX_NODES: u32 = 20_000;

/// What the response must match.
pub struct Expected<'a> {
    /// The `ID` of our AuthnRequest; `None` for a login the IdP started
    /// (which then must not claim to answer any request).
    pub request_id: Option<&'a str>,
    /// Our assertion consumer service URL.
    pub acs_url: &'a str,
    /// Our entity id (the audience).
    pub sp_entity_id: &'a str,
    /// The IdP's entity id (the issuer).
    pub idp_entity_id: &'a str,
    /// The certificates whose keys may sign.
    pub certificates: &'a [String],
    /// Allowed clock skew.
    pub skew: i64,
    /// Now (Unix seconds).
    pub now: i64,
}

/// One attribute of the assertion.
#[derive(Debug)]
pub struct SamlAttribute {
    /// Its `Name`.
    pub name: String,
    /// Its `FriendlyName`, if given.
    pub friendly_name: Option<String>,
    /// Its values.
    pub values: Vec<String>,
}

/// What a valid response asserts.
#[derive(Debug)]
pub struct Asserted {
    /// The assertion's ID (for the replay cache).
    pub assertion_id: String,
    /// When the assertion stops being usable (Unix seconds).
    pub usable_until: i64,
    /// The subject's `NameID`.
    pub name_id: String,
    /// The `NameID`'s format, if given.
    pub name_id_format: Option<String>,
    /// Attributes: name, friendly name and values.
    pub attributes: Vec<SamlAttribute>,
}

fn children<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &'a str,
    name: &'a str,
) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children()
        .filter(move |c| c.is_element() && c.has_tag_name((ns, name)))
}

fn one<'a, 'i>(node: Node<'a, 'i>, ns: &'a str, name: &'a str) -> Result<Node<'a, 'i>, String> {
    let mut found = children(node, ns, name);
    let first = found.next().ok_or_else(|| format!("no {name}"))?;
    if found.next().is_some() {
        return Err(format!("more than one {name}"));
    }
    Ok(first)
}

/// The text of an element that must hold one text node (or nothing).
fn only_text<'a>(node: Node<'a, '_>, what: &str) -> Result<&'a str, String> {
    let mut nodes = node.children();
    match (nodes.next(), nodes.next()) {
        (None, _) => Ok(""),
        (Some(text), None) if text.is_text() => Ok(text.text().unwrap_or_default().trim()),
        _ => Err(format!("{what} must hold only text")),
    }
}

fn instant(node: Node<'_, '_>, attribute: &str) -> Result<Option<i64>, String> {
    match node.attribute(attribute) {
        None => Ok(None),
        Some(text) => time::parse(text)
            .map(Some)
            .ok_or_else(|| format!("{attribute} is not a UTC instant")),
    }
}

/// Validates the decoded `SAMLResponse` `xml`.
pub fn validate(xml: &str, expected: &Expected<'_>) -> Result<Asserted, String> {
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(xml, options).map_err(|e| match e {
        roxmltree::Error::DtdDetected => {
            "a DTD is refused (entities are never expanded)".to_string()
        }
        other => format!("not well-formed XML: {other}"),
    })?;
    if doc.descendants().any(|n| n.is_pi()) {
        return Err("processing instructions are refused".into());
    }
    let response = doc.root_element();
    if !response.has_tag_name((PROTOCOL, "Response")) {
        return Err("the message is not a samlp:Response".into());
    }
    if response.attribute("Version") != Some("2.0") {
        return Err("the response is not SAML 2.0".into());
    }
    if response.attribute("Destination") != Some(expected.acs_url) {
        return Err("the response's Destination is not this gateway's ACS".into());
    }
    match (response.attribute("InResponseTo"), expected.request_id) {
        (Some(id), Some(ours)) if id == ours => {}
        (Some(_), Some(_)) => {
            return Err("the response answers another request (InResponseTo)".into());
        }
        (None, Some(_)) => {
            return Err("an unsolicited response (no InResponseTo) is refused".into());
        }
        (Some(_), None) => {
            return Err(
                "a response the IdP started must not answer a request (InResponseTo)".into(),
            );
        }
        (None, None) => {}
    }
    if let Some(issuer) = children(response, ASSERTION, "Issuer").next()
        && only_text(issuer, "Issuer")? != expected.idp_entity_id
    {
        return Err("the response's Issuer is not the configured IdP".into());
    }
    let status = one(one(response, PROTOCOL, "Status")?, PROTOCOL, "StatusCode")?;
    if status.attribute("Value") != Some(SUCCESS) {
        return Err(format!(
            "the IdP answered status `{}`",
            status.attribute("Value").unwrap_or_default()
        ));
    }
    let all_assertions = doc
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name().ends_with("Assertion"))
        .count();
    let direct = children(response, ASSERTION, "Assertion").count();
    if all_assertions != 1 || direct != 1 {
        return Err("the response must hold exactly one assertion, directly".into());
    }
    let assertion = one(response, ASSERTION, "Assertion")?;
    // Every signature must be the response's or the assertion's own.
    for signature in doc
        .descendants()
        .filter(|n| n.is_element() && n.has_tag_name((dsig::DSIG, "Signature")))
    {
        let parent = signature.parent_element().map(|p| p.id());
        if parent != Some(response.id()) && parent != Some(assertion.id()) {
            return Err("a signature is somewhere other than the element it signs".into());
        }
    }
    let response_signed = dsig::signature_of(response).is_some();
    let assertion_signed = dsig::signature_of(assertion).is_some();
    if !response_signed && !assertion_signed {
        return Err("neither the response nor the assertion is signed".into());
    }
    if response_signed {
        dsig::verify(response, expected.certificates)
            .map_err(|e| format!("response signature: {e}"))?;
    }
    if assertion_signed {
        dsig::verify(assertion, expected.certificates)
            .map_err(|e| format!("assertion signature: {e}"))?;
    }
    read_assertion(assertion, expected)
}

/// Everything below is read from the one covered assertion only.
fn read_assertion(assertion: Node<'_, '_>, expected: &Expected<'_>) -> Result<Asserted, String> {
    let (now, skew) = (expected.now, expected.skew);
    if assertion.attribute("Version") != Some("2.0") {
        return Err("the assertion is not SAML 2.0".into());
    }
    let assertion_id = assertion
        .attribute("ID")
        .ok_or("the assertion has no ID")?
        .to_string();
    if only_text(one(assertion, ASSERTION, "Issuer")?, "Issuer")? != expected.idp_entity_id {
        return Err("the assertion's Issuer is not the configured IdP".into());
    }
    let subject = one(assertion, ASSERTION, "Subject")?;
    let name_id_node = one(subject, ASSERTION, "NameID")?;
    let name_id = only_text(name_id_node, "NameID")?.to_string();
    if name_id.is_empty() {
        return Err("the NameID is empty".into());
    }
    let mut confirmed_until = None;
    for confirmation in children(subject, ASSERTION, "SubjectConfirmation") {
        if confirmation.attribute("Method") != Some(BEARER) {
            continue;
        }
        let data = one(confirmation, ASSERTION, "SubjectConfirmationData")?;
        if data.attribute("Recipient") != Some(expected.acs_url) {
            return Err("the bearer confirmation's Recipient is not this gateway's ACS".into());
        }
        if data.attribute("InResponseTo") != expected.request_id {
            return Err("the bearer confirmation answers another request".into());
        }
        if data.attribute("NotBefore").is_some() {
            return Err("a bearer confirmation must not have NotBefore".into());
        }
        let until =
            instant(data, "NotOnOrAfter")?.ok_or("the bearer confirmation has no NotOnOrAfter")?;
        if now - skew >= until {
            return Err("the bearer confirmation has expired (NotOnOrAfter)".into());
        }
        confirmed_until = Some(until);
    }
    let confirmed_until = confirmed_until.ok_or("no bearer subject confirmation")?;
    let conditions = one(assertion, ASSERTION, "Conditions")?;
    if let Some(not_before) = instant(conditions, "NotBefore")?
        && now + skew < not_before
    {
        return Err("the assertion is not yet valid (NotBefore)".into());
    }
    let not_on_or_after =
        instant(conditions, "NotOnOrAfter")?.ok_or("the conditions have no NotOnOrAfter")?;
    if now - skew >= not_on_or_after {
        return Err("the assertion has expired (NotOnOrAfter)".into());
    }
    let restrictions: Vec<Node<'_, '_>> =
        children(conditions, ASSERTION, "AudienceRestriction").collect();
    if restrictions.is_empty() {
        return Err("the assertion names no audience".into());
    }
    for restriction in restrictions {
        let mut ours = false;
        for audience in children(restriction, ASSERTION, "Audience") {
            ours |= only_text(audience, "Audience")? == expected.sp_entity_id;
        }
        if !ours {
            return Err("the assertion is for another audience".into());
        }
    }
    if children(assertion, ASSERTION, "AuthnStatement")
        .next()
        .is_none()
    {
        return Err("the assertion has no AuthnStatement".into());
    }
    let mut attributes = Vec::new();
    for statement in children(assertion, ASSERTION, "AttributeStatement") {
        for attribute in children(statement, ASSERTION, "Attribute") {
            let Some(name) = attribute.attribute("Name") else {
                continue;
            };
            let mut values = Vec::new();
            for value in children(attribute, ASSERTION, "AttributeValue") {
                values.push(only_text(value, "AttributeValue")?.to_string());
            }
            attributes.push(SamlAttribute {
                name: name.to_string(),
                friendly_name: attribute.attribute("FriendlyName").map(str::to_string),
                values,
            });
        }
    }
    Ok(Asserted {
        assertion_id,
        usable_until: confirmed_until.min(not_on_or_after) + skew,
        name_id,
        name_id_format: name_id_node.attribute("Format").map(str::to_string),
        attributes,
    })
}
