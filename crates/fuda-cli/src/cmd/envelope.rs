//! `fuda inspect` and `fuda recover`: protected files without the key service.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use fuda_core::envelope::{self, LabelSummary, StanzaSummary};
use fuda_core::label::{self, Label, Status};
use fuda_core::pathname::{escaped, JsonPath};
use fuda_core::store::envelope::decode_body;
use fuda_core::store::Stored;
use fuda_core::trust::TrustStore;
use serde::Serialize;

use super::label::ChangeLogEntry;
use crate::args::OutputArgs;
use crate::config;
use crate::output::{self, timestamp, Record};

/// Show a protected file's header — label, document id, recipients — without any key.
///
/// The label is verified against your trust store. Standard age tools see the same file
/// as an ordinary age file and ignore the label stanza.
#[derive(clap::Args)]
pub struct InspectArgs {
    /// The protected file (NAME.fuda).
    file: PathBuf,
    #[command(flatten)]
    output: OutputArgs,
}

/// Decrypt a protected file with the organisation's break-glass recovery identity.
///
/// The key service puts a stanza for the organisation's recovery key in every protected
/// file it registers, so losing the key service never loses data. Give the key as its
/// identity file (--identity) or as M of its N shares (--shares). The plaintext is written
/// atomically (a temp file renamed on success): a damaged file leaves nothing behind. The
/// same works with `age -d -i KEYFILE FILE.fuda` (Go age or rage).
#[derive(clap::Args)]
pub struct RecoverArgs {
    /// The protected file (NAME.fuda).
    file: PathBuf,
    /// The age identity file holding the recovery key (AGE-SECRET-KEY-1…).
    #[arg(
        long,
        short,
        required_unless_present = "shares",
        conflicts_with = "shares"
    )]
    identity: Option<PathBuf>,
    /// M shares of the recovery key, comma-separated: each the share's text
    /// (fuda-share-v1:…) or a file holding it. A mistyped share is named.
    #[arg(long, value_delimiter = ',', value_name = "SHARE,SHARE")]
    shares: Vec<String>,
    /// Where to write the plaintext [default: the name without .fuda].
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    output: OutputArgs,
}

/// `inspect --json`: a protected file's header, its label verified.
#[derive(Serialize)]
struct Inspected<'a> {
    path: JsonPath<'a>,
    /// The label's status against your trust store.
    status: Status,
    /// Always `age-encryption.org/v1`.
    version: &'static str,
    stanzas: &'a [StanzaSummary],
    label: Option<InspectedLabel<'a>>,
    /// The header MAC, base64 (not verified: that needs the file key).
    mac: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<&'a str>,
}

impl Record for Inspected<'_> {
    const TYPE: &'static str = "file";
}

/// The label stanza of an inspected file, and the label record it holds.
#[derive(Serialize)]
struct InspectedLabel<'a> {
    #[serde(flatten)]
    stanza: &'a LabelSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<&'a Label>,
}

/// `recover --json`: a protected file decrypted with the recovery identity.
#[derive(Serialize)]
struct Recovered<'a> {
    path: JsonPath<'a>,
    /// Where the plaintext was written.
    out: JsonPath<'a>,
    /// Its length.
    bytes: u64,
    doc: Option<&'a str>,
}

impl Record for Recovered<'_> {
    const TYPE: &'static str = "file";
}

pub fn inspect(args: InspectArgs) -> Result<ExitCode> {
    let summary = envelope::inspect(&args.file).with_context(|| escaped(&args.file))?;
    let local = TrustStore::load(&config::trust_path()?)?;
    // Before `fuda init` there is no config: the local trust store (if any) is all there is.
    let config = config::Config::load().ok();
    let trust = match &config {
        Some(c) => crate::directory::trust_store(c, local)?,
        None => local,
    };
    // Levels are shown as people name them, under the policy in force (the built-in
    // default before `fuda init`).
    let policy = config
        .as_ref()
        .and_then(|c| config::load_policy(&c.policy).ok())
        .or_else(|| fuda_core::policy::Policy::builtin("default").ok());
    let stored = summary
        .label
        .as_ref()
        .map(|l| decode_body(&base64_decode(&l.body_base64)));
    let (status, label, problem) = match &stored {
        None => (Status::Missing, None, None),
        Some(Stored::Signed(signed)) => (
            label::verify(signed, &trust, None, None).status,
            Some(&signed.label),
            None,
        ),
        Some(Stored::Corrupt(reason)) => (Status::Tampered, None, Some(reason.clone())),
        Some(Stored::Foreign(_)) => (Status::Unverified, None, None),
    };
    let mut out = output::stdout();
    if args.output.json {
        let inspected = Inspected {
            path: JsonPath::new(&args.file),
            status,
            version: summary.version,
            stanzas: &summary.stanzas,
            label: summary.label.as_ref().map(|stanza| InspectedLabel {
                stanza,
                record: label,
            }),
            mac: &summary.mac,
            problem: problem.as_deref(),
        };
        output::write_json(&mut out, &inspected)?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "{}: age v1 protected file", escaped(&args.file))?;
    match (&summary.label, label) {
        (Some(stanza), Some(l)) => {
            writeln!(out, "  document: {}", stanza.doc_id)?;
            writeln!(
                out,
                "  label:    {} ({status}), owner {}, set by {} at {}",
                policy.as_ref().map_or_else(
                    || l.level.clone(),
                    |p| super::label::level_name(p, &l.level)
                ),
                l.owner,
                l.set_by,
                timestamp(l.set_at)
            )?;
        }
        (Some(stanza), None) => {
            writeln!(out, "  document: {}\n  label:    {status}", stanza.doc_id)?;
        }
        (None, _) => writeln!(out, "  label:    none (not written by fuda)")?,
    }
    if let Some(p) = problem {
        writeln!(out, "  problem:  {p}")?;
    }
    writeln!(out, "  stanzas:")?;
    for s in &summary.stanzas {
        writeln!(
            out,
            "    -> {} {} ({} byte body)",
            s.tag,
            s.args.join(" "),
            s.body_len
        )?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap_or_default()
}

pub fn recover(args: RecoverArgs) -> Result<ExitCode> {
    let out = match args.out {
        Some(o) => o,
        None => envelope::plaintext_path(&args.file).ok_or_else(|| {
            anyhow!(
                "{}: the name does not end in .fuda; say where to write with --out",
                escaped(&args.file)
            )
        })?,
    };
    let recover = |at: &Path, force: bool| {
        match &args.identity {
            Some(identity) => envelope::recover(&args.file, identity, at, force),
            None => {
                let identity = fuda_core::recovery_key::combine_args(&args.shares)?;
                envelope::recover_with_identity(&args.file, &identity, at, force)
            }
        }
        .with_context(|| format!("recovering {}", escaped(&args.file)))
    };
    // The recovered plaintext carries the document's label, signed by whoever recovered
    // it, from the moment it appears (without a fuda identity here, it stays unlabeled
    // and the warning says so).
    let bytes = match crate::config::Session::load(None) {
        Ok(session) => super::workcopy::write_then_label(
            &session,
            &args.file,
            &out,
            label::Method::Recovered,
            args.force,
            |at| recover(at, args.force && at == out.as_path()),
        )?,
        Err(e) => {
            let bytes = recover(&out, args.force)?;
            eprintln!(
                "fuda: warning: {} was written but not labeled (no fuda identity here: {e:#}): label it with `fuda label set`, or delete it when done",
                escaped(&out)
            );
            bytes
        }
    };
    // Break-glass use is worth a line in the local change log even without a key service.
    let doc = envelope::inspect(&args.file)
        .ok()
        .and_then(|s| s.label)
        .map(|l| l.doc_id);
    let absolute_file = std::path::absolute(&args.file).unwrap_or(args.file.clone());
    let absolute_out = std::path::absolute(&out).unwrap_or(out.clone());
    let _ = ChangeLogEntry {
        at: timestamp(fuda_core::labeling::now()),
        action: "recover",
        by: None,
        path: JsonPath::new(&absolute_file),
        doc: doc.as_deref(),
        from: None,
        to: None,
        justification: None,
        out: Some(JsonPath::new(&absolute_out)),
    }
    .log();
    let mut stdout = output::stdout();
    if args.output.json {
        let recovered = Recovered {
            path: JsonPath::new(&args.file),
            out: JsonPath::new(&out),
            bytes,
            doc: doc.as_deref(),
        };
        output::write_json(&mut stdout, &recovered)?;
    } else {
        writeln!(
            stdout,
            "recovered {} ({bytes} bytes) to {}",
            escaped(&args.file),
            escaped(&out)
        )?;
    }
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}
