//! Microsoft Graph, for an Entra ID groups overage: when a user is in more
//! groups than a token carries, the ID token names a claim source instead
//! of listing them, and the groups are read from Graph
//! (`POST /v1.0/users/{oid}/getMemberGroups`) with a token the app gets
//! for itself (client credentials, scope `{graph}/.default`). The app
//! needs Graph's `GroupMember.Read.All` application permission.

use crate::settings::GraphSettings;
use openidconnect::url::form_urlencoded;
use portcullis_sdk::http;
use serde::Deserialize;

/// Where `{tenantid}` stands in the token URL.
const TENANT_PLACEHOLDER: &str = "{tenantid}";

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
}

#[derive(Deserialize)]
struct Groups {
    value: Vec<String>,
}

/// `error.code` of a Graph error body, or `error` of a token endpoint's.
fn error_of(body: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    value["error"]["code"]
        .as_str()
        .or_else(|| value["error"].as_str())
        .unwrap_or("no error code")
        .to_string()
}

/// Whether `id` is safe in a URL path: a GUID's characters.
fn plain_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The ids of the groups user `oid` of tenant `tid` is a member of
/// (transitively), or why they cannot be read.
pub fn member_groups(
    graph: &GraphSettings,
    client_id: &str,
    client_secret: &str,
    tid: &str,
    oid: &str,
) -> Result<Vec<String>, String> {
    if !plain_id(tid) || !plain_id(oid) {
        return Err("the token's `tid` or `oid` is not an id".into());
    }
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("client_secret", client_secret)
        .append_pair("scope", &format!("{}/.default", graph.api_url))
        .append_pair("grant_type", "client_credentials")
        .finish();
    let token_url = graph.token_url.replace(TENANT_PLACEHOLDER, tid);
    let answer = http::send(
        &http::Request::post(
            &token_url,
            "application/x-www-form-urlencoded",
            form.into_bytes(),
        )
        .header("accept", "application/json"),
    )
    .map_err(|e| format!("Graph token endpoint: {e:?}"))?;
    if answer.status != 200 {
        return Err(format!(
            "the Graph token endpoint answered {} ({})",
            answer.status,
            error_of(&answer.body)
        ));
    }
    let token: TokenAnswer = serde_json::from_slice(&answer.body)
        .map_err(|_| "the Graph token endpoint's answer has no access_token")?;
    let url = format!("{}/v1.0/users/{oid}/getMemberGroups", graph.api_url);
    let answer = http::send(
        &http::Request::post(
            &url,
            "application/json",
            br#"{"securityEnabledOnly":false}"#.to_vec(),
        )
        .header("authorization", &format!("Bearer {}", token.access_token))
        .header("accept", "application/json"),
    )
    .map_err(|e| format!("Graph getMemberGroups: {e:?}"))?;
    if answer.status != 200 {
        return Err(format!(
            "Graph getMemberGroups answered {} ({})",
            answer.status,
            error_of(&answer.body)
        ));
    }
    let groups: Groups = serde_json::from_slice(&answer.body)
        .map_err(|_| "Graph getMemberGroups answered no `value` list")?;
    Ok(groups.value)
}
