//! The policy snapshot (format 1) and the in-memory index checks are
//! answered from: bindings by subject and then by scope (so a check looks
//! up the few bindings that can cover its target, however many a subject
//! holds), roles as permission bit sets, connections by id with their
//! environment.

use serde::Deserialize;
use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a: a fast hash for the short ids the index is keyed by. Keys come
/// from the gateway's snapshot (random ids, administrator-chosen group
/// names), never from callers, so collision flooding is not a concern;
/// callers only look up.
#[derive(Default)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = hash;
    }
}

/// A map keyed by the index's ids.
type HashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<Fnv>>;

/// A map from an id to what is kept for it.
pub type IdMap<V> = HashMap<Box<str>, V>;

/// The snapshot layout this plugin reads.
pub const SNAPSHOT_FORMAT: u32 = 1;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    format: u32,
    version: u64,
    mfa_required: Vec<String>,
    roles: Vec<RoleDoc>,
    connections: Vec<ConnectionDoc>,
    bindings: Vec<BindingDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleDoc {
    id: String,
    org: Option<String>,
    permissions: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionDoc {
    id: String,
    org: String,
    environment: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BindingDoc {
    id: String,
    org: String,
    subject: String,
    role: String,
    scope: ScopeDoc,
}

#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum ScopeDoc {
    Organization,
    Environment { id: String },
    Connection { id: String },
}

/// Where a binding applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The whole organization.
    Organization,
    /// One environment and its connections.
    Environment(Box<str>),
    /// One connection.
    Connection(Box<str>),
}

/// A set of permissions: every action (`*`), or some of the named ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Grants {
    all: bool,
    /// One bit per action, in 64-bit words: a `u128` shift is a library
    /// call in a Wasm guest, a `u64` one a single instruction.
    words: [u64; GRANT_WORDS],
}

/// How many 64-bit words of action bits a grant set holds.
const GRANT_WORDS: usize = 2;

/// How many distinct permissions a snapshot may name.
const MAX_ACTIONS: u32 = 64 * GRANT_WORDS as u32;

impl Grants {
    /// Adds what `other` grants.
    fn add(&mut self, other: Grants) {
        self.all |= other.all;
        for (word, more) in self.words.iter_mut().zip(other.words) {
            *word |= more;
        }
    }

    /// Whether the set holds the action of bit `bit` (`None`: an action no
    /// role names, which only `*` covers).
    pub fn holds(&self, bit: Option<u32>) -> bool {
        self.all
            || bit.is_some_and(|b| {
                self.words
                    .get(b as usize / 64)
                    .is_some_and(|word| word >> (b % 64) & 1 == 1)
            })
    }

    /// Adds the action of bit `bit` (below [`MAX_ACTIONS`]).
    fn insert(&mut self, bit: u32) {
        if let Some(word) = self.words.get_mut(bit as usize / 64) {
            *word |= 1 << (bit % 64);
        }
    }
}

/// One binding, indexed.
#[derive(Debug, Clone)]
pub struct Binding {
    /// Its id.
    pub id: Box<str>,
    /// Its organization.
    pub org: Box<str>,
    /// The role's id.
    pub role: Box<str>,
    /// What the role grants.
    pub grants: Grants,
    /// Where.
    pub scope: Scope,
}

/// The bindings one subject holds, by the scope they apply to.
#[derive(Debug, Default)]
pub struct Held {
    /// Organization-scope bindings, in snapshot order.
    pub organization: Vec<Binding>,
    /// Environment-scope bindings by environment id.
    pub environments: IdMap<Vec<Binding>>,
    /// Connection-scope bindings by connection id.
    pub connections: IdMap<Vec<Binding>>,
    /// Per organization, everything the subject's bindings grant anywhere
    /// in it (to tell "granted, but on another scope" from "not granted").
    anywhere: Vec<(Box<str>, Grants)>,
}

impl Held {
    fn add(&mut self, binding: Binding) {
        match self
            .anywhere
            .iter_mut()
            .find(|(org, _)| *org == binding.org)
        {
            Some((_, grants)) => grants.add(binding.grants),
            None => self.anywhere.push((binding.org.clone(), binding.grants)),
        }
        let list = match &binding.scope {
            Scope::Organization => &mut self.organization,
            Scope::Environment(id) => self.environments.entry(id.clone()).or_default(),
            Scope::Connection(id) => self.connections.entry(id.clone()).or_default(),
        };
        list.push(binding);
    }

    /// Everything the subject's bindings in `org` grant, on any scope.
    pub fn anywhere_in(&self, org: &str) -> Grants {
        self.anywhere
            .iter()
            .find(|(o, _)| &**o == org)
            .map_or_else(Grants::default, |(_, grants)| *grants)
    }
}

/// The index.
#[derive(Debug, Default)]
pub struct Policy {
    /// The snapshot version.
    pub version: u64,
    actions: HashMap<Box<str>, u32>,
    mfa: Grants,
    users: HashMap<Box<str>, Held>,
    groups: HashMap<Box<str>, Held>,
    api_keys: HashMap<Box<str>, Held>,
    connections: HashMap<Box<str>, (Box<str>, Box<str>)>,
}

/// What a subject holds when it holds nothing.
static NOTHING: std::sync::LazyLock<Held> = std::sync::LazyLock::new(Held::default);

impl Policy {
    /// Parses and indexes a snapshot.
    pub fn parse(json: &str) -> Result<Self, String> {
        let doc: Document = serde_json::from_str(json).map_err(|e| format!("snapshot: {e}"))?;
        if doc.format != SNAPSHOT_FORMAT {
            return Err(format!(
                "snapshot format {} is not the supported {SNAPSHOT_FORMAT}",
                doc.format
            ));
        }
        let mut policy = Policy {
            version: doc.version,
            ..Policy::default()
        };
        policy.mfa = policy.grants_of(&doc.mfa_required)?;
        // Roles by (organization, id); predefined roles have none.
        let mut roles: HashMap<(Option<&str>, &str), Grants> = HashMap::default();
        for role in &doc.roles {
            let grants = policy.grants_of(&role.permissions)?;
            roles.insert((role.org.as_deref(), role.id.as_str()), grants);
        }
        for conn in doc.connections {
            policy.connections.insert(
                conn.id.into_boxed_str(),
                (conn.org.into_boxed_str(), conn.environment.into_boxed_str()),
            );
        }
        for binding in doc.bindings {
            let grants = roles
                .get(&(Some(binding.org.as_str()), binding.role.as_str()))
                .or_else(|| roles.get(&(None, binding.role.as_str())));
            // A binding to a role that does not exist grants nothing.
            let Some(grants) = grants.copied() else {
                continue;
            };
            let Some((kind, id)) = binding.subject.split_once(':') else {
                continue;
            };
            let map = match kind {
                "user" => &mut policy.users,
                "group" => &mut policy.groups,
                "api_key" => &mut policy.api_keys,
                _ => continue,
            };
            let scope = match binding.scope {
                ScopeDoc::Organization => Scope::Organization,
                ScopeDoc::Environment { id } => Scope::Environment(id.into_boxed_str()),
                ScopeDoc::Connection { id } => Scope::Connection(id.into_boxed_str()),
            };
            map.entry(id.into()).or_default().add(Binding {
                id: binding.id.into_boxed_str(),
                org: binding.org.into_boxed_str(),
                role: binding.role.into_boxed_str(),
                grants,
                scope,
            });
        }
        Ok(policy)
    }

    fn grants_of(&mut self, permissions: &[String]) -> Result<Grants, String> {
        let mut grants = Grants::default();
        for permission in permissions {
            if permission == "*" {
                grants.all = true;
                continue;
            }
            let next = u32::try_from(self.actions.len()).unwrap_or(u32::MAX);
            let bit = *self
                .actions
                .entry(permission.as_str().into())
                .or_insert(next);
            if bit >= MAX_ACTIONS {
                return Err(format!(
                    "the snapshot names more than {MAX_ACTIONS} distinct permissions"
                ));
            }
            grants.insert(bit);
        }
        Ok(grants)
    }

    /// The bit of `action`, if any role names it.
    pub fn action_bit(&self, action: &str) -> Option<u32> {
        self.actions.get(action).copied()
    }

    /// Whether `action` (of bit `bit`) needs the second factor.
    pub fn needs_mfa(&self, bit: Option<u32>) -> bool {
        self.mfa.holds(bit)
    }

    /// Bindings of a directory user.
    pub fn user_bindings(&self, id: &str) -> &Held {
        self.users.get(id).unwrap_or(&NOTHING)
    }

    /// Bindings of a group.
    pub fn group_bindings(&self, name: &str) -> &Held {
        self.groups.get(name).unwrap_or(&NOTHING)
    }

    /// Bindings of an API key.
    pub fn api_key_bindings(&self, id: &str) -> &Held {
        self.api_keys.get(id).unwrap_or(&NOTHING)
    }

    /// The environment of connection `id` in organization `org`.
    pub fn environment_of(&self, org: &str, id: &str) -> Option<&str> {
        self.connections
            .get(id)
            .filter(|(o, _)| &**o == org)
            .map(|(_, env)| &**env)
    }
}
