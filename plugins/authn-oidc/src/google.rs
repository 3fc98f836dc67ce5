//! Google Workspace groups, read from the Admin SDK Directory API
//! (`GET /admin/directory/v1/groups?userKey=…`) as a service account with
//! domain-wide delegation acting as a Workspace admin: a JWT assertion
//! (RS256, signed with the service account's key by the host) is exchanged
//! at Google's token endpoint for an access token with the
//! `admin.directory.group.readonly` scope.

use crate::settings::DirectorySettings;
use base64::Engine;
use openidconnect::url::form_urlencoded;
use portcullis_sdk::{crypto, http};
use serde::Deserialize;

const SCOPE: &str = "https://www.googleapis.com/auth/admin.directory.group.readonly";
/// Most pages of groups read for one user (200 each).
const MAX_PAGES: usize = 50;

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
}

#[derive(Deserialize)]
struct Group {
    email: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupPage {
    #[serde(default)]
    groups: Vec<Group>,
    #[serde(default)]
    next_page_token: Option<String>,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `error: error_description` (token endpoint) or `error.message` (API)
/// of an error body.
fn error_of(body: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = match (value["error"].as_str(), value["error_description"].as_str()) {
        (Some(error), Some(description)) => format!("{error}: {description}"),
        (Some(error), None) => error.to_string(),
        _ => value["error"]["message"]
            .as_str()
            .unwrap_or("no error text")
            .to_string(),
    };
    text.chars().take(200).collect()
}

fn access_token(directory: &DirectorySettings, now: u64) -> Result<String, String> {
    let header = b64(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = serde_json::json!({
        "iss": directory.service_account_email,
        "sub": directory.admin,
        "scope": SCOPE,
        "aud": directory.token_url,
        "iat": now,
        "exp": now + 300,
    });
    let input = format!("{header}.{}", b64(claims.to_string().as_bytes()));
    let signature = crypto::sign(
        crypto::SignatureAlgorithm::Rs256,
        &directory.service_account_key,
        input.as_bytes(),
    )
    .map_err(|e| format!("the service account key cannot sign: {e:?}"))?;
    let assertion = format!("{input}.{}", b64(&signature));
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
        .append_pair("assertion", &assertion)
        .finish();
    let answer = http::send(
        &http::Request::post(
            &directory.token_url,
            "application/x-www-form-urlencoded",
            form.into_bytes(),
        )
        .header("accept", "application/json"),
    )
    .map_err(|e| format!("Google token endpoint: {e:?}"))?;
    if answer.status != 200 {
        return Err(format!(
            "the Google token endpoint answered {} ({})",
            answer.status,
            error_of(&answer.body)
        ));
    }
    serde_json::from_slice::<TokenAnswer>(&answer.body)
        .map(|t| t.access_token)
        .map_err(|_| "the Google token endpoint's answer has no access_token".into())
}

/// The email addresses of the groups `user_email` belongs to.
pub fn user_groups(
    directory: &DirectorySettings,
    user_email: &str,
    now: u64,
) -> Result<Vec<String>, String> {
    let token = access_token(directory, now)?;
    let mut groups = Vec::new();
    let mut page_token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("userKey", user_email)
            .append_pair("maxResults", "200");
        if let Some(page) = &page_token {
            query.append_pair("pageToken", page);
        }
        let url = format!(
            "{}/admin/directory/v1/groups?{}",
            directory.api_url,
            query.finish()
        );
        let answer = http::send(
            &http::Request::get(&url)
                .header("authorization", &format!("Bearer {token}"))
                .header("accept", "application/json"),
        )
        .map_err(|e| format!("Directory API: {e:?}"))?;
        if answer.status != 200 {
            return Err(format!(
                "the Directory API answered {} ({})",
                answer.status,
                error_of(&answer.body)
            ));
        }
        let page: GroupPage = serde_json::from_slice(&answer.body)
            .map_err(|_| "the Directory API answered no group list")?;
        groups.extend(page.groups.into_iter().map(|g| g.email));
        match page.next_page_token {
            Some(next) if !next.is_empty() => page_token = Some(next),
            _ => return Ok(groups),
        }
    }
    Err(format!(
        "the user is in more than {} groups",
        MAX_PAGES * 200
    ))
}
