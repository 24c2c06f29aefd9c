//! `fuda inspect` and `fuda recover`: protected files without the key service.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use fuda_core::envelope;
use fuda_core::label::{self, compact, Status};
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
    let trust = TrustStore::load(&config::trust_path()?)?;
    let decoded = summary.label.as_ref().map(|l| {
        let body = base64_decode(&l.body_base64);
        compact::decode(&body)
    });
    let (status, label, problem) = match &decoded {
        None => (Status::Missing, None, None),
        Some(Err(e)) => (Status::Tampered, None, Some(e.to_string())),
        Some(Ok(signed)) => (
            label::verify(signed, &trust, None, None).status,
            Some(&signed.label),
            None,
        ),
    };
    if args.json {
        let mut v = serde_json::to_value(&summary)?;
        v["path"] = serde_json::json!(args.file);
        v["status"] = serde_json::json!(status);
        if let Some(l) = label {
            v["label"]["record"] = serde_json::to_value(l)?;
        }
        if let Some(p) = problem {
            v["problem"] = serde_json::json!(p);
        }
        println!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}: age v1 protected file", args.file.display());
    match (&summary.label, label) {
        (Some(stanza), Some(l)) => {
            println!("  document: {}", stanza.doc_id);
            println!(
                "  label:    {} ({status}), owner {}, set by {} at {}",
                l.level,
                l.owner,
                l.set_by,
                timestamp(l.set_at)
            );
        }
        (Some(stanza), None) => println!("  document: {}\n  label:    {status}", stanza.doc_id),
        (None, _) => println!("  label:    none (not written by fuda)"),
    }
    if let Some(p) = problem {
        println!("  problem:  {p}");
    }
    println!("  stanzas:");
    for s in &summary.stanzas {
        println!(
            "    -> {} {} ({} byte body)",
            s.tag,
            s.args.join(" "),
            s.body_len
        );
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
        "at": timestamp(fuda_core::labeling::now()), "action": "recover", "path": std::path::absolute(&args.file).unwrap_or(args.file.clone()),
        "doc": doc, "out": std::path::absolute(&out).unwrap_or(out.clone()),
    }));
    println!(
        "recovered {} ({bytes} bytes) to {}",
        args.file.display(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
