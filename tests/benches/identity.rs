//! Identity checks on the request path: API key parse + checksum + keyed
//! hash comparison (no store lookup).
#![expect(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]
#![expect(
    clippy::expect_used,
    reason = "a benchmark whose setup fails must stop loudly"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis::identity::api_key::{ApiKeyHasher, parse};
use secrecy::{ExposeSecret, SecretBox};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let hasher = ApiKeyHasher::new(&SecretBox::new(Box::new([5u8; 32])));
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

criterion_group!(benches, bench);
criterion_main!(benches);
