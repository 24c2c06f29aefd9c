//! End-to-end: a real Samba share on 127.0.0.1 with `fuda watch` on its directory. Files
//! arrive the way Windows clients send them — over SMB, written by `smbd` — and
//! `smbclient` plays the client: uploads are labeled by the watcher, re-uploads keep a
//! person's label, and clients see the label as an extended attribute.

mod common;

use std::time::{Duration, Instant};

use common::samba::Samba;
use common::watch::Watch;
use common::{jp, p, write, User};

const LABEL_ATTR: &str = "user.fuda.label";

/// A share directory served by a fresh smbd, watched by the hook (`-v`, so that files
/// left as they were are logged too). `None` when Samba is not available here (a skip;
/// a failure with FUDA_REQUIRE_TOOLS=1).
struct Share {
    // Dropped in this order: the watcher and smbd stop before their directories go.
    watch: Watch,
    samba: Samba,
    hook: User,
    dir: tempfile::TempDir,
    /// Where the client's local files are.
    local: tempfile::TempDir,
}

impl Share {
    fn start() -> Option<Share> {
        let dir = common::workdir();
        let samba = Samba::start(dir.path())?;
        let hook = User::init("fuda-hook");
        let watch = Watch::start_verbose(&hook, dir.path());
        Some(Share {
            watch,
            samba,
            hook,
            dir,
            local: common::workdir(),
        })
    }

    /// The server-side path of `remote`.
    fn path(&self, remote: &str) -> std::path::PathBuf {
        self.dir.path().join(remote)
    }

    /// Uploads `text` as `remote` (overwriting it if it exists), as a client would.
    fn upload(&self, remote: &str, text: impl AsRef<[u8]>) {
        let local = self.local.path().join("upload");
        write(&local, text);
        self.samba.put(&local, remote);
    }

    /// Waits until the watcher logged more than `before` events about `remote` and the
    /// file's label satisfies `ok`; panics with the watcher's log and the label after 15 s.
    fn wait_label(&self, remote: &str, before: usize, ok: impl Fn(&serde_json::Value) -> bool) {
        let path = self.path(remote);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let seen = self.watch.events_for(&path).len() > before;
            let shown = self.hook.show(&path);
            if seen && ok(&shown) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{remote}: label now {shown}\nwatcher log:\n{}",
                self.watch.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn a_file_uploaded_over_smb_gets_the_label_its_content_calls_for() {
    let Some(share) = Share::start() else { return };
    share.upload("報告書.txt", "試験報告書\n本資料は極秘です。\n");
    share.samba.client("mkdir 設計図");
    share.upload("設計図/bracket.dwg", b"AC1032\0drawing");
    share.upload("昼食.txt", "金曜日の昼食の案内");

    share.wait_label("報告書.txt", 0, |l| l["status"] == "valid");
    let report = share.hook.show(&share.path("報告書.txt"));
    assert_eq!(report["level"], "strictly-confidential", "{report}");
    assert_eq!(report["method"], "auto", "{report}");
    assert_eq!(report["store"], "xattr", "{report}");

    share.wait_label("設計図/bracket.dwg", 0, |l| l["status"] == "valid");
    let drawing = share.hook.show(&share.path("設計図/bracket.dwg"));
    assert_eq!(drawing["level"], "confidential", "{drawing}");

    // A file no rule matches gets the policy's default level, said to be one.
    share.wait_label("昼食.txt", 0, |l| l["status"] == "valid");
    let lunch = share.hook.show(&share.path("昼食.txt"));
    assert_eq!(
        (lunch["level"].as_str(), lunch["method"].as_str()),
        (Some("internal"), Some("default")),
        "{lunch}"
    );

    // A Windows client sees the label as the extended attribute `fuda.label`, byte for
    // byte, and the level name as `xdg.tags`; Samba's own xattrs (DOS attributes,
    // streams) are not listed.
    let eas = share.samba.eas("報告書.txt");
    let on_disk = xattr::get(share.path("報告書.txt"), LABEL_ATTR)
        .unwrap()
        .unwrap();
    assert!(
        eas.contains(&("fuda.label".to_owned(), on_disk)),
        "the client's EAs: {eas:?}"
    );
    assert!(
        eas.contains(&(
            "xdg.tags".to_owned(),
            "極秘,Strictly confidential".as_bytes().to_vec()
        )),
        "{eas:?}"
    );
    assert_eq!(eas.len(), 2, "{eas:?}");

    // Windows' download mark, an alternate data stream, is kept beside the label
    // (`streams_xattr`) and does not make it stale.
    share.upload(
        "報告書.txt:Zone.Identifier",
        "[ZoneTransfer]\r\nZoneId=3\r\n",
    );
    assert!(
        xattr::get(
            share.path("報告書.txt"),
            "user.DosStream.Zone.Identifier:$DATA"
        )
        .unwrap()
        .is_some(),
        "the stream is an xattr"
    );
    let report = share.hook.show(&share.path("報告書.txt"));
    assert_eq!(report["status"], "valid", "{report}");
    assert_eq!(report["level"], "strictly-confidential", "{report}");

    // A new version saved over it: the automatic label is re-signed for the new text,
    // the same document.
    let doc = report["doc"].clone();
    let before = share.watch.events_for(&share.path("報告書.txt")).len();
    share.upload("報告書.txt", "試験報告書(第2版)\n本資料は極秘です。\n");
    share.wait_label("報告書.txt", before, |l| l["status"] == "valid");
    let report = share.hook.show(&share.path("報告書.txt"));
    assert_eq!(report["doc"], doc, "{report}");
    assert_eq!(report["level"], "strictly-confidential", "{report}");

    let (code, events) = share.watch.stop();
    assert_eq!(code, 0);
    assert!(!events.iter().any(|e| e["event"] == "failed"), "{events:?}");
}

#[test]
fn re_uploading_a_labeled_file_over_smb_keeps_its_level_and_doc_id() {
    let Some(share) = Share::start() else { return };
    let tanaka = User::init("tanaka");
    let name = "打合せ.txt";
    let path = share.path(name);
    share.upload(name, "打合せメモ(初版)\n");
    // No rule matches: the watcher gives it the policy's default level.
    share.wait_label(name, 0, |l| l["method"] == "default");

    // Tanaka decides it is 極秘 although no rule says so.
    tanaka.fuda(&["label", "set", "極秘", p(&path)]).expect(0);
    let labeled = tanaka.show(&path);
    let doc = labeled["doc"].as_str().unwrap().to_owned();

    // The client saves a new version over it. Its text alone would make it 社外秘.
    let before = share.watch.events_for(&path).len();
    share.upload(name, "打合せメモ(改訂版)\n社外秘\n");
    share.wait_label(name, before, |l| l["level"] == "strictly-confidential");

    let after = tanaka.show(&path);
    assert_eq!(after["doc"], doc.as_str(), "the same document: {after}");
    assert_eq!(after["method"], "manual", "{after}");
    assert_eq!(after["owner"], "tanaka", "{after}");
    assert!(
        after["status"] == "valid" || after["status"] == "stale",
        "{after}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "打合せメモ(改訂版)\n社外秘\n",
        "the new version arrived"
    );
}

#[test]
fn a_save_through_a_temporary_file_over_smb_keeps_its_level_and_doc_id() {
    // Word and many Windows programs save by writing a temporary file, moving the
    // document aside and renaming the temporary over its name: a new file (new inode,
    // no xattrs) on the server.
    let Some(share) = Share::start() else { return };
    let tanaka = User::init("tanaka");
    let name = "仕様.txt";
    let path = share.path(name);
    share.upload(name, "仕様書(初版)\n");
    share.wait_label(name, 0, |l| l["method"] == "default");
    tanaka.fuda(&["label", "set", "極秘", p(&path)]).expect(0);
    let doc = tanaka.show(&path)["doc"].as_str().unwrap().to_owned();
    // The watcher learns the person's label from the attribute change.
    share.watch.wait_for(
        |events| {
            events.iter().any(|e| {
                e["event"] == "remembered" && e["path"] == jp(&path) && e["doc"] == doc.as_str()
            })
        },
        15,
    );

    let before = share.watch.events_for(&path).len();
    share.upload("~WRD0001.tmp", "仕様書(改訂版)\n");
    share.samba.client(&format!(
        "rename {name} ~WRL0001.tmp; rename ~WRD0001.tmp {name}; del ~WRL0001.tmp"
    ));
    share.wait_label(name, before, |l| l["level"] == "strictly-confidential");
    let after = tanaka.show(&path);
    assert_eq!(after["doc"], doc.as_str(), "{after}");
    assert_eq!(after["owner"], "tanaka", "{after}");
}

#[test]
fn a_label_edited_through_the_ea_api_is_not_trusted() {
    // With `ea support`, any client with write access can change `fuda.label`; the label
    // is signed, so the change shows, and a forged value gives no level.
    let Some(share) = Share::start() else { return };
    share.upload("議事録.txt", "議事録 極秘\n");
    share.wait_label("議事録.txt", 0, |l| l["status"] == "valid");

    share.samba.client("setea 議事録.txt fuda.label 公開");
    assert_eq!(
        xattr::get(share.path("議事録.txt"), LABEL_ATTR).unwrap(),
        Some("公開".as_bytes().to_vec()),
        "Samba stores the client's EA as the user.* xattr"
    );
    let shown = share.hook.show(&share.path("議事録.txt"));
    assert_eq!(shown["status"], "tampered", "{shown}");
    assert!(shown.get("level").is_none_or(|l| l.is_null()), "{shown}");
    let check = share
        .hook
        .fuda(&["label", "check", p(&share.path("議事録.txt"))]);
    assert_eq!(check.code, 1, "{}{}", check.stdout, check.stderr);
    assert!(check.stdout.contains("1 tampered"), "{}", check.stdout);
}
