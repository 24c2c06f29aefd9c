//! Who owns a file on disk, by name: the custodian (管理者) of a file a rule or the
//! policy's default labeled. Such a label is signed by the labeling account (the file
//! server's hook), which is not the person responsible for the file; the file's owner is.
//!
//! Names come from the local account database (`/etc/passwd`, read once); an owner it
//! does not list (a directory user resolved through NSS only) is shown as `uid N`.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

/// User names by uid.
#[derive(Debug, Default)]
pub struct Owners {
    names: HashMap<u32, String>,
}

impl Owners {
    /// The accounts of this machine (none when `/etc/passwd` cannot be read).
    pub fn local() -> Owners {
        std::fs::read("/etc/passwd")
            .map(|text| Owners::parse(&String::from_utf8_lossy(&text)))
            .unwrap_or_default()
    }

    /// The accounts of a `passwd(5)` file.
    pub fn parse(passwd: &str) -> Owners {
        let names = passwd
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let mut fields = l.split(':');
                let name = fields.next()?;
                let uid = fields.nth(1)?.parse().ok()?;
                (!name.is_empty()).then(|| (uid, name.to_owned()))
            })
            .collect();
        Owners { names }
    }

    /// The name of `uid`, or `uid N`.
    pub fn name(&self, uid: u32) -> String {
        self.names
            .get(&uid)
            .cloned()
            .unwrap_or_else(|| format!("uid {uid}"))
    }

    /// The owner of the file at `path` (not following a final symlink), when it can be
    /// read.
    pub fn of(&self, path: &Path) -> Option<String> {
        fuda_core::longpath::symlink_metadata(path)
            .ok()
            .map(|m| self.name(m.uid()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_named_from_passwd_and_unknown_ones_by_uid() {
        let owners = Owners::parse("# local\nroot:x:0:0::/root:/bin/sh\ntanaka:x:1001:1001:田中:/home/tanaka:/bin/bash\nbroken\n");
        assert_eq!(owners.name(1001), "tanaka");
        assert_eq!(owners.name(0), "root");
        assert_eq!(owners.name(4242), "uid 4242");
    }
}
