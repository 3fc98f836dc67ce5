//! What a component is: which world it implements, against which version
//! of the WIT package, and whether this gateway can load it.

use std::fmt;
use wasmtime::Engine;
use wasmtime::component::Component;

/// The WIT package version this gateway implements.
pub const HOST_WIT_VERSION: &str = "0.1.0";

/// The WIT package every plugin is built against.
const PACKAGE: &str = "portcullis:plugin";

/// The plugin worlds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum World {
    /// `auth-provider`: interactive login and credential verification.
    AuthProvider,
    /// `authorizer`: policy decisions.
    Authorizer,
    /// `secrets-backend`: reading secrets.
    SecretsBackend,
    /// `key-provider`: wrapping data keys.
    KeyProvider,
}

impl World {
    /// Every world, in documentation order.
    pub const ALL: [World; 4] = [
        World::AuthProvider,
        World::Authorizer,
        World::SecretsBackend,
        World::KeyProvider,
    ];

    /// The world's WIT name.
    pub fn name(self) -> &'static str {
        match self {
            Self::AuthProvider => "auth-provider",
            Self::Authorizer => "authorizer",
            Self::SecretsBackend => "secrets-backend",
            Self::KeyProvider => "key-provider",
        }
    }

    /// The interface a component of this world exports.
    fn exported_interface(self) -> &'static str {
        match self {
            Self::AuthProvider => "authenticate",
            Self::Authorizer => "authorize",
            Self::SecretsBackend => "secrets",
            Self::KeyProvider => "keys",
        }
    }
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What `portcullis plugin inspect` reports about a component.
#[derive(Debug, Clone)]
pub struct ComponentInfo {
    /// The world, if the component exports a Portcullis interface.
    pub world: Option<World>,
    /// The WIT package version of that export.
    pub version: Option<String>,
    /// Export names.
    pub exports: Vec<String>,
    /// Import names.
    pub imports: Vec<String>,
}

/// Imported interfaces whose every function answers without waiting on
/// anything outside the instance, in this host: computation (`crypto`),
/// the plugin's own config, logging, randomness, the wall clock, and WASI
/// stdio, which here is a closed stdin and discarding sinks (so the
/// pollables it makes are always ready, and `wasi:io/poll` can only wait
/// on pollables some other interface makes). Names are without version.
const ANSWER_WITHOUT_WAITING: &[&str] = &[
    "portcullis:plugin/types",
    "portcullis:plugin/log",
    "portcullis:plugin/config",
    "portcullis:plugin/crypto",
    "wasi:io/poll",
    "wasi:io/error",
    "wasi:io/streams",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/stdin",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:clocks/wall-clock",
];

/// Splits `portcullis:plugin/iface@1.2.3` into `("iface", "1.2.3")`.
fn portcullis_item(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix(PACKAGE)?.strip_prefix('/')?;
    rest.split_once('@')
}

impl ComponentInfo {
    /// Reads a compiled component's imports and exports.
    pub fn of(engine: &Engine, component: &Component) -> Self {
        let ty = component.component_type();
        let exports: Vec<String> = ty
            .exports(engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let imports: Vec<String> = ty
            .imports(engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let found = exports.iter().find_map(|name| {
            let (iface, version) = portcullis_item(name)?;
            let world = World::ALL
                .into_iter()
                .find(|w| w.exported_interface() == iface)?;
            Some((world, version.to_string()))
        });
        Self {
            world: found.as_ref().map(|(w, _)| *w),
            version: found.map(|(_, v)| v),
            exports,
            imports,
        }
    }

    /// Whether a call may wait on the host without guest code running (it
    /// imports the key-value store, HTTP, timers or anything not known to
    /// answer at once), so that only a wall-clock timeout can bound it;
    /// otherwise the epoch deadline, which interrupts guest code, does.
    pub fn may_wait_on_host(&self) -> bool {
        self.imports.iter().any(|name| {
            let unversioned = name.split_once('@').map_or(name.as_str(), |(n, _)| n);
            !ANSWER_WITHOUT_WAITING.contains(&unversioned)
        })
    }

    /// The world, if this gateway can load the component; otherwise why not,
    /// naming what the component has and what the gateway supports.
    pub fn loadable(&self) -> Result<World, String> {
        let Some(world) = self.world else {
            return Err(format!(
                "the component exports no `{PACKAGE}` world interface (expected one of: {}); build it with portcullis-sdk",
                World::ALL
                    .map(|w| format!("{PACKAGE}/{}", w.exported_interface()))
                    .join(", ")
            ));
        };
        let mut versions: Vec<&str> = self.version.as_deref().into_iter().collect();
        versions.extend(
            self.imports
                .iter()
                .filter_map(|name| portcullis_item(name).map(|(_, v)| v)),
        );
        for version in versions {
            if !compatible(version) {
                return Err(format!(
                    "the component is built against {PACKAGE}@{version}, but this gateway supports {PACKAGE}@{HOST_WIT_VERSION} \
                     (compatible: same major version, or same minor for 0.x, and not newer)"
                ));
            }
        }
        Ok(world)
    }
}

/// Semver compatibility of a guest's package version with the host's.
fn compatible(guest: &str) -> bool {
    let (Ok(guest), Ok(host)) = (
        semver::Version::parse(guest),
        semver::Version::parse(HOST_WIT_VERSION),
    ) else {
        return false;
    };
    let same_line = if host.major == 0 {
        guest.major == 0 && guest.minor == host.minor
    } else {
        guest.major == host.major
    };
    same_line && guest <= host
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_compatibility_follows_semver() {
        assert!(compatible("0.1.0"));
        assert!(!compatible("0.2.0"));
        assert!(!compatible("9.0.0"));
        assert!(!compatible("not-a-version"));
    }

    #[test]
    fn incompatible_version_message_names_both_versions() {
        let info = ComponentInfo {
            world: Some(World::Authorizer),
            version: Some("9.0.0".into()),
            exports: vec!["portcullis:plugin/authorize@9.0.0".into()],
            imports: vec![],
        };
        let err = info.loadable().unwrap_err();
        assert!(err.contains("portcullis:plugin@9.0.0"), "{err}");
        assert!(
            err.contains(&format!("portcullis:plugin@{HOST_WIT_VERSION}")),
            "{err}"
        );
    }
}
