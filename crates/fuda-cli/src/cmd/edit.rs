//! `fuda edit FILE.fuda`: edit a protected document in one step — a working copy in your
//! private state folder (never beside the protected file), labeled with the document's
//! label, opened in your editor; when the editor exits and the content changed, it goes
//! back as the document's next version (`fuda save`), and the working copy is removed.
//! The `edit` right is asked for before anything is written.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use fuda_core::digest::Digest;
use fuda_core::envelope;
use fuda_core::label::Method;
use fuda_core::pathname::escaped;
use fuda_core::rights::{Right, Rights};

use crate::args::OutputArgs;
use crate::config::{self, Session};
use crate::keyservice;

/// Edit a protected file: a private working copy opened in your editor, saved back as the
/// next version when you change it (needs the edit right).
#[derive(clap::Args)]
pub struct EditArgs {
    /// The protected file.
    file: PathBuf,
    /// The editor command, run through `sh -c` with the working copy as its last
    /// argument [default: $VISUAL, else $EDITOR, else vi].
    #[arg(long, value_name = "COMMAND")]
    editor: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

pub fn run(args: EditArgs) -> Result<ExitCode> {
    let session = Session::load(None)?;
    let conn = keyservice::connect(&session)?;
    let account = keyservice::account(&conn, &session)?;
    let doc = fuda_protect::doc_of(&args.file)?;
    let name = envelope::plaintext_path(&args.file)
        .and_then(|p| p.file_name().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("document"));
    let edits = config::state_dir()?.join("edit");
    let dir = edits.join(doc.to_string());
    let work = dir.join(name);
    if fuda_core::longpath::symlink_metadata(&work).is_ok() {
        bail!(
            "an earlier edit of {} left its working copy at {}: save it back with `fuda save {} --to {}`, or delete it",
            escaped(&args.file),
            escaped(&work),
            escaped(&work),
            escaped(&args.file)
        );
    }
    let opened = account.open(&args.file, Rights::NONE.with(Right::View).with(Right::Edit))?;
    for d in [&edits, &dir] {
        fuda_core::fsutil::create_private_dir(d)
            .with_context(|| format!("cannot create {}", escaped(d)))?;
    }
    opened.write_file(&work)?;
    super::workcopy::label(&session, &args.file, &work, Method::Opened)?;
    let before = Digest::of_file(&work)?;
    let editor = args
        .editor
        .clone()
        .or_else(|| std::env::var("VISUAL").ok())
        .or_else(|| std::env::var("EDITOR").ok())
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "vi".into());
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&work)
        .status()
        .with_context(|| format!("cannot start the editor {editor:?}"))?;
    if !status.success() {
        bail!(
            "the editor exited with {status}; your working copy is kept at {}: save it back with `fuda save {} --to {}`",
            escaped(&work),
            escaped(&work),
            escaped(&args.file)
        );
    }
    if Digest::of_file(&work)? == before {
        fuda_core::longpath::remove_file(&work)?;
        let _ = std::fs::remove_dir(&dir);
        eprintln!("{}: unchanged", escaped(&args.file));
        return Ok(ExitCode::SUCCESS);
    }
    let label = super::workcopy::document_label(&session, &work)?;
    let saved = account.save(&work, &label, &args.file, false)?;
    let _ = std::fs::remove_dir(&dir);
    super::save::print(&work, &saved, args.output.json)?;
    Ok(ExitCode::SUCCESS)
}
