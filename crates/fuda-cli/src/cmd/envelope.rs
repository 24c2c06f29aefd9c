//! `fuda inspect` and `fuda recover`: protected files without the key service.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use fuda_core::envelope;
use fuda_core::label::{self, Status};
use fuda_core::store::envelope::decode_body;
use fuda_core::store::Stored;
use fuda_core::trust::TrustStore;

use crate::config;
use crate::output::timestamp;

/// Show a protected file's header — label, document id, recipients — without any key.
///
/// The label is verified against your trust store. Standard age tools see the same file
/// as an ordinary age file and ignore the label stanza.
#[derive(clap::Args)]
pub struct InspectArgs {
    /// The protected file (NAME.fuda).
    file: PathBuf,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

/// Decrypt a protected file with the organisation's break-glass recovery identity.
///
/// Every protected file is also encrypted to the recovery recipients of the policy, so
/// losing the key service never loses data. The plaintext is written atomically (a temp
/// file renamed on success): a damaged file leaves nothing behind. The same works with
/// `age -d -i KEYFILE FILE.fuda`.
#[derive(clap::Args)]
pub struct RecoverArgs {
    /// The protected file (NAME.fuda).
    file: PathBuf,
    /// The age identity file holding the recovery key (AGE-SECRET-KEY-1…).
    #[arg(long, short)]
    identity: PathBuf,
    /// Where to write the plaintext [default: the name without .fuda].
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,
}

pub fn inspect(args: InspectArgs) -> Result<ExitCode> {
    let summary = envelope::inspect(&args.file).with_context(|| args.file.display().to_string())?;
    let local = TrustStore::load(&config::trust_path()?)?;
    // Before `fuda init` there is no config: the local trust store (if any) is all there is.
    let trust = match config::Config::load() {
        Ok(c) => crate::directory::trust_store(&c, local)?,
        Err(_) => local,
    };
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
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        let mut v = serde_json::to_value(&summary)?;
        v["path"] = fuda_core::pathname::JsonPath::new(&args.file).value();
        v["status"] = serde_json::json!(status);
        if let Some(l) = label {
            v["label"]["record"] = serde_json::to_value(l)?;
        }
        if let Some(p) = problem {
            v["problem"] = serde_json::json!(p);
        }
        writeln!(out, "{v}")?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "{}: age v1 protected file", args.file.display())?;
    match (&summary.label, label) {
        (Some(stanza), Some(l)) => {
            writeln!(out, "  document: {}", stanza.doc_id)?;
            writeln!(
                out,
                "  label:    {} ({status}), owner {}, set by {} at {}",
                l.level,
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
                args.file.display()
            )
        })?,
    };
    let bytes = envelope::recover(&args.file, &args.identity, &out, args.force)
        .with_context(|| format!("recovering {}", args.file.display()))?;
    // Break-glass use is worth a line in the local change log even without a key service.
    let doc = envelope::inspect(&args.file)
        .ok()
        .and_then(|s| s.label)
        .map(|l| l.doc_id);
    let _ = config::log_change(&serde_json::json!({
        "at": timestamp(fuda_core::labeling::now()), "action": "recover", "path": fuda_core::pathname::JsonPath::new(&std::path::absolute(&args.file).unwrap_or(args.file.clone())),
        "doc": doc, "out": std::path::absolute(&out).unwrap_or(out.clone()),
    }));
    println!(
        "recovered {} ({bytes} bytes) to {}",
        args.file.display(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
