//! Files the watcher leaves alone: editor and office temporaries, and fuda's own files.

use std::path::Path;

/// Whether `path` is one of fuda's own files: the sidecar index folder or a temporary
/// file of an atomic write (`.NAME.fuda-tmp-…`), or inside one.
pub fn is_fuda_internal(path: &Path) -> bool {
    path.ancestors().any(|p| {
        p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
            n == fuda_core::store::sidecar::SIDECAR_DIR
                || (n.starts_with('.') && n.contains(".fuda-tmp-"))
        })
    })
}

/// Whether the watcher ignores `path`: fuda's own files, and editor and office
/// temporaries (`~$x.docx`, `.~lock.x#`, `.#x`, `x~`, `*.tmp`, `*.swp`, `*.swx`, `*.part`,
/// `*.crdownload`).
pub fn ignored(path: &Path) -> bool {
    if is_fuda_internal(path) {
        return true;
    }
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let lower = name.to_ascii_lowercase();
    name.starts_with("~$")
        || name.starts_with(".~lock.")
        || name.starts_with(".#")
        || name.ends_with('~')
        || lower.ends_with(".tmp")
        || lower.ends_with(".swp")
        || lower.ends_with(".swx")
        || lower.ends_with(".part")
        || lower.ends_with(".crdownload")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editor_temporaries_and_fudas_own_files_are_ignored_and_documents_are_not() {
        for name in [
            "~$plan.docx",
            ".~lock.plan.odt#",
            ".#plan.txt",
            "plan.txt~",
            "x.TMP",
            ".plan.txt.swp",
            "a.crdownload",
        ] {
            assert!(ignored(Path::new(name)), "{name}");
        }
        assert!(ignored(Path::new("/srv/share/.fuda/index")));
        assert!(ignored(Path::new("/srv/share/.plan.txt.fuda-tmp-0a1b2c3d")));
        for name in ["plan.docx", "見積書.xlsx", "notes.txt"] {
            assert!(!ignored(Path::new(name)), "{name}");
        }
    }
}
