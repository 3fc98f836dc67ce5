//! The chain, its verification and bundles, on records built in memory.
//! (The store's copy of the same checks, on a real database tampered with
//! SQL, is in the end-to-end tests.)

use super::bundle::{Bundle, EventLine, Header, verify_consecutive};
use super::chain::link;
use super::checkpoint::{KeySet, SigningKey};
use super::context::Context;
use super::verify::{Anchor, BreakKind, Row, verify_chain};
use super::{Change, ChangeKind, Event, Pending, RecordKind};

fn pending(n: usize) -> Pending {
    let event: Event = Change::new(
        RecordKind::Role,
        &format!("rol_{n}"),
        Some("org_a"),
        ChangeKind::Created,
    )
    .value("name", format!("role {n}"))
    .into();
    Pending::new(&event, Context::system())
}

/// `n` chained rows of `org_a` and a checkpoint at every `every`th.
fn chain(n: i64, every: i64) -> (Vec<Row>, Vec<super::checkpoint::Checkpoint>, KeySet) {
    let (key, _) = SigningKey::generate().unwrap();
    let mut prev = super::chain::GENESIS;
    let mut rows = Vec::new();
    let mut checkpoints = Vec::new();
    for seq in 1..=n {
        let record = pending(usize::try_from(seq).unwrap()).to_record(seq);
        let hash = link(&prev, &record);
        rows.push(Row {
            seq,
            record,
            prev_hash: prev,
            hash,
            columns: None,
        });
        if seq % every == 0 || seq == n {
            checkpoints.push(key.sign("org_a", seq, hash, seq * 1000));
        }
        prev = hash;
    }
    (rows, checkpoints, KeySet::of_raw(&key.public_key()))
}

fn broken_at(
    rows: &[Row],
    checkpoints: &[super::checkpoint::Checkpoint],
    keys: &KeySet,
) -> (i64, BreakKind) {
    let error = verify_chain("org_a", Anchor::GENESIS, rows, checkpoints, keys).unwrap_err();
    (error.seq, error.kind)
}

#[test]
fn an_untouched_chain_verifies_to_its_last_checkpoint() {
    let (rows, checkpoints, keys) = chain(10, 4);
    let verified = verify_chain("org_a", Anchor::GENESIS, &rows, &checkpoints, &keys).unwrap();
    assert_eq!(
        (verified.events, verified.last, verified.signed_to),
        (10, 10, 10)
    );
}

#[test]
fn each_kind_of_tampering_is_named_at_its_sequence_number() {
    let (rows, checkpoints, keys) = chain(10, 4);

    let mut edited = rows.clone();
    edited[4].record = edited[4].record.replace("role 5", "role X");
    assert_eq!(
        broken_at(&edited, &checkpoints, &keys),
        (5, BreakKind::Modified)
    );

    // Rewritten with a fresh hash: the next link exposes it.
    let mut rehashed = rows.clone();
    rehashed[4].record = rehashed[4].record.replace("role 5", "role X");
    rehashed[4].hash = link(&rehashed[4].prev_hash, &rehashed[4].record);
    assert_eq!(
        broken_at(&rehashed, &checkpoints, &keys),
        (5, BreakKind::Modified)
    );

    let mut deleted = rows.clone();
    deleted.remove(6);
    assert_eq!(
        broken_at(&deleted, &checkpoints, &keys),
        (7, BreakKind::Deleted)
    );

    // Deleted, and the rest renumbered to close the gap.
    let mut renumbered = rows.clone();
    renumbered.remove(6);
    for row in &mut renumbered[6..] {
        row.seq -= 1;
    }
    assert_eq!(
        broken_at(&renumbered, &checkpoints, &keys),
        (7, BreakKind::Deleted)
    );

    let mut swapped = rows.clone();
    swapped.swap(2, 3);
    swapped[2].seq = 3;
    swapped[3].seq = 4;
    assert_eq!(
        broken_at(&swapped, &checkpoints, &keys),
        (3, BreakKind::Reordered)
    );

    // A forged event, correctly chained, pushed in before event 6.
    let mut inserted = rows.clone();
    let forged = pending(99).to_record(6);
    let forged_hash = link(&rows[4].hash, &forged);
    inserted.insert(
        5,
        Row {
            seq: 6,
            record: forged,
            prev_hash: rows[4].hash,
            hash: forged_hash,
            columns: None,
        },
    );
    for row in &mut inserted[6..] {
        row.seq += 1;
    }
    assert_eq!(
        broken_at(&inserted, &checkpoints, &keys),
        (6, BreakKind::Inserted)
    );

    let truncated = rows[..7].to_vec();
    assert_eq!(
        broken_at(&truncated, &checkpoints, &keys),
        (8, BreakKind::Truncated)
    );
}

#[test]
fn a_rewritten_chain_does_not_match_its_signed_checkpoint_and_forged_checkpoints_fail() {
    let (rows, checkpoints, keys) = chain(8, 4);
    // Everything from event 3 rewritten consistently: only the signature
    // can tell.
    let mut rewritten = rows.clone();
    let mut prev = rewritten[1].hash;
    for row in &mut rewritten[2..] {
        row.record = row.record.replace("role", "elor");
        row.prev_hash = prev;
        row.hash = link(&prev, &row.record);
        prev = row.hash;
    }
    assert_eq!(
        broken_at(&rewritten, &checkpoints, &keys),
        (4, BreakKind::Modified)
    );
    // A checkpoint signed by another key over the rewritten head.
    let (other, _) = SigningKey::generate().unwrap();
    let forged = vec![other.sign("org_a", 8, prev, 0)];
    assert_eq!(
        broken_at(&rewritten, &forged, &keys),
        (8, BreakKind::Checkpoint)
    );
}

fn bundle_of(rows: &[Row], checkpoints: &[super::checkpoint::Checkpoint], after: i64) -> Bundle {
    let start = usize::try_from(after).unwrap();
    let events: Vec<EventLine> = rows[start..]
        .iter()
        .map(|r| EventLine {
            seq: r.seq,
            record: r.record.clone(),
            prev_hash: r.prev_hash,
            hash: r.hash,
        })
        .collect();
    Bundle {
        header: Header {
            format: super::bundle::FORMAT.into(),
            version: super::bundle::VERSION,
            chain: "org_a".into(),
            after,
            after_hash: if after == 0 {
                super::chain::GENESIS
            } else {
                rows[start - 1].hash
            },
            to: rows.last().unwrap().seq,
        },
        events,
        checkpoints: checkpoints
            .iter()
            .filter(|c| c.seq >= after && c.seq <= rows.last().unwrap().seq)
            .cloned()
            .collect(),
    }
}

#[test]
fn bundles_verify_offline_chain_to_each_other_and_refuse_a_changed_event() {
    let (rows, checkpoints, keys) = chain(12, 6);
    let first = bundle_of(&rows[..6], &checkpoints, 0);
    let second = bundle_of(&rows, &checkpoints, 6);
    let text = first.to_jsonl();
    assert_eq!(Bundle::parse(&text).unwrap(), first);
    verify_consecutive(&[first.clone(), second.clone()], &keys).unwrap();

    let mut changed = Bundle::parse(&second.to_jsonl()).unwrap();
    changed.events[2].record = changed.events[2].record.replace("role 9", "role 0");
    let error = verify_consecutive(&[first.clone(), changed], &keys).unwrap_err();
    assert_eq!((error.seq, error.kind), (9, BreakKind::Modified));

    // A bundle that skips events does not continue the previous one.
    let later = bundle_of(&rows, &checkpoints, 7);
    let error = verify_consecutive(&[first.clone(), later], &keys).unwrap_err();
    assert_eq!(error.kind, BreakKind::Deleted);

    // The events past the last checkpoint are not in a bundle's promise.
    let mut unsigned = bundle_of(&rows[..6], &checkpoints[..0], 0);
    unsigned.checkpoints.clear();
    assert!(unsigned.verify(&keys).is_err());

    // Another key proves nothing.
    let (other, _) = SigningKey::generate().unwrap();
    assert!(first.verify(&KeySet::of_raw(&other.public_key())).is_err());
}

#[test]
fn records_carry_the_context_and_never_a_secret_field() {
    let context = Context {
        actor: "user:usr_1".into(),
        client: Some("192.0.2.7".into()),
        user_agent: Some("curl/8".into()),
        request_id: Some("req-1".into()),
    };
    let pending = Pending::new(
        &Event::AuthFailed {
            method: "login".into(),
            provider: Some("local".into()),
            reason: "invalid_credentials".into(),
            org: Some("org_a".into()),
        },
        context,
    );
    let record: serde_json::Value = serde_json::from_str(&pending.to_record(3)).unwrap();
    assert_eq!(record["seq"], 3);
    assert_eq!(record["chain"], "org_a");
    assert_eq!(record["action"], "auth.failed");
    assert_eq!(record["outcome"], "failure");
    assert_eq!(record["actor"], "user:usr_1");
    assert_eq!(record["client"], "192.0.2.7");
    assert_eq!(record["details"]["reason"], "invalid_credentials");
    assert_eq!(record["v"], super::SCHEMA_VERSION);
}

/// Two writers on one database (two gateways, or a gateway and
/// `portcullis admin`): each starts from the heads it knows, meets the
/// other's events, reads the heads again, and the chains stay whole.
#[tokio::test]
async fn two_writers_on_one_store_keep_every_chain_whole() {
    use crate::store::{OrgRecord, Store};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let root = secrecy::SecretBox::new(Box::new([3u8; 32]));
    let first = Store::open_sqlite_with_local_key(&path, &root)
        .await
        .unwrap();
    let second = Store::open_sqlite_with_local_key(&path, &root)
        .await
        .unwrap();
    for round in 0..20 {
        let (writer, other) = if round % 2 == 0 {
            (&first, &second)
        } else {
            (&second, &first)
        };
        writer
            .append_audit(&[pending(round), pending(round + 100)])
            .await
            .unwrap();
        other.append_audit(&[pending(round + 200)]).await.unwrap();
        // A change (its event in the change's transaction) in between.
        writer
            .insert_org(&OrgRecord {
                id: format!("org_{round}"),
                name: format!("org {round}"),
                mfa_required: false,
                api_key_max_lifetime_days: 90,
                created_at: 0,
            })
            .await
            .unwrap();
    }
    let results = super::verify_store(&first).await.unwrap();
    let org_a = results
        .iter()
        .find_map(|r| r.as_ref().ok().filter(|v| v.chain == "org_a"))
        .unwrap_or_else(|| panic!("{results:?}"));
    assert_eq!(org_a.events, 60);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
}

/// Retention removes whole segments up to a checkpoint; what remains
/// verifies from that checkpoint, and exports still chain from it. A
/// prune that a checkpoint does not close removes nothing.
#[tokio::test]
async fn pruned_segments_leave_a_chain_that_still_verifies_and_exports() {
    use crate::store::Store;
    let dir = tempfile::tempdir().unwrap();
    let root = secrecy::SecretBox::new(Box::new([4u8; 32]));
    let store = Store::open_sqlite_with_local_key(&dir.path().join("pruned.db"), &root)
        .await
        .unwrap();
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let (log, _writer) = super::AuditLog::start(store.clone(), Default::default(), stopped)
        .await
        .unwrap();
    store
        .append_audit(&(0..6).map(pending).collect::<Vec<_>>())
        .await
        .unwrap();
    log.checkpoint().await.unwrap();
    store
        .append_audit(&(6..10).map(pending).collect::<Vec<_>>())
        .await
        .unwrap();
    log.checkpoint().await.unwrap();
    assert_eq!(
        store.prune_audit("org_a", 4).await.unwrap(),
        0,
        "no checkpoint at 4"
    );
    assert_eq!(store.prune_audit("org_a", 6).await.unwrap(), 6);
    let results = super::verify_store(&store).await.unwrap();
    let org_a = results
        .iter()
        .find_map(|r| r.as_ref().ok().filter(|v| v.chain == "org_a"))
        .unwrap_or_else(|| panic!("{results:?}"));
    assert_eq!((org_a.events, org_a.last, org_a.signed_to), (4, 10, 10));
    // New events continue the chain after the pruned part.
    store.append_audit(&[pending(10)]).await.unwrap();
    log.checkpoint().await.unwrap();
    let bundle = log.export("org_a", 6).await.unwrap();
    let keys = log.key_set().await.unwrap();
    let verified = bundle.verify(&keys).unwrap();
    assert_eq!((verified.events, verified.last), (5, 11));
    // Deleting what no checkpoint closes is reported.
    let raw = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("pruned.db").display()
    ))
    .await
    .unwrap();
    sqlx::query("DELETE FROM audit_events WHERE chain = 'org_a' AND seq = 7")
        .execute(&raw)
        .await
        .unwrap();
    let results = super::verify_store(&store).await.unwrap();
    assert!(results.iter().any(|r| {
        r.as_ref()
            .err()
            .is_some_and(|b| b.seq == 7 && b.kind == BreakKind::Deleted)
    }));
}

/// Keys made within one second are still listed newest first, and the
/// newest is the one in use: the order never falls back to the key ids.
#[tokio::test]
async fn keys_rotated_within_one_second_list_the_newest_first() {
    use crate::store::Store;
    let dir = tempfile::tempdir().unwrap();
    let root = secrecy::SecretBox::new(Box::new([5u8; 32]));
    let store = Store::open_sqlite_with_local_key(&dir.path().join("keys.db"), &root)
        .await
        .unwrap();
    let mut made = Vec::new();
    for _ in 0..8 {
        let (key, document) = SigningKey::generate().unwrap();
        store
            .rotate_audit_key(key.id(), &key.public_key(), &document, 1_700_000_000)
            .await
            .unwrap();
        made.push(key.id().to_string());
    }
    let listed: Vec<String> = store
        .audit_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    made.reverse();
    assert_eq!(listed, made);
    let (active, _) = store.active_audit_key().await.unwrap().unwrap();
    assert_eq!(active, made[0]);
}
