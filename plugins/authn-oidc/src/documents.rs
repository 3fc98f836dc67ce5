//! The provider's discovery document and JWKS, fetched over `wasi:http`
//! and cached in the plugin's store, which every instance of this provider
//! (on every gateway sharing the store) reads. An unknown `kid` may force a
//! refetch of the JWKS at most once per refetch interval per provider,
//! across all of them, so tokens carrying random `kid`s cannot cause a
//! refetch storm.

use crate::jwk::HostJwk;
use openidconnect::JsonWebKeySet;
use openidconnect::core::CoreProviderMetadata;
use portcullis_sdk::{PluginError, http, kv};
use serde::{Deserialize, Serialize};

/// Largest document accepted from a provider.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;
const DISCOVERY_KEY: &str = "discovery";
const JWKS_KEY: &str = "jwks";
const REFETCH_KEY: &str = "jwks-refetch";

/// A fetched document with the time it was fetched.
#[derive(Serialize, Deserialize)]
struct Cached {
    fetched_at: u64,
    body: String,
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn unavailable(what: &str, why: impl std::fmt::Display) -> PluginError {
    PluginError::Unavailable(format!("{what}: {why}"))
}

fn kv_error(error: portcullis_sdk::kv::KvError) -> PluginError {
    unavailable("plugin store", format!("{error:?}"))
}

/// `GET url`, expecting a 200 JSON answer of bounded size.
pub fn fetch(what: &str, url: &str) -> Result<String, PluginError> {
    let response = http::send(&http::Request::get(url).header("accept", "application/json"))
        .map_err(|e| unavailable(what, format!("GET {url}: {e}")))?;
    if response.status != 200 {
        return Err(unavailable(
            what,
            format!("GET {url} answered {}", response.status),
        ));
    }
    if response.body.len() > MAX_DOCUMENT_BYTES {
        return Err(unavailable(what, "the document is too large"));
    }
    String::from_utf8(response.body).map_err(|_| unavailable(what, "the document is not UTF-8"))
}

fn read_cache(key: &str, max_age: u64) -> Result<Option<Cached>, PluginError> {
    let Some(bytes) = kv::get(key).map_err(kv_error)? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice::<Cached>(&bytes)
        .ok()
        .filter(|c| now().saturating_sub(c.fetched_at) < max_age))
}

fn write_cache(key: &str, body: &str) -> Result<(), PluginError> {
    let cached = Cached {
        fetched_at: now(),
        body: body.to_string(),
    };
    let bytes = serde_json::to_vec(&cached).map_err(|e| PluginError::Internal(e.to_string()))?;
    kv::set(key, &bytes).map_err(kv_error)
}

/// A provider's discovery document.
pub struct Discovery {
    /// What `openidconnect` reads from it.
    pub metadata: CoreProviderMetadata,
    /// Its `end_session_endpoint` (OpenID Connect RP-Initiated Logout).
    pub end_session_endpoint: Option<String>,
}

/// The part of a discovery document `openidconnect`'s core metadata leaves
/// out.
#[derive(serde::Deserialize)]
struct LogoutMetadata {
    #[serde(default)]
    end_session_endpoint: Option<String>,
}

/// The provider's metadata, from the cache when younger than `max_age`.
/// Its `issuer` must be `issuer` exactly (OpenID Connect Discovery 4.3).
pub fn discovery(issuer: &str, max_age: u64) -> Result<Discovery, PluginError> {
    let parse = |body: &str| -> Result<Discovery, PluginError> {
        let metadata: CoreProviderMetadata =
            serde_json::from_str(body).map_err(|e| unavailable("discovery document", e))?;
        let logout: LogoutMetadata =
            serde_json::from_str(body).map_err(|e| unavailable("discovery document", e))?;
        if metadata.issuer().as_str() != issuer {
            return Err(unavailable(
                "discovery document",
                format!(
                    "its issuer `{}` is not the configured `{issuer}`",
                    metadata.issuer().as_str()
                ),
            ));
        }
        Ok(Discovery {
            metadata,
            end_session_endpoint: logout.end_session_endpoint,
        })
    };
    if let Some(cached) = read_cache(DISCOVERY_KEY, max_age)?
        && let Ok(metadata) = parse(&cached.body)
    {
        return Ok(metadata);
    }
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let body = fetch("discovery document", &url)?;
    let metadata = parse(&body)?;
    write_cache(DISCOVERY_KEY, &body)?;
    Ok(metadata)
}

/// The provider's signing keys, from the cache when younger than `max_age`.
pub fn jwks(url: &str, max_age: u64) -> Result<JsonWebKeySet<HostJwk>, PluginError> {
    if let Some(cached) = read_cache(JWKS_KEY, max_age)?
        && let Ok(keys) = serde_json::from_str(&cached.body)
    {
        return Ok(keys);
    }
    refetch_jwks(url)
}

fn refetch_jwks(url: &str) -> Result<JsonWebKeySet<HostJwk>, PluginError> {
    let body = fetch("JWKS", url)?;
    let keys = serde_json::from_str(&body).map_err(|e| unavailable("JWKS", e))?;
    write_cache(JWKS_KEY, &body)?;
    Ok(keys)
}

/// The JWKS fetched again because a token named a key it lacks, if no
/// other refetch happened in the last `interval` seconds (for this
/// provider, on any instance); `None` when one did.
pub fn jwks_for_unknown_key(
    url: &str,
    interval: u64,
) -> Result<Option<JsonWebKeySet<HostJwk>>, PluginError> {
    let claimed = kv::compare_and_swap_expiring(REFETCH_KEY, None, Some(b"1"), now() + interval)
        .map_err(kv_error)?;
    if !claimed {
        return Ok(None);
    }
    portcullis_sdk::log::info("a token names a key the cached JWKS lacks; fetching it again");
    refetch_jwks(url).map(Some)
}
