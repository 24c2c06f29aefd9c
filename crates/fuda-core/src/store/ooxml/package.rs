//! The zip container: bounded reads of parts, the content digest, and rewriting the
//! package with a few parts replaced while every other entry is copied raw. Everything
//! read is held to [`Budget::LABELING`] and the package's layout is checked on opening
//! ([`super::guard`]).

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use zip::result::ZipError;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use crate::digest::Digest;
use crate::fsutil::TempSibling;
use crate::store::StoreError;

use super::guard::{self, Budget, GuardError, Unpacker};

/// Largest decompressed XML part we read into memory.
pub(super) const MAX_PART: u64 = 16 * 1024 * 1024;

/// An open package.
pub(super) struct Package {
    path: PathBuf,
    archive: ZipArchive<BufReader<File>>,
    unpacker: Unpacker,
}

impl Package {
    /// Opens `path` as a zip archive.
    pub fn open(path: &Path) -> Result<Package, StoreError> {
        let file = File::open(&*crate::store::reach(path)?).map_err(|e| StoreError::io(path, e))?;
        let mut archive = ZipArchive::new(BufReader::new(file)).map_err(|e| zip_error(path, e))?;
        guard::check_layout(&mut archive).map_err(|e| guard_error(path, e))?;
        let mut seen = HashSet::new();
        for name in archive.file_names() {
            if !seen.insert(name.to_ascii_lowercase()) {
                return Err(bad(path, format!("two entries are named {name}")));
            }
        }
        if !archive
            .file_names()
            .any(|n| n.eq_ignore_ascii_case("[Content_Types].xml"))
        {
            return Err(bad(
                path,
                "it has no [Content_Types].xml, so it is a zip file but not an Office document"
                    .into(),
            ));
        }
        Ok(Package {
            path: path.to_owned(),
            archive,
            unpacker: Unpacker::new(Budget::LABELING),
        })
    }

    /// A bad-package error for this file.
    pub fn bad(&self, reason: impl Into<String>) -> StoreError {
        bad(&self.path, reason.into())
    }

    /// Index of the entry named `name` (part names compare case-insensitively).
    fn find(&self, name: &str) -> Option<usize> {
        (0..self.archive.len()).find(|&i| {
            self.archive
                .name_for_index(i)
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    }

    /// The decompressed bytes of part `name`, if present; refuses parts over [`MAX_PART`].
    pub fn read_part(&mut self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(i) = self.find(name) else {
            return Ok(None);
        };
        let out = self
            .unpacker
            .read(&mut self.archive, i, MAX_PART)
            .map_err(|e| guard_error(&self.path, e))?;
        Ok(Some(out))
    }

    /// SHA-256 over every entry except those named in `excluded`, in name order, each as
    /// u32-BE name length ‖ name ‖ u64-BE length ‖ bytes, with the entries in `replaced`
    /// hashed as their new bytes. Entries are streamed, within the package's budget.
    pub fn digest(
        &mut self,
        excluded: &[&str],
        replaced: &[(&str, &[u8])],
    ) -> Result<Digest, StoreError> {
        let mut names: Vec<(String, usize)> = (0..self.archive.len())
            .filter_map(|i| Some((self.archive.name_for_index(i)?.to_owned(), i)))
            .filter(|(n, _)| !excluded.iter().any(|x| x.eq_ignore_ascii_case(n)))
            .collect();
        names.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for (name, i) in names {
            let name_len = u32::try_from(name.len())
                .map_err(|_| self.bad(format!("an entry name is {} bytes long", name.len())))?;
            ctx.update(&name_len.to_be_bytes());
            ctx.update(name.as_bytes());
            if let Some((_, bytes)) = replaced.iter().find(|(n, _)| n.eq_ignore_ascii_case(&name)) {
                ctx.update(&(bytes.len() as u64).to_be_bytes());
                ctx.update(bytes);
                continue;
            }
            let declared = self
                .archive
                .by_index_raw(i)
                .map_err(|e| zip_error(&self.path, e))?
                .size();
            ctx.update(&declared.to_be_bytes());
            self.unpacker
                .stream(&mut self.archive, i, |chunk| ctx.update(chunk))
                .map_err(|e| guard_error(&self.path, e))?;
        }
        Ok(Digest::from_ring(ctx.finish()))
    }

    /// Writes a new package over `dest` atomically, with permission bits `mode`: entries
    /// named in `parts` get the new bytes (deflated), new names are appended, and every
    /// other entry is copied raw — same compressed bytes, same method, same order.
    pub fn rewrite(
        &mut self,
        dest: &Path,
        mode: u32,
        parts: &[(&str, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let io_err = |e: io::Error| StoreError::io(dest, e);
        // The copy holds the document's text: private (0600) until it is complete.
        let mut tmp = TempSibling::new(dest, 0o600).map_err(io_err)?;
        crate::crashpoint::reached(crate::crashpoint::Step::Write);
        let mut zip = ZipWriter::new(BufWriter::new(tmp.file()));
        let mut written = vec![false; parts.len()];
        for i in 0..self.archive.len() {
            let path = self.path.clone();
            let name = self
                .archive
                .name_for_index(i)
                .unwrap_or_default()
                .to_owned();
            if let Some(k) = parts
                .iter()
                .position(|(n, _)| n.eq_ignore_ascii_case(&name))
            {
                let entry = self
                    .archive
                    .by_index_raw(i)
                    .map_err(|e| zip_error(&path, e))?;
                let mut options =
                    SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
                if let Some(t) = entry.last_modified().filter(|t| t.is_valid()) {
                    options = options.last_modified_time(t);
                }
                drop(entry);
                zip.start_file(name.as_str(), options)
                    .map_err(|e| write_error(dest, e))?;
                zip.write_all(&parts[k].1).map_err(io_err)?;
                written[k] = true;
            } else {
                let entry = self
                    .archive
                    .by_index_raw(i)
                    .map_err(|e| zip_error(&path, e))?;
                zip.raw_copy_file(entry).map_err(|e| match e {
                    ZipError::Io(e) if is_source_io(&e) => entry_error(&path, &name, e),
                    e => write_error(dest, e),
                })?;
            }
        }
        for ((name, bytes), done) in parts.iter().zip(written) {
            if done {
                continue;
            }
            let options =
                SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
            zip.start_file(*name, options)
                .map_err(|e| write_error(dest, e))?;
            zip.write_all(bytes).map_err(io_err)?;
        }
        let out = zip.finish().map_err(|e| write_error(dest, e))?;
        out.into_inner().map_err(|e| io_err(e.into_error()))?;
        // The document's own mode, exactly (the umask does not narrow it), now complete.
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.file()
                .set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(io_err)?;
        }
        tmp.commit(dest).map_err(io_err)
    }
}

fn bad(path: &Path, reason: String) -> StoreError {
    StoreError::BadPackage {
        path: path.to_owned(),
        reason,
    }
}

/// Errors reading the archive: a damaged package unless the disk itself failed.
fn zip_error(path: &Path, e: ZipError) -> StoreError {
    match e {
        ZipError::Io(e) if !is_source_io(&e) => StoreError::io(path, e),
        ZipError::Io(e) => bad(path, format!("not a zip archive or truncated ({e})")),
        ZipError::InvalidArchive(m) if m.contains("EOCD") => bad(
            path,
            "not a zip archive, or truncated: it has no zip directory at its end".into(),
        ),
        ZipError::InvalidArchive(m) => bad(path, format!("not a zip archive or damaged: {m}")),
        ZipError::UnsupportedArchive(m) => bad(path, format!("unsupported zip feature: {m}")),
        ZipError::FileNotFound => bad(path, "a zip entry is missing".into()),
        e => bad(path, e.to_string()),
    }
}

/// Errors of the package guard: the archive's own errors as [`zip_error`], damaged entries
/// as [`entry_error`], and every refusal as a bad package that says why.
fn guard_error(path: &Path, e: GuardError) -> StoreError {
    match e {
        GuardError::Zip(e) => zip_error(path, e),
        GuardError::Entry { entry, source } => entry_error(path, &entry, source),
        e => bad(path, e.to_string()),
    }
}

/// Errors decompressing one entry.
fn entry_error(path: &Path, name: &str, e: io::Error) -> StoreError {
    if is_source_io(&e) {
        bad(path, format!("{name} is damaged: {e}"))
    } else {
        StoreError::io(path, e)
    }
}

/// Errors writing the new package.
fn write_error(dest: &Path, e: ZipError) -> StoreError {
    match e {
        ZipError::Io(e) => StoreError::io(dest, e),
        e => bad(dest, format!("cannot rewrite the package: {e}")),
    }
}

/// Whether an I/O error means the data is bad rather than the disk.
fn is_source_io(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput
    )
}
