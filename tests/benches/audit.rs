//! The audit log's costs, measured on a file-backed store as the gateway
//! runs it (SQLite, WAL, `synchronous = NORMAL`: durable across a process
//! crash such as `kill -9`, which is what `make test` checks):
//!
//! - `audit/group_commit`: events recorded through the queue as fast as
//!   they can be emitted, until every one is committed — events per second
//!   (target ≥ 50,000/s);
//! - `audit/change_latency`: an administrative change (an organization's
//!   settings) committed with its event, against the same `UPDATE` in the
//!   same kind of transaction on the same file without one (the baseline,
//!   measured in the same run) — median and p99 of each and what the event
//!   adds;
//! - `audit/statement_floor`: one `SELECT 1` through the same pool, what
//!   every statement pays before SQLite does any work.
#![expect(
    clippy::expect_used,
    reason = "a benchmark whose setup fails must stop loudly"
)]

use portcullis::audit::{AuditLog, Event};
use portcullis::config::AuditConfig;
use portcullis::store::{OrgChanges, Store};
use portcullis_tests::bench::BENCH_ORG;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::time::{Duration, Instant};

const EVENTS: usize = 200_000;
const CHANGES: usize = 3_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bench.db");
        let root = secrecy::SecretBox::new(Box::new([7u8; 32]));
        let store = Store::open_sqlite_with_local_key(&path, &root)
            .await
            .expect("store");
        portcullis_tests::bench::insert_org(&store, 0).await;
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        let config = AuditConfig {
            queue_capacity: EVENTS * 2,
            ..AuditConfig::default()
        };
        let (log, _writer) = AuditLog::start(store.clone(), config, stopped)
            .await
            .expect("audit log");
        group_commit(&store, &log).await;
        change_latency(&store, &path).await;
    });
}

async fn committed(store: &Store) -> usize {
    store
        .query_audit(&portcullis::store::AuditFilter {
            chain: BENCH_ORG.into(),
            limit: 1,
            ..Default::default()
        })
        .await
        .expect("query")
        .first()
        .map_or(0, |(seq, _)| usize::try_from(*seq).unwrap_or(0))
}

async fn group_commit(store: &Store, log: &AuditLog) {
    let events = log.events();
    let before = committed(store).await;
    let started = Instant::now();
    for i in 0..EVENTS {
        events.emit(Event::AuthFailed {
            method: "login".into(),
            provider: Some("local".into()),
            reason: if i % 2 == 0 {
                "invalid_credentials"
            } else {
                "throttled"
            }
            .into(),
            org: Some(BENCH_ORG.into()),
        });
    }
    let emitted = started.elapsed();
    while committed(store).await < before + EVENTS {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    assert_eq!(events.dropped(), 0, "the queue held every event");
    let per_second = EVENTS as f64 / elapsed.as_secs_f64();
    println!(
        "audit/group_commit: {EVENTS} events committed in {:.3} s = {per_second:.0} events/s (emitting took {:.3} s)",
        elapsed.as_secs_f64(),
        emitted.as_secs_f64()
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn change_latency(store: &Store, path: &std::path::Path) {
    // The baseline: the same statement, its own `BEGIN IMMEDIATE`
    // transaction, a pool with the store's settings, the same file.
    let options = SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    let raw = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .expect("baseline pool");
    let started = Instant::now();
    for _ in 0..2000 {
        sqlx::query("SELECT 1").execute(&raw).await.expect("select");
    }
    println!(
        "audit/statement_floor: one `SELECT 1` round trip {:.1} µs",
        micros(started.elapsed()) / 2000.0
    );
    let mut with_event = Vec::with_capacity(CHANGES);
    let mut without = Vec::with_capacity(CHANGES);
    // Interleaved, so drift in the machine affects both alike.
    for i in 0..CHANGES {
        let days = 30 + i64::try_from(i % 60).unwrap_or(0);
        let started = Instant::now();
        store
            .update_org(
                BENCH_ORG,
                &OrgChanges {
                    api_key_max_lifetime_days: Some(days),
                    ..OrgChanges::default()
                },
            )
            .await
            .expect("update with its event");
        with_event.push(started.elapsed());
        let started = Instant::now();
        let mut tx = raw.begin_with("BEGIN IMMEDIATE").await.expect("begin");
        sqlx::query(
            "UPDATE orgs SET name = COALESCE(?, name),
                             mfa_required = COALESCE(?, mfa_required),
                             api_key_max_lifetime_days = COALESCE(?, api_key_max_lifetime_days)
             WHERE id = ?",
        )
        .bind(None::<String>)
        .bind(None::<bool>)
        .bind(days)
        .bind(BENCH_ORG)
        .execute(&mut *tx)
        .await
        .expect("update");
        // `update_org` reads the record back; so does the baseline.
        sqlx::query("SELECT id, name, mfa_required, api_key_max_lifetime_days, created_at FROM orgs WHERE id = ?")
            .bind(BENCH_ORG)
            .fetch_one(&mut *tx)
            .await
            .expect("read back");
        tx.commit().await.expect("commit");
        without.push(started.elapsed());
    }
    with_event.sort();
    without.sort();
    let (m1, p1) = (percentile(&with_event, 0.5), percentile(&with_event, 0.99));
    let (m0, p0) = (percentile(&without, 0.5), percentile(&without, 0.99));
    println!(
        "audit/change_latency: change with its event median {:.1} µs p99 {:.1} µs; baseline (same change, no event) median {:.1} µs p99 {:.1} µs; the event adds median {:.1} µs, p99 {:.1} µs ({CHANGES} changes each)",
        micros(m1),
        micros(p1),
        micros(m0),
        micros(p0),
        micros(m1.saturating_sub(m0)),
        micros(p1.saturating_sub(p0)),
    );
}
