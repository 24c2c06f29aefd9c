//! Labels on working copies: the plaintext that `fuda open --out`, `fuda export` and
//! `fuda recover` write out of a protected document carries the document's label — the
//! same document id and level, method `opened`, `exported` or `recovered`, signed by the
//! person who wrote it out, in the store that fits the file (Office documents inside,
//! other files in the extended attribute or the sidecar). The ledger then lists the copy,
//! and a copy at a level that must be protected is a high finding.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use fuda_core::fsutil::Staged;
use fuda_core::label::{compact, Label, Method, PolicyRef, Status, LABEL_VERSION};
use fuda_core::labeling::{is_ooxml, StorePreference};
use fuda_core::pathname::escaped;
use fuda_core::store::xattr::{XattrStore, LABEL_ATTR};
use fuda_protect::Opened;

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

/// Writes the content of `opened` (the protected file `protected`) to the new file `out`
/// with the document's label, before the file appears at `out` (so that no kill leaves
/// it there unlabeled): in the extended attribute, or inside an Office document, which is
/// written and labeled under a temporary name first (`fsutil::Staged`). With the sidecar,
/// or on a file system without user extended attributes, the label follows right after.
pub fn write_labeled(
    session: &Session,
    opened: Opened,
    protected: &Path,
    out: &Path,
    method: Method,
) -> Result<()> {
    let labeler = args::configured_labeler(session)?;
    if is_ooxml(out) && labeler.preference != StorePreference::Sidecar {
        return write_then_label(session, protected, out, method, false, |at| {
            Ok(opened.write_file(at).map(drop)?)
        });
    }
    if labeler.preference == StorePreference::Sidecar {
        opened.write_file(out)?;
        label_or_warn(session, protected, out, method);
        return Ok(());
    }
    let document = match document_label(session, protected) {
        Ok(d) => d,
        Err(e) => {
            opened.write_file(out)?;
            eprintln!(
                "fuda: warning: {} was written but not labeled ({}): label it with `fuda label set`, or delete it when done",
                escaped(out),
                crate::output::describe(&e)
            );
            return Ok(());
        }
    };
    // The label `Labeler::restore` would write, signed for the content as it is written.
    let sign = |digest| {
        compact::encode(&session.identity.sign(Label {
            v: LABEL_VERSION,
            method,
            policy: PolicyRef {
                id: session.policy.id.clone(),
                version: session.policy.version,
            },
            set_by: session.identity.name().to_owned(),
            set_at: fuda_core::labeling::now(),
            seq: document.next_seq(),
            content_sha256: Some(digest),
            ..document.clone()
        }))
    };
    let (_, labeled) = opened.write_file_with_attr(out, LABEL_ATTR, sign)?;
    if !labeled {
        label_or_warn(session, protected, out, method);
    }
    Ok(())
}

/// Makes a plaintext copy of the protected file `protected` at `out` with `write` (which
/// makes the file at the path it is given) and labels it with the document's label
/// before it appears at `out`, wherever the label travels with the file (inside an Office
/// document, or in the extended attribute): `write` makes it under a temporary name
/// (`fsutil::Staged`), which is labeled and then renamed to `out` — over an existing file
/// only with `replace`. With the sidecar, or on a file system without user extended
/// attributes, `write` makes `out` itself and the label follows. A label that cannot be
/// written is a warning: the plaintext is there, and the command succeeded.
pub fn write_then_label<T>(
    session: &Session,
    protected: &Path,
    out: &Path,
    method: Method,
    replace: bool,
    write: impl FnOnce(&Path) -> Result<T>,
) -> Result<T> {
    let labeler = args::configured_labeler(session)?;
    let folder = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let travels = labeler.preference != StorePreference::Sidecar
        && (is_ooxml(out) || XattrStore::supported_at(folder));
    if !travels {
        let value = write(out)?;
        label_or_warn(session, protected, out, method);
        return Ok(value);
    }
    let exists = || anyhow!(fuda_core::envelope::Error::OutputExists(out.to_owned()));
    if !replace && fuda_core::longpath::symlink_metadata(out).is_ok() {
        return Err(exists());
    }
    let staged = Staged::new(out).with_context(|| format!("cannot write {}", escaped(out)))?;
    let value = write(staged.path())?;
    let labeled = label(session, protected, staged.path(), method);
    staged.publish(out, replace).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => exists(),
        _ => anyhow!(e).context(format!("cannot write {}", escaped(out))),
    })?;
    if let Err(e) = labeled {
        eprintln!(
            "fuda: warning: {} was written but not labeled ({}): label it with `fuda label set`, or delete it when done",
            escaped(out),
            crate::output::describe(&e)
        );
    }
    Ok(value)
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
