//! Key providers through the gateway's plugin host: `keys-aws-kms`
//! against AWS KMS (moto on loopback) — GenerateDataKey and Decrypt with
//! an encryption context, Encrypt of a key the gateway made, a wrong
//! context or a tampered blob refused — `keys-azure` against the Key
//! Vault double (wrapKey/unwrapKey with RSA-OAEP-256, the context bound
//! inside what is wrapped, a rotated key still unwrapping what its older
//! version wrapped), and `keys-local`, whose `generate-key` is the SDK's
//! default.

use portcullis::config::{AuthConfig, PluginConfig};
use portcullis::metrics::Metrics;
use portcullis::plugin::{Attribute, GuestError, PluginEngine, PluginRegistry};
use portcullis::store::Store;
use portcullis_tests::aws::{ACCESS_KEY_ID, Moto, REGION, SECRET_ACCESS_KEY};
use portcullis_tests::azure::{CLIENT_SECRET, KeyVault};
use portcullis_tests::paths;
use std::collections::BTreeMap;

fn context(pairs: &[(&str, &str)]) -> Vec<Attribute> {
    pairs
        .iter()
        .map(|(name, value)| Attribute {
            name: (*name).into(),
            value: (*value).into(),
        })
        .collect()
}

/// The plugins loaded as the gateway loads them, or why not.
async fn try_registry(
    plugins: BTreeMap<String, PluginConfig>,
) -> Result<PluginRegistry, portcullis::plugin::PluginLoadError> {
    let auth = AuthConfig {
        authorizer: None,
        providers: Vec::new(),
        shadow_authorizer: None,
    };
    PluginRegistry::load(
        PluginEngine::new().expect("engine"),
        &plugins,
        &auth,
        Store::open_in_memory().await.expect("store"),
        Metrics::new(),
    )
    .await
}

/// Why plugin `name` with `config` does not load; `what` names the case
/// if it loads after all.
async fn refusal(name: &str, config: PluginConfig, what: &str) -> String {
    try_registry(BTreeMap::from([(name.to_string(), config)]))
        .await
        .err()
        .unwrap_or_else(|| panic!("{what}: the plugin started"))
        .to_string()
}

async fn registry(plugins: BTreeMap<String, PluginConfig>) -> PluginRegistry {
    try_registry(plugins)
        .await
        .unwrap_or_else(|e| panic!("plugins load: {e}"))
}

fn kms_plugin(moto: &Moto, key_id: &str) -> PluginConfig {
    let mut config = PluginConfig::new(
        paths::component("keys_aws_kms"),
        toml::from_str(&format!(
            r#"
            region = "{REGION}"
            key_id = "{key_id}"
            endpoint_url = "{endpoint}"
            access_key_id = "{ACCESS_KEY_ID}"
            secret_access_key = "{SECRET_ACCESS_KEY}"
            max_attempts = 1
            "#,
            endpoint = moto.endpoint
        ))
        .unwrap(),
    );
    config.allow_hosts = vec![format!("http://{}", moto.authority())];
    config.deadline_ms = 10_000;
    config
}

#[tokio::test]
async fn kms_data_keys_are_bound_to_their_encryption_context() {
    let moto = Moto::shared();
    let key_arn = moto.create_key("portcullis test").await;
    let registry = registry(BTreeMap::from([(
        "kms".to_string(),
        kms_plugin(moto, &key_arn),
    )]))
    .await;
    let kms = registry.key_provider("kms").expect("a key provider");
    let record = context(&[("table", "users"), ("org", "org_a"), ("id", "usr_1")]);

    // GenerateDataKey, then Decrypt with the same context.
    let generated = kms.generate_key(&record).await.unwrap().unwrap();
    assert_eq!(generated.plaintext.len(), 32);
    assert_eq!(generated.wrapped.key_id, key_arn);
    assert_ne!(generated.wrapped.ciphertext, generated.plaintext);
    let unwrapped = kms
        .unwrap_key(&generated.wrapped, &record)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unwrapped, generated.plaintext);

    // Another context (another row, another organization) is refused.
    for wrong in [
        context(&[("table", "users"), ("org", "org_b"), ("id", "usr_1")]),
        context(&[("table", "users"), ("org", "org_a"), ("id", "usr_2")]),
        context(&[("table", "users"), ("org", "org_a")]),
    ] {
        let refused = kms.unwrap_key(&generated.wrapped, &wrong).await.unwrap();
        assert!(
            matches!(&refused, Err(GuestError::InvalidInput(why)) if why.contains("InvalidCiphertextException")),
            "{refused:?}"
        );
    }
    // A tampered blob is refused.
    let mut tampered = generated.wrapped.clone();
    let last = tampered.ciphertext.len() - 1;
    tampered.ciphertext[last] ^= 1;
    assert!(kms.unwrap_key(&tampered, &record).await.unwrap().is_err());

    // Encrypt of a key the gateway made round-trips the same way.
    let own = [7u8; 32];
    let wrapped = kms.wrap_key(&own, &record).await.unwrap().unwrap();
    assert_eq!(
        kms.unwrap_key(&wrapped, &record).await.unwrap().unwrap(),
        own
    );

    // A key that does not exist is "not found"; nothing secret is echoed.
    let registry = registry_with_missing_key(moto).await;
    let missing = registry.key_provider("kms").unwrap();
    let refused = missing.generate_key(&record).await.unwrap();
    assert!(matches!(refused, Err(GuestError::NotFound)), "{refused:?}");
}

async fn registry_with_missing_key(moto: &Moto) -> PluginRegistry {
    let absent =
        format!("arn:aws:kms:{REGION}:123456789012:key/00000000-0000-0000-0000-000000000000");
    registry(BTreeMap::from([(
        "kms".to_string(),
        kms_plugin(moto, &absent),
    )]))
    .await
}

fn azure_keys_plugin(vault: &KeyVault, key_name: &str) -> PluginConfig {
    let mut config = PluginConfig::new(
        paths::component("keys_azure"),
        toml::from_str(&format!(
            "{}key_name = \"{key_name}\"\n",
            vault.settings(CLIENT_SECRET)
        ))
        .unwrap(),
    );
    config.allow_hosts = vec![vault.authority().to_string()];
    config.ca_bundles = vec![vault.ca_file.clone()];
    config.deadline_ms = 10_000;
    config
}

#[tokio::test]
async fn key_vault_rsa_keys_wrap_data_keys_bound_to_their_context() {
    let vault = KeyVault::shared();
    let first_version = vault.create_key("portcullis-kek").await;
    let loaded = registry(BTreeMap::from([(
        "vault".to_string(),
        azure_keys_plugin(vault, "portcullis-kek"),
    )]))
    .await;
    let keys = loaded.key_provider("vault").expect("a key provider");
    let record = context(&[("table", "users"), ("org", "org_a"), ("id", "usr_1")]);
    let before = vault.stats().await;

    // The SDK's default: host randomness, then wrapKey.
    let generated = keys.generate_key(&record).await.unwrap().unwrap();
    assert_eq!(generated.plaintext.len(), 32);
    assert_eq!(
        generated.wrapped.key_id,
        format!("{}/keys/portcullis-kek/{first_version}", vault.vault_url),
        "the wrapped key names the key version that wrapped it"
    );
    assert_eq!(generated.wrapped.ciphertext.len(), 256, "RSA-2048");
    assert_eq!(
        keys.unwrap_key(&generated.wrapped, &record)
            .await
            .unwrap()
            .unwrap(),
        generated.plaintext
    );
    let after = vault.stats().await;
    assert_eq!(after.wraps, before.wraps + 1, "wrapKey went to the vault");
    assert_eq!(
        after.unwraps,
        before.unwraps + 1,
        "unwrapKey went to the vault"
    );

    // Another row, organization or table: refused, though the vault
    // decrypted it (the context is bound inside what was wrapped).
    for wrong in [
        context(&[("table", "users"), ("org", "org_b"), ("id", "usr_1")]),
        context(&[("table", "users"), ("org", "org_a"), ("id", "usr_2")]),
        context(&[("table", "users"), ("org", "org_a")]),
    ] {
        let refused = keys.unwrap_key(&generated.wrapped, &wrong).await.unwrap();
        assert!(
            matches!(refused, Err(GuestError::InvalidCredentials)),
            "{refused:?}"
        );
    }
    // A tampered blob: the vault cannot decrypt it.
    let mut tampered = generated.wrapped.clone();
    tampered.ciphertext[10] ^= 1;
    let refused = keys.unwrap_key(&tampered, &record).await.unwrap();
    assert!(
        matches!(&refused, Err(GuestError::InvalidInput(why)) if why.contains("BadParameter")),
        "{refused:?}"
    );
    // A key id of another vault is not sent anywhere.
    let mut elsewhere = generated.wrapped.clone();
    elsewhere.key_id = "https://attacker.example/keys/portcullis-kek/0123".into();
    let refused = keys.unwrap_key(&elsewhere, &record).await.unwrap();
    assert!(matches!(refused, Err(GuestError::NotFound)), "{refused:?}");

    // The key is rotated in the vault: new data keys are wrapped by the new
    // version, older ones still unwrap with the version that wrapped them.
    let second_version = vault.create_key("portcullis-kek").await;
    let newer = keys.generate_key(&record).await.unwrap().unwrap();
    assert!(
        newer.wrapped.key_id.ends_with(&second_version),
        "{}",
        newer.wrapped.key_id
    );
    assert_eq!(
        keys.unwrap_key(&generated.wrapped, &record)
            .await
            .unwrap()
            .unwrap(),
        generated.plaintext
    );

    // A key the vault does not have is "not found".
    let absent = registry(BTreeMap::from([(
        "vault".to_string(),
        azure_keys_plugin(vault, "no-such-key"),
    )]))
    .await;
    let missing = absent.key_provider("vault").unwrap();
    let refused = missing.generate_key(&record).await.unwrap();
    assert!(matches!(refused, Err(GuestError::NotFound)), "{refused:?}");
}

#[tokio::test]
async fn a_local_key_provider_generates_keys_with_the_sdks_default() {
    let config = PluginConfig::new(
        paths::component("keys_local"),
        toml::from_str(&format!(
            "key_id = \"local-1\"\nkey_hex = \"{}\"",
            "ab".repeat(32)
        ))
        .unwrap(),
    );
    let registry = registry(BTreeMap::from([("keys".to_string(), config)])).await;
    let keys = registry.key_provider("keys").unwrap();
    let record = context(&[("table", "roles"), ("id", "rol_1")]);
    let first = keys.generate_key(&record).await.unwrap().unwrap();
    let second = keys.generate_key(&record).await.unwrap().unwrap();
    assert_eq!(first.plaintext.len(), 32);
    assert_ne!(
        first.plaintext, second.plaintext,
        "fresh randomness each time"
    );
    assert_eq!(
        keys.unwrap_key(&first.wrapped, &record)
            .await
            .unwrap()
            .unwrap(),
        first.plaintext
    );
    let elsewhere = context(&[("table", "roles"), ("id", "rol_2")]);
    assert!(
        keys.unwrap_key(&first.wrapped, &elsewhere)
            .await
            .unwrap()
            .is_err()
    );
}

#[tokio::test]
async fn an_aws_plugin_refuses_settings_it_does_not_know() {
    let moto = Moto::shared();
    for (name, component, extra) in [
        (
            "kms",
            "keys_aws_kms",
            "key_id = \"alias/x\"\nregoin = \"eu-west-1\"",
        ),
        ("aws", "secrets_aws", "regoin = \"eu-west-1\""),
    ] {
        let mut config = kms_plugin(moto, "alias/x");
        config.path = paths::component(component);
        config.config = toml::from_str(&format!(
            "region = \"{REGION}\"\naccess_key_id = \"a\"\nsecret_access_key = \"b\"\n{extra}"
        ))
        .unwrap();
        let refused = refusal(name, config, component).await;
        assert!(refused.contains("regoin"), "{component}: {refused}");
    }
}

#[tokio::test]
async fn an_azure_plugin_refuses_settings_it_does_not_know_or_cannot_use() {
    let vault = KeyVault::shared();
    for (component, extra, expected) in [
        (
            "keys_azure",
            "key_name = \"k\"\nvault_uri = \"x\"",
            "unknown field `vault_uri`",
        ),
        (
            "secrets_azure",
            "vault_uri = \"x\"",
            "unknown field `vault_uri`",
        ),
        ("keys_azure", "", "`key_name` is required"),
        (
            "secrets_azure",
            "max_attempts = 9",
            "`max_attempts` must be 1 to 5",
        ),
        (
            "secrets_azure",
            "client_secret = [\"s3cr3t-in-a-list\"]",
            "config key `client_secret`: expected a string",
        ),
    ] {
        let mut config = azure_keys_plugin(vault, "k");
        config.path = paths::component(component);
        let mut settings = vault.settings(CLIENT_SECRET);
        if extra.starts_with("client_secret") {
            settings = settings.replace(&format!("client_secret = \"{CLIENT_SECRET}\"\n"), "");
        }
        config.config = toml::from_str(&format!("{settings}{extra}\n")).unwrap();
        let text = refusal("azure", config, &format!("{component} with `{extra}`")).await;
        assert!(text.contains(expected), "{component}: {text}");
        assert!(
            !text.contains("s3cr3t") && !text.contains(CLIENT_SECRET),
            "{text}"
        );
    }
}
