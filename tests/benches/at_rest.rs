//! Encryption at rest: what a record read costs with its data key in
//! memory, against the same query on the same file without opening
//! anything; and `keys rotate` (a new data key, then every value re-sealed
//! under it) over 100,000 records.
//!
//! Run with `cargo bench -p portcullis-tests --bench at_rest`; it prints
//! medians of rounds and the ratio, measured in the same run.
#![expect(
    clippy::expect_used,
    reason = "a benchmark whose setup fails must stop loudly"
)]

use portcullis::store::{BindingRecord, Store};
use portcullis_tests::bench::{BENCH_ORG, insert_org};
use std::time::Instant;

const RECORDS: usize = 100_000;
const READS_PER_ROUND: usize = 5_000;
const ROUNDS: usize = 15;

fn binding(i: usize) -> BindingRecord {
    BindingRecord {
        id: format!("bnd_{i:06}"),
        org_id: BENCH_ORG.into(),
        subject: format!("user:usr_{i:06}"),
        role_id: "viewer".into(),
        scope_kind: "organization".into(),
        scope_id: None,
        created_at: 1,
        created_by: "bench".into(),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("at_rest.db");
        let root = secrecy::SecretBox::new(Box::new([7u8; 32]));
        let store = Store::open_sqlite_with_local_key(&path, &root)
            .await
            .expect("store");
        insert_org(&store, 1).await;
        let started = Instant::now();
        for chunk in (0..RECORDS).collect::<Vec<_>>().chunks(10_000) {
            let bindings: Vec<_> = chunk.iter().map(|i| binding(*i)).collect();
            store.insert_bindings(&bindings).await.expect("bindings");
        }
        println!(
            "setup: {RECORDS} bindings (and their {RECORDS} audit events) written sealed in {:.1} s",
            started.elapsed().as_secs_f64()
        );

        // The baseline: the same row, same file, same query, nothing opened.
        let clear = sqlx::SqlitePool::connect_with(
            sqlx::sqlite::SqliteConnectOptions::new().filename(&path),
        )
        .await
        .expect("second connection");
        let mut sealed_rounds = Vec::new();
        let mut clear_rounds = Vec::new();
        for round in 0..ROUNDS {
            let ids: Vec<String> = (0..READS_PER_ROUND)
                .map(|i| format!("bnd_{:06}", (i * 7919 + round * 104_729) % RECORDS))
                .collect();
            let started = Instant::now();
            for id in &ids {
                let row: (String, String, String, String, String, Option<String>, i64, String) =
                    sqlx::query_as(
                        "SELECT id, org_id, subject, role_id, scope_kind, scope_id, created_at, created_by
                         FROM bindings WHERE org_id = ? AND id = ?",
                    )
                    .bind(BENCH_ORG)
                    .bind(id)
                    .fetch_one(&clear)
                    .await
                    .expect("clear read");
                std::hint::black_box(row);
            }
            clear_rounds.push(started.elapsed().as_secs_f64() * 1e6 / READS_PER_ROUND as f64);
            let started = Instant::now();
            for id in &ids {
                let record = store
                    .binding(BENCH_ORG, id)
                    .await
                    .expect("sealed read")
                    .expect("present");
                std::hint::black_box(record);
            }
            sealed_rounds.push(started.elapsed().as_secs_f64() * 1e6 / READS_PER_ROUND as f64);
        }
        let (sealed, clear) = (median(sealed_rounds), median(clear_rounds));
        println!(
            "record read (binding by id, median of {ROUNDS} rounds of {READS_PER_ROUND}): sealed, data key cached {sealed:.2} µs; same query without encryption {clear:.2} µs; ratio {:.2}; cost of opening {:.2} µs",
            sealed / clear,
            sealed - clear
        );

        let started = Instant::now();
        let key = store.rotate_data_key().await.expect("rotate");
        let rotated = started.elapsed();
        let report = store.reencrypt().await.expect("re-seal");
        let total = started.elapsed();
        println!(
            "keys rotate over {RECORDS} records: new key {key} in {:.3} s; {} rows re-sealed in {:.1} s ({:.0} rows/s)",
            rotated.as_secs_f64(),
            report.rows,
            (total - rotated).as_secs_f64(),
            report.rows as f64 / (total - rotated).as_secs_f64()
        );
        let status = store.keys_status().await.expect("status");
        let stale: i64 = status
            .usage
            .iter()
            .filter(|u| u.key != key)
            .map(|u| u.values)
            .sum();
        assert_eq!(stale, 0, "every value is under the new key");
    });
}
