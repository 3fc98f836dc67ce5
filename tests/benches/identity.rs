//! Identity checks on the request path, and one password check.
//!
//! - `api_key/parse_and_verify`: parse + checksum + keyed hash comparison;
//! - `api_key/resolve`: what a request pays — the above plus the cached key
//!   record, revocation/expiry checks, the owner and the scope;
//! - `access_token/verify_*`: EdDSA signature + claims, cached and first
//!   time, against `baseline/ed25519_verify` (the bare signature check);
//! - `access_token/resolve`: what a request pays — verification plus the
//!   live-session and user checks (revocation, timeouts);
//! - `password/argon2id_login`: one password sign-in through the
//!   `authn-local` plugin (argon2id, 19 MiB, t=2), as shipped (release wasm).
#![expect(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]
#![expect(
    clippy::expect_used,
    reason = "a benchmark whose setup fails must stop loudly"
)]

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use portcullis::config::{AuthConfig, IdentityConfig, PluginConfig};
use portcullis::identity::access_token::{Claims, SigningKeys};
use portcullis::identity::api_key::{KeyedHasher, parse};
use portcullis::identity::{Identity, NewApiKey, NewUser, Presented, now};
use portcullis::metrics::Metrics;
use portcullis::plugin::{Credential, PluginEngine, PluginRegistry, RequestInfo};
use portcullis::store::{SessionPrincipal, SessionRecord, Store};
use portcullis_tests::bench::BENCH_ORG;
use portcullis_tests::paths;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

fn bench(c: &mut Criterion) {
    let hasher = KeyedHasher::new(&SecretBox::new(Box::new([5u8; 32])));
    let issued = hasher.issue().expect("issue");
    let token = issued.token.expose_secret().to_string();
    assert!(hasher.verify(&parse(&token).expect("parse"), &issued.hash));
    c.bench_function("api_key/parse_and_verify", |b| {
        b.iter(|| {
            let presented = parse(black_box(&token)).expect("parse");
            assert!(hasher.verify(&presented, black_box(&issued.hash)));
        })
    });
}

fn access_token(c: &mut Criterion) {
    let mut keys = SigningKeys::new("https://gw.example", "portcullis-api");
    keys.rotate().expect("key");
    let now = 1_800_000_000;
    let claims = Claims {
        iss: "https://gw.example".into(),
        aud: "portcullis-api".into(),
        sub: "alice".into(),
        sid: "s1".into(),
        amr: vec!["pwd".into(), "otp".into()],
        iat: now,
        exp: now + 300,
    };
    let token = keys.issue(&claims).expect("issue");
    assert_eq!(keys.verify(&token, now).expect("verify"), claims);
    // A client reusing its token: answered from the verified-token cache.
    c.bench_function("access_token/verify_cached", |b| {
        b.iter(|| keys.verify(black_box(&token), now).expect("verify"))
    });
    // Baseline, same run: one bare Ed25519 signature check (ring), which a
    // first-time token verification cannot do without.
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
        .expect("key");
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key");
    let message = token.as_bytes();
    let signature = pair.sign(message);
    let public = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ED25519,
        ring::signature::KeyPair::public_key(&pair)
            .as_ref()
            .to_vec(),
    );
    c.bench_function("baseline/ed25519_verify", |b| {
        b.iter(|| {
            public
                .verify(black_box(message), signature.as_ref())
                .expect("verify")
        })
    });
    // A token seen for the first time: the full EdDSA verification.
    let mut serial = 0u64;
    c.bench_function("access_token/verify_first_time", |b| {
        b.iter_batched(
            || {
                serial += 1;
                keys.issue(&Claims {
                    sid: format!("s{serial}"),
                    ..claims.clone()
                })
                .expect("issue")
            },
            |fresh| keys.verify(&fresh, now).expect("verify"),
            BatchSize::SmallInput,
        )
    });
}

/// An identity service over an in-memory store with the `authn-local`
/// plugin, an organization and a user `bench@example.com`.
async fn identity_service() -> (Identity, String) {
    let store = Store::open_in_memory().await.expect("store");
    let mut plugins = BTreeMap::new();
    let mut local = PluginConfig::new(paths::component("authn_local"), toml::Table::new());
    local.deadline_ms = 10_000;
    plugins.insert("local".to_string(), local);
    let metrics = Metrics::new();
    let registry = PluginRegistry::load(
        PluginEngine::new().expect("engine"),
        &plugins,
        &AuthConfig::default(),
        store.clone(),
        metrics.clone(),
    )
    .await
    .expect("load authn_local");
    let config = IdentityConfig {
        local_provider: Some("local".into()),
        ..IdentityConfig::default()
    };
    let identity = Identity::new(
        store.clone(),
        Arc::new(registry),
        config,
        &SecretBox::new(Box::new([9u8; 32])),
        metrics,
        portcullis::audit::Events::discard(),
    )
    .await
    .expect("identity");
    portcullis_tests::bench::insert_org(&store, now()).await;
    let (user, _) = identity
        .create_user(
            BENCH_ORG,
            NewUser {
                email: "bench@example.com".into(),
                display_name: None,
                groups: vec!["ops".into(), "admins".into()],
                password: Some(SecretString::from("violet quartz lantern 42")),
                password_temporary: false,
            },
        )
        .await
        .expect("user");
    (identity, user.id)
}

fn request() -> RequestInfo {
    RequestInfo {
        method: "POST".into(),
        path: "/auth/login".into(),
        query: None,
        headers: Vec::new(),
        client_ip: "127.0.0.1".into(),
        request_id: "bench".into(),
    }
}

fn resolve(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (identity, user_id) = runtime.block_on(identity_service());
    let (_, key) = runtime
        .block_on(identity.create_api_key(
            BENCH_ORG,
            &user_id,
            NewApiKey {
                name: "bench".into(),
                owner_id: user_id.clone(),
                scope: Some(vec!["ops".into()]),
                expires_at: now() + 3_600,
            },
        ))
        .expect("key");
    let key = key.expose_secret().to_string();
    let info = request();
    let caller = runtime
        .block_on(identity.resolve(
            Presented::Credential(Credential::Bearer(key.clone())),
            || info.clone(),
        ))
        .expect("resolve key");
    assert_eq!(caller.principal.groups, ["ops"]);
    c.bench_function("api_key/resolve", |b| {
        b.iter(|| {
            runtime
                .block_on(identity.resolve(
                    Presented::Credential(Credential::Bearer(black_box(key.clone()))),
                    || info.clone(),
                ))
                .expect("resolve")
        })
    });

    let session = SessionRecord {
        id: "S".repeat(22),
        secret_hash: [0; 32],
        user_id: Some(user_id.clone()),
        org_id: Some(BENCH_ORG.into()),
        principal: SessionPrincipal {
            subject: user_id.clone(),
            issuer: "local".into(),
            email: None,
            amr: vec!["pwd".into()],
            groups: Vec::new(),
        },
        pending: Vec::new(),
        created_at: now(),
        last_seen_at: now(),
        expires_at: now() + 3_600,
        revoked_at: None,
        client_ip: String::new(),
        user_agent: String::new(),
    };
    runtime
        .block_on(identity_store_insert(&identity, &session))
        .expect("session");
    let token = identity.issue_access_token(&session).expect("token");
    c.bench_function("access_token/resolve", |b| {
        b.iter(|| {
            runtime
                .block_on(identity.resolve(
                    Presented::Credential(Credential::Bearer(black_box(token.clone()))),
                    || info.clone(),
                ))
                .expect("resolve")
        })
    });

    let fields = vec![
        ("email".to_string(), "bench@example.com".to_string()),
        (
            "password".to_string(),
            "violet quartz lantern 42".to_string(),
        ),
    ];
    let mut group = c.benchmark_group("password");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("argon2id_login", |b| {
        b.iter(|| {
            runtime
                .block_on(identity.begin_login(None, &fields, &info, "bench"))
                .expect("login")
        })
    });
    group.finish();
}

async fn identity_store_insert(
    identity: &Identity,
    session: &SessionRecord,
) -> Result<(), portcullis::store::StoreError> {
    identity.store().insert_session(session).await
}

criterion_group!(benches, bench, access_token, resolve);
criterion_main!(benches);
