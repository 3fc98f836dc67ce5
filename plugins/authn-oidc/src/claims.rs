//! From verified ID-token claims to the principal: the subject, an email
//! only when the provider vouches for it, the name and groups, with each
//! preset's own rules (Entra's `tid`/`oid` identity, groups overage and
//! verified-domain email; Google's `hd`).

use crate::settings::{Preset, Settings};
use openidconnect::core::CoreGenderClaim;
use openidconnect::{AdditionalClaims, IdTokenClaims};
use portcullis_sdk::{Attribute, PluginError, Principal, http};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Every claim beyond the standard ones, as the provider sent it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Extra {
    /// The claims by name.
    #[serde(flatten)]
    pub claims: Map<String, Value>,
}

impl AdditionalClaims for Extra {}

impl Extra {
    fn text(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// A boolean claim, also when sent as the string `"true"`.
    fn flag(&self, name: &str) -> bool {
        match self.claims.get(name) {
            Some(Value::Bool(value)) => *value,
            Some(Value::String(value)) => value == "true",
            _ => false,
        }
    }
}

/// The claims of the userinfo endpoint that this plugin reads.
#[derive(Debug, Deserialize)]
pub struct UserInfo {
    sub: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<bool>,
    #[serde(default)]
    name: Option<String>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

/// Reads the userinfo endpoint; its `sub` must be the ID token's.
pub fn userinfo(url: &str, access_token: &str, subject: &str) -> Result<UserInfo, PluginError> {
    let request = http::Request::get(url)
        .header("authorization", &format!("Bearer {access_token}"))
        .header("accept", "application/json");
    let response = http::send(&request)
        .map_err(|e| PluginError::Unavailable(format!("userinfo endpoint: {e}")))?;
    if response.status != 200 {
        return Err(PluginError::Unavailable(format!(
            "userinfo endpoint answered {}",
            response.status
        )));
    }
    let info: UserInfo = serde_json::from_slice(&response.body)
        .map_err(|e| PluginError::Unavailable(format!("userinfo endpoint: {e}")))?;
    if info.sub != subject {
        return Err(PluginError::InvalidCredentials);
    }
    Ok(info)
}

fn groups_of(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

/// Groups the ID token does not list, and where they are read.
pub enum GroupLookup<'a> {
    /// An Entra user in more groups than a token carries: Microsoft Graph.
    EntraOverage {
        /// The tenant.
        tid: &'a str,
        /// The user's object id.
        oid: &'a str,
    },
    /// A Google Workspace user: the Admin SDK Directory API.
    GoogleDirectory {
        /// The user's (verified) email.
        email: &'a str,
    },
}

/// Reads groups from where a [`GroupLookup`] says.
pub type GroupsFrom<'a> = dyn Fn(GroupLookup<'_>) -> Result<Vec<String>, String> + 'a;

/// The principal the claims describe, or which check refused them. Groups
/// the token does not list (an Entra overage with Graph configured, a
/// Google directory) are read by `groups_from`.
pub fn principal_of(
    settings: &Settings,
    claims: &IdTokenClaims<Extra, CoreGenderClaim>,
    userinfo: Option<&UserInfo>,
    groups_from: &GroupsFrom<'_>,
) -> Result<Principal, String> {
    let extra = claims.additional_claims();
    let issuer = claims.issuer().as_str();
    let tid = extra.text("tid");
    if !settings.accepts_issuer(issuer, tid) {
        return Err(format!("issuer `{issuer}` is not this provider's"));
    }
    let subject = match settings.preset {
        Preset::Entra => {
            let tid = tid.ok_or("Entra ID token without `tid`")?;
            if !settings.allowed_tenants.iter().any(|t| t == tid) {
                return Err(format!("tenant `{tid}` is not allowed"));
            }
            let oid = extra.text("oid").ok_or("Entra ID token without `oid`")?;
            format!("{tid}:{oid}")
        }
        _ => claims.subject().as_str().to_string(),
    };
    if settings.preset == Preset::Google {
        let hd = extra
            .text("hd")
            .map(str::to_ascii_lowercase)
            .ok_or("the ID token has no `hd` (not a Google Workspace account)")?;
        if !settings.allowed_domains.contains(&hd) {
            return Err(format!("Google Workspace domain `{hd}` is not allowed"));
        }
    }
    let token_email = claims.email().map(|e| e.as_str().to_string());
    let email_verified = match settings.preset {
        // Entra sends no `email_verified`; `xms_edov` says whether the
        // tenant verified the email's domain ("nOAuth").
        Preset::Entra => extra.flag("xms_edov"),
        _ => claims.email_verified() == Some(true),
    };
    let (email, verified) = match (token_email, userinfo) {
        (Some(email), _) => (Some(email), email_verified),
        (None, Some(info)) => (
            info.email.clone(),
            settings.preset != Preset::Entra && info.email_verified == Some(true),
        ),
        (None, None) => (None, false),
    };
    let email = email.filter(|_| verified);
    let groups_claim = extra
        .claims
        .get(&settings.groups_claim)
        .or_else(|| userinfo.and_then(|info| info.rest.get(&settings.groups_claim)));
    let overage = extra
        .claims
        .get("_claim_names")
        .and_then(Value::as_object)
        .is_some_and(|names| names.contains_key(&settings.groups_claim))
        || extra.flag("hasgroups");
    let groups = match (overage && groups_claim.is_none(), &settings.graph, tid) {
        (false, _, _) => groups_of(groups_claim),
        (true, Some(_), Some(tid)) => {
            let oid = extra.text("oid").ok_or("Entra ID token without `oid`")?;
            groups_from(GroupLookup::EntraOverage { tid, oid }).map_err(|why| {
                format!("groups overage: reading them from Microsoft Graph failed: {why}")
            })?
        }
        (true, _, _) => {
            return Err(
                "the user is in more groups than the token can carry (groups overage); \
                 resolving them through Microsoft Graph is not configured (`graph_groups`), so the \
                 login is refused rather than signing in without groups"
                    .into(),
            );
        }
    };
    let groups = match (&settings.directory, &email) {
        (Some(_), Some(email)) => groups_from(GroupLookup::GoogleDirectory { email })
            .map_err(|why| format!("reading groups from the Google directory failed: {why}"))?,
        (Some(_), None) => {
            return Err(
                "the Google directory is read by email, and the token has no verified email".into(),
            );
        }
        (None, _) => groups,
    };
    let display_name = claims
        .name()
        .and_then(|n| n.get(None))
        .map(|n| n.as_str().to_string())
        .or_else(|| userinfo.and_then(|i| i.name.clone()))
        .or_else(|| claims.preferred_username().map(|u| u.as_str().to_string()));
    let mut amr = vec!["sso".to_string()];
    let provider_mfa = claims
        .auth_method_refs()
        .is_some_and(|methods| methods.iter().any(|m| m.as_str() == "mfa"));
    if provider_mfa {
        amr.push("mfa".into());
    }
    let mut attributes = vec![Attribute {
        name: "issuer".into(),
        value: issuer.to_string(),
    }];
    if email.is_some() {
        attributes.push(Attribute {
            name: "email_verified".into(),
            value: "true".into(),
        });
    }
    Ok(Principal {
        subject,
        issuer: issuer.to_string(),
        organization: None,
        email,
        display_name,
        groups,
        amr,
        attributes,
    })
}
