//! The audit export's encodings (CSV, JSON lines) and its pages: the export
//! reads the log page by page, oldest first, so that memory stays flat
//! however long the log, whether it is streamed to a download
//! (`GET /v1/audit/export`, a one-time link) or built into an email.

use bytes::Bytes;
use keyward_core::audit::AuditEvent;
use keyward_core::id::OrgId;
use keyward_core::store::{AuditQuery, Store};
use std::sync::Arc;

/// Events read from storage per page.
pub const PAGE: u32 = 1_000;

/// An export's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// RFC 4180, with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl Format {
    /// `csv` or `jsonl`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "csv" => Some(Self::Csv),
            "jsonl" => Some(Self::Jsonl),
            _ => None,
        }
    }

    /// The file extension, which is also its name in requests.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Jsonl => "jsonl",
        }
    }

    /// The media type.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Jsonl => "application/x-ndjson",
        }
    }
}

/// The file name of an organization's export made on `day`.
pub fn file_name(org: &OrgId, day: chrono::DateTime<chrono::Utc>, format: Format) -> String {
    format!(
        "keyward-audit-{org}-{}.{}",
        day.format("%Y-%m-%d"),
        format.extension()
    )
}

/// An export in progress: which events have been written so far.
#[derive(Debug)]
pub struct ExportPages {
    store: Arc<dyn Store>,
    org: OrgId,
    query: AuditQuery,
    format: Format,
    header_written: bool,
    done: bool,
}

impl ExportPages {
    /// The export of the events of `org` that match `query` and come before
    /// the event numbered `before_seq` (the export's own event), oldest first.
    pub fn new(
        store: Arc<dyn Store>,
        org: OrgId,
        query: AuditQuery,
        before_seq: i64,
        format: Format,
    ) -> Self {
        Self {
            store,
            org,
            query: AuditQuery {
                after_seq: Some(0),
                until_seq: Some(before_seq - 1),
                limit: PAGE,
                newest_first: false,
                ..query
            },
            format,
            header_written: false,
            done: false,
        }
    }

    /// The export as a response body's stream of chunks.
    pub fn stream(self) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
        futures_util::stream::unfold(self, Self::next)
    }

    /// The next chunk: one page of events, encoded.
    pub async fn next(mut self) -> Option<(Result<Bytes, std::io::Error>, Self)> {
        if self.done {
            return None;
        }
        let page = match self.store.search_audit(&self.org, &self.query).await {
            Ok(page) => page,
            Err(error) => {
                tracing::error!(%error, "audit export failed mid-way");
                self.done = true;
                return Some((
                    Err(std::io::Error::other("storage failed during the export")),
                    self,
                ));
            }
        };
        self.done = page.len() < self.query.limit as usize;
        self.query.after_seq = page.last().map(|e| e.seq).or(self.query.after_seq);
        let mut out = Vec::with_capacity(page.len() * 512);
        let encoded = match self.format {
            Format::Csv => {
                let header = !std::mem::replace(&mut self.header_written, true);
                encode_csv(&page, header, &mut out)
            }
            Format::Jsonl => encode_jsonl(&page, &mut out),
        };
        Some((encoded.map(|()| Bytes::from(out)), self))
    }
}

const CSV_HEADER: [&str; 16] = [
    "id",
    "seq",
    "occurred_at",
    "actor_type",
    "actor_id",
    "actor_name",
    "team",
    "action",
    "target_type",
    "target_id",
    "target_name",
    "ip",
    "user_agent",
    "changes",
    "prev_hash",
    "hash",
];

fn encode_csv(
    events: &[AuditEvent],
    header: bool,
    out: &mut Vec<u8>,
) -> Result<(), std::io::Error> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    if header {
        writer.write_record(CSV_HEADER)?;
    }
    for e in events {
        let actor_type = serde_json::to_value(e.actor.kind).ok();
        let changes = serde_json::Value::Object(e.changes.clone()).to_string();
        let record = [
            e.id.as_str(),
            &e.seq.to_string(),
            &e.occurred_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            actor_type.as_ref().and_then(|v| v.as_str()).unwrap_or(""),
            &e.actor.id,
            &e.actor.name,
            e.team.as_deref().unwrap_or(""),
            &e.action,
            &e.target.kind,
            &e.target.id,
            &e.target.name,
            e.ip.as_deref().unwrap_or(""),
            e.user_agent.as_deref().unwrap_or(""),
            &changes,
            &e.prev_hash,
            &e.hash,
        ];
        let cells: Vec<_> = record.iter().map(|cell| neutralise(cell)).collect();
        writer.write_record(cells.iter().map(|cell| cell.as_bytes()))?;
    }
    writer.flush()
}

/// A cell a spreadsheet would run as a formula gets a leading `'`, so it is
/// shown as text (OWASP's advice for CSV injection).
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

fn encode_jsonl(events: &[AuditEvent], out: &mut Vec<u8>) -> Result<(), std::io::Error> {
    for event in events {
        serde_json::to_writer(&mut *out, event)?;
        out.push(b'\n');
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::neutralise;

    #[test]
    fn formulas_are_neutralised_and_text_is_left_alone() {
        assert_eq!(neutralise("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise("+1"), "'+1");
        assert_eq!(neutralise("-1"), "'-1");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("key.created"), "key.created");
        assert_eq!(neutralise(""), "");
    }
}
