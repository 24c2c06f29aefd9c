//! Whom a file protected by a file-server hook belongs to: the label's owner, then the
//! file's owner in the file system by login name. The key service takes the first of them
//! that is an active person in its directory ([`fuda_keyd::registry::Registration::owners`]).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use fuda_core::label::Label;

/// The candidates for the owner of `path` (its label `label`), in order of preference,
/// without repeats.
pub fn owner_candidates(path: &Path, label: Option<&Label>) -> Vec<String> {
    let mut out: Vec<String> = label.map(|l| l.owner.clone()).into_iter().collect();
    let login = fuda_core::longpath::symlink_metadata(path)
        .ok()
        .and_then(|m| login_name(m.uid()));
    if let Some(name) = login.filter(|n| !out.contains(n)) {
        out.push(name);
    }
    out.retain(|n| !n.is_empty());
    out
}

/// The login name of `uid`: from `/etc/passwd`, else from the system's other user
/// databases (`getent passwd`, e.g. winbind or LDAP users of a Samba file server).
fn login_name(uid: u32) -> Option<String> {
    let from_passwd = std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| name_in(&text, uid));
    from_passwd.or_else(|| {
        let out = std::process::Command::new("getent")
            .args(["passwd", &uid.to_string()])
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        name_in(&String::from_utf8_lossy(&out.stdout), uid)
    })
}

/// The name of `uid` in `passwd(5)` lines.
fn name_in(text: &str, uid: u32) -> Option<String> {
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uid_is_named_by_its_passwd_line_and_garbage_names_nobody() {
        let text = "root:x:0:0:root:/root:/bin/bash\nsato:x:1001:100::/home/sato:/bin/sh\nbroken\n:x:7:7::/:\n";
        assert_eq!(name_in(text, 1001).as_deref(), Some("sato"));
        assert_eq!(name_in(text, 0).as_deref(), Some("root"));
        assert_eq!(name_in(text, 7), None);
        assert_eq!(name_in(text, 42), None);
    }
}
