//! Where committed records go besides the store: the gateway's log
//! (always), and the configured sinks — standard output for a log
//! shipper, or a size-rotated file — as the stored JSON or as OCSF.
//!
//! Sinks read the store's feed of committed records, so they see exactly
//! what is durable, in commit order, and never slow a change down. A sink
//! that falls behind loses the oldest lines and says how many.

use super::record::Record;
use crate::config::{AuditSinkConfig, AuditSinkFormat, AuditSinkKind};
use serde_json::{Value, json};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Runs the sinks over `feed` until it closes.
pub async fn run(mut feed: broadcast::Receiver<Arc<str>>, configs: Vec<AuditSinkConfig>) {
    let mut sinks: Vec<Sink> = configs.into_iter().map(Sink::new).collect();
    loop {
        match feed.recv().await {
            Ok(record) => {
                tracing::info!(target: "portcullis::audit", record = %record);
                for sink in &mut sinks {
                    sink.write(&record);
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "audit sinks fell behind; lines were skipped (the store has every event)"
                );
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

struct Sink {
    config: AuditSinkConfig,
    file: Option<std::fs::File>,
    written: u64,
}

impl Sink {
    fn new(config: AuditSinkConfig) -> Self {
        Self {
            config,
            file: None,
            written: 0,
        }
    }

    fn write(&mut self, record: &str) {
        let line = match self.config.format {
            AuditSinkFormat::Json => record.to_string(),
            AuditSinkFormat::Ocsf => match serde_json::from_str::<Record>(record) {
                Ok(parsed) => ocsf(&parsed).to_string(),
                Err(_) => return,
            },
        };
        match self.config.kind {
            AuditSinkKind::Stdout => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
            }
            AuditSinkKind::File => {
                if let Err(error) = self.append(&line) {
                    tracing::warn!(%error, path = ?self.config.path, "the audit file sink could not write");
                    self.file = None;
                }
            }
        }
    }

    fn append(&mut self, line: &str) -> std::io::Result<()> {
        let Some(path) = self.config.path.clone() else {
            return Ok(());
        };
        let size = line.len() as u64 + 1;
        if self.file.is_some() && self.written + size > self.config.max_bytes {
            self.file = None;
            rotate(&path, self.config.keep)?;
        }
        if self.file.is_none() {
            let file = open_private(&path)?;
            self.written = file.metadata()?.len();
            self.file = Some(file);
        }
        if let Some(file) = &mut self.file {
            writeln!(file, "{line}")?;
            self.written += size;
        }
        Ok(())
    }
}

fn numbered(path: &std::path::Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// `path` becomes `path.1`, `path.1` becomes `path.2`, … keeping `keep`.
fn rotate(path: &std::path::Path, keep: u32) -> std::io::Result<()> {
    if keep == 0 {
        return std::fs::remove_file(path);
    }
    let _ = std::fs::remove_file(numbered(path, keep));
    for n in (1..keep).rev() {
        let from = numbered(path, n);
        if from.exists() {
            std::fs::rename(&from, numbered(path, n + 1))?;
        }
    }
    std::fs::rename(path, numbered(path, 1))
}

fn open_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// OCSF version the mapping follows.
const OCSF_VERSION: &str = "1.1.0";

/// `record` as an OCSF event: Authentication (3002) for sign-ins, API
/// Activity (6003) for everything else.
pub fn ocsf(record: &Record) -> Value {
    let status_id = match record.outcome.as_str() {
        "success" => 1,
        _ => 2,
    };
    let (class_uid, category_uid, activity_id) = if record.action.starts_with("auth.") {
        (3002, 3, 1)
    } else {
        let change = record.details.get("change").and_then(Value::as_str);
        let activity = match change {
            Some("created") => 1,
            Some("updated") => 3,
            Some("deleted") => 4,
            _ => 99,
        };
        (6003, 6, activity)
    };
    json!({
        "class_uid": class_uid,
        "category_uid": category_uid,
        "activity_id": activity_id,
        "type_uid": class_uid * 100 + activity_id,
        "time": record.at,
        "severity_id": 1,
        "status_id": status_id,
        "status": record.outcome,
        "message": record.action,
        "metadata": {
            "version": OCSF_VERSION,
            "uid": format!("{}:{}", record.chain, record.seq),
            "tenant_uid": record.org,
            "product": { "name": "Portcullis", "vendor_name": "Portcullis" },
        },
        "actor": { "user": { "uid": record.actor } },
        "src_endpoint": { "ip": record.client },
        "http_request": { "user_agent": record.user_agent, "uid": record.request_id },
        "api": { "operation": record.action },
        "resources": record.resource.as_ref().map(|r| vec![json!({ "uid": r })]).unwrap_or_default(),
        "unmapped": { "details": record.details },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(action: &str, outcome: &str) -> Record {
        Record {
            v: 1,
            chain: "org_a".into(),
            seq: 7,
            at: 1_000,
            org: Some("org_a".into()),
            actor: "user:usr_1".into(),
            action: action.into(),
            outcome: outcome.into(),
            resource: Some("orgs/org_a/roles/rol_1".into()),
            client: Some("192.0.2.1".into()),
            user_agent: None,
            request_id: Some("req-1".into()),
            details: json!({"change": "deleted"}),
        }
    }

    #[test]
    fn a_file_sink_rotates_by_size_and_keeps_the_configured_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut sink = Sink::new(AuditSinkConfig {
            kind: AuditSinkKind::File,
            format: AuditSinkFormat::Json,
            path: Some(path.clone()),
            max_bytes: 4096,
            keep: 2,
        });
        let line = serde_json::to_string(&record("record.changed", "success")).unwrap();
        for _ in 0..100 {
            sink.write(&line);
        }
        let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        assert!(size(&path) <= 4096 && size(&path) > 0);
        assert!(size(&numbered(&path, 1)) > 0 && size(&numbered(&path, 2)) > 0);
        assert!(!numbered(&path, 3).exists(), "only `keep` old files stay");
        let kept = std::fs::read_to_string(&path).unwrap();
        assert!(kept.lines().all(|l| l == line), "whole lines only");
    }

    #[test]
    fn ocsf_names_the_class_activity_and_status() {
        let signed_in = ocsf(&record("auth.failed", "failure"));
        assert_eq!(signed_in["class_uid"], 3002);
        assert_eq!(signed_in["status_id"], 2);
        let deleted = ocsf(&record("record.changed", "success"));
        assert_eq!(deleted["class_uid"], 6003);
        assert_eq!(deleted["activity_id"], 4);
        assert_eq!(deleted["type_uid"], 600_304);
        assert_eq!(deleted["metadata"]["uid"], "org_a:7");
        assert_eq!(deleted["src_endpoint"]["ip"], "192.0.2.1");
        assert_eq!(deleted["resources"][0]["uid"], "orgs/org_a/roles/rol_1");
    }
}
