//! Set-up shared by the criterion benchmarks.

use portcullis::store::{OrgRecord, Store};

/// The organization the benchmarks create their records in.
pub const BENCH_ORG: &str = "org_bench";

/// Creates [`BENCH_ORG`] in `store`, created at `created_at`.
pub async fn insert_org(store: &Store, created_at: i64) {
    store
        .insert_org(&OrgRecord {
            id: BENCH_ORG.into(),
            name: "bench".into(),
            mfa_required: false,
            api_key_max_lifetime_days: 90,
            created_at,
        })
        .await
        .expect("bench organization");
}
