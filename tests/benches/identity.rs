//! Identity checks on the request path: API key parse + checksum + keyed
//! hash comparison (no store lookup), and access-token verification
//! (EdDSA signature + claims).
#![expect(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]
#![expect(
    clippy::expect_used,
    reason = "a benchmark whose setup fails must stop loudly"
)]

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use portcullis::identity::access_token::{Claims, SigningKeys};
use portcullis::identity::api_key::{KeyedHasher, parse};
use secrecy::{ExposeSecret, SecretBox};
use std::hint::black_box;

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

criterion_group!(benches, bench, access_token);
criterion_main!(benches);
