//! The export bundle: one chain's events as JSON Lines with the
//! checkpoints covering them, verifiable offline with only the public
//! keys (`portcullis audit verify --bundle FILE --key KEY`).
//!
//! Line 1 is a [`Header`]; then one [`EventLine`] per event, in order;
//! then one [`CheckpointLine`] per checkpoint. A bundle ends at a
//! checkpoint, so every event in it is signed, and it starts where the
//! previous bundle ended: its anchor is that bundle's last event.

use super::chain::Digest;
use super::checkpoint::{Checkpoint, KeySet};
use super::verify::{Anchor, Break, BreakKind, Row, Verified, verify_chain};
use serde::{Deserialize, Serialize};

/// The format's name, in every header.
pub const FORMAT: &str = "portcullis-audit-bundle";
/// The format's version.
pub const VERSION: u32 = 1;

/// The first line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// The chain (organization id, or `platform`).
    pub chain: String,
    /// The sequence number of the event before the first one in the bundle.
    pub after: i64,
    /// Its hash (zeros at the chain's start).
    #[serde(with = "hex::serde")]
    pub after_hash: Digest,
    /// The last event's sequence number.
    pub to: i64,
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLine {
    /// Sequence number.
    pub seq: i64,
    /// The record JSON, exactly as hashed.
    pub record: String,
    /// The previous event's hash.
    #[serde(with = "hex::serde")]
    pub prev_hash: Digest,
    /// This event's hash.
    #[serde(with = "hex::serde")]
    pub hash: Digest,
}

/// One checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointLine {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
}

/// A bundle in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// Its header.
    pub header: Header,
    /// Its events.
    pub events: Vec<EventLine>,
    /// Its checkpoints.
    pub checkpoints: Vec<Checkpoint>,
}

/// Why a bundle could not be read or does not verify.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A line is not what the format says.
    #[error("line {line}: {why}")]
    Format {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        why: String,
    },
    /// The chain is broken.
    #[error(transparent)]
    Broken(#[from] Break),
}

impl Bundle {
    /// The JSON Lines text.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        let mut line = |value: String| {
            out.push_str(&value);
            out.push('\n');
        };
        line(serde_json::to_string(&self.header).unwrap_or_default());
        for event in &self.events {
            line(serde_json::to_string(event).unwrap_or_default());
        }
        for checkpoint in &self.checkpoints {
            line(
                serde_json::to_string(&CheckpointLine {
                    checkpoint: checkpoint.clone(),
                })
                .unwrap_or_default(),
            );
        }
        out
    }

    /// Reads the JSON Lines text.
    pub fn parse(text: &str) -> Result<Self, BundleError> {
        let bad = |line: usize, why: String| BundleError::Format { line, why };
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let (_, first) = lines
            .next()
            .ok_or_else(|| bad(1, "the bundle is empty".into()))?;
        let header: Header =
            serde_json::from_str(first).map_err(|e| bad(1, format!("not a bundle header: {e}")))?;
        if header.format != FORMAT || header.version != VERSION {
            return Err(bad(
                1,
                format!(
                    "format `{}` version {}; this gateway reads `{FORMAT}` version {VERSION}",
                    header.format, header.version
                ),
            ));
        }
        let mut events = Vec::new();
        let mut checkpoints = Vec::new();
        for (index, text) in lines {
            if let Ok(line) = serde_json::from_str::<CheckpointLine>(text) {
                checkpoints.push(line.checkpoint);
            } else {
                let event: EventLine = serde_json::from_str(text).map_err(|e| {
                    bad(index + 1, format!("neither an event nor a checkpoint: {e}"))
                })?;
                events.push(event);
            }
        }
        Ok(Self {
            header,
            events,
            checkpoints,
        })
    }

    /// Verifies the bundle with `keys`: the chain from its anchor, every
    /// checkpoint, and that a checkpoint signs its last event.
    pub fn verify(&self, keys: &KeySet) -> Result<Verified, Break> {
        let chain = &self.header.chain;
        let rows: Vec<Row> = self
            .events
            .iter()
            .map(|e| Row {
                seq: e.seq,
                record: e.record.clone(),
                prev_hash: e.prev_hash,
                hash: e.hash,
                columns: None,
            })
            .collect();
        let anchor = Anchor {
            seq: self.header.after,
            hash: self.header.after_hash,
        };
        let verified = verify_chain(chain, anchor, &rows, &self.checkpoints, keys)?;
        if verified.last != self.header.to {
            return Err(Break {
                chain: chain.clone(),
                seq: verified.last + 1,
                kind: BreakKind::Truncated,
                detail: format!(
                    "the header says the bundle ends at event {}, its events end at {}",
                    self.header.to, verified.last
                ),
            });
        }
        if verified.signed_to != verified.last {
            return Err(Break {
                chain: chain.clone(),
                seq: verified.signed_to + 1,
                kind: BreakKind::Inserted,
                detail: "no checkpoint signs the bundle's last events".into(),
            });
        }
        Ok(verified)
    }
}

/// Verifies `bundles` in order and that each starts where the previous one
/// ended (same chain, next sequence number, linked hash).
pub fn verify_consecutive(bundles: &[Bundle], keys: &KeySet) -> Result<Vec<Verified>, Break> {
    let mut verified: Vec<Verified> = Vec::new();
    for bundle in bundles {
        if let Some(previous) = verified.last() {
            let header = &bundle.header;
            if header.chain != previous.chain
                || header.after != previous.last
                || header.after_hash != previous.last_hash
            {
                return Err(Break {
                    chain: header.chain.clone(),
                    seq: previous.last + 1,
                    kind: if header.after > previous.last {
                        BreakKind::Deleted
                    } else {
                        BreakKind::Modified
                    },
                    detail: format!(
                        "this bundle does not continue the previous one (it starts after event {} of `{}`, the previous ended at {} of `{}`)",
                        header.after, header.chain, previous.last, previous.chain
                    ),
                });
            }
        }
        verified.push(bundle.verify(keys)?);
    }
    Ok(verified)
}
