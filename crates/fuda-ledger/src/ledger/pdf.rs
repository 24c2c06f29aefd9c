//! The ledger as PDF, for auditors and customers who sign paper: the workbook
//! ([`super::xlsx`], with its print layout) converted by LibreOffice, headless.
//!
//! LibreOffice honours the workbook's page setup — landscape, one page wide, the header
//! row repeated, the page header and "page x / y" footer — and embeds the fonts it
//! rendered with, so Japanese text prints wherever the PDF is opened, provided a Japanese
//! font is installed where fuda runs (Debian: `fonts-ipaexfont` or `fonts-noto-cjk`;
//! docs/ledger.md). The converter runs with a private, throw-away profile, so it neither
//! collides with a LibreOffice the user has open nor leaves anything in their home.
//! The workbook and the profile live in a private (0700) folder beside the destination
//! and are removed afterwards; the PDF replaces the destination atomically.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::LedgerError;

/// The environment variable that names the LibreOffice program (default `soffice` on
/// the `PATH`).
pub const SOFFICE_ENV: &str = "FUDA_SOFFICE";

/// Longest a conversion may take before it is abandoned.
const TIMEOUT: Duration = Duration::from_secs(600);

/// A private folder beside `dest` for the workbook to convert.
pub struct Staging {
    dir: tempfile::TempDir,
}

impl Staging {
    /// A new private folder beside `dest`.
    pub fn beside(dest: &Path) -> Result<Staging, LedgerError> {
        let parent = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let dir = tempfile::Builder::new()
            .prefix(".fuda-ledger-pdf-")
            .tempdir_in(parent)
            .map_err(|source| LedgerError::Io {
                path: parent.to_owned(),
                source,
            })?;
        Ok(Staging { dir })
    }

    /// Where the workbook to convert goes.
    pub fn workbook(&self) -> PathBuf {
        self.dir.path().join("ledger.xlsx")
    }

    /// Converts the workbook to PDF with LibreOffice (`$FUDA_SOFFICE`, else `soffice`)
    /// and puts it at `dest`.
    pub fn convert(self, dest: &Path) -> Result<(), LedgerError> {
        let program = std::env::var_os(SOFFICE_ENV).unwrap_or_else(|| "soffice".into());
        self.convert_with(Path::new(&program), dest)
    }

    /// [`Staging::convert`] with the LibreOffice program `program`.
    pub fn convert_with(self, program: &Path, dest: &Path) -> Result<(), LedgerError> {
        let profile = self.dir.path().join("profile");
        let mut profile_url = String::from("-env:UserInstallation=file://");
        profile_url.push_str(&percent_encode(&profile));
        let converter_error = |reason: String| LedgerError::Pdf {
            path: dest.to_owned(),
            reason,
        };
        let mut child = Command::new(program)
            .arg(profile_url)
            .args(["--headless", "--norestore", "--convert-to", "pdf", "--outdir"])
            .arg(self.dir.path())
            .arg(self.workbook())
            .env("HOME", self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                converter_error(if e.kind() == std::io::ErrorKind::NotFound {
                    format!(
                        "LibreOffice ({}) is not installed: install it (Debian: apt-get install libreoffice-calc-nogui fonts-ipaexfont) or set {SOFFICE_ENV}, or write --format xlsx and print from Excel",
                        program.display()
                    )
                } else {
                    format!("cannot run {}: {e}", program.display())
                })
            })?;
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() > TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(converter_error(format!(
                        "LibreOffice did not finish within {} seconds",
                        TIMEOUT.as_secs()
                    )));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => return Err(converter_error(format!("waiting for LibreOffice: {e}"))),
            }
        };
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            use std::io::Read as _;
            let _ = pipe.read_to_string(&mut stderr);
        }
        let pdf = self.dir.path().join("ledger.pdf");
        if !status.success() || !pdf.is_file() {
            return Err(converter_error(format!(
                "LibreOffice could not convert the workbook ({status}){}",
                stderr
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .map(|l| format!(": {}", l.trim()))
                    .unwrap_or_default()
            )));
        }
        let io = |source| LedgerError::Io {
            path: dest.to_owned(),
            source,
        };
        let mut tmp = fuda_core::fsutil::TempSibling::new(dest, super::OUTPUT_MODE).map_err(io)?;
        let mut from = std::fs::File::open(&pdf).map_err(io)?;
        std::io::copy(&mut from, tmp.file()).map_err(io)?;
        tmp.commit(dest).map_err(io)
    }
}

/// A path as the path of a `file://` URL (bytes outside the unreserved set escaped).
fn percent_encode(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt as _;
    let mut out = String::new();
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_urls_escape_what_a_url_cannot_hold() {
        assert_eq!(
            percent_encode(Path::new("/tmp/a b/台帳")),
            "/tmp/a%20b/%E5%8F%B0%E5%B8%B3"
        );
    }
}
