//! Zero-knowledge connection credentials: the control plane's side.
//!
//! The control plane keeps each organization's trust public key, the
//! agent keys of each environment with the customer's endorsements, and
//! each connection's credential as ciphertext sealed to those keys (or as
//! a reference only the agent resolves). It checks what it is given —
//! endorsements against the trust key, that a sealed credential names
//! every trusted agent key of its environment and nothing else, that
//! versions only grow — but it cannot open a credential: the opening code
//! lives in `portcullis-agent`, which this crate does not depend on.
//!
//! Sealing happens on the customer's side (`portcullis seal`). Only an
//! organization that turned on server-side sealing may send a plaintext,
//! which is sealed here at once and zeroized; that is weaker, because the
//! gateway sees the plaintext, and it is off by default.

mod references;

pub use references::{AGENT_REFERENCE_SCHEMES, check_agent_reference};

use crate::store::{
    AgentKeyRecord, CredentialForm, CredentialRecord, SealingSettings, Store, StoreError,
};
use portcullis_sealing::seal::Destination;
use portcullis_sealing::suite::{PUBLIC_KEY_LEN, TAG_LEN};
use portcullis_sealing::{
    AgentKeyId, AgentPublicKey, Endorsement, SealedCredential, TrustPublicKey, decode_base64url,
};
use secrecy::{ExposeSecret as _, SecretBox};
use std::collections::BTreeSet;

/// Longest credential accepted, sealed or plain (64 KiB).
pub const MAX_CREDENTIAL_BYTES: usize = 64 * 1024;
/// Most agent keys one environment may have (and so recipients one sealed
/// credential may have).
pub const MAX_AGENT_KEYS: usize = 256;

/// Who sealed a stored credential.
const SEALED_BY_CUSTOMER: &str = "customer";
const SEALED_BY_GATEWAY: &str = "gateway";

/// Why a credential operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The request is malformed; the text names the field.
    #[error("{0}")]
    Invalid(String),
    /// No such resource in the organization.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// Refused for a reason the client can act on.
    #[error("{message}")]
    Refused {
        /// Which reason.
        refusal: Refusal,
        /// What happened and what would help.
        message: String,
    },
    /// The version is not the next one (another write came first, or an
    /// old credential is being replayed).
    #[error(
        "the credential's version must be {expected} (the stored one is {stored}); fetch the connection's credential and seal again"
    )]
    VersionConflict {
        /// The version a write must have.
        expected: i64,
        /// The stored one.
        stored: i64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The reasons a credential operation is refused, each with a stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The organization has no trust key yet.
    TrustKeyMissing,
    /// The endorsement does not verify against the trust key.
    EndorsementInvalid,
    /// The environment has as many agent keys as it may.
    TooManyAgentKeys,
    /// The agent key is enrolled already.
    AgentKeyExists,
    /// A sealed credential is not sealed to exactly the trusted agent keys.
    RecipientsMismatch,
    /// A plaintext was sent, and server-side sealing is off.
    ServerSideSealingDisabled,
    /// Nothing to seal to.
    NoAgentKeys,
    /// Sealing failed (an unusable agent key).
    SealFailed,
}

impl Refusal {
    /// The stable code clients see.
    pub fn code(self) -> &'static str {
        match self {
            Self::TrustKeyMissing => "trust_key_missing",
            Self::EndorsementInvalid => "endorsement_invalid",
            Self::TooManyAgentKeys => "too_many_agent_keys",
            Self::AgentKeyExists => "agent_key_exists",
            Self::RecipientsMismatch => "recipients_mismatch",
            Self::ServerSideSealingDisabled => "server_side_sealing_disabled",
            Self::NoAgentKeys => "no_agent_keys",
            Self::SealFailed => "seal_failed",
        }
    }
}

fn refused(refusal: Refusal, message: impl Into<String>) -> CredentialsError {
    CredentialsError::Refused {
        refusal,
        message: message.into(),
    }
}

/// An enrolled agent key and whether the organization's current trust key
/// endorses it (a key endorsed by a replaced trust key is not sealed to).
#[derive(Debug, Clone)]
pub struct AgentKey {
    /// The stored key.
    pub record: AgentKeyRecord,
    /// Whether its endorsement verifies against the current trust key.
    pub trusted: bool,
}

/// A stored credential and how it covers the environment's agent keys.
#[derive(Debug, Clone)]
pub struct Credential {
    /// The stored record.
    pub record: CredentialRecord,
    /// Trusted agent keys it is not sealed to (empty for a reference).
    pub missing_recipients: Vec<String>,
    /// Keys it is sealed to that are no longer trusted or enrolled.
    pub unknown_recipients: Vec<String>,
}

/// What `PUT …/credential` carries.
pub enum CredentialInput {
    /// Sealed on the customer's side.
    Sealed(SealedCredential),
    /// A reference only the agent resolves.
    Reference(String),
    /// A plaintext, accepted only with server-side sealing on.
    Plaintext(SecretBox<Vec<u8>>),
}

/// The organization's trust key, if one is set and well-formed.
fn trust_key(settings: &SealingSettings) -> Option<TrustPublicKey> {
    settings
        .trust_public_key
        .as_deref()
        .and_then(|key| TrustPublicKey::from_base64url(key).ok())
}

/// Changes the organization's sealing settings; `None` leaves a field.
pub async fn update_settings(
    store: &Store,
    org: &str,
    trust_public_key: Option<Option<String>>,
    server_side_sealing: Option<bool>,
) -> Result<SealingSettings, CredentialsError> {
    let mut settings = store.sealing_settings(org).await?;
    if let Some(key) = trust_public_key {
        if let Some(text) = &key {
            TrustPublicKey::from_base64url(text).map_err(|e| {
                CredentialsError::Invalid(format!(
                    "`trust_public_key`: {e}; create one with `portcullis trust init`"
                ))
            })?;
        }
        settings.trust_public_key = key.map(|k| k.trim().to_string());
    }
    if let Some(on) = server_side_sealing {
        settings.server_side_sealing = on;
    }
    settings.updated_at = crate::identity::now();
    store.set_sealing_settings(org, &settings).await?;
    Ok(settings)
}

async fn environment_exists(store: &Store, org: &str, env: &str) -> Result<(), CredentialsError> {
    match store.environment(org, env).await? {
        Some(_) => Ok(()),
        None => Err(CredentialsError::NotFound("environment")),
    }
}

/// The agent keys of an environment, each marked trusted or not.
pub async fn agent_keys(
    store: &Store,
    org: &str,
    env: &str,
) -> Result<Vec<AgentKey>, CredentialsError> {
    environment_exists(store, org, env).await?;
    marked_agent_keys(store, org, env).await
}

/// The agent keys of an environment known to exist, each marked trusted or
/// not.
async fn marked_agent_keys(
    store: &Store,
    org: &str,
    env: &str,
) -> Result<Vec<AgentKey>, CredentialsError> {
    let trust = trust_key(&store.sealing_settings(org).await?);
    let keys = store.agent_keys(org, env).await?;
    Ok(keys
        .into_iter()
        .map(|record| {
            let trusted = trust.as_ref().is_some_and(|trust| endorsed(trust, &record));
            AgentKey { record, trusted }
        })
        .collect())
}

/// Whether `record`'s endorsement verifies against `trust`.
fn endorsed(trust: &TrustPublicKey, record: &AgentKeyRecord) -> bool {
    let (Ok(key), Ok(endorsement)) = (
        AgentPublicKey::from_base64url(&record.public_key),
        Endorsement::from_base64url(&record.endorsement),
    ) else {
        return false;
    };
    trust
        .verify(&record.org_id, &record.environment_id, &key, &endorsement)
        .is_ok()
}

/// Enrolls an agent key the organization's trust key endorsed for `env`.
pub async fn enroll_agent_key(
    store: &Store,
    org: &str,
    env: &str,
    public_key: &str,
    endorsement: &str,
    name: Option<String>,
) -> Result<AgentKeyRecord, CredentialsError> {
    environment_exists(store, org, env).await?;
    let key = AgentPublicKey::from_base64url(public_key)
        .map_err(|e| CredentialsError::Invalid(format!("`public_key`: {e}")))?;
    let signature = Endorsement::from_base64url(endorsement)
        .map_err(|e| CredentialsError::Invalid(format!("`endorsement`: {e}")))?;
    let trust = trust_key(&store.sealing_settings(org).await?).ok_or_else(|| {
        refused(
            Refusal::TrustKeyMissing,
            "the organization has no trust key: create one with `portcullis trust init` and set it with PATCH /api/v1/orgs/{org_id}/sealing",
        )
    })?;
    trust.verify(org, env, &key, &signature).map_err(|e| {
        refused(
            Refusal::EndorsementInvalid,
            format!("{e}; endorse it with `portcullis trust sign-agent`"),
        )
    })?;
    if store.agent_keys(org, env).await?.len() >= MAX_AGENT_KEYS {
        return Err(refused(
            Refusal::TooManyAgentKeys,
            format!("an environment has at most {MAX_AGENT_KEYS} agent keys; remove one first"),
        ));
    }
    let record = AgentKeyRecord {
        id: key.id().to_string(),
        org_id: org.to_string(),
        environment_id: env.to_string(),
        public_key: key.to_base64url(),
        endorsement: signature.to_base64url(),
        name,
        created_at: crate::identity::now(),
    };
    store.insert_agent_key(&record).await.map_err(|e| match e {
        StoreError::Conflict(_) => refused(
            Refusal::AgentKeyExists,
            format!(
                "agent key {} is already enrolled in this environment",
                record.id
            ),
        ),
        other => other.into(),
    })?;
    Ok(record)
}

/// Removes an agent key. Credentials sealed to it keep their seal for it
/// until they are sealed again (their view lists it as unknown).
pub async fn remove_agent_key(
    store: &Store,
    org: &str,
    env: &str,
    id: &str,
) -> Result<(), CredentialsError> {
    environment_exists(store, org, env).await?;
    if store.delete_agent_key(org, env, id).await? {
        Ok(())
    } else {
        Err(CredentialsError::NotFound("agent key"))
    }
}

/// The connection's environment, or not found (also for another
/// organization's connection).
async fn environment_of(store: &Store, org: &str, conn: &str) -> Result<String, CredentialsError> {
    store
        .connection(org, conn)
        .await?
        .map(|c| c.environment_id)
        .ok_or(CredentialsError::NotFound("connection"))
}

/// The trusted agent keys of the environment of a connection (so one
/// known to exist).
async fn trusted_keys(
    store: &Store,
    org: &str,
    env: &str,
) -> Result<Vec<AgentPublicKey>, CredentialsError> {
    Ok(marked_agent_keys(store, org, env)
        .await?
        .into_iter()
        .filter(|k| k.trusted)
        .filter_map(|k| AgentPublicKey::from_base64url(&k.record.public_key).ok())
        .collect())
}

/// The connection's credential, if it ever had one (a removed one too:
/// its version tells what the next must be).
pub async fn credential(
    store: &Store,
    org: &str,
    conn: &str,
) -> Result<Credential, CredentialsError> {
    let env = environment_of(store, org, conn).await?;
    let record = store
        .credential(org, conn)
        .await?
        .ok_or(CredentialsError::NotFound("credential"))?;
    let (mut missing_recipients, mut unknown_recipients) = (Vec::new(), Vec::new());
    if record.form == CredentialForm::Sealed {
        let sealed: SealedCredential = serde_json::from_str(&record.body).map_err(|_| {
            StoreError::Query(sqlx::Error::Decode(
                format!("the sealed credential of connection `{conn}` is not valid JSON").into(),
            ))
        })?;
        let trusted: BTreeSet<String> = trusted_keys(store, org, &env)
            .await?
            .iter()
            .map(|k| k.id().to_string())
            .collect();
        let sealed_to: BTreeSet<String> = sealed
            .recipients
            .iter()
            .map(|r| r.agent_key_id.clone())
            .collect();
        missing_recipients = trusted.difference(&sealed_to).cloned().collect();
        unknown_recipients = sealed_to.difference(&trusted).cloned().collect();
    }
    Ok(Credential {
        record,
        missing_recipients,
        unknown_recipients,
    })
}

/// The stored version (0 if none).
async fn stored_version(store: &Store, org: &str, conn: &str) -> Result<i64, CredentialsError> {
    Ok(store.credential(org, conn).await?.map_or(0, |r| r.version))
}

/// Stores `record` over version `previous`, or reports the conflict.
async fn put(
    store: &Store,
    record: CredentialRecord,
    previous: i64,
) -> Result<CredentialRecord, CredentialsError> {
    if store.put_credential(&record, previous).await? {
        Ok(record)
    } else {
        let stored = stored_version(store, &record.org_id, &record.connection_id).await?;
        Err(CredentialsError::VersionConflict {
            expected: stored + 1,
            stored,
        })
    }
}

/// Replaces the connection's credential.
pub async fn put_credential(
    store: &Store,
    org: &str,
    conn: &str,
    input: CredentialInput,
) -> Result<Credential, CredentialsError> {
    let env = environment_of(store, org, conn).await?;
    let previous = stored_version(store, org, conn).await?;
    let next = previous + 1;
    let record = |form, body, sealed_by: &str| CredentialRecord {
        connection_id: conn.to_string(),
        org_id: org.to_string(),
        version: next,
        form,
        body,
        sealed_by: sealed_by.to_string(),
        updated_at: crate::identity::now(),
    };
    let new = match input {
        CredentialInput::Sealed(sealed) => {
            if i64::try_from(sealed.version).ok() != Some(next) {
                return Err(CredentialsError::VersionConflict {
                    expected: next,
                    stored: previous,
                });
            }
            check_sealed(&sealed, &trusted_keys(store, org, &env).await?)?;
            let body = serde_json::to_string(&sealed)
                .map_err(|e| CredentialsError::Invalid(e.to_string()))?;
            record(CredentialForm::Sealed, body, SEALED_BY_CUSTOMER)
        }
        CredentialInput::Reference(reference) => {
            check_agent_reference(&reference).map_err(CredentialsError::Invalid)?;
            record(CredentialForm::Reference, reference, SEALED_BY_CUSTOMER)
        }
        CredentialInput::Plaintext(plaintext) => {
            if !store.sealing_settings(org).await?.server_side_sealing {
                return Err(refused(
                    Refusal::ServerSideSealingDisabled,
                    "this organization accepts sealed credentials only: seal it on your side with `portcullis seal`, or turn on server-side sealing (weaker: the gateway then sees the plaintext) with PATCH /api/v1/orgs/{org_id}/sealing",
                ));
            }
            let plaintext = plaintext.expose_secret();
            if plaintext.is_empty() || plaintext.len() > MAX_CREDENTIAL_BYTES {
                return Err(CredentialsError::Invalid(format!(
                    "`plaintext` must be 1 to {MAX_CREDENTIAL_BYTES} bytes"
                )));
            }
            let keys = trusted_keys(store, org, &env).await?;
            if keys.is_empty() {
                return Err(refused(
                    Refusal::NoAgentKeys,
                    "the connection's environment has no trusted agent key to seal to; enroll an agent first",
                ));
            }
            let destination = Destination {
                org,
                environment: &env,
                connection: conn,
                version: next.unsigned_abs(),
            };
            let sealed = portcullis_sealing::seal(plaintext, &destination, &keys)
                .map_err(|e| refused(Refusal::SealFailed, e.to_string()))?;
            let body = serde_json::to_string(&sealed)
                .map_err(|e| CredentialsError::Invalid(e.to_string()))?;
            record(CredentialForm::Sealed, body, SEALED_BY_GATEWAY)
        }
    };
    // A stored seal covers exactly the trusted keys (checked above, or
    // sealed to all of them here); a reference covers none.
    Ok(Credential {
        record: put(store, new, previous).await?,
        missing_recipients: Vec::new(),
        unknown_recipients: Vec::new(),
    })
}

/// Removes the connection's credential; its version keeps counting.
pub async fn remove_credential(
    store: &Store,
    org: &str,
    conn: &str,
) -> Result<(), CredentialsError> {
    environment_of(store, org, conn).await?;
    let Some(current) = store
        .credential(org, conn)
        .await?
        .filter(|r| r.form != CredentialForm::Removed)
    else {
        return Err(CredentialsError::NotFound("credential"));
    };
    let removed = CredentialRecord {
        version: current.version + 1,
        form: CredentialForm::Removed,
        body: String::new(),
        updated_at: crate::identity::now(),
        ..current.clone()
    };
    put(store, removed, current.version).await.map(|_| ())
}

/// Checks a customer-sealed credential's shape, and that it is sealed to
/// exactly the environment's trusted agent keys.
fn check_sealed(
    sealed: &SealedCredential,
    trusted: &[AgentPublicKey],
) -> Result<(), CredentialsError> {
    if sealed.recipients.is_empty() {
        return Err(CredentialsError::Invalid(
            "`recipients` must name at least one agent key".into(),
        ));
    }
    if sealed.recipients.len() > MAX_AGENT_KEYS {
        return Err(CredentialsError::Invalid(format!(
            "`recipients` has at most {MAX_AGENT_KEYS} entries"
        )));
    }
    let mut sealed_to = BTreeSet::new();
    for (i, recipient) in sealed.recipients.iter().enumerate() {
        let field = |name: &str| format!("`recipients[{i}].{name}`");
        let id = AgentKeyId::parse(&recipient.agent_key_id).ok_or_else(|| {
            CredentialsError::Invalid(format!(
                "{} must be an agent key id (agk_…)",
                field("agent_key_id")
            ))
        })?;
        if !sealed_to.insert(id.to_string()) {
            return Err(CredentialsError::Invalid(format!(
                "{} names {id} a second time",
                field("agent_key_id")
            )));
        }
        let enc = decode_base64url(&recipient.enc, "the encapsulated key")
            .map_err(|e| CredentialsError::Invalid(format!("{}: {e}", field("enc"))))?;
        if enc.len() != PUBLIC_KEY_LEN {
            return Err(CredentialsError::Invalid(format!(
                "{} must be {PUBLIC_KEY_LEN} bytes",
                field("enc")
            )));
        }
        let ciphertext = decode_base64url(&recipient.ciphertext, "the ciphertext")
            .map_err(|e| CredentialsError::Invalid(format!("{}: {e}", field("ciphertext"))))?;
        if ciphertext.len() < TAG_LEN || ciphertext.len() > MAX_CREDENTIAL_BYTES + TAG_LEN {
            return Err(CredentialsError::Invalid(format!(
                "{} must be {TAG_LEN} to {} bytes",
                field("ciphertext"),
                MAX_CREDENTIAL_BYTES + TAG_LEN
            )));
        }
    }
    let trusted: BTreeSet<String> = trusted.iter().map(|k| k.id().to_string()).collect();
    let missing: Vec<&String> = trusted.difference(&sealed_to).collect();
    let unknown: Vec<&String> = sealed_to.difference(&trusted).collect();
    if !unknown.is_empty() {
        return Err(refused(
            Refusal::RecipientsMismatch,
            format!(
                "sealed to agent key(s) {} that the environment does not trust; fetch its agent keys and seal again",
                join(&unknown)
            ),
        ));
    }
    if !missing.is_empty() {
        return Err(refused(
            Refusal::RecipientsMismatch,
            format!(
                "not sealed to the environment's agent key(s) {}; fetch its agent keys and seal again",
                join(&missing)
            ),
        ));
    }
    Ok(())
}

fn join(ids: &[&String]) -> String {
    ids.iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
