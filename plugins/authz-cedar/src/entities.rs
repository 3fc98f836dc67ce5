//! The Cedar request and entities of one check, from the gateway's request
//! and the resource tree of its policy snapshot.

use cedar_policy::{
    Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, Request, RestrictedExpression,
};
use portcullis_sdk::CheckRequest;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::str::FromStr;

/// Which environment each connection is in, by organization.
#[derive(Debug, Default)]
pub struct Tree {
    connections: HashMap<String, (String, String)>,
}

#[derive(Deserialize)]
struct Snapshot {
    format: u32,
    version: u64,
    connections: Vec<SnapshotConnection>,
}

#[derive(Deserialize)]
struct SnapshotConnection {
    id: String,
    org: String,
    environment: String,
}

impl Tree {
    /// The tree and version of a gateway snapshot (format 1); roles and
    /// bindings are `authz-rbac`'s and are ignored here.
    pub fn from_snapshot(json: &str) -> Result<(Self, u64), String> {
        let snapshot: Snapshot =
            serde_json::from_str(json).map_err(|e| format!("snapshot: {e}"))?;
        if snapshot.format != 1 {
            return Err(format!(
                "snapshot format {} is not the supported 1",
                snapshot.format
            ));
        }
        let connections = snapshot
            .connections
            .into_iter()
            .map(|c| (c.id, (c.org, c.environment)))
            .collect();
        Ok((Self { connections }, snapshot.version))
    }

    /// Adds a connection (tests).
    pub fn insert(&mut self, id: &str, org: &str, environment: &str) {
        self.connections
            .insert(id.into(), (org.into(), environment.into()));
    }

    fn environment_of(&self, org: &str, id: &str) -> Option<&str> {
        self.connections
            .get(id)
            .filter(|(o, _)| o == org)
            .map(|(_, env)| env.as_str())
    }
}

fn uid(kind: &str, id: &str) -> Result<EntityUid, String> {
    let kind = EntityTypeName::from_str(kind).map_err(|e| e.to_string())?;
    Ok(EntityUid::from_type_name_and_id(kind, EntityId::new(id)))
}

/// The entities a resource name stands for, from the organization down;
/// the last is the request's resource.
struct Chain {
    entities: Vec<(EntityUid, Option<EntityUid>)>,
    /// The organization, for resources named under `orgs/`.
    org: Option<String>,
}

impl Chain {
    fn push(&mut self, kind: &str, id: &str) -> Result<(), String> {
        let this = uid(kind, id)?;
        let parent = self.entities.last().map(|(uid, _)| uid.clone());
        self.entities.push((this, parent));
        Ok(())
    }
}

/// What `resource` names: `Org`, then `Environment` and `Connection` as
/// far as the name and the tree say, and a `Resource` below the deepest
/// when the name goes further.
fn chain(tree: &Tree, resource: &str) -> Result<Chain, String> {
    let Some(rest) = resource.strip_prefix("orgs/") else {
        let mut chain = Chain {
            entities: Vec::new(),
            org: None,
        };
        chain.push("Resource", resource)?;
        return Ok(chain);
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let org = segments[0];
    if org.is_empty() {
        return Err("the resource names an empty organization".into());
    }
    let mut chain = Chain {
        entities: Vec::new(),
        org: Some(org.to_string()),
    };
    chain.push("Org", org)?;
    let exact = match &segments[1..] {
        [] => true,
        // A connection named under an environment it is not in names
        // neither: the resource sits directly in the organization (below).
        ["environments", env, "connections", conn, rest @ ..]
            if !env.is_empty()
                && !conn.is_empty()
                && tree.environment_of(org, conn) == Some(*env) =>
        {
            chain.push("Environment", env)?;
            chain.push("Connection", conn)?;
            rest.is_empty()
        }
        ["environments", env, "connections", conn, ..] if !env.is_empty() && !conn.is_empty() => {
            false
        }
        ["environments", env, rest @ ..] if !env.is_empty() => {
            chain.push("Environment", env)?;
            rest.is_empty()
        }
        ["connections", conn, rest @ ..] if !conn.is_empty() => {
            if let Some(env) = tree.environment_of(org, conn) {
                chain.push("Environment", env)?;
            }
            chain.push("Connection", conn)?;
            rest.is_empty()
        }
        _ => false,
    };
    if !exact {
        chain.push("Resource", resource)?;
    }
    Ok(chain)
}

/// The Cedar request and the entities it is evaluated against.
pub fn request_and_entities(
    tree: &Tree,
    request: &CheckRequest<'_>,
) -> Result<(Request, Entities), String> {
    let principal = &request.principal;
    let who = uid("User", principal.user_id.unwrap_or(principal.subject))?;
    let groups = principal
        .groups
        .iter()
        .map(|g| uid("Group", g))
        .collect::<Result<HashSet<_>, _>>()?;
    // Only what belongs to an organization has an `org`: a policy reading
    // it does not apply to anything else (fail closed).
    let org_attr = |org: Option<&str>| -> HashMap<String, RestrictedExpression> {
        org.map(|org| {
            (
                "org".to_string(),
                RestrictedExpression::new_string(org.to_string()),
            )
        })
        .into_iter()
        .collect()
    };
    let mut entities = vec![
        Entity::new(who.clone(), org_attr(principal.organization), groups)
            .map_err(|e| e.to_string())?,
    ];
    let resource = chain(tree, request.resource)?;
    for (this, parent) in &resource.entities {
        entities.push(
            Entity::new(
                this.clone(),
                org_attr(resource.org.as_deref()),
                parent.iter().cloned().collect(),
            )
            .map_err(|e| e.to_string())?,
        );
    }
    let Some((target, _)) = resource.entities.last() else {
        return Err("the resource names nothing".into());
    };
    let context = Context::from_pairs([
        (
            "mfa".to_string(),
            RestrictedExpression::new_bool(principal.amr.contains("mfa")),
        ),
        (
            "api_key".to_string(),
            RestrictedExpression::new_bool(principal.api_key_id.is_some()),
        ),
    ])
    .map_err(|e| e.to_string())?;
    let cedar_request = Request::new(
        who,
        uid("Action", request.action)?,
        target.clone(),
        context,
        None,
    )
    .map_err(|e| e.to_string())?;
    let entities = Entities::from_entities(entities, None).map_err(|e| e.to_string())?;
    Ok((cedar_request, entities))
}
