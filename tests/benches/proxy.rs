//! A proxied request through the gateway (TLS, route match, allow-all Wasm
//! authorizer, upstream keep-alive pool) vs the same request sent to the
//! upstream directly. The difference is the gateway's cost per request.
#![expect(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]
#![expect(
    clippy::expect_used,
    reason = "a benchmark whose setup fails must stop loudly"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis::config::Config;
use portcullis_tests::client::{Client, Session};
use portcullis_tests::{Upstream, paths};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::Path;

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (upstream, gateway) = runtime.block_on(async {
        let upstream = Upstream::start_unrecorded().await;
        let text = format!(
            r#"
            data_dir = "{data}"
            [server]
            listen = "127.0.0.1:0"
            [auth]
            authorizer = "authz"
            [plugins.authz]
            path = "{authz}"
            [[routes]]
            name = "bench"
            methods = ["GET"]
            path = "/bench/{{id}}"
            upstream = "{upstream}"
            allow_anonymous = true
            permission = {{ action = "bench.read", resource = "bench/{{id}}" }}
            "#,
            data = dir.path().join("data").display(),
            authz = paths::component("fixture_allow_all").display(),
            upstream = upstream.url(),
        );
        let config = Config::parse(&text, Path::new("bench.toml"), dir.path()).expect("config");
        let gateway = portcullis::server::start(config).await.expect("gateway");
        (upstream, gateway)
    });
    let certificate =
        CertificateDer::from_pem_file(dir.path().join("data/tls/cert.pem")).expect("certificate");
    let client = Client::new(
        gateway.https_addr(),
        certificate,
        &[&rustls::version::TLS13],
    );
    let (mut via_gateway, mut direct) = runtime.block_on(async {
        let via_gateway = client.session().await.expect("gateway session");
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", upstream.port()))
            .await
            .expect("upstream");
        tcp.set_nodelay(true).expect("nodelay");
        (
            via_gateway,
            Session::over(tcp).await.expect("direct session"),
        )
    });
    assert_eq!(
        runtime
            .block_on(via_gateway.get("/bench/1"))
            .expect("proxied"),
        200
    );
    assert_eq!(
        runtime.block_on(direct.get("/bench/1")).expect("direct"),
        200
    );

    let mut group = c.benchmark_group("proxied_request");
    group.bench_function("direct_to_upstream", |b| {
        b.iter(|| runtime.block_on(direct.get("/bench/1")).expect("direct"));
    });
    group.bench_function("through_gateway_tls_allow_all", |b| {
        b.iter(|| {
            runtime
                .block_on(via_gateway.get("/bench/1"))
                .expect("proxied")
        });
    });
    group.finish();
    runtime.block_on(gateway.shutdown());
}

criterion_group!(benches, bench);
criterion_main!(benches);
