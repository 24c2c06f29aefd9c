//! Labels on working copies: the plaintext that `fuda open --out`, `fuda export` and
//! `fuda recover` write out of a protected document carries the document's label — the
//! same document id and level, method `opened`, `exported` or `recovered`, signed by the
//! person who wrote it out, in the store that fits the file (Office documents inside,
//! other files in the extended attribute or the sidecar). The ledger then lists the copy,
//! and a copy at a level that must be protected is a high finding.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use fuda_core::label::{Label, Method, Status};
use fuda_core::pathname::escaped;

use crate::args;
use crate::config::Session;

/// The label of the protected file `protected`, as its header carries it (tampered or
/// replayed labels are not copied).
pub fn document_label(session: &Session, protected: &Path) -> Result<Label> {
    let found = args::configured_labeler(session)?
        .inspect(protected)
        .with_context(|| format!("reading the label of {}", escaped(protected)))?;
    found
        .label
        .filter(|_| !matches!(found.status, Status::Tampered | Status::Replayed))
        .ok_or_else(|| anyhow!("{} carries no valid fuda label", escaped(protected)))
}

/// Labels the plaintext `out` written out of `protected` with the document's label
/// (`method`: how it was written out).
pub fn label(session: &Session, protected: &Path, out: &Path, method: Method) -> Result<()> {
    let document = document_label(session, protected)?;
    args::configured_labeler(session)?
        .restore(out, &Label { method, ..document })
        .with_context(|| format!("labeling the working copy {}", escaped(out)))?;
    Ok(())
}

/// [`label`], or a warning that says what to do: the plaintext is written already, and
/// the command that wrote it succeeded.
pub fn label_or_warn(session: &Session, protected: &Path, out: &Path, method: Method) -> bool {
    match label(session, protected, out, method) {
        Ok(()) => true,
        Err(e) => {
            eprintln!(
                "fuda: warning: {} was written but not labeled ({}): label it with `fuda label set`, or delete it when done",
                escaped(out),
                crate::output::describe(&e)
            );
            false
        }
    }
}
