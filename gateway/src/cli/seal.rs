//! `portcullis seal`: seal a connection's credential on the customer's
//! side and upload only ciphertext.
//!
//! It reads the connection and its environment's agent keys from the
//! gateway, verifies every key's endorsement against the trust public key
//! pinned on this machine, and refuses to seal at all if one does not
//! verify: a control plane that offers a key the trust key did not endorse
//! is trying to read the credential. Only then does it seal to every key
//! (HPKE, bound to organization, environment, connection, key and
//! version) and upload the result.

use super::api_client::ApiClient;
use anyhow::{Context as _, bail};
use http::{Method, StatusCode};
use portcullis_sealing::seal::Destination;
use portcullis_sealing::{AgentPublicKey, Endorsement, TrustPublicKey};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;
use zeroize::Zeroizing;

/// The environment variable holding the bearer token (an API key or an
/// access token): never an argument, which other users could read.
pub const TOKEN_VARIABLE: &str = "PORTCULLIS_TOKEN";

/// Arguments of `portcullis seal`.
#[derive(Debug, clap::Args)]
pub struct SealArgs {
    /// The gateway, `https://host[:port]`.
    #[arg(long, env = "PORTCULLIS_URL")]
    gateway: String,
    /// The connection whose credential this is.
    #[arg(long)]
    connection: String,
    /// The organization's trust public key, pinned on this machine (the
    /// `trust-key.pub` that `portcullis trust init` wrote).
    #[arg(long)]
    trust_public_key: PathBuf,
    /// Read the credential from this file (default: standard input).
    #[arg(long)]
    credential_file: Option<PathBuf>,
    /// CA certificates (PEM) to verify the gateway with, instead of the
    /// Mozilla root store.
    #[arg(long)]
    ca_file: Option<PathBuf>,
}

/// Runs `portcullis seal`.
pub async fn run(args: SealArgs) -> anyhow::Result<ExitCode> {
    let token = std::env::var(TOKEN_VARIABLE)
        .map(SecretString::from)
        .with_context(|| format!("set {TOKEN_VARIABLE} to an API key or access token"))?;
    let pinned = std::fs::read_to_string(&args.trust_public_key)
        .with_context(|| format!("cannot read {}", args.trust_public_key.display()))?;
    let trust = TrustPublicKey::from_base64url(&pinned)
        .with_context(|| args.trust_public_key.display().to_string())?;
    let client = ApiClient::new(&args.gateway, args.ca_file.as_deref(), token)?;

    let conn_id = &args.connection;
    let connection = client
        .send(Method::GET, &format!("/api/v1/connections/{conn_id}"), None)
        .await?
        .ok("reading the connection")?;
    let (org, env) = (
        text(&connection, "org_id")?,
        text(&connection, "environment_id")?,
    );
    let listed = client
        .send(
            Method::GET,
            &format!("/api/v1/environments/{env}/agent-keys"),
            None,
        )
        .await?
        .ok("reading the environment's agent keys")?;
    let recipients = endorsed_keys(&trust, &org, &env, &listed)?;

    let current = client
        .send(
            Method::GET,
            &format!("/api/v1/connections/{conn_id}/credential"),
            None,
        )
        .await?;
    let previous = if current.status == StatusCode::NOT_FOUND {
        0
    } else {
        current.ok("reading the current credential")?["version"]
            .as_u64()
            .context("the current credential has no version")?
    };

    let plaintext = read_credential(args.credential_file.as_ref())?;
    let destination = Destination {
        org: &org,
        environment: &env,
        connection: conn_id,
        version: previous + 1,
    };
    let sealed = portcullis_sealing::seal(&plaintext, &destination, &recipients)?;
    drop(plaintext);
    let stored = client
        .send(
            Method::PUT,
            &format!("/api/v1/connections/{conn_id}/credential"),
            Some(&json!({ "sealed": sealed })),
        )
        .await?
        .ok("uploading the sealed credential")?;
    let ids: Vec<String> = recipients.iter().map(|k| k.id().to_string()).collect();
    println!("{stored}");
    eprintln!(
        "sealed version {} of connection {conn_id}'s credential to {} agent key(s): {}",
        previous + 1,
        ids.len(),
        ids.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

/// A string field of a gateway answer.
fn text(value: &Value, field: &str) -> anyhow::Result<String> {
    value[field]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("the gateway's answer has no `{field}`"))
}

/// Every listed agent key, each checked against the pinned trust key; an
/// error naming every key that does not verify if any does not.
fn endorsed_keys(
    trust: &TrustPublicKey,
    org: &str,
    env: &str,
    listed: &Value,
) -> anyhow::Result<Vec<AgentPublicKey>> {
    let keys = listed["agent_keys"]
        .as_array()
        .context("the gateway's answer has no `agent_keys`")?;
    let mut verified = Vec::new();
    let mut refused = Vec::new();
    for key in keys {
        let id = key["id"].as_str().unwrap_or("(no id)");
        let checked = AgentPublicKey::from_base64url(key["public_key"].as_str().unwrap_or(""))
            .map_err(|e| e.to_string())
            .and_then(|public| {
                let endorsement =
                    Endorsement::from_base64url(key["endorsement"].as_str().unwrap_or(""))
                        .map_err(|e| e.to_string())?;
                trust
                    .verify(org, env, &public, &endorsement)
                    .map_err(|e| e.to_string())?;
                if public.id().as_str() == id {
                    Ok(public)
                } else {
                    Err(format!(
                        "it is listed as {id} but its key's id is {}",
                        public.id()
                    ))
                }
            });
        match checked {
            Ok(public) => verified.push(public),
            Err(why) => refused.push(format!("{id}: {why}")),
        }
    }
    if !refused.is_empty() {
        bail!(
            "refusing to seal: the gateway lists agent key(s) that trust key {} did not endorse for environment `{env}` — nothing was uploaded.\n  {}",
            trust.id(),
            refused.join("\n  ")
        );
    }
    if verified.is_empty() {
        bail!("environment `{env}` has no agent key to seal to; enroll an agent first");
    }
    Ok(verified)
}

/// The credential, from a file or standard input, without one trailing
/// newline.
fn read_credential(path: Option<&PathBuf>) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let mut bytes = Zeroizing::new(Vec::new());
    match path {
        Some(path) => {
            let mut file = std::fs::File::open(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            file.read_to_end(&mut bytes)?;
        }
        None => {
            std::io::stdin().read_to_end(&mut bytes)?;
        }
    }
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    if bytes.is_empty() {
        bail!("the credential is empty");
    }
    Ok(bytes)
}
