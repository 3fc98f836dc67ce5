//! Throttling that cannot lock the real user out: failures count per
//! account at one address, per address (IPv6 per /64) and per account
//! overall — and the overall ceiling does not apply where the account
//! signed in before. Clients at other addresses are played through
//! `X-Forwarded-For` from a trusted proxy (the fixture trusts loopback).

use super::{Fixture, code};
use http::Method;
use portcullis_tests::Reply;
use serde_json::json;

const DANA: &str = "dana@example.com";
const DANA_PASSWORD: &str = "cobalt prairie 62 lantern";
const ERIN: &str = "erin@example.com";
const ERIN_PASSWORD: &str = "juniper beacon 15 thistle";

async fn login_from(f: &Fixture, address: &str, email: &str, password: &str) -> Reply {
    let body = serde_json::to_vec(&json!({"email": email, "password": password})).unwrap();
    f.client
        .send(
            Method::POST,
            "/auth/login",
            &[
                ("content-type", "application/json"),
                ("x-forwarded-for", address),
            ],
            &body,
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn an_attacker_cannot_keep_the_real_user_out() {
    let f = Fixture::start().await;
    f.create_user(DANA, DANA_PASSWORD, &[]).await;
    // Dana signs in from home: that address becomes known-good for her.
    let home = "198.51.100.10";
    assert_eq!(login_from(&f, home, DANA, DANA_PASSWORD).await.status, 200);

    // One attacker address: it backs off after the free attempts…
    let attacker = "203.0.113.5";
    for attempt in 1..=4 {
        let reply = login_from(&f, attacker, DANA, "guessing wrong again").await;
        assert_eq!(reply.status, 401, "attempt {attempt}: {}", reply.text());
    }
    let blocked = login_from(&f, attacker, DANA, DANA_PASSWORD).await;
    assert_eq!(blocked.status, 429, "{}", blocked.text());
    // …and Dana, elsewhere, is not affected.
    let office = "192.0.2.44";
    assert_eq!(
        login_from(&f, office, DANA, DANA_PASSWORD).await.status,
        200
    );
    assert_eq!(login_from(&f, home, DANA, DANA_PASSWORD).await.status, 200);

    // Many attacker addresses, one failure each: the account-wide ceiling
    // (8 failures) stops new addresses…
    for host in 20..30 {
        let reply = login_from(
            &f,
            &format!("203.0.113.{host}"),
            DANA,
            "guessing wrong again",
        )
        .await;
        assert!(
            reply.status == 401 || reply.status == 429,
            "{}",
            reply.text()
        );
    }
    let stranger = login_from(&f, "192.0.2.99", DANA, DANA_PASSWORD).await;
    assert_eq!(stranger.status, 429, "{}", stranger.text());
    assert_eq!(code(&stranger), "too_many_attempts");
    // …but not the places Dana signed in from.
    for known in [home, office] {
        let reply = login_from(&f, known, DANA, DANA_PASSWORD).await;
        assert_eq!(reply.status, 200, "{known}: {}", reply.text());
    }
}

#[tokio::test]
async fn ipv6_clients_are_throttled_per_64() {
    let f = Fixture::start().await;
    f.create_user(ERIN, ERIN_PASSWORD, &[]).await;
    // One /64 spread over four host addresses is still one client.
    for host in 1..=4 {
        let reply = login_from(
            &f,
            &format!("2001:db8:1:2::{host}"),
            ERIN,
            "guessing wrong again",
        )
        .await;
        assert_eq!(reply.status, 401, "{}", reply.text());
    }
    let same_network = login_from(&f, "2001:db8:1:2:ffff::99", ERIN, ERIN_PASSWORD).await;
    assert_eq!(same_network.status, 429, "{}", same_network.text());
    let other_network = login_from(&f, "2001:db8:1:3::1", ERIN, ERIN_PASSWORD).await;
    assert_eq!(other_network.status, 200, "{}", other_network.text());
}
