//! Small file-system helpers that keep the "never lose data" rule (DESIGN §8).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Opens a file for reading without updating its access time when the caller owns it
/// (`O_NOATIME`), so scans do not dirty every inode; falls back to a plain open.
pub fn open_quietly(path: &Path) -> io::Result<File> {
    #[cfg(target_os = "linux")]
    {
        const O_NOATIME: i32 = 0o1_000_000;
        match OpenOptions::new()
            .read(true)
            .custom_flags(O_NOATIME)
            .open(path)
        {
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {}
            other => return other,
        }
    }
    File::open(path)
}

/// Creates a directory (and parents) readable only by its owner (0700).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

/// Creates a new file with mode 0600 holding `contents`; fails if it already exists.
pub fn create_secret_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Refuses a destination that exists and is not a regular file or a symbolic link.
fn refuse_special(dest: &Path) -> io::Result<()> {
    match fs::symlink_metadata(dest) {
        Ok(meta) if !meta.is_file() && !meta.file_type().is_symlink() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a device, folder, FIFO or socket) and writing would replace it; name a file",
        )),
        _ => Ok(()),
    }
}

/// A temporary file next to its destination; removed on drop unless committed.
pub struct TempSibling {
    path: PathBuf,
    file: Option<File>,
}

impl TempSibling {
    /// Creates `.<name>.fuda-tmp-<random>` in `dest`'s directory with `mode`. Fails with
    /// [`io::ErrorKind::InvalidInput`] when `dest` exists and is neither a regular file nor
    /// a symbolic link: committing would replace a device (`/dev/null`), a FIFO or a socket
    /// with a regular file.
    pub fn new(dest: &Path, mode: u32) -> io::Result<TempSibling> {
        refuse_special(dest)?;
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = dest
            .file_name()
            .map_or_else(|| "file".into(), |n| n.to_string_lossy());
        for _ in 0..16 {
            let path = dir.join(format!(".{name}.fuda-tmp-{:08x}", rand_u32()));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&path)
            {
                Ok(file) => {
                    return Ok(TempSibling {
                        path,
                        file: Some(file),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "could not create a temporary file",
        ))
    }

    /// The open temporary file.
    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("file is open until commit")
    }

    /// The temporary path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes to disk and renames over `dest`, then syncs the directory; refuses, like
    /// [`TempSibling::new`], to replace anything but a regular file or a symbolic link.
    pub fn commit(self, dest: &Path) -> io::Result<()> {
        self.publish(dest, |tmp, dest| {
            refuse_special(dest)?;
            fs::rename(tmp, dest)
        })
    }

    /// Like [`TempSibling::commit`] but never replaces an existing `dest`: fails with
    /// [`io::ErrorKind::AlreadyExists`] instead, leaving `dest` untouched. The temp file is
    /// linked to `dest` (atomic, no-clobber) and then unlinked.
    pub fn commit_new(self, dest: &Path) -> io::Result<()> {
        self.publish(dest, |tmp, dest| {
            fs::hard_link(tmp, dest)?;
            fs::remove_file(tmp)
        })
    }

    fn publish(
        mut self,
        dest: &Path,
        place: impl FnOnce(&Path, &Path) -> io::Result<()>,
    ) -> io::Result<()> {
        let file = self.file.take().expect("file is open until commit");
        file.sync_all()?;
        drop(file);
        place(&self.path, dest)?;
        self.path = PathBuf::new();
        if let Some(dir) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

impl Drop for TempSibling {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Writes `contents` to `dest` atomically (temp file, fsync, rename), with `mode`.
pub fn write_atomic(dest: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut tmp = TempSibling::new(dest, mode)?;
    tmp.file().write_all(contents)?;
    tmp.commit(dest)
}

fn rand_u32() -> u32 {
    let mut b = [0u8; 4];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .expect("system randomness");
    u32::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn commit_new_never_replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.bin");
        fs::write(&dest, b"keep me").unwrap();

        let mut tmp = TempSibling::new(&dest, 0o600).unwrap();
        tmp.file().write_all(b"new").unwrap();
        let err = tmp.commit_new(&dest).unwrap_err();

        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&dest).unwrap(), b"keep me");
        assert_eq!(entries(dir.path()), ["out.bin"]);
    }

    #[test]
    fn commit_new_places_a_fresh_file_with_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.bin");

        let mut tmp = TempSibling::new(&dest, 0o600).unwrap();
        tmp.file().write_all(b"fresh").unwrap();
        tmp.commit_new(&dest).unwrap();

        assert_eq!(fs::read(&dest).unwrap(), b"fresh");
        let mode = fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(entries(dir.path()), ["out.bin"]);
    }

    #[test]
    fn a_fifo_or_a_folder_is_never_replaced_and_nothing_is_left_behind() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let folder = dir.path().join("folder");
        fs::create_dir(&folder).unwrap();
        for dest in [&fifo, &folder] {
            let err = TempSibling::new(dest, 0o600).err().unwrap();
            assert_eq!(
                err.kind(),
                io::ErrorKind::InvalidInput,
                "{}",
                dest.display()
            );
            assert!(err.to_string().contains("not a regular file"), "{err}");
        }
        // Made a FIFO after the temp file was created: commit refuses too.
        let late = dir.path().join("late");
        let mut tmp = TempSibling::new(&late, 0o600).unwrap();
        tmp.file().write_all(b"x").unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(&late)
            .status()
            .unwrap();
        assert!(made.success());
        assert_eq!(
            tmp.commit(&late).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        assert!(fs::symlink_metadata(&late).unwrap().file_type().is_fifo());
        assert_eq!(entries(dir.path()), ["folder", "late", "pipe"]);
    }
}
