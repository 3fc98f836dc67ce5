//! Secret references resolved through the `secrets-azure` plugin
//! (Microsoft's Key Vault client inside the guest) against the Key Vault
//! and Entra ID double: the token is asked of the authority the vault's
//! 401 challenge names, a pinned version and a JSON key are read, 429s
//! are waited out, and every refusal names the reference and the vault's
//! answer, never a value or the client secret. Microsoft's own Python SDK
//! is pointed at the double first, to show it answers as Azure does.

use super::{status_with, token};
use crate::{ALICE, ALICE_TOKEN_SHA256, sha256_hex};
use portcullis_tests::azure::{CLIENT_SECRET, KeyVault, TENANT};
use portcullis_tests::{Gateway, Upstream, paths};

/// A gateway whose static tokens come from `tokens`, resolved through the
/// `azure` secrets backend at `vault` signing in with `client_secret`.
fn azure_config(
    upstream: &Upstream,
    vault: &KeyVault,
    client_secret: &str,
    tokens: &str,
) -> String {
    let backend = format!(
        r#"
[plugins.azure]
path = "{azure}"
allow_hosts = ["{authority}"]
ca_bundles = ["{ca}"]
deadline_ms = 10000

[plugins.azure.config]
{settings}"#,
        azure = paths::component("secrets_azure").display(),
        authority = vault.authority(),
        ca = vault.ca_file.display(),
        settings = vault.settings(client_secret),
    );
    super::gateway_config(upstream, &backend, tokens)
}

#[test]
fn the_key_vault_double_answers_as_microsofts_own_sdk_expects() {
    let (ok, output) = KeyVault::shared().check_with_official_sdk();
    assert!(ok, "Microsoft's SDK against the double:\n{output}");
    assert_eq!(output.trim(), "ok");
}

#[tokio::test]
async fn key_vault_references_resolve_through_the_vaults_challenge_and_entra_id() {
    let vault = KeyVault::shared();
    let upstream = Upstream::start().await;
    let first = vault
        .set_secret(
            "ci-tokens",
            &format!(r#"{{"sha256": "{ALICE_TOKEN_SHA256}"}}"#),
            true,
        )
        .await;
    let bob_sha = sha256_hex("bob-token");
    vault
        .set_secret("ci-tokens", &format!(r#"{{"sha256": "{bob_sha}"}}"#), true)
        .await;
    let before = vault.stats().await;
    let tokens = format!(
        "{}{}",
        token("secret://azure/ci-tokens#sha256", "current"),
        token(
            &format!("secret://azure/ci-tokens#sha256?version={first}"),
            "first"
        )
    );
    let gateway = Gateway::with_config(&azure_config(&upstream, vault, CLIENT_SECRET, &tokens))
        .await
        .unwrap_or_else(|failure| panic!("the gateway did not start:\n{}", failure.stderr));
    assert_eq!(
        status_with(&gateway, ALICE).await,
        200,
        "the pinned version is alice's"
    );
    assert_eq!(
        status_with(&gateway, "Bearer bob-token").await,
        200,
        "the current one is bob's"
    );
    assert_eq!(status_with(&gateway, "Bearer carol-token").await, 401);
    let after = vault.stats().await;
    assert!(after.reads >= before.reads + 2, "{before:?} -> {after:?}");
    assert!(
        after.challenges > before.challenges,
        "the first request went out without a token and met the challenge: {before:?} -> {after:?}"
    );
    assert!(
        after.token_requests > before.token_requests,
        "a token was asked of the challenge's authority: {before:?} -> {after:?}"
    );
    assert!(
        !gateway.log().contains(CLIENT_SECRET),
        "the client secret is never logged"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn key_vault_refusals_name_the_reference_and_the_vaults_answer_never_a_value() {
    let vault = KeyVault::shared();
    let upstream = Upstream::start().await;
    vault
        .set_secret(
            "retired-token",
            r#"{"sha256": "disabled-value-Qm27"}"#,
            false,
        )
        .await;
    vault
        .set_secret("live-token", r#"{"sha256": "live-value-Px93"}"#, true)
        .await;
    for (reference, client_secret, expected) in [
        (
            "secret://azure/no-such-secret",
            CLIENT_SECRET,
            "secret reference `secret://azure/no-such-secret` could not be resolved: backend `azure`: not found",
        ),
        (
            "secret://azure/retired-token#sha256",
            CLIENT_SECRET,
            "secret reference `secret://azure/retired-token#sha256` could not be resolved: backend `azure`: unavailable: Key Vault refused the request: HTTP 403 Forbidden",
        ),
        (
            "secret://azure/live-token#sha256",
            "not-the-client-secret",
            "Entra ID refused the client credentials: HTTP 401 invalid_client (AADSTS7000215)",
        ),
        (
            "secret://azure/live-token#sha256?version=latest",
            CLIENT_SECRET,
            "a Key Vault secret version is 32 hexadecimal digits",
        ),
        (
            "secret://azure/bad_name",
            CLIENT_SECRET,
            "a Key Vault secret name is 1 to 127 letters, digits and dashes",
        ),
    ] {
        let config = azure_config(&upstream, vault, client_secret, &token(reference, "x"));
        let failure = Gateway::with_config(&config)
            .await
            .err()
            .unwrap_or_else(|| panic!("{reference}: the gateway started"));
        assert!(
            failure.stderr.contains(expected),
            "{reference}: no `{expected}` in:\n{}",
            failure.stderr
        );
        for secret in [
            "disabled-value-Qm27",
            "live-value-Px93",
            CLIENT_SECRET,
            "not-the-client-secret",
        ] {
            assert!(
                !failure.stderr.contains(secret),
                "{reference}: `{secret}` in the log"
            );
        }
    }
}

#[tokio::test]
async fn throttling_is_waited_out_and_a_challenge_for_another_tenant_gets_no_token() {
    // Its own double: steering it disturbs no other test.
    let vault = KeyVault::start();
    let upstream = Upstream::start().await;
    vault
        .set_secret(
            "ci-tokens",
            &format!(r#"{{"sha256": "{ALICE_TOKEN_SHA256}"}}"#),
            true,
        )
        .await;
    let tokens = token("secret://azure/ci-tokens#sha256", "alice");
    let config = azure_config(&upstream, &vault, CLIENT_SECRET, &tokens);

    // Two 429s with `Retry-After: 1`, then the answer: within three attempts.
    vault.throttle(2).await;
    let gateway = Gateway::with_config(&config)
        .await
        .unwrap_or_else(|failure| panic!("throttling was not waited out:\n{}", failure.stderr));
    assert_eq!(vault.stats().await.throttled, 2);
    assert_eq!(status_with(&gateway, ALICE).await, 200);
    gateway.stop().await;

    // A vault that sends the application to another directory's authority:
    // the client secret is not sent there.
    vault.challenge_names(Some("0d7c1b2a-evil-tenant")).await;
    let before = vault.stats().await;
    let failure = Gateway::with_config(&config)
        .await
        .err()
        .expect("a challenge for another tenant is refused");
    let expected = format!(
        "the vault's challenge names authority `{}/0d7c1b2a-evil-tenant`, which is not tenant `{TENANT}`",
        vault.vault_url
    );
    assert!(
        failure.stderr.contains(&expected),
        "no `{expected}` in:\n{}",
        failure.stderr
    );
    assert_eq!(
        vault.stats().await.token_requests,
        before.token_requests,
        "no token was asked for"
    );
}
