//! Exclusive XML canonicalization without comments
//! (<http://www.w3.org/2001/10/xml-exc-c14n#>), over the one parsed
//! document: the bytes an XML signature's digest and signature cover.
//!
//! The subset is one element and its descendants, minus one excluded
//! element (the enveloped signature). Namespace declarations are rendered
//! where they are visibly used (by the element's or its attributes'
//! prefixes) and not already rendered, with the same value, by an output
//! ancestor; prefixes named in the `InclusiveNamespaces` list are rendered
//! as in inclusive canonicalization. Prefixes are read from the source
//! text, so what is hashed is what the signer saw.

use roxmltree::{Node, NodeId};

/// The XML namespace, bound to `xml` implicitly and never declared.
const XML_NAMESPACE: &str = "http://www.w3.org/XML/1998/namespace";

/// The prefix of `node`'s element name, as written (`""` for none).
fn element_prefix<'a>(node: Node<'a, '_>) -> &'a str {
    let source = node.document().input_text();
    let start = node.range().start + 1;
    let rest = &source[start.min(source.len())..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '/' || c == '>')
        .unwrap_or(rest.len());
    let qname = &rest[..end];
    qname.split_once(':').map_or("", |(prefix, _)| prefix)
}

/// The prefix of an attribute's name, as written (`""` for none).
fn attribute_prefix<'a>(node: Node<'a, '_>, attribute: &roxmltree::Attribute<'a, '_>) -> &'a str {
    let source = node.document().input_text();
    let qname = &source[attribute.range_qname()];
    qname.split_once(':').map_or("", |(prefix, _)| prefix)
}

fn escape_text(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

fn escape_attribute(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

/// The URI `prefix` is bound to at `node` (`""` for the default namespace
/// when none is in scope).
fn namespace_of<'a>(node: Node<'a, '_>, prefix: &str) -> Option<&'a str> {
    if prefix.is_empty() {
        return Some(node.lookup_namespace_uri(None).unwrap_or(""));
    }
    node.lookup_namespace_uri(Some(prefix))
}

/// Why a subset cannot be canonicalized.
#[derive(Debug, PartialEq, Eq)]
pub struct C14nError(pub String);

/// The exclusive canonical form of `root`'s subtree without `excluded`.
pub fn canonicalize(
    root: Node<'_, '_>,
    excluded: Option<NodeId>,
    inclusive_prefixes: &[&str],
) -> Result<String, C14nError> {
    let mut out = String::new();
    // (prefix, uri) pairs rendered by output ancestors, innermost last.
    let mut rendered: Vec<Vec<(String, String)>> = Vec::new();
    write_node(root, excluded, inclusive_prefixes, &mut rendered, &mut out)?;
    Ok(out)
}

fn in_rendered<'r>(rendered: &'r [Vec<(String, String)>], prefix: &str) -> Option<&'r str> {
    rendered
        .iter()
        .rev()
        .flat_map(|level| level.iter())
        .find(|(p, _)| p == prefix)
        .map(|(_, uri)| uri.as_str())
}

fn write_node(
    node: Node<'_, '_>,
    excluded: Option<NodeId>,
    inclusive: &[&str],
    rendered: &mut Vec<Vec<(String, String)>>,
    out: &mut String,
) -> Result<(), C14nError> {
    if Some(node.id()) == excluded {
        return Ok(());
    }
    if node.is_text() {
        escape_text(node.text().unwrap_or_default(), out);
        return Ok(());
    }
    if node.is_pi() {
        return Err(C14nError("processing instructions are refused".into()));
    }
    if !node.is_element() {
        // Comments are not part of the canonical form.
        return Ok(());
    }
    let prefix = element_prefix(node);
    let mut utilized: Vec<&str> = vec![prefix];
    let mut attributes: Vec<(&str, &str, &str, &str)> = Vec::new();
    for attribute in node.attributes() {
        let attribute_prefix = attribute_prefix(node, &attribute);
        if !attribute_prefix.is_empty() && attribute_prefix != "xml" {
            utilized.push(attribute_prefix);
        }
        attributes.push((
            attribute.namespace().unwrap_or(""),
            attribute.name(),
            attribute_prefix,
            attribute.value(),
        ));
    }
    for extra in inclusive {
        let extra = if *extra == "#default" { "" } else { *extra };
        if namespace_of(node, extra).is_some_and(|uri| !uri.is_empty() || extra.is_empty()) {
            utilized.push(extra);
        }
    }
    utilized.sort_unstable();
    utilized.dedup();
    let mut declarations: Vec<(String, String)> = Vec::new();
    for used in utilized {
        if used == "xml" {
            continue;
        }
        let Some(uri) = namespace_of(node, used) else {
            return Err(C14nError(format!("prefix `{used}` is not declared")));
        };
        if uri == XML_NAMESPACE {
            continue;
        }
        let already = in_rendered(rendered, used);
        let needed = match already {
            Some(previous) => previous != uri,
            // An unprefixed element outside any default namespace needs no
            // `xmlns=""` unless an output ancestor declared one.
            None => !(used.is_empty() && uri.is_empty()),
        };
        if needed {
            declarations.push((used.to_string(), uri.to_string()));
        }
    }
    attributes.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));

    out.push('<');
    if !prefix.is_empty() {
        out.push_str(prefix);
        out.push(':');
    }
    out.push_str(node.tag_name().name());
    for (declared, uri) in &declarations {
        if declared.is_empty() {
            out.push_str(" xmlns=\"");
        } else {
            out.push_str(" xmlns:");
            out.push_str(declared);
            out.push_str("=\"");
        }
        escape_attribute(uri, out);
        out.push('"');
    }
    for (_, name, attribute_prefix, value) in &attributes {
        out.push(' ');
        if !attribute_prefix.is_empty() {
            out.push_str(attribute_prefix);
            out.push(':');
        }
        out.push_str(name);
        out.push_str("=\"");
        escape_attribute(value, out);
        out.push('"');
    }
    out.push('>');
    rendered.push(declarations);
    for child in node.children() {
        write_node(child, excluded, inclusive, rendered, out)?;
    }
    rendered.pop();
    out.push_str("</");
    if !prefix.is_empty() {
        out.push_str(prefix);
        out.push(':');
    }
    out.push_str(node.tag_name().name());
    out.push('>');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c14n(xml: &str, inclusive: &[&str]) -> String {
        let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| unreachable!("{e}"));
        canonicalize(doc.root_element(), None, inclusive).unwrap_or_else(|e| unreachable!("{e:?}"))
    }

    #[test]
    fn renders_only_visibly_used_namespaces_sorted_attributes_and_escapes() {
        let xml = r#"<a:root xmlns:a="urn:a" xmlns:b="urn:b" xmlns:unused="urn:u" z="1" b:y="2&amp;&lt;" a="&#x9;x"><a:child>t&gt;<!-- gone --><![CDATA[<c>]]></a:child><plain/></a:root>"#;
        assert_eq!(
            c14n(xml, &[]),
            r#"<a:root xmlns:a="urn:a" xmlns:b="urn:b" a="&#x9;x" z="1" b:y="2&amp;&lt;"><a:child>t&gt;&lt;c&gt;</a:child><plain></plain></a:root>"#
        );
    }

    #[test]
    fn a_namespace_is_declared_again_only_where_its_value_changes() {
        let xml = r#"<r xmlns="urn:d"><s xmlns="urn:d"/><t xmlns="urn:e"><u xmlns=""/></t></r>"#;
        assert_eq!(
            c14n(xml, &[]),
            r#"<r xmlns="urn:d"><s></s><t xmlns="urn:e"><u xmlns=""></u></t></r>"#
        );
    }

    #[test]
    fn inclusive_prefixes_are_rendered_where_in_scope() {
        let xml = r#"<a:r xmlns:a="urn:a" xmlns:xs="urn:xs"><a:c/></a:r>"#;
        assert_eq!(
            c14n(xml, &["xs"]),
            r#"<a:r xmlns:a="urn:a" xmlns:xs="urn:xs"><a:c></a:c></a:r>"#
        );
    }
}
