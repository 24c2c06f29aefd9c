//! Who may read a protected file on disk: the original's permission bits, owner, group
//! and POSIX access ACL, so that colleagues who could read the original in a shared
//! folder can still read the ciphertext (and ask the key service for its key).
//!
//! The content is protected by encryption, not by the file mode; a protected file that
//! only its creator can read would lock a shared folder's members out of even asking.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use fuda_core::crashpoint::{self, Step};

/// The extended attribute that holds a file's POSIX access ACL.
const ACL_ACCESS: &str = "system.posix_acl_access";

/// Who may read a file: its permission bits (without setuid, setgid or sticky), owner,
/// group and access ACL, taken before it is replaced or protected.
#[derive(Clone, Debug)]
pub(crate) struct Access {
    mode: u32,
    uid: u32,
    gid: u32,
    acl: Option<Vec<u8>>,
}

impl Access {
    /// The access of the file at `path` (its metadata `meta`, read once by the caller).
    pub(crate) fn of(path: &Path, meta: &std::fs::Metadata) -> io::Result<Access> {
        let reached = fuda_core::longpath::reach(path)?;
        let acl = match xattr::get(&*reached, ACL_ACCESS) {
            Ok(acl) => acl,
            Err(e) if unsupported(&e) => None,
            Err(e) => return Err(e),
        };
        Ok(Access {
            mode: meta.mode() & 0o777,
            uid: meta.uid(),
            gid: meta.gid(),
            acl,
        })
    }

    /// The access of the file at `path`, read now.
    pub(crate) fn read(path: &Path) -> io::Result<Access> {
        Access::of(path, &fuda_core::longpath::metadata(path)?)
    }

    /// Gives `dst` this access. The owner is set only where the process may (root, or
    /// the owner already); the group only where it may (its own groups, or root). A file
    /// system without ACLs keeps the permission bits, which already hold the ACL's mask.
    pub(crate) fn apply(&self, dst: &Path) -> io::Result<()> {
        let target = fuda_core::longpath::reach(dst)?;
        let mine = fuda_core::longpath::metadata(dst)?;
        if mine.uid() != self.uid || mine.gid() != self.gid {
            // Owner and group together (root), else the group alone (a member of it).
            crashpoint::reached(Step::SetMode);
            if std::os::unix::fs::chown(&*target, Some(self.uid), Some(self.gid)).is_err() {
                match std::os::unix::fs::chown(&*target, None, Some(self.gid)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {}
                    Err(e) => return Err(e),
                }
            }
        }
        crashpoint::reached(Step::SetMode);
        std::fs::set_permissions(&*target, std::fs::Permissions::from_mode(self.mode))?;
        let Some(acl) = &self.acl else {
            return Ok(());
        };
        crashpoint::reached(Step::SetAttr);
        match xattr::set(&*target, ACL_ACCESS, acl) {
            Err(e) if unsupported(&e) => Ok(()),
            other => other,
        }
    }
}

/// Linux's `EOPNOTSUPP`: the file system has no such attribute namespace.
const EOPNOTSUPP: i32 = 95;

/// Whether the file system simply has no ACLs.
pub(crate) fn unsupported(e: &io::Error) -> bool {
    e.raw_os_error() == Some(EOPNOTSUPP) || e.kind() == io::ErrorKind::Unsupported
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_protected_copy_takes_the_originals_permission_bits_without_setuid() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("a"), dir.path().join("a.fuda"));
        std::fs::write(&src, b"x").unwrap();
        std::fs::write(&dst, b"y").unwrap();
        std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o4644)).unwrap();
        std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o600)).unwrap();
        Access::read(&src).unwrap().apply(&dst).unwrap();
        let mode = std::fs::metadata(&dst).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o644, "{mode:o}");
    }
}
