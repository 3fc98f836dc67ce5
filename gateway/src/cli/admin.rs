//! `portcullis admin`: users and API keys for operators without a browser.
//!
//! It opens the same data directory, store and plugins as `serve` and goes
//! through the same identity service, so every rule (password policy, key
//! lifetimes) applies. Secrets it creates are printed once on stdout.

use super::serve::ConfigSource;
use crate::identity::{IdentityError, NewApiKey, NewUser, now};
use crate::server::Core;
use crate::store::{ApiKeyRecord, UserChanges, UserRecord};
use anyhow::Context as _;
use secrecy::ExposeSecret;
use std::process::ExitCode;

/// Arguments of `portcullis admin`.
#[derive(Debug, clap::Args)]
pub struct AdminArgs {
    /// Configuration.
    #[command(flatten)]
    source: ConfigSource,
    /// Organization to work in.
    #[arg(long, default_value = "org_default")]
    org: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// What to do.
    #[command(subcommand)]
    command: AdminCommand,
}

/// Admin subcommands.
#[derive(Debug, clap::Subcommand)]
enum AdminCommand {
    /// Users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// API keys.
    #[command(subcommand, name = "api-keys")]
    ApiKeys(ApiKeysCommand),
}

#[derive(Debug, clap::Subcommand)]
enum UsersCommand {
    /// List the organization's users.
    List,
    /// Create a user with a one-time password (printed once).
    Create {
        /// Email (login name).
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Group (repeatable).
        #[arg(long = "group")]
        groups: Vec<String>,
    },
    /// Disable a user and end their sessions.
    Disable {
        /// The user's email.
        email: String,
    },
    /// Enable a disabled user.
    Enable {
        /// The user's email.
        email: String,
    },
    /// Delete a user with their sessions and API keys.
    Delete {
        /// The user's email.
        email: String,
    },
    /// Set a new one-time password (printed once).
    ResetPassword {
        /// The user's email.
        email: String,
    },
    /// Remove the user's second factors.
    ResetMfa {
        /// The user's email.
        email: String,
    },
    /// Let the user act across organizations (list and create them).
    GrantPlatformOperator {
        /// The user's email.
        email: String,
    },
    /// Withdraw the platform-operator capability.
    RevokePlatformOperator {
        /// The user's email.
        email: String,
    },
}

#[derive(Debug, clap::Subcommand)]
enum ApiKeysCommand {
    /// List API keys, optionally of one owner.
    List {
        /// Owner's email.
        #[arg(long)]
        owner: Option<String>,
    },
    /// Create a key (printed once).
    Create {
        /// Owner's email.
        #[arg(long)]
        owner: String,
        /// A name to recognise it by.
        #[arg(long)]
        name: String,
        /// Lifetime: `90d`, `12h`, `30m` or `600s`.
        #[arg(long, value_parser = parse_lifetime)]
        expires_in: i64,
        /// Group the key is limited to (repeatable; default: the owner's).
        #[arg(long = "scope")]
        scope: Vec<String>,
    },
    /// Revoke a key by id.
    Revoke {
        /// The key id (the part after `pcs_`).
        id: String,
    },
}

/// Parses `90d`, `12h`, `30m` or `600s` into seconds.
fn parse_lifetime(text: &str) -> Result<i64, String> {
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let multiplier = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err("expected a number and a unit: `90d`, `12h`, `30m` or `600s`".into()),
    };
    number
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .map(|n| n.saturating_mul(multiplier))
        .ok_or_else(|| "expected a positive number before the unit".into())
}

fn user_line(user: &UserRecord) -> String {
    format!(
        "{}\t{}\t{}\t{}{}",
        user.id,
        user.email,
        user.groups.join(","),
        if user.disabled { "disabled" } else { "active" },
        if user.password_must_change {
            "\tmust-change-password"
        } else {
            ""
        }
    )
}

fn key_line(key: &ApiKeyRecord) -> String {
    let now = now();
    let status = if key.revoked_at.is_some() {
        "revoked"
    } else if now >= key.expires_at {
        "expired"
    } else if key.expires_at - now <= 7 * 86_400 {
        "expiring-soon"
    } else {
        "active"
    };
    format!(
        "{}\t{}\t{}\texpires_at={}\t{status}",
        key.id, key.name, key.owner_id, key.expires_at
    )
}

/// Runs an admin subcommand. Its changes are recorded in the audit log
/// with the actor `cli:admin`, and are signed before it exits.
pub async fn run(args: AdminArgs) -> anyhow::Result<ExitCode> {
    let mut config = args.source.load()?;
    // Standard output is this command's answer (`--json` is read by
    // scripts): a stdout audit sink would mix records into it. The
    // records are in the store either way.
    config
        .audit
        .sinks
        .retain(|sink| sink.kind != crate::config::AuditSinkKind::Stdout);
    let core = Core::open(&config)
        .await
        .context("cannot open the gateway's data")?;
    let context = crate::audit::context::Context {
        actor: "cli:admin".into(),
        ..crate::audit::context::Context::system()
    };
    let result = crate::audit::context::scope(context, run_on(&core, args)).await;
    core.close().await;
    result
}

async fn run_on(core: &Core, args: AdminArgs) -> anyhow::Result<ExitCode> {
    let identity = &core.identity;
    identity.ensure_default_org().await?;
    let org = args.org.as_str();
    let print = |text: String, json: serde_json::Value| {
        if args.json {
            println!("{json}");
        } else {
            println!("{text}");
        }
    };
    let by_email = |email: String| async move {
        let user = identity.user_by_email(&email).await?;
        if user.org_id != org {
            return Err(IdentityError::NotFound("user"));
        }
        Ok::<_, IdentityError>(user)
    };
    let set = |email: String, changes: UserChanges| async move {
        let user = by_email(email).await?;
        let user = identity.update_user(org, &user.id, &changes).await?;
        print(user_line(&user), serde_json::to_value(&user)?);
        Ok::<_, anyhow::Error>(())
    };
    match args.command {
        AdminCommand::Users(command) => match command {
            UsersCommand::List => {
                let users = identity.list_users(org).await?;
                let text = users.iter().map(user_line).collect::<Vec<_>>().join("\n");
                print(text, serde_json::to_value(&users)?);
            }
            UsersCommand::Create {
                email,
                name,
                groups,
            } => {
                let (user, password) = identity
                    .create_user(
                        org,
                        NewUser {
                            email,
                            display_name: name,
                            groups,
                            password: None,
                            password_temporary: false,
                        },
                    )
                    .await?;
                let password = password
                    .map(|p| p.expose_secret().to_string())
                    .unwrap_or_default();
                print(
                    format!(
                        "{}\none-time password (shown once; must be changed at first sign-in): {password}",
                        user_line(&user)
                    ),
                    serde_json::json!({"user": user, "one_time_password": password}),
                );
            }
            UsersCommand::Disable { email } => {
                let changes = UserChanges {
                    disabled: Some(true),
                    ..UserChanges::default()
                };
                set(email, changes).await?;
            }
            UsersCommand::Enable { email } => {
                let changes = UserChanges {
                    disabled: Some(false),
                    ..UserChanges::default()
                };
                set(email, changes).await?;
            }
            UsersCommand::GrantPlatformOperator { email } => {
                let changes = UserChanges {
                    platform_operator: Some(true),
                    ..UserChanges::default()
                };
                set(email, changes).await?;
            }
            UsersCommand::RevokePlatformOperator { email } => {
                let changes = UserChanges {
                    platform_operator: Some(false),
                    ..UserChanges::default()
                };
                set(email, changes).await?;
            }
            UsersCommand::Delete { email } => {
                let user = by_email(email).await?;
                identity.delete_user(org, &user.id).await?;
                print(
                    format!("deleted {}", user.id),
                    serde_json::json!({"deleted": user.id}),
                );
            }
            UsersCommand::ResetPassword { email } => {
                let user = by_email(email).await?;
                let password = identity.reset_password(org, &user.id).await?;
                print(
                    format!(
                        "one-time password (shown once; must be changed at first sign-in): {}",
                        password.expose_secret()
                    ),
                    serde_json::json!({"user_id": user.id, "one_time_password": password.expose_secret()}),
                );
            }
            UsersCommand::ResetMfa { email } => {
                let user = by_email(email).await?;
                identity.reset_mfa(org, &user.id).await?;
                print(
                    format!("second factors removed for {}", user.id),
                    serde_json::json!({"reset": user.id}),
                );
            }
        },
        AdminCommand::ApiKeys(command) => match command {
            ApiKeysCommand::List { owner } => {
                let owner = match owner {
                    Some(email) => Some(by_email(email).await?.id),
                    None => None,
                };
                let keys = identity.list_api_keys(org, owner.as_deref()).await?;
                let text = keys.iter().map(key_line).collect::<Vec<_>>().join("\n");
                let json: Vec<_> = keys
                    .iter()
                    .map(|k| serde_json::json!({"id": k.id, "name": k.name, "owner_id": k.owner_id, "scope": k.scope, "created_at": k.created_at, "expires_at": k.expires_at, "last_used_at": k.last_used_at, "revoked_at": k.revoked_at}))
                    .collect();
                print(text, serde_json::Value::Array(json));
            }
            ApiKeysCommand::Create {
                owner,
                name,
                expires_in,
                scope,
            } => {
                let owner = by_email(owner).await?;
                let new = NewApiKey {
                    name,
                    owner_id: owner.id.clone(),
                    scope: (!scope.is_empty()).then_some(scope),
                    expires_at: now().saturating_add(expires_in),
                };
                let (record, key) = identity
                    .create_api_key(org, "portcullis-admin", new)
                    .await?;
                print(
                    format!(
                        "{}\nkey (shown once): {}",
                        key_line(&record),
                        key.expose_secret()
                    ),
                    serde_json::json!({"id": record.id, "expires_at": record.expires_at, "key": key.expose_secret()}),
                );
            }
            ApiKeysCommand::Revoke { id } => {
                identity.revoke_api_key(org, &id, None).await?;
                print(format!("revoked {id}"), serde_json::json!({"revoked": id}));
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_parse_with_units_only() {
        assert_eq!(parse_lifetime("90d"), Ok(90 * 86_400));
        assert_eq!(parse_lifetime("12h"), Ok(43_200));
        assert_eq!(parse_lifetime("30m"), Ok(1_800));
        assert_eq!(parse_lifetime("600s"), Ok(600));
        for bad in ["", "90", "d", "-1d", "0d", "1w", "1.5h"] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
    }
}
