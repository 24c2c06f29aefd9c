//! Small file-system helpers that keep the "never lose data" rule (DESIGN §8).
//!
//! Every path to a user's file goes through [`longpath::reach`], so a file deeper than
//! `PATH_MAX` is read and replaced like any other.

use std::convert::Infallible;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::crashpoint::{self, Step};
use crate::longpath;

mod stale;

/// Opens a file for reading without updating its access time when the caller owns it
/// (`O_NOATIME`), so scans do not dirty every inode; falls back to a plain open.
pub fn open_quietly(path: &Path) -> io::Result<File> {
    let path = &*longpath::reach(path)?;
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
    crashpoint::reached(Step::Create);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    crashpoint::reached(Step::Write);
    file.write_all(contents)?;
    crashpoint::reached(Step::Sync);
    file.sync_all()
}

/// Refuses a destination that exists and is not a regular file or a symbolic link.
fn refuse_special(dest: &Path) -> io::Result<()> {
    match longpath::symlink_metadata(dest) {
        Ok(meta) if !meta.is_file() && !meta.file_type().is_symlink() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a device, folder, FIFO or socket) and writing would replace it; name a file",
        )),
        _ => Ok(()),
    }
}

/// The named files of this process that must not outlive it. A signal handler removes them
/// through [`end_process_removing_in_flight`]; everything that creates, publishes or
/// removes one holds this lock, so the handler sees each file either in flight or settled.
static IN_FLIGHT: Mutex<InFlight> = Mutex::new(InFlight {
    names: Vec::new(),
    awaited: Vec::new(),
});

struct InFlight {
    /// Removed on a signal: named temporary files, and [`Provisional`] outputs once placed.
    names: Vec<PathBuf>,
    /// [`Provisional`] outputs not placed yet; [`TempSibling`] moves each to `names` in the
    /// same step as it places the file.
    awaited: Vec<PathBuf>,
}

impl InFlight {
    fn forget(&mut self, path: &Path) {
        self.names.retain(|p| p != path);
        self.awaited.retain(|p| p != path);
    }

    /// `dest` was just placed by this process: an awaited provisional output is now in flight.
    fn placed(&mut self, dest: &Path) {
        if self.awaited.iter().any(|p| p == dest) {
            self.awaited.retain(|p| p != dest);
            self.names.push(dest.to_owned());
        }
    }
}

fn in_flight() -> MutexGuard<'static, InFlight> {
    IN_FLIGHT.lock().unwrap_or_else(PoisonError::into_inner)
}

/// For a handler of SIGTERM, SIGINT or SIGHUP: removes every named temporary file and every
/// placed [`Provisional`] output still in flight, then calls `end` (which ends the process)
/// without letting any other thread create or publish a file in between.
pub fn end_process_removing_in_flight(end: impl FnOnce() -> Infallible) -> ! {
    let in_flight = in_flight();
    for path in &in_flight.names {
        let _ = longpath::remove_file(path);
    }
    match end() {}
}

/// A temporary file next to its destination, published by [`TempSibling::commit`] or
/// [`TempSibling::commit_new`] once complete and synced, and never seen half-written.
///
/// On Linux it is an unnamed file (`O_TMPFILE`) in the destination's directory: it gets a
/// name only when it is published, so nothing is left behind however the process ends
/// (SIGKILL, a crash, a power cut) — except in the one step of [`TempSibling::commit`]
/// that replaces an existing file, which links the file under a temporary name and
/// renames that over the destination. Where the file system cannot make one (some network
/// mounts), it is a named `.<name>.fuda-tmp-<random>` file, created 0600 whatever the
/// final mode, removed on drop and, in a process whose signal handler calls
/// [`end_process_removing_in_flight`], on SIGTERM, SIGINT and SIGHUP.
///
/// Either kind holds an exclusive `flock` while it is in use, which ends with the
/// process: the first temporary file a process makes in a folder removes the named ones
/// there that a killed process left (`stale`).
pub struct TempSibling {
    file: Option<File>,
    dir: PathBuf,
    name: String,
    /// The permission bits of the published file, before the umask.
    mode: u32,
    /// The temporary file's name, while it has one and is not published.
    named: Option<PathBuf>,
}

impl TempSibling {
    /// Creates a temporary file in `dest`'s directory; once published it has `mode` less
    /// the umask, as a file created by `open` would. Fails with
    /// [`io::ErrorKind::InvalidInput`] when `dest` exists and is neither a regular file nor
    /// a symbolic link: committing would replace a device (`/dev/null`), a FIFO or a socket
    /// with a regular file.
    pub fn new(dest: &Path, mode: u32) -> io::Result<TempSibling> {
        let mut tmp = TempSibling::unopened(dest, mode)?;
        stale::sweep_once(&tmp.dir);
        crashpoint::reached(Step::Create);
        match unnamed::create(&tmp.dir, mode)? {
            Some(file) => {
                // Nobody else can reach an unnamed file: the lock cannot be contended.
                stale::hold(&file)?;
                tmp.file = Some(file);
            }
            None => tmp.create_named()?,
        }
        Ok(tmp)
    }

    /// A temporary file for `dest`, not created yet.
    fn unopened(dest: &Path, mode: u32) -> io::Result<TempSibling> {
        refuse_special(dest)?;
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_owned();
        let name = dest
            .file_name()
            .map_or_else(|| "file".into(), |n| temp_stem(&n.to_string_lossy()));
        Ok(TempSibling {
            file: None,
            dir,
            name,
            mode,
            named: None,
        })
    }

    /// Opens a named temporary file, 0600 (or narrower), and records it as in flight.
    fn create_named(&mut self) -> io::Result<()> {
        let mut names = in_flight();
        for _ in 0..16 {
            let path = self.fresh_name();
            let mut options = OpenOptions::new();
            options.write(true).create_new(true).mode(self.mode & 0o600);
            match longpath::open(&options, &path) {
                Ok(file) => {
                    // Held from here on; a sweeping process that took the lock first is
                    // removing the file, so it is given up for a new one.
                    match stale::hold(&file) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        other => other?,
                    };
                    if !same_file(&file, &path) {
                        continue;
                    }
                    names.names.push(path.clone());
                    self.file = Some(file);
                    self.named = Some(path);
                    return Ok(());
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

    /// Flushes to disk and puts the file at `dest`, replacing what is there, then syncs the
    /// directory; refuses, like [`TempSibling::new`], to replace anything but a regular file
    /// or a symbolic link.
    pub fn commit(self, dest: &Path) -> io::Result<()> {
        self.publish(dest, true)
    }

    /// Like [`TempSibling::commit`] but never replaces an existing `dest`: fails with
    /// [`io::ErrorKind::AlreadyExists`] instead, leaving `dest` untouched (the file is
    /// linked to `dest`, which is atomic and never clobbers).
    pub fn commit_new(self, dest: &Path) -> io::Result<()> {
        self.publish(dest, false)
    }

    fn publish(mut self, dest: &Path, replace: bool) -> io::Result<()> {
        let file = self.file.take().expect("file is open until commit");
        if self.named.is_some() && self.mode & !0o600 != 0 {
            crashpoint::reached(Step::SetMode);
            file.set_permissions(fs::Permissions::from_mode(self.mode & !umask()))?;
        }
        crashpoint::reached(Step::Sync);
        file.sync_all()?;
        {
            let mut in_flight = in_flight();
            match self.named.clone() {
                Some(tmp) => {
                    if replace {
                        refuse_special(dest)?;
                        longpath::rename(&tmp, dest)?;
                    } else {
                        rename_new(&tmp, dest)?;
                    }
                    in_flight.forget(&tmp);
                    self.named = None;
                }
                None => match unnamed::link(&file, dest) {
                    Err(e) if replace && e.kind() == io::ErrorKind::AlreadyExists => {
                        // A link cannot replace: link under a fresh name, rename over `dest`.
                        refuse_special(dest)?;
                        let fresh = self.link_fresh(&file)?;
                        if let Err(e) = longpath::rename(&fresh, dest) {
                            let _ = longpath::remove_file(&fresh);
                            return Err(e);
                        }
                    }
                    other => other?,
                },
            }
            in_flight.placed(dest);
        }
        drop(file);
        crashpoint::reached(Step::SyncDir);
        File::open(&*longpath::reach(&self.dir)?)?.sync_all()
    }

    /// Links the unnamed `file` under a fresh temporary name in its directory.
    fn link_fresh(&self, file: &File) -> io::Result<PathBuf> {
        for _ in 0..16 {
            let path = self.fresh_name();
            match unnamed::link(file, &path) {
                Ok(()) => return Ok(path),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "could not name a temporary file",
        ))
    }

    /// A name no other file has yet: `.<name>.fuda-tmp-<random>`, at most 255 bytes.
    fn fresh_name(&self) -> PathBuf {
        self.dir
            .join(format!(".{}.fuda-tmp-{:08x}", self.name, rand_u32()))
    }
}

impl Drop for TempSibling {
    fn drop(&mut self) {
        if let Some(path) = self.named.take() {
            let mut names = in_flight();
            let _ = longpath::remove_file(&path);
            names.forget(&path);
        }
    }
}

/// An output whose place is not settled yet, such as a protected copy that has not been
/// verified, written with [`TempSibling::commit_new`]: once placed, it is removed on drop
/// (and by [`end_process_removing_in_flight`]) unless [`Provisional::keep`] settles it. A
/// file at the path that this process did not place is never touched.
pub struct Provisional {
    path: Option<PathBuf>,
}

impl Provisional {
    /// Awaits the output `path`; make this before writing it.
    pub fn new(path: &Path) -> Provisional {
        in_flight().awaited.push(path.to_owned());
        Provisional {
            path: Some(path.to_owned()),
        }
    }

    /// Keeps the file for good.
    pub fn keep(mut self) {
        if let Some(path) = self.path.take() {
            in_flight().forget(&path);
        }
    }
}

impl Drop for Provisional {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let mut in_flight = in_flight();
            if in_flight.names.contains(&path) {
                let _ = longpath::remove_file(&path);
            }
            in_flight.forget(&path);
        }
    }
}

/// A file made in several steps — written, then changed in place, such as an Office
/// document labeled inside — under a temporary name beside its destination, and given the
/// destination's name only once finished: a process killed on the way leaves nothing at
/// the destination, only a temporary file that the next one to write in the folder
/// removes. The temporary name keeps the destination's extension
/// (`.<stem>.fuda-tmp-<random>.<ext>`), so what goes by the extension (the label store
/// of an Office document) treats it as the destination. It is removed on drop unless
/// published.
pub struct Staged {
    path: PathBuf,
    /// Whether the file has its name (and the temporary one is gone).
    published: bool,
}

impl Staged {
    /// A name for a file that is to become `dest`; nothing is created yet. Fails like
    /// [`TempSibling::new`] when `dest` is not a regular file or a symbolic link.
    pub fn new(dest: &Path) -> io::Result<Staged> {
        let tmp = TempSibling::unopened(dest, 0o600)?;
        let ext = dest
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
            .filter(|e| (1..=10).contains(&e.len()) && e.bytes().all(|b| b.is_ascii_alphanumeric()))
            .map_or_else(String::new, |e| format!(".{e}"));
        let stem = dest
            .file_stem()
            .filter(|_| !ext.is_empty())
            .map_or_else(|| tmp.name.clone(), |s| temp_stem(&s.to_string_lossy()));
        // Room for the extension too: the name stays within 255 bytes.
        const ROOM: usize = 255 - ".".len() - ".fuda-tmp-".len() - 8;
        let mut end = stem.len().min(ROOM - ext.len());
        while !stem.is_char_boundary(end) {
            end -= 1;
        }
        let name = format!(".{}.fuda-tmp-{:08x}{ext}", &stem[..end], rand_u32());
        Ok(Staged {
            path: tmp.dir.join(name),
            published: false,
        })
    }

    /// Where to make the file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Gives the finished file the name `dest` and makes that durable. Without `replace`
    /// it never replaces anything: it fails with [`io::ErrorKind::AlreadyExists`] when
    /// `dest` exists, leaving it untouched. With it, it replaces a regular file or a
    /// symbolic link, and refuses anything else like [`TempSibling::commit`].
    pub fn publish(mut self, dest: &Path, replace: bool) -> io::Result<()> {
        if replace {
            refuse_special(dest)?;
            longpath::rename(&self.path, dest)?;
        } else {
            rename_new(&self.path, dest)?;
        }
        self.published = true;
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        crashpoint::reached(Step::SyncDir);
        File::open(&*longpath::reach(dir)?)?.sync_all()
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.published {
            let _ = longpath::remove_file(&self.path);
        }
    }
}

/// Unnamed temporary files: `O_TMPFILE`, published with `linkat` through `/proc/self/fd`.
#[cfg(target_os = "linux")]
mod unnamed {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;
    use std::path::Path;

    use rustix::fs::{AtFlags, Mode, OFlags, CWD};
    use rustix::io::Errno;

    use crate::longpath;

    /// An unnamed file in `dir` with `mode` (less the umask); `None` where the file system
    /// or the kernel cannot make one, or where `/proc` is missing so it could not be
    /// published — or where `FUDA_TMPFILE=named` asks for named temporary files.
    pub(super) fn create(dir: &Path, mode: u32) -> io::Result<Option<File>> {
        if std::env::var_os("FUDA_TMPFILE").is_some_and(|v| v == "named") {
            return Ok(None);
        }
        let flags = OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC;
        match rustix::fs::open(&*longpath::reach(dir)?, flags, Mode::from_raw_mode(mode)) {
            Ok(fd) => {
                let file = File::from(fd);
                Ok(std::fs::metadata(proc_path(&file)).is_ok().then_some(file))
            }
            Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL | Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Gives the unnamed `file` the name `dest`; fails with `AlreadyExists` if it is taken.
    pub(super) fn link(file: &File, dest: &Path) -> io::Result<()> {
        let dest = longpath::reach(dest)?;
        crate::crashpoint::reached(crate::crashpoint::Step::Link);
        rustix::fs::linkat(CWD, proc_path(file), CWD, &*dest, AtFlags::SYMLINK_FOLLOW)
            .map_err(io::Error::from)
    }

    fn proc_path(file: &File) -> String {
        format!("/proc/self/fd/{}", file.as_raw_fd())
    }
}

/// Elsewhere every temporary file is named.
#[cfg(not(target_os = "linux"))]
mod unnamed {
    use std::fs::File;
    use std::io;
    use std::path::Path;

    pub(super) fn create(_dir: &Path, _mode: u32) -> io::Result<Option<File>> {
        Ok(None)
    }

    pub(super) fn link(_file: &File, _dest: &Path) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// Renames `from` to `to` unless `to` exists (then fails with `AlreadyExists`): in one
/// step where the file system can (`renameat2` with `RENAME_NOREPLACE`), else by a link
/// and an unlink — between which a kill leaves the file under both names, the temporary
/// one for the next run to remove.
fn rename_new(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{RenameFlags, CWD};
        use rustix::io::Errno;
        let (src, dst) = (longpath::reach(from)?, longpath::reach(to)?);
        crashpoint::reached(Step::Rename);
        match rustix::fs::renameat_with(CWD, &*src, CWD, &*dst, RenameFlags::NOREPLACE) {
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {}
            other => return other.map_err(io::Error::from),
        }
    }
    longpath::hard_link(from, to)?;
    let _ = longpath::remove_file(from);
    Ok(())
}

/// Whether `path` still names the open `file`.
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), longpath::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// The destination's name as the start of a temporary name: short enough that
/// `.<stem>.fuda-tmp-<8 hex>` stays within `NAME_MAX` (255 bytes) for any destination.
fn temp_stem(name: &str) -> String {
    const ROOM: usize = 255 - ".".len() - ".fuda-tmp-".len() - 8;
    let mut end = name.len().min(ROOM);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_owned()
}

/// The process umask, read without changing it (`/proc/self/status`); where it cannot be
/// read, 077, so a file is never more open than asked.
fn umask() -> u32 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o077)
}

/// Writes `contents` to `dest` atomically (temp file, fsync, rename), with `mode`.
pub fn write_atomic(dest: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut tmp = TempSibling::new(dest, mode)?;
    crashpoint::reached(Step::Write);
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
    fn a_file_past_4096_bytes_with_a_255_byte_name_is_replaced_atomically() {
        let base = tempfile::tempdir().unwrap();
        let dir = crate::longpath::tests::deep_dir(base.path(), longpath::PATH_MAX);
        let dest = dir.join(format!("{}.txt", "a".repeat(251)));
        assert_eq!(dest.file_name().unwrap().len(), 255);
        write_atomic(&dest, b"first", 0o644).unwrap();
        write_atomic(&dest, b"second", 0o644).unwrap();
        assert_eq!(
            fs::read(&*longpath::reach(&dest).unwrap()).unwrap(),
            b"second"
        );

        // The named fallback (file systems without O_TMPFILE) too.
        let mut tmp = TempSibling::unopened(&dest, 0o644).unwrap();
        tmp.create_named().unwrap();
        tmp.file().write_all(b"third").unwrap();
        tmp.commit(&dest).unwrap();
        assert_eq!(
            fs::read(&*longpath::reach(&dest).unwrap()).unwrap(),
            b"third"
        );
        let left: Vec<_> = longpath::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [dest.file_name().unwrap()]);
    }

    #[test]
    fn a_temporary_name_fits_in_255_bytes_whatever_the_destination() {
        let long = "極".repeat(85); // 255 bytes
        let stem = temp_stem(&long);
        assert!(format!(".{stem}.fuda-tmp-01234567").len() <= 255);
        assert!(long.starts_with(&stem));
        assert_eq!(temp_stem("memo.txt"), "memo.txt");
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

    #[cfg(target_os = "linux")]
    #[test]
    fn a_temporary_file_has_no_name_until_it_is_published_complete() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("plain.txt");
        fs::write(&dest, b"old").unwrap();

        let mut tmp = TempSibling::new(&dest, 0o600).unwrap();
        tmp.file().write_all(b"new plaintext").unwrap();
        assert_eq!(
            entries(dir.path()),
            ["plain.txt"],
            "nothing named in flight"
        );
        assert_eq!(fs::read(&dest).unwrap(), b"old");
        tmp.commit(&dest).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"new plaintext");
        assert_eq!(entries(dir.path()), ["plain.txt"]);

        let abandoned = dir.path().join("never.txt");
        let mut tmp = TempSibling::new(&abandoned, 0o600).unwrap();
        tmp.file().write_all(b"half").unwrap();
        drop(tmp);
        assert_eq!(entries(dir.path()), ["plain.txt"]);
    }

    #[test]
    fn a_named_temporary_file_is_private_until_published_with_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("index.json");
        let mut tmp = TempSibling::unopened(&dest, 0o644).unwrap();
        tmp.create_named().unwrap();
        tmp.file().write_all(b"{}").unwrap();
        let named = tmp.named.clone().unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&named), 0o600);
        assert!(in_flight().names.contains(&named));

        tmp.commit(&dest).unwrap();
        assert_eq!(mode(&dest), 0o644 & !umask());
        assert!(!in_flight().names.contains(&named));
        assert_eq!(entries(dir.path()), ["index.json"]);
    }

    #[test]
    fn an_abandoned_named_temporary_file_is_removed_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let mut tmp = TempSibling::unopened(&dir.path().join("x"), 0o600).unwrap();
        tmp.create_named().unwrap();
        let named = tmp.named.clone().unwrap();
        drop(tmp);
        assert!(!named.exists());
        assert!(!in_flight().names.contains(&named));
    }

    #[test]
    fn a_provisional_output_goes_unless_kept_and_a_foreign_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        let place = |name: &str| {
            let dest = dir.path().join(name);
            let placed = Provisional::new(&dest);
            let mut tmp = TempSibling::new(&dest, 0o600).unwrap();
            tmp.file().write_all(b"x").unwrap();
            tmp.commit_new(&dest).unwrap();
            placed
        };
        drop(place("gone"));
        place("kept").keep();
        let foreign = dir.path().join("foreign");
        fs::write(&foreign, b"someone else's").unwrap();
        drop(Provisional::new(&foreign));

        assert_eq!(entries(dir.path()), ["foreign", "kept"]);
        let in_flight = in_flight();
        assert!(!in_flight.names.iter().any(|p| p.starts_with(dir.path())));
        assert!(!in_flight.awaited.iter().any(|p| p.starts_with(dir.path())));
    }

    #[test]
    fn a_temporary_file_a_killed_process_left_goes_with_the_next_one_made_beside_it() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("plan.docx");
        // Left by a process killed between naming its file and publishing it: no lock.
        let left = dir.path().join(".plan.docx.fuda-tmp-0123abcd");
        fs::write(&left, b"the whole new document").unwrap();
        // In use by a live writer (this process stands for it): locked.
        let mut live = TempSibling::unopened(&dest, 0o600).unwrap();
        live.create_named().unwrap();
        let live_name = live.named.clone().unwrap();
        // Named like one, but a link and a FIFO: never touched.
        let link = dir.path().join(".a.fuda-tmp-00000000");
        std::os::unix::fs::symlink(&dest, &link).unwrap();
        let fifo = dir.path().join(".b.fuda-tmp-00000000");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());

        let mut next = TempSibling::new(&dir.path().join("other.txt"), 0o600).unwrap();
        next.file().write_all(b"x").unwrap();
        next.commit(&dir.path().join("other.txt")).unwrap();

        assert!(!left.exists(), "the left-over file is removed");
        assert!(live_name.exists(), "a file in use stays");
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        live.file().write_all(b"new").unwrap();
        live.commit(&dest).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"new");
        fs::remove_file(&link).unwrap();
        fs::remove_file(&fifo).unwrap();
        assert_eq!(entries(dir.path()), ["other.txt", "plan.docx"]);
    }

    #[test]
    fn a_staged_file_keeps_its_extension_and_appears_only_when_published() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("図面.docx");
        let staged = Staged::new(&dest).unwrap();
        let name = staged
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            name.starts_with(".図面.fuda-tmp-") && name.ends_with(".docx"),
            "{name}"
        );
        assert!(stale::is_temporary(name.as_bytes()));
        fs::write(staged.path(), b"labeled").unwrap();
        staged.publish(&dest, false).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"labeled");
        assert_eq!(entries(dir.path()), ["図面.docx"]);

        // Never over an existing file; dropped unpublished, it goes.
        let staged = Staged::new(&dest).unwrap();
        fs::write(staged.path(), b"other").unwrap();
        let err = staged.publish(&dest, false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&dest).unwrap(), b"labeled");
        assert_eq!(entries(dir.path()), ["図面.docx"]);

        // A 255-byte name keeps its extension within 255 bytes.
        let long = dir.path().join(format!("{}.xlsx", "極".repeat(83)));
        let staged = Staged::new(&long).unwrap();
        let name = staged.path().file_name().unwrap().len();
        assert!(name <= 255, "{name}");
        assert!(staged.path().to_string_lossy().ends_with(".xlsx"));
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
