//! Checking a chain: every record's hash, every link, the sequence, the
//! copies of record fields in the query columns, and every checkpoint's
//! signature and hash. The first break is reported with its sequence
//! number and what kind of tampering it shows.
//!
//! The same check runs on the live database (`portcullis audit verify`)
//! and on an exported bundle, offline, with only the public keys.

use super::chain::{Digest, GENESIS, link};
use super::checkpoint::{Checkpoint, KeySet};
use super::record::Record;
use serde::Serialize;

/// One stored event, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The sequence number it is stored under.
    pub seq: i64,
    /// The stored JSON.
    pub record: String,
    /// The stored previous hash.
    pub prev_hash: Digest,
    /// The stored hash.
    pub hash: Digest,
    /// The query columns, when read from the database.
    pub columns: Option<Columns>,
}

/// The columns queries filter on; each must equal its field in the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    /// `at`.
    pub at: i64,
    /// `org`.
    pub org: Option<String>,
    /// `actor`.
    pub actor: String,
    /// `action`.
    pub action: String,
    /// `resource`.
    pub resource: Option<String>,
    /// `outcome`.
    pub outcome: String,
}

/// Where a chain (or the part of it checked) starts: the sequence number
/// and hash of the record before the first one checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    /// Sequence number of the record before (0 for the chain's start).
    pub seq: i64,
    /// Its hash ([`GENESIS`] for the chain's start).
    pub hash: Digest,
}

impl Anchor {
    /// The start of a chain.
    pub const GENESIS: Self = Self {
        seq: 0,
        hash: GENESIS,
    };
}

/// What kind of tampering a break shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// A record's content (or a copy of it) was changed.
    Modified,
    /// A record is missing.
    Deleted,
    /// Records are out of order.
    Reordered,
    /// A record was added that the gateway did not write.
    Inserted,
    /// Records a checkpoint covers are gone from the end.
    Truncated,
    /// A checkpoint's signature does not verify.
    Checkpoint,
}

impl std::fmt::Display for BreakKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Modified => "modified",
            Self::Deleted => "deleted",
            Self::Reordered => "reordered",
            Self::Inserted => "inserted",
            Self::Truncated => "truncated",
            Self::Checkpoint => "bad checkpoint",
        })
    }
}

/// The first broken link of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("chain `{chain}`: event {seq} {kind}: {detail}")]
pub struct Break {
    /// The chain.
    pub chain: String,
    /// The sequence number.
    pub seq: i64,
    /// What it shows.
    pub kind: BreakKind,
    /// In words.
    pub detail: String,
}

/// A chain that verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// The chain.
    pub chain: String,
    /// Events checked.
    pub events: usize,
    /// The last sequence number checked (the anchor's if none).
    pub last: i64,
    /// Its hash.
    #[serde(with = "hex::serde")]
    pub last_hash: Digest,
    /// The highest sequence number a valid checkpoint covers.
    pub signed_to: i64,
    /// Checkpoints checked.
    pub checkpoints: usize,
}

/// Checks `rows` (ascending by stored sequence number) of `chain` from
/// `anchor` on, with `checkpoints` (any order) signed by keys of `keys`.
pub fn verify_chain(
    chain: &str,
    anchor: Anchor,
    rows: &[Row],
    checkpoints: &[Checkpoint],
    keys: &KeySet,
) -> Result<Verified, Break> {
    let broken = |seq: i64, kind: BreakKind, detail: String| Break {
        chain: chain.to_string(),
        seq,
        kind,
        detail,
    };
    let mut checkpoints: Vec<&Checkpoint> = checkpoints.iter().collect();
    checkpoints.sort_by_key(|c| c.seq);
    for checkpoint in &checkpoints {
        if checkpoint.chain != chain {
            return Err(broken(
                checkpoint.seq,
                BreakKind::Checkpoint,
                format!(
                    "a checkpoint of chain `{}` is among this chain's",
                    checkpoint.chain
                ),
            ));
        }
    }
    let claimed: Vec<Option<Record>> = rows
        .iter()
        .map(|row| serde_json::from_str(&row.record).ok())
        .collect();
    let mut pending = checkpoints.iter().peekable();
    let mut signed_to = anchor.seq;
    // Checkpoints at or before the anchor: signatures, and the anchor's.
    while let Some(checkpoint) = pending.next_if(|c| c.seq <= anchor.seq) {
        check_signature(keys, checkpoint)
            .map_err(|detail| broken(checkpoint.seq, BreakKind::Checkpoint, detail))?;
        if checkpoint.seq == anchor.seq && checkpoint.hash != anchor.hash {
            return Err(broken(
                anchor.seq,
                BreakKind::Modified,
                "the chain's starting point differs from the signed checkpoint".into(),
            ));
        }
    }
    let mut prev = anchor.hash;
    let mut expected = anchor.seq + 1;
    for (index, row) in rows.iter().enumerate() {
        if row.seq > expected {
            return Err(broken(
                expected,
                BreakKind::Deleted,
                format!("events {expected} to {} are missing", row.seq - 1),
            ));
        }
        if row.seq < expected {
            return Err(broken(
                row.seq,
                BreakKind::Inserted,
                "a second event with this sequence number".into(),
            ));
        }
        let Some(record) = &claimed[index] else {
            return Err(broken(
                row.seq,
                BreakKind::Modified,
                "the stored record does not open under its chain's key, or is not an audit record: it was changed or moved".into(),
            ));
        };
        if record.chain != chain {
            return Err(broken(
                row.seq,
                BreakKind::Inserted,
                format!("the record belongs to chain `{}`", record.chain),
            ));
        }
        if record.seq < row.seq {
            return Err(broken(
                record.seq,
                BreakKind::Inserted,
                format!(
                    "event {} is stored at {}: something was inserted before it",
                    record.seq, row.seq
                ),
            ));
        }
        if record.seq > row.seq {
            let moved = claimed[index + 1..]
                .iter()
                .any(|later| later.as_ref().is_some_and(|r| r.seq == row.seq));
            return Err(if moved {
                broken(
                    row.seq,
                    BreakKind::Reordered,
                    format!("event {} is stored in this event's place", record.seq),
                )
            } else {
                broken(
                    row.seq,
                    BreakKind::Deleted,
                    format!(
                        "this event is gone and the ones after it were renumbered (event {} is stored here)",
                        record.seq
                    ),
                )
            });
        }
        if link(&row.prev_hash, &row.record) != row.hash {
            return Err(broken(
                row.seq,
                BreakKind::Modified,
                "its content does not match its hash".into(),
            ));
        }
        if row.prev_hash != prev {
            return Err(if row.seq - 1 == anchor.seq {
                broken(
                    row.seq,
                    BreakKind::Inserted,
                    "it does not follow the chain's starting point".into(),
                )
            } else {
                broken(
                    row.seq - 1,
                    BreakKind::Modified,
                    "it was rewritten: the next event links to another hash".into(),
                )
            });
        }
        if let Some(columns) = &row.columns
            && !columns_match(columns, record)
        {
            return Err(broken(
                row.seq,
                BreakKind::Modified,
                "its query columns differ from the record".into(),
            ));
        }
        while let Some(checkpoint) = pending.next_if(|c| c.seq == row.seq) {
            check_signature(keys, checkpoint)
                .map_err(|detail| broken(checkpoint.seq, BreakKind::Checkpoint, detail))?;
            if checkpoint.hash != row.hash {
                // The original of this event stored after it: this one
                // was pushed in.
                let shifted = claimed
                    .get(index + 1)
                    .and_then(Option::as_ref)
                    .is_some_and(|next| next.seq == row.seq);
                if shifted {
                    return Err(broken(
                        row.seq,
                        BreakKind::Inserted,
                        format!(
                            "event {} is stored at {}: something was inserted in its place",
                            row.seq,
                            row.seq + 1
                        ),
                    ));
                }
                return Err(broken(
                    row.seq,
                    BreakKind::Modified,
                    "the chain up to here differs from the signed checkpoint (rewritten at or before this event)".into(),
                ));
            }
            signed_to = row.seq;
        }
        prev = row.hash;
        expected += 1;
    }
    let last = expected - 1;
    if let Some(checkpoint) = pending.next() {
        check_signature(keys, checkpoint)
            .map_err(|detail| broken(checkpoint.seq, BreakKind::Checkpoint, detail))?;
        return Err(broken(
            last + 1,
            BreakKind::Truncated,
            format!(
                "a checkpoint signed the chain up to event {}, but it ends at {last}",
                checkpoint.seq
            ),
        ));
    }
    Ok(Verified {
        chain: chain.to_string(),
        events: rows.len(),
        last,
        last_hash: prev,
        signed_to,
        checkpoints: checkpoints.len(),
    })
}

fn check_signature(keys: &KeySet, checkpoint: &Checkpoint) -> Result<(), String> {
    keys.verify(checkpoint)
        .map_err(|error| format!("the checkpoint {error}"))
}

fn columns_match(columns: &Columns, record: &Record) -> bool {
    columns.at == record.at
        && columns.org == record.org
        && columns.actor == record.actor
        && columns.action == record.action
        && columns.resource == record.resource
        && columns.outcome == record.outcome
}

/// Where the stored part of a chain starts: its beginning, or, after
/// retention pruned whole segments, the checkpoint that closed the last
/// pruned one.
pub fn anchor_of(rows: &[Row], checkpoints: &[Checkpoint], chain: &str) -> Result<Anchor, Break> {
    let Some(first) = rows.first() else {
        return Ok(Anchor::GENESIS);
    };
    if first.seq <= 1 {
        return Ok(Anchor::GENESIS);
    }
    // The newest checkpoint before the first stored event: it must close
    // exactly what is gone, else what follows it is missing too.
    let closing = checkpoints
        .iter()
        .filter(|c| c.seq < first.seq)
        .max_by_key(|c| c.seq);
    match closing {
        Some(c) if c.seq == first.seq - 1 => Ok(Anchor {
            seq: c.seq,
            hash: c.hash,
        }),
        other => {
            let missing = other.map_or(1, |c| c.seq + 1);
            Err(Break {
                chain: chain.to_string(),
                seq: missing,
                kind: BreakKind::Deleted,
                detail: format!(
                    "events {missing} to {} are missing (the stored chain starts at {})",
                    first.seq - 1,
                    first.seq
                ),
            })
        }
    }
}
