//! The stored form of an event: the JSON that is hashed into the chain,
//! and the columns queries filter on (copies of fields of that JSON,
//! which `verify` checks against it).

use super::context::Context;
use super::event::{Event, SCHEMA_VERSION};
use serde::{Deserialize, Serialize};

/// The chain of events that belong to no organization.
pub const PLATFORM_CHAIN: &str = "platform";

/// An event with its envelope, captured when it happened, waiting for its
/// place in a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// When (Unix milliseconds).
    pub at: i64,
    /// The chain it goes into: its organization, or [`PLATFORM_CHAIN`].
    pub chain: String,
    /// Its organization.
    pub org: Option<String>,
    /// Who.
    pub actor: String,
    /// The event's name (`auth.failed`, `record.changed`, …).
    pub action: String,
    /// `success`, `failure` or `denied`.
    pub outcome: &'static str,
    /// What it is about.
    pub resource: Option<String>,
    /// From where.
    pub client: Option<String>,
    /// With what.
    pub user_agent: Option<String>,
    /// In which request.
    pub request_id: Option<String>,
    /// The event's own fields.
    pub details: serde_json::Value,
}

impl Pending {
    /// `event` as it happens now, in `context`.
    pub fn new(event: &Event, context: Context) -> Self {
        let envelope = event.envelope();
        let (action, details) = match serde_json::to_value(event) {
            Ok(serde_json::Value::Object(mut map)) => (
                map.remove("action")
                    .and_then(|a| a.as_str().map(str::to_string))
                    .unwrap_or_default(),
                map.remove("details").unwrap_or(serde_json::Value::Null),
            ),
            // Every variant serializes to an object; a change that broke
            // that would still be recorded, under a name that says so.
            _ => ("unserializable".into(), serde_json::Value::Null),
        };
        Self {
            at: now_millis(),
            chain: envelope
                .org
                .clone()
                .unwrap_or_else(|| PLATFORM_CHAIN.into()),
            org: envelope.org,
            actor: context.actor,
            action,
            outcome: envelope.outcome.as_str(),
            resource: envelope.resource,
            client: context.client,
            user_agent: context.user_agent,
            request_id: context.request_id,
            details,
        }
    }

    /// The JSON stored and hashed for this event at `seq` of its chain
    /// (the fields of [`Record`], in its order).
    pub fn to_record(&self, seq: i64) -> String {
        /// [`Record`], borrowed from the pending event.
        #[derive(Serialize)]
        struct Borrowed<'a> {
            v: u32,
            chain: &'a str,
            seq: i64,
            at: i64,
            org: Option<&'a str>,
            actor: &'a str,
            action: &'a str,
            outcome: &'a str,
            resource: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            client: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            user_agent: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            request_id: Option<&'a str>,
            details: &'a serde_json::Value,
        }
        let record = Borrowed {
            v: SCHEMA_VERSION,
            chain: &self.chain,
            seq,
            at: self.at,
            org: self.org.as_deref(),
            actor: &self.actor,
            action: &self.action,
            outcome: self.outcome,
            resource: self.resource.as_deref(),
            client: self.client.as_deref(),
            user_agent: self.user_agent.as_deref(),
            request_id: self.request_id.as_deref(),
            details: &self.details,
        };
        // Strings, integers and a JSON value always serialize.
        serde_json::to_string(&record).unwrap_or_default()
    }
}

/// One event as stored (schema [`SCHEMA_VERSION`]); documented in the
/// README's audit section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Schema version.
    pub v: u32,
    /// Chain: the organization id, or `platform`.
    pub chain: String,
    /// Position in the chain, from 1.
    pub seq: i64,
    /// Unix milliseconds.
    pub at: i64,
    /// Organization.
    pub org: Option<String>,
    /// Who.
    pub actor: String,
    /// Event name.
    pub action: String,
    /// `success`, `failure`, `denied`.
    pub outcome: String,
    /// What it is about.
    pub resource: Option<String>,
    /// Client address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Client `User-Agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The event's own fields.
    pub details: serde_json::Value,
}

/// Now, in Unix milliseconds.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
