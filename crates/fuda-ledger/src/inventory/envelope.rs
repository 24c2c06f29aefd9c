//! Protected files (`*.fuda`) in the inventory.
//!
//! Their labels are read from the envelope header by fuda-core's envelope store (no key
//! needed); what the inventory adds is matching them to assets and rules by the name the
//! plaintext had.

use std::path::Path;

pub use fuda_core::store::envelope::is_protected;

const EXTENSION: &str = fuda_core::envelope::EXTENSION;

/// The path a protected file's plaintext had (`plan.dwg.fuda` → `plan.dwg`), which is what
/// asset and rule globs are written for.
pub fn plaintext_name(path: &Path) -> &Path {
    if !is_protected(path) {
        return path;
    }
    // The extension is ascii, so cutting `.fuda` off the text keeps a char boundary.
    path.to_str()
        .and_then(|t| t.get(..t.len() - EXTENSION.len() - 1))
        .filter(|s| !s.is_empty() && !s.ends_with('/'))
        .map_or(path, Path::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_files_match_by_their_plaintext_name() {
        assert_eq!(
            plaintext_name(Path::new("/s/設計/assy.dwg.fuda")),
            Path::new("/s/設計/assy.dwg")
        );
        assert_eq!(
            plaintext_name(Path::new("/s/plan.FUDA")),
            Path::new("/s/plan")
        );
        assert_eq!(
            plaintext_name(Path::new("/s/plan.txt")),
            Path::new("/s/plan.txt")
        );
        assert_eq!(plaintext_name(Path::new("/s/.fuda")), Path::new("/s/.fuda"));
    }
}
