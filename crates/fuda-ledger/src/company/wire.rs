//! The company ledger on its way from the key service to `fuda admin ledger`: JSON lines,
//! one [`Line`] each, so that neither side holds the files in memory.
//!
//! The service builds the ledger (the passes of [`super::Builder`]) and sends `progress`
//! lines meanwhile (a ledger of millions of files takes minutes, and a silent connection
//! looks dead); then the `head` (sources, counts, rows), every `finding`, every `file`,
//! and an `end` that counts them — a stream cut off before its `end` is refused, never
//! taken for a smaller ledger. The client reads it back into a [`CompanyLedger`] ([`read`]),
//! adding the review against last time's ledger, and writes it in the format asked for
//! ([`crate::ledger::company`]): the service never runs LibreOffice, and the admin's
//! `--since` file never leaves their machine.

use std::io::{BufRead, Write};
use std::path::Path;

use fuda_core::policy::Policy;
use serde::{Deserialize, Serialize};

use super::{Buckets, CompanyLedger, Source};
use crate::inventory::review::{Matcher, Previous};
use crate::inventory::{files, AssetRow, FileEntry, Finding, PolicyInfo, Summary};

/// The `format` of a stream's head.
pub const FORMAT: &str = "fuda-company-ledger-stream";
/// The version of the stream this library writes and reads.
pub const VERSION: u32 = 1;

/// What a stream's head carries.
#[derive(Debug, Serialize, Deserialize)]
pub struct Head {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// When the ledger was made, Unix seconds.
    pub generated_at: i64,
    /// The policy in force.
    pub policy: PolicyInfo,
    /// Every machine and hook.
    pub sources: Vec<Source>,
    /// The machines overdue.
    pub overdue: Vec<String>,
    /// Counts.
    pub summary: Summary,
    /// Ledger rows.
    pub rows: Vec<AssetRow>,
}

/// The counts a complete stream ends with.
#[derive(Debug, Serialize, Deserialize)]
pub struct End {
    /// Findings sent.
    pub findings: usize,
    /// Files sent.
    pub files: usize,
}

/// One line of the stream.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Line {
    /// Files read so far (while the ledger is being built).
    Progress(u64),
    /// The ledger but its findings and files.
    Head(Box<Head>),
    /// A finding.
    Finding(Box<Finding>),
    /// A file.
    File(Box<FileEntry>),
    /// The end, with the counts.
    End(End),
}

/// How a `file` line starts: the record follows, then `}`.
const FILE_PREFIX: &[u8] = b"{\"file\":";

/// Writes one line.
pub fn line(out: &mut dyn Write, line: &Line) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, line)?;
    out.write_all(b"\n")
}

/// Writes `ledger` (after any progress lines) as head, findings, files and end.
pub fn write(ledger: &CompanyLedger, out: &mut dyn Write) -> std::io::Result<()> {
    line(
        out,
        &Line::Head(Box::new(Head {
            format: FORMAT.into(),
            version: VERSION,
            generated_at: ledger.generated_at,
            policy: ledger.policy.clone(),
            sources: ledger.sources.clone(),
            overdue: ledger.overdue.clone(),
            summary: ledger.summary.clone(),
            rows: ledger.rows.clone(),
        })),
    )?;
    let mut findings = 0;
    for f in ledger.findings.iter() {
        line(out, &Line::Finding(Box::new(f?)))?;
        findings += 1;
    }
    // The files' records go as they were spilled, without parsing them again.
    let mut files = 0;
    ledger.files.for_each_json(|record| {
        out.write_all(FILE_PREFIX)?;
        out.write_all(record)?;
        out.write_all(b"}\n")?;
        files += 1;
        Ok(())
    })?;
    line(out, &Line::End(End { findings, files }))?;
    out.flush()
}

/// Why a stream could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Reading or spilling failed.
    #[error("reading the company ledger: {0}")]
    Io(#[from] std::io::Error),
    /// A line is not a line of this stream.
    #[error("line {line} of the company ledger is not valid: {reason}")]
    Invalid {
        /// 1-based.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The stream ended before its `end` (the connection broke, or the service failed).
    #[error("the company ledger was cut off after {files} files: nothing was written; try again (the service's log says why it stopped)")]
    CutOff {
        /// Files received.
        files: usize,
    },
}

/// Reads a stream into a ledger, its findings and files spilled to `spill_dir`; with
/// `previous` (last time's company ledger JSON), adds the review under `policy`.
pub fn read(
    input: &mut dyn BufRead,
    policy: &Policy,
    previous: Option<&Previous>,
    spill_dir: &Path,
) -> Result<CompanyLedger, WireError> {
    let mut head: Option<Head> = None;
    let mut findings = Buckets::new(spill_dir);
    let mut files = files::Spill::new(spill_dir)?;
    let mut review = previous.map(|p| Matcher::new(p, policy));
    let (mut got_findings, mut got_files) = (0, 0);
    let mut ended = None;
    let mut text = Vec::new();
    let mut number = 0;
    loop {
        text.clear();
        if input.read_until(b'\n', &mut text)? == 0 {
            break;
        }
        number += 1;
        let invalid = |reason: String| WireError::Invalid {
            line: number,
            reason,
        };
        // Without a review, a file's record is checked and spilled as it came.
        if review.is_none() && head.is_some() && ended.is_none() {
            if let Some(record) = text
                .strip_prefix(FILE_PREFIX)
                .and_then(|r| r.strip_suffix(b"}\n"))
            {
                serde_json::from_slice::<FileEntry>(record).map_err(|e| invalid(e.to_string()))?;
                files.push(record, 0)?;
                files.push(b"\n", 1)?;
                got_files += 1;
                continue;
            }
        }
        let parsed: Line = serde_json::from_slice(&text).map_err(|e| invalid(e.to_string()))?;
        if ended.is_some() {
            return Err(invalid("a line after the end".into()));
        }
        match parsed {
            Line::Progress(_) => {}
            Line::Head(h) => {
                if h.format != FORMAT || h.version != VERSION {
                    return Err(invalid(format!(
                        "a {} stream, version {}; this fuda reads {FORMAT} version {VERSION}",
                        h.format, h.version
                    )));
                }
                head = Some(*h);
            }
            Line::Finding(f) if head.is_some() => {
                findings.push(&f)?;
                got_findings += 1;
            }
            Line::File(f) if head.is_some() => {
                if let Some(r) = &mut review {
                    r.see(&f);
                }
                files.push(&files::Spill::lines(std::slice::from_ref(&f)), 1)?;
                got_files += 1;
            }
            Line::End(e) => ended = Some(e),
            _ => return Err(invalid("a finding or file before the head".into())),
        }
    }
    let (Some(head), Some(end)) = (head, ended) else {
        return Err(WireError::CutOff { files: got_files });
    };
    if (end.findings, end.files) != (got_findings, got_files) {
        return Err(WireError::CutOff { files: got_files });
    }
    let review = match review {
        Some(matcher) => {
            let (review, disappeared) = matcher.finish();
            for f in &disappeared {
                findings.push(f)?;
            }
            Some(review)
        }
        None => None,
    };
    let findings = findings.finish()?;
    let mut summary = head.summary;
    summary.findings = findings.len();
    Ok(CompanyLedger {
        generated_at: head.generated_at,
        policy: head.policy,
        sources: head.sources,
        overdue: head.overdue,
        summary,
        rows: head.rows,
        findings,
        review,
        files: files.finish()?,
    })
}
