//! References into the customer's secrets store that only the agent
//! resolves (`aws-sm://…`, `azure-kv://…`): the control plane checks their
//! shape and stores them; it never resolves them.

/// The schemes a connection's credential reference may have.
pub const AGENT_REFERENCE_SCHEMES: &[&str] = &["aws-sm", "azure-kv"];

/// Longest reference accepted.
const MAX_REFERENCE_LEN: usize = 2048;

/// Checks a reference's shape; the error says what is expected.
///
/// - `aws-sm://{name or ARN}[#json_key][?version_id=…|?version_stage=…]`
/// - `azure-kv://{vault host}/{secret name}[/{version}]`
pub fn check_agent_reference(reference: &str) -> Result<(), String> {
    let expected = "`reference` must be `aws-sm://{secret name or ARN}[#json_key][?version_id=…|?version_stage=…]` or `azure-kv://{vault host}/{secret name}[/{version}]`";
    if reference.is_empty()
        || reference.len() > MAX_REFERENCE_LEN
        || reference
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "{expected}, at most {MAX_REFERENCE_LEN} characters without spaces"
        ));
    }
    let Some((scheme, rest)) = reference.split_once("://") else {
        return Err(expected.into());
    };
    match scheme {
        "aws-sm" => check_aws(rest)
            .then_some(())
            .ok_or_else(|| expected.to_string()),
        "azure-kv" => check_azure(rest)
            .then_some(())
            .ok_or_else(|| expected.to_string()),
        _ => Err(format!(
            "{expected} (schemes: {})",
            AGENT_REFERENCE_SCHEMES.join(", ")
        )),
    }
}

fn check_aws(rest: &str) -> bool {
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let (name, json_key) = match rest.split_once('#') {
        Some((name, key)) => (name, Some(key)),
        None => (rest, None),
    };
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-:".contains(c));
    let key_ok = json_key.is_none_or(|k| !k.is_empty() && !k.contains('#'));
    let query_ok = query.is_none_or(|q| {
        q.split_once('=').is_some_and(|(k, v)| {
            matches!(k, "version_id" | "version_stage")
                && !v.is_empty()
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
        })
    });
    name_ok && key_ok && query_ok
}

fn check_azure(rest: &str) -> bool {
    let parts: Vec<&str> = rest.split('/').collect();
    let host_ok = |h: &str| {
        !h.is_empty()
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))
    };
    let name_ok = |n: &str| {
        (1..=127).contains(&n.len()) && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let version_ok = |v: &str| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric());
    match parts.as_slice() {
        [host, name] => host_ok(host) && name_ok(name),
        [host, name, version] => host_ok(host) && name_ok(name) && version_ok(version),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_references_pass() {
        for reference in [
            "aws-sm://prod/orders-db",
            "aws-sm://arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf",
            "aws-sm://prod/orders-db#password",
            "aws-sm://prod/orders-db?version_stage=AWSPREVIOUS",
            "azure-kv://corp-vault.vault.azure.net/orders-db",
            "azure-kv://corp-vault.vault.azure.net/orders-db/4387e9f3d6e14c459867679a90fd0f79",
        ] {
            assert_eq!(check_agent_reference(reference), Ok(()), "{reference}");
        }
    }

    #[test]
    fn anything_else_is_refused_with_the_expected_shape() {
        for reference in [
            "",
            "prod/orders-db",
            "vault://kv/db",
            "aws-sm://",
            "aws-sm://db?version=3",
            "aws-sm://db#",
            "aws-sm://has space",
            "azure-kv://vault",
            "azure-kv://vault/bad_name",
            "azure-kv://vault/name/ver/extra",
            "azure-kv://vault/name\n",
        ] {
            let refused = check_agent_reference(reference).expect_err(reference);
            assert!(refused.contains("aws-sm://"), "{reference}: {refused}");
        }
        assert!(check_agent_reference(&format!("aws-sm://{}", "a".repeat(3000))).is_err());
    }
}
