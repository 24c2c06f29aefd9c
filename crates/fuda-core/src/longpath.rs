//! Reaching files whose path is longer than the kernel takes (`PATH_MAX`, 4,096 bytes).
//!
//! Linux refuses every path argument of 4,096 bytes or more with `ENAMETOOLONG`, yet a
//! share can hold files far deeper than that (a folder tree copied from Windows, an
//! unpacked archive). [`reach`] turns such a path into a short one that names the same
//! file: it opens the file's folder through a chain of `openat(O_PATH | O_DIRECTORY)`,
//! each step shorter than the limit, and returns `/proc/self/fd/N/<name>`, where `N` is
//! the open folder. Every call that takes a path then works on it unchanged — `std::fs`,
//! extended attributes, `rename` and `link` within the folder, `O_TMPFILE` — because the
//! kernel resolves `/proc/self/fd/N` to the folder itself.
//!
//! A path shorter than the limit is returned as it is, without a system call: ordinary
//! paths pay one length comparison. Symbolic links along a long path are followed exactly
//! as the kernel follows them along a short one; the last component is left to the call
//! (so `symlink_metadata` still sees a link). Where `/proc` is not mounted a long path
//! still fails with `ENAMETOOLONG`.
//!
//! ```
//! use std::path::Path;
//! let short = Path::new("/srv/share/図面.txt");
//! // A short path is handed back as it is.
//! assert_eq!(&*fuda_core::longpath::reach(short).unwrap(), short);
//! ```

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fs::{File, Metadata, OpenOptions, ReadDir};
use std::io;
use std::ops::Deref;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, CWD};

use crate::crashpoint::{self, Step};

/// The longest path the kernel takes, in bytes, terminating NUL included.
pub const PATH_MAX: usize = 4096;

/// The longest piece of a path opened in one step (leaves room for nothing else: a piece
/// is passed to `openat` on its own).
const STEP_MAX: usize = PATH_MAX - 1;

/// A path the kernel accepts, naming the same file as the path it was made from; keeps
/// the file's folder open while it lives. Use it wherever a `&Path` is taken.
#[derive(Debug)]
pub struct Reach<'a> {
    path: Cow<'a, Path>,
    /// The folder `/proc/self/fd/N` names, for a path that was too long.
    _dir: Option<OwnedFd>,
}

impl Deref for Reach<'_> {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for Reach<'_> {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

/// Whether `path` is too long to give to the kernel as it is.
pub fn is_long(path: &Path) -> bool {
    path.as_os_str().len() >= PATH_MAX
}

/// A path the kernel takes for `path`: `path` itself when it is short enough (no system
/// call), else `/proc/self/fd/N/<name>` with `N` the file's folder, opened step by step.
/// Fails as opening the folder fails (`NotFound`, `NotADirectory`, `PermissionDenied` …).
pub fn reach(path: &Path) -> io::Result<Reach<'_>> {
    if !is_long(path) {
        return Ok(Reach {
            path: Cow::Borrowed(path),
            _dir: None,
        });
    }
    let (dir, name) = split_last(path.as_os_str().as_bytes());
    let dir = open_dir(dir)?;
    let mut short = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    short.extend_from_slice(name);
    Ok(Reach {
        path: Cow::Owned(PathBuf::from(OsStr::from_bytes(&short))),
        _dir: Some(dir),
    })
}

/// `std::fs::metadata` for a path of any length.
pub fn metadata(path: &Path) -> io::Result<Metadata> {
    std::fs::metadata(&*reach(path)?)
}

/// `std::fs::symlink_metadata` for a path of any length.
pub fn symlink_metadata(path: &Path) -> io::Result<Metadata> {
    std::fs::symlink_metadata(&*reach(path)?)
}

/// `std::fs::read_dir` for a folder of any path length. The entries' names are right; their
/// `path()` is the short form, so join the names to `path` instead.
pub fn read_dir(path: &Path) -> io::Result<ReadDir> {
    std::fs::read_dir(&*reach(path)?)
}

/// `OpenOptions::open` for a path of any length.
pub fn open(options: &OpenOptions, path: &Path) -> io::Result<File> {
    options.open(&*reach(path)?)
}

/// `std::fs::remove_file` for a path of any length.
pub fn remove_file(path: &Path) -> io::Result<()> {
    crashpoint::reached(Step::Remove);
    std::fs::remove_file(&*reach(path)?)
}

/// `std::fs::rename` for paths of any length.
pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    crashpoint::reached(Step::Rename);
    std::fs::rename(&*reach(from)?, &*reach(to)?)
}

/// `std::fs::hard_link` for paths of any length.
pub fn hard_link(original: &Path, link: &Path) -> io::Result<()> {
    crashpoint::reached(Step::Link);
    std::fs::hard_link(&*reach(original)?, &*reach(link)?)
}

/// Splits a path into its folder (with its trailing `/`, or empty for the current folder)
/// and its last component (with any trailing slashes).
fn split_last(bytes: &[u8]) -> (&[u8], &[u8]) {
    let trimmed = bytes.len() - bytes.iter().rev().take_while(|&&b| b == b'/').count();
    match bytes[..trimmed].iter().rposition(|&b| b == b'/') {
        Some(at) => bytes.split_at(at + 1),
        None => (&[], bytes),
    }
}

/// Opens the folder `dir` (`O_PATH`) in steps that each stay below the limit, every step
/// relative to the folder the one before opened.
fn open_dir(dir: &[u8]) -> io::Result<OwnedFd> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut at: Option<OwnedFd> = None;
    let mut rest = if dir.is_empty() { &b"."[..] } else { dir };
    while !rest.is_empty() {
        let take = step(rest)?;
        let (piece, tail) = rest.split_at(take);
        let piece = OsStr::from_bytes(piece);
        let fd = match &at {
            None => rustix::fs::openat(CWD, piece, flags, Mode::empty()),
            Some(fd) => rustix::fs::openat(fd, piece, flags, Mode::empty()),
        }?;
        at = Some(fd);
        rest = tail;
    }
    Ok(at.expect("at least one step"))
}

/// How many bytes of `rest` the next step opens: as many whole components as fit.
fn step(rest: &[u8]) -> io::Result<usize> {
    if rest.len() <= STEP_MAX {
        return Ok(rest.len());
    }
    // The last `/` within the limit ends the step (a leading `/` alone is a step too).
    match rest[..STEP_MAX].iter().rposition(|&b| b == b'/') {
        Some(at) => Ok(at + 1),
        None => Err(io::Error::from_raw_os_error(
            rustix::io::Errno::NAMETOOLONG.raw_os_error(),
        )),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// A folder chain below `base` whose deepest folder's path is over `over` bytes long,
    /// made with `mkdirat`/`openat` (no path ever reaches the kernel whole).
    pub(crate) fn deep_dir(base: &Path, over: usize) -> PathBuf {
        let segment = "深".repeat(60); // 180 bytes
        let mut path = base.to_owned();
        let mut fd: OwnedFd =
            rustix::fs::open(base, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        while path.as_os_str().len() <= over {
            rustix::fs::mkdirat(&fd, segment.as_str(), Mode::from_raw_mode(0o755)).unwrap();
            fd = rustix::fs::openat(
                &fd,
                segment.as_str(),
                OFlags::PATH | OFlags::DIRECTORY,
                Mode::empty(),
            )
            .unwrap();
            path.push(&segment);
        }
        path
    }

    #[test]
    fn a_short_path_is_handed_back_without_opening_anything() {
        let path = Path::new("relative/名前.txt");
        let reached = reach(path).unwrap();
        assert!(matches!(reached.path, Cow::Borrowed(p) if std::ptr::eq(p, path)));
        assert!(reached._dir.is_none());
        let at_limit = PathBuf::from("a".repeat(PATH_MAX - 1));
        assert!(reach(&at_limit).unwrap()._dir.is_none());
        let over = PathBuf::from("a".repeat(PATH_MAX));
        assert!(is_long(&over));
    }

    #[test]
    fn a_file_past_4096_bytes_is_written_read_renamed_and_removed() {
        let base = tempfile::tempdir().unwrap();
        let dir = deep_dir(base.path(), 2 * PATH_MAX);
        let file = dir.join("図面.txt");
        assert!(is_long(&file));
        assert_eq!(
            std::fs::write(&file, b"x").unwrap_err().raw_os_error(),
            Some(rustix::io::Errno::NAMETOOLONG.raw_os_error()),
            "the kernel refuses the whole path"
        );

        let mut create = OpenOptions::new();
        create.write(true).create_new(true);
        open(&create, &file)
            .unwrap()
            .write_all(b"secret plans")
            .unwrap();
        assert_eq!(
            std::fs::read(&*reach(&file).unwrap()).unwrap(),
            b"secret plans"
        );
        assert_eq!(metadata(&file).unwrap().len(), 12);
        assert!(symlink_metadata(&file).unwrap().is_file());

        let names: Vec<_> = read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["図面.txt"]);

        let moved = dir.join("moved.txt");
        rename(&file, &moved).unwrap();
        hard_link(&moved, &file).unwrap();
        remove_file(&moved).unwrap();
        assert!(matches!(metadata(&moved), Err(e) if e.kind() == io::ErrorKind::NotFound));
        assert_eq!(metadata(&file).unwrap().len(), 12);
    }

    #[test]
    fn extended_attributes_of_a_deep_file_are_set_and_read() {
        let base = tempfile::tempdir().unwrap();
        let file = deep_dir(base.path(), PATH_MAX).join("a.txt");
        std::fs::write(&*reach(&file).unwrap(), b"x").unwrap();
        let reached = reach(&file).unwrap();
        match xattr::set(&*reached, "user.fuda.test", b"label") {
            Err(e) if e.raw_os_error() == Some(95) => {
                eprintln!("skipping: no user xattrs on the temporary folder's file system");
            }
            other => {
                other.unwrap();
                assert_eq!(
                    xattr::get(&*reached, "user.fuda.test").unwrap().unwrap(),
                    b"label"
                );
            }
        }
    }

    #[test]
    fn a_missing_folder_on_a_long_path_is_not_found() {
        let base = tempfile::tempdir().unwrap();
        let dir = deep_dir(base.path(), PATH_MAX);
        let missing = dir.join("gone").join("x".repeat(200)).join("f.txt");
        assert_eq!(reach(&missing).unwrap_err().kind(), io::ErrorKind::NotFound);
        let file = dir.join("f.txt");
        std::fs::write(&*reach(&file).unwrap(), b"x").unwrap();
        let through_file = file.join("g.txt");
        assert_eq!(
            reach(&through_file).unwrap_err().kind(),
            io::ErrorKind::NotADirectory
        );
    }

    #[test]
    fn a_long_folder_path_with_a_trailing_slash_names_the_folder() {
        let base = tempfile::tempdir().unwrap();
        let dir = deep_dir(base.path(), PATH_MAX);
        let slashed = PathBuf::from(format!("{}/", dir.display()));
        assert!(metadata(&slashed).unwrap().is_dir());
    }

    #[test]
    fn a_path_is_split_into_its_folder_and_last_name() {
        assert_eq!(split_last(b"/a/b/c.txt"), (&b"/a/b/"[..], &b"c.txt"[..]));
        assert_eq!(split_last(b"/a/b/"), (&b"/a/"[..], &b"b/"[..]));
        assert_eq!(split_last(b"name"), (&b""[..], &b"name"[..]));
        assert_eq!(split_last(b"/top"), (&b"/"[..], &b"top"[..]));
    }

    #[test]
    fn each_step_ends_at_a_slash_below_the_limit() {
        let path = format!("/{}/", vec!["x".repeat(250); 40].join("/"));
        let mut rest = path.as_bytes();
        while !rest.is_empty() {
            let take = step(rest).unwrap();
            assert!(take <= STEP_MAX);
            assert!(take == rest.len() || rest[take - 1] == b'/');
            rest = &rest[take..];
        }
        let one_huge_name = "x".repeat(PATH_MAX + 10);
        assert!(step(one_huge_name.as_bytes()).is_err());
    }
}
