//! The OOXML label store: labels inside docx/xlsx/pptx that Office and fuda both read.

mod packages;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use fuda_core::digest::Digest;
use fuda_core::identity::Identity;
use fuda_core::label::{self, DocId, Label, Method, PolicyRef, SignedLabel, Status};
use fuda_core::labeling::Labeler;
use fuda_core::policy::{MsipMapping, Policy};
use fuda_core::store::ooxml::OoxmlStore;
use fuda_core::store::{LabelStore, StoreError, Stored, WriteContext};
use fuda_core::trust::{SignerKind, TrustStore};
use packages::{e, part, unzip, with_part, zip, Entry};
use zip::ZipArchive;

const OEM_GUID: &str = "2096f6a2-d2f7-48be-b329-b73aaa526e5d";
const OEM_SITE: &str = "11111111-2222-3333-4444-555555555555";
const CUSTOM_CT: &str = "application/vnd.openxmlformats-officedocument.custom-properties+xml";
const CUSTOM_REL: &str =
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties";
const INFO_CT: &str = "application/vnd.ms-office.classificationlabels+xml";
const INFO_REL: &str =
    "http://schemas.microsoft.com/office/2020/02/relationships/classificationlabels";

/// A temporary folder, a signer and the default policy.
struct World {
    dir: tempfile::TempDir,
    me: Identity,
    policy: Policy,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let me = Identity::create(&dir.path().join("id"), "tester").unwrap();
        World {
            dir,
            me,
            policy: Policy::builtin("default").unwrap(),
        }
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn label(&self, path: &Path, level: &str, method: Method) -> Result<SignedLabel, StoreError> {
        self.label_with(&self.policy, path, level, method)
    }

    fn label_with(
        &self,
        policy: &Policy,
        path: &Path,
        level: &str,
        method: Method,
    ) -> Result<SignedLabel, StoreError> {
        let level = policy.level(level).unwrap();
        let record = Label {
            v: label::LABEL_VERSION,
            doc: DocId::new(),
            level: level.id.clone(),
            policy: PolicyRef {
                id: policy.id.clone(),
                version: policy.version,
            },
            owner: "tester".into(),
            dept: Some("設計部".into()),
            asset: None,
            method,
            rule: None,
            origin: None,
            set_by: "tester".into(),
            set_at: 1_795_600_800, // 2026-11-25T10:00:00Z
            seq: 0,
            content_sha256: None,
            justification: None,
            flags: Vec::new(),
            evidence: Vec::new(),
        };
        let mut sign = |digest: Digest| {
            let mut l = record.clone();
            l.content_sha256 = Some(digest);
            self.me.sign(l)
        };
        OoxmlStore.write(
            path,
            WriteContext {
                policy,
                level,
                content_sha256: None,
            },
            &mut sign,
        )
    }

    fn trust(&self) -> TrustStore {
        let mut t = TrustStore::default();
        t.add(self.me.as_signer(SignerKind::User));
        t
    }

    /// What `fuda label check` would say about the file.
    fn status(&self, path: &Path) -> Status {
        let trust = self.trust();
        self.labeler(&trust).inspect(path).unwrap().status
    }

    /// The labeling front end the CLI uses, signing as the tester.
    fn labeler<'a>(&'a self, trust: &'a TrustStore) -> Labeler<'a> {
        Labeler {
            policy: &self.policy,
            identity: &self.me,
            trust,
            dept: Some("設計部".into()),
            preference: Default::default(),
            memo: None,
            digests: None,
        }
    }

    /// Files in the folder other than the identity (to spot left-over temporaries).
    fn listing(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "id")
            .collect();
        names.sort();
        names
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/ooxml")
            .join(name),
    )
    .unwrap()
}

/// The six documents every story runs on: three built here, three written by python.
fn documents() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("built.docx", zip(&packages::docx())),
        ("built.xlsx", zip(&packages::xlsx())),
        ("built.pptx", zip(&packages::pptx())),
        ("python-docx.docx", fixture("python-docx.docx")),
        ("openpyxl.xlsx", fixture("openpyxl.xlsx")),
        ("python-pptx.pptx", fixture("python-pptx.pptx")),
    ]
}

/// Raw view of every entry: name, method, CRC and compressed bytes.
fn raw_entries(path: &Path) -> Vec<(String, zip::CompressionMethod, u32, Vec<u8>)> {
    let mut a = ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..a.len())
        .map(|i| {
            let mut f = a.by_index_raw(i).unwrap();
            let mut raw = Vec::new();
            f.read_to_end(&mut raw).unwrap();
            (f.name().to_owned(), f.compression(), f.crc32(), raw)
        })
        .collect()
}

fn signed(stored: Option<Stored>) -> SignedLabel {
    match stored {
        // Works whether the store hands the label over boxed or not.
        Some(Stored::Signed(s)) => SignedLabel::clone(&s),
        other => panic!("expected a fuda label, found {other:?}"),
    }
}

fn is_bad_package(r: Result<impl std::fmt::Debug, StoreError>) -> String {
    match r {
        Err(e @ StoreError::BadPackage { .. }) => e.to_string(),
        other => panic!("expected BadPackage, got {other:?}"),
    }
}

const LABEL_PARTS: [&str; 4] = [
    "[Content_Types].xml",
    "_rels/.rels",
    "docProps/custom.xml",
    "docMetadata/LabelInfo.xml",
];

#[test]
fn a_labeled_docx_xlsx_and_pptx_read_back_the_same_signed_label() {
    let w = World::new();
    for (name, bytes) in documents() {
        let path = w.file(name, &bytes);
        assert!(
            OoxmlStore.read(&path).unwrap().is_none(),
            "{name} starts unlabeled"
        );
        let written = w.label(&path, "confidential", Method::Manual).unwrap();
        let read = signed(OoxmlStore.read(&path).unwrap());
        assert_eq!(read, written, "{name}");
        assert_eq!(w.status(&path), Status::Valid, "{name}");
    }
    assert_eq!(
        w.listing().len(),
        6,
        "no temporary files are left: {:?}",
        w.listing()
    );
}

#[test]
fn labeling_copies_every_other_entry_raw_in_the_same_order() {
    let w = World::new();
    for (name, bytes) in documents() {
        let path = w.file(name, &bytes);
        let before = raw_entries(&path);
        w.label(&path, "strictly-confidential", Method::Auto)
            .unwrap();
        let after = raw_entries(&path);
        let kept = |v: &[(String, zip::CompressionMethod, u32, Vec<u8>)]| {
            v.iter()
                .filter(|(n, ..)| !LABEL_PARTS.contains(&n.as_str()))
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(kept(&before), kept(&after), "{name}: raw entries changed");
        assert!(!kept(&before).is_empty());
        // Original entries keep their order; new parts come after them.
        let names_before: Vec<&String> = before.iter().map(|(n, ..)| n).collect();
        let names_after: Vec<&String> = after.iter().map(|(n, ..)| n).take(before.len()).collect();
        assert_eq!(names_before, names_after, "{name}: order changed");

        // Once the plumbing is in place, relabeling leaves [Content_Types].xml and
        // _rels/.rels raw too.
        let once = raw_entries(&path);
        w.label(&path, "internal", Method::Manual).unwrap();
        let twice = raw_entries(&path);
        for plumbing in ["[Content_Types].xml", "_rels/.rels"] {
            let find = |v: &[(String, zip::CompressionMethod, u32, Vec<u8>)]| {
                v.iter().find(|(n, ..)| n == plumbing).cloned().unwrap()
            };
            assert_eq!(find(&once), find(&twice), "{name}: {plumbing} rewritten");
        }
    }
}

#[test]
fn stored_pictures_stay_stored() {
    let w = World::new();
    let path = w.file("pic.docx", &zip(&packages::docx()));
    w.label(&path, "internal", Method::Manual).unwrap();
    let pic = raw_entries(&path)
        .into_iter()
        .find(|(n, ..)| n == "word/media/image1.png")
        .unwrap();
    assert_eq!(pic.1, zip::CompressionMethod::Stored);
}

#[test]
fn the_content_digest_is_the_signed_one_and_follows_content_edits() {
    let w = World::new();
    let path = w.file("a.docx", &zip(&packages::docx()));
    let s = w.label(&path, "confidential", Method::Manual).unwrap();
    assert_eq!(
        Some(OoxmlStore.content_digest(&path).unwrap()),
        s.label.content_sha256
    );

    // Relabeling does not change what the digest covers.
    let again = w
        .label(&path, "strictly-confidential", Method::Manual)
        .unwrap();
    assert_eq!(again.label.content_sha256, s.label.content_sha256);

    // Someone edits the text (as Word would, rewriting the package).
    let edited: Vec<Entry> = unzip(&path)
        .into_iter()
        .map(|(n, b, d)| {
            if n == "word/document.xml" {
                let t = String::from_utf8(b)
                    .unwrap()
                    .replace("design notes", "design notes v2");
                (n, t.into_bytes(), d)
            } else {
                (n, b, d)
            }
        })
        .collect();
    std::fs::write(&path, zip(&edited)).unwrap();
    let now = OoxmlStore.content_digest(&path).unwrap();
    assert_ne!(Some(now), again.label.content_sha256);
    assert_eq!(w.status(&path), Status::Stale);
}

#[test]
fn the_digest_is_the_documented_one() {
    let w = World::new();
    let entries = vec![
        e(
            "[Content_Types].xml",
            "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>",
        ),
        e("b.xml", "<b/>"),
        e("docProps/custom.xml", "<ignored/>"),
        e("a.xml", "<a/>"),
    ];
    let path = w.file("d.docx", &zip(&entries));
    let mut expected = Vec::new();
    for (name, text) in [
        ("[Content_Types].xml", entries[0].1.as_slice()),
        ("a.xml", b"<a/>".as_slice()),
        ("b.xml", b"<b/>".as_slice()),
    ] {
        expected.extend((name.len() as u32).to_be_bytes());
        expected.extend(name.as_bytes());
        expected.extend((text.len() as u64).to_be_bytes());
        expected.extend(text);
    }
    assert_eq!(
        OoxmlStore.content_digest(&path).unwrap(),
        Digest::of_bytes(&expected)
    );
}

fn office_custom_props(extra: &str) -> String {
    let p = |pid: u32, field: &str, value: &str| {
        format!("<property fmtid=\"{{D5CDD505-2E9C-101B-9397-08002B2CF9AE}}\" pid=\"{pid}\" name=\"MSIP_Label_{OEM_GUID}_{field}\"><vt:lpwstr>{value}</vt:lpwstr></property>")
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\r\n<Properties xmlns=\"http://schemas.openxmlformats.org/officeDocument/2006/custom-properties\" xmlns:vt=\"http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes\">{}{}{}{}{}{}{}{extra}</Properties>",
        p(2, "Enabled", "true"),
        p(3, "SetDate", "2024-03-01T09:30:00Z"),
        p(4, "Method", "Privileged"),
        p(5, "Name", "Confidential"),
        p(6, "SiteId", OEM_SITE),
        p(7, "ActionId", "0e5a3c2b-9c1e-4a57-8d3f-000000000001"),
        p(8, "ContentBits", "0"),
    )
}

fn office_label_info(enabled: &str, removed: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\" standalone=\"yes\"?><clbl:labelList xmlns:clbl=\"http://schemas.microsoft.com/office/2020/mipLabelMetadata\"><clbl:label id=\"{{{OEM_GUID}}}\" enabled=\"{enabled}\" method=\"Standard\" siteId=\"{{{OEM_SITE}}}\" contentBits=\"0\" removed=\"{removed}\" /></clbl:labelList>"
    )
}

fn office_docx_with_props(extra: &str) -> Vec<u8> {
    zip(&with_part(
        packages::docx(),
        "docProps/custom.xml",
        CUSTOM_CT,
        CUSTOM_REL,
        &office_custom_props(extra),
    ))
}

fn office_docx_with_label_info(enabled: &str, removed: &str) -> Vec<u8> {
    zip(&with_part(
        packages::docx(),
        "docMetadata/LabelInfo.xml",
        INFO_CT,
        INFO_REL,
        &office_label_info(enabled, removed),
    ))
}

fn foreign(stored: Option<Stored>) -> fuda_core::store::ForeignLabel {
    match stored {
        Some(Stored::Foreign(f)) => f,
        other => panic!("expected a Purview label, found {other:?}"),
    }
}

#[test]
fn a_purview_label_in_custom_properties_is_read_and_mapped() {
    let w = World::new();
    let path = w.file("oem.docx", &office_docx_with_props(""));
    let f = foreign(OoxmlStore.read(&path).unwrap());
    assert_eq!(f.guid, OEM_GUID);
    assert_eq!(f.name.as_deref(), Some("Confidential"));
    assert_eq!(f.site_id.as_deref(), Some(OEM_SITE));
    assert_eq!(f.set_date.as_deref(), Some("2024-03-01T09:30:00Z"));
    assert_eq!(f.method.as_deref(), Some("Privileged"));
    match w.policy.map_msip(&f.guid) {
        Some(MsipMapping::Imported(level, import)) => {
            assert_eq!(level.id, "strictly-confidential");
            assert_eq!(import.origin, "Example OEM");
        }
        _ => panic!("the OEM label maps through [[import.msip]]"),
    }
}

#[test]
fn a_purview_label_only_in_label_info_is_read() {
    let w = World::new();
    let path = w.file("oem2022.docx", &office_docx_with_label_info("1", "0"));
    let f = foreign(OoxmlStore.read(&path).unwrap());
    assert_eq!(f.guid, OEM_GUID);
    assert_eq!(f.site_id.as_deref(), Some(OEM_SITE));
    assert_eq!(f.method.as_deref(), Some("Standard"));
    assert_eq!(f.name, None);
}

#[test]
fn a_removed_or_disabled_label_info_entry_is_no_label() {
    let w = World::new();
    for (enabled, removed) in [("1", "1"), ("0", "0")] {
        let path = w.file("gone.docx", &office_docx_with_label_info(enabled, removed));
        assert!(OoxmlStore.read(&path).unwrap().is_none());
    }
    // LabelInfo speaks for its tenant even when the old properties still say enabled.
    let both = with_part(
        with_part(
            packages::docx(),
            "docProps/custom.xml",
            CUSTOM_CT,
            CUSTOM_REL,
            &office_custom_props(""),
        ),
        "docMetadata/LabelInfo.xml",
        INFO_CT,
        INFO_REL,
        &office_label_info("1", "1"),
    );
    let path = w.file("both.docx", &zip(&both));
    assert!(OoxmlStore.read(&path).unwrap().is_none());
}

fn props_named(path: &Path) -> Vec<(String, u32)> {
    let text = part(path, "docProps/custom.xml").unwrap();
    let tag = regex::Regex::new(r"<property [^>]*>").unwrap();
    let attr = |t: &str, name: &str| {
        regex::Regex::new(&format!(r#" {name}="([^"]*)""#))
            .unwrap()
            .captures(t)
            .unwrap()[1]
            .to_owned()
    };
    tag.find_iter(&text)
        .map(|m| {
            (
                attr(m.as_str(), "name"),
                attr(m.as_str(), "pid").parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn foreign_purview_metadata_survives_our_label() {
    let w = World::new();
    let author = "<property fmtid=\"{D5CDD505-2E9C-101B-9397-08002B2CF9AE}\" pid=\"9\" name=\"Project\"><vt:lpwstr>R&amp;D</vt:lpwstr></property>";
    let entries = with_part(
        with_part(
            packages::docx(),
            "docProps/custom.xml",
            CUSTOM_CT,
            CUSTOM_REL,
            &office_custom_props(author),
        ),
        "docMetadata/LabelInfo.xml",
        INFO_CT,
        INFO_REL,
        &office_label_info("1", "0"),
    );
    let path = w.file("oem.docx", &zip(&entries));
    let before = part(&path, "docProps/custom.xml").unwrap();
    let s = w
        .label(&path, "strictly-confidential", Method::Manual)
        .unwrap();
    assert_eq!(signed(OoxmlStore.read(&path).unwrap()), s);

    let after = part(&path, "docProps/custom.xml").unwrap();
    // Every foreign property is still there, byte for byte.
    let body = before
        .split_once("docPropsVTypes\">")
        .unwrap()
        .1
        .trim_end_matches("</Properties>");
    assert!(after.contains(body), "foreign properties changed:\n{after}");
    let info = part(&path, "docMetadata/LabelInfo.xml").unwrap();
    assert!(info.contains(&format!("id=\"{{{OEM_GUID}}}\"")), "{info}");
    assert!(info.contains("id=\"{6f1c2b0e-0a35-4b8f-9d0e-3a1f9c000003}\" enabled=\"1\" method=\"Privileged\" siteId=\"{00000000-0000-0000-0000-000000000000}\" contentBits=\"0\" removed=\"0\""), "{info}");
    // No duplicate relationship or override was added for parts that had them.
    let rels = part(&path, "_rels/.rels").unwrap();
    assert_eq!(rels.matches(CUSTOM_REL).count(), 1);
    assert_eq!(rels.matches(INFO_REL).count(), 1);
    let ct = part(&path, "[Content_Types].xml").unwrap();
    assert_eq!(ct.matches("/docProps/custom.xml").count(), 1);
    assert_eq!(ct.matches("/docMetadata/LabelInfo.xml").count(), 1);
}

#[test]
fn relabeling_keeps_one_set_of_our_properties() {
    let w = World::new();
    let path = w.file("a.xlsx", &fixture("openpyxl.xlsx"));
    w.label(&path, "internal", Method::Manual).unwrap();
    let s = w.label(&path, "confidential", Method::Auto).unwrap();
    let props = props_named(&path);
    let names: Vec<&str> = props.iter().map(|(n, _)| n.as_str()).collect();
    let ours = "MSIP_Label_6f1c2b0e-0a35-4b8f-9d0e-3a1f9c000002_";
    assert_eq!(
        names,
        [
            "Project".to_owned(),
            format!("{ours}Enabled"),
            format!("{ours}SetDate"),
            format!("{ours}Method"),
            format!("{ours}Name"),
            format!("{ours}SiteId"),
            format!("{ours}ActionId"),
            format!("{ours}ContentBits"),
            "fuda.label".to_owned(),
        ]
    );
    let mut pids: Vec<u32> = props.iter().map(|(_, p)| *p).collect();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), props.len(), "pids are unique: {props:?}");
    assert!(pids[0] >= 2);

    let text = part(&path, "docProps/custom.xml").unwrap();
    for (field, value) in [
        ("Enabled", "true".to_owned()),
        ("SetDate", "2026-11-25T10:00:00Z".to_owned()),
        ("Method", "Standard".to_owned()),
        ("Name", "Confidential".to_owned()),
        ("SiteId", "00000000-0000-0000-0000-000000000000".to_owned()),
        ("ContentBits", "0".to_owned()),
    ] {
        assert!(
            text.contains(&format!(
                "name=\"{ours}{field}\"><vt:lpwstr>{value}</vt:lpwstr>"
            )),
            "{field}: {text}"
        );
    }
    let doc = s.label.doc.to_bytes();
    let action = format!(
        "{}-{}-{}-{}-{}",
        hex::encode(&doc[..4]),
        hex::encode(&doc[4..6]),
        hex::encode(&doc[6..8]),
        hex::encode(&doc[8..10]),
        hex::encode(&doc[10..])
    );
    assert!(
        text.contains(&format!("{ours}ActionId\"><vt:lpwstr>{action}<")),
        "{text}"
    );
    let value = regex::Regex::new(r#"name="fuda.label"><vt:lpwstr>([^<]*)<"#)
        .unwrap()
        .captures(&text)
        .unwrap()[1]
        .to_owned();
    assert!(
        value.len() < 255,
        "fuda.label is {} characters",
        value.len()
    );
    let info = part(&path, "docMetadata/LabelInfo.xml").unwrap();
    assert_eq!(info.matches("<clbl:label ").count(), 1, "{info}");
    assert!(info.contains("3a1f9c000002"), "{info}");
}

#[test]
fn levels_without_a_purview_id_write_only_the_fuda_property() {
    let w = World::new();
    let ipa = Policy::builtin("ipa-sme").unwrap();
    let level = ipa
        .levels
        .iter()
        .find(|l| l.msip_id.is_none())
        .unwrap()
        .id
        .clone();
    let path = w.file("a.docx", &zip(&packages::docx()));
    let s = w.label_with(&ipa, &path, &level, Method::Manual).unwrap();
    assert_eq!(signed(OoxmlStore.read(&path).unwrap()), s);
    let names: Vec<String> = props_named(&path).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["fuda.label"]);
    assert!(part(&path, "docMetadata/LabelInfo.xml").is_none());
    assert!(!part(&path, "_rels/.rels").unwrap().contains(INFO_REL));
    assert!(part(&path, "_rels/.rels").unwrap().contains(CUSTOM_REL));
    assert!(part(&path, "[Content_Types].xml")
        .unwrap()
        .contains(CUSTOM_CT));
}

#[test]
fn removing_a_label_clears_fuda_and_office_metadata() {
    let w = World::new();
    let author = "<property fmtid=\"{D5CDD505-2E9C-101B-9397-08002B2CF9AE}\" pid=\"9\" name=\"Project\"><vt:lpwstr>R&amp;D</vt:lpwstr></property>";
    let path = w.file("a.docx", &office_docx_with_props(author));
    w.label(&path, "confidential", Method::Manual).unwrap();
    let before = raw_entries(&path);
    assert!(OoxmlStore.remove(&path, &w.policy).unwrap());
    assert!(OoxmlStore.read(&path).unwrap().is_none());
    let names: Vec<String> = props_named(&path).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["Project"]);
    let info = part(&path, "docMetadata/LabelInfo.xml").unwrap();
    assert!(!info.contains("label "), "{info}");
    // Everything else is untouched.
    let keep = |v: Vec<(String, zip::CompressionMethod, u32, Vec<u8>)>| {
        v.into_iter()
            .filter(|(n, ..)| !n.starts_with("doc"))
            .collect::<Vec<_>>()
    };
    assert_eq!(keep(before), keep(raw_entries(&path)));
    // Nothing left to remove.
    let bytes = std::fs::read(&path).unwrap();
    assert!(!OoxmlStore.remove(&path, &w.policy).unwrap());
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn a_garbled_fuda_property_reads_as_corrupt() {
    let w = World::new();
    for (value, why) in [("!!!", "base64"), ("AAAA", "label format")] {
        let custom = format!("<Properties xmlns=\"http://schemas.openxmlformats.org/officeDocument/2006/custom-properties\" xmlns:vt=\"http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes\"><property fmtid=\"{{D5CDD505-2E9C-101B-9397-08002B2CF9AE}}\" pid=\"2\" name=\"fuda.label\"><vt:lpwstr>{value}</vt:lpwstr></property></Properties>");
        let path = w.file(
            "g.docx",
            &zip(&with_part(
                packages::docx(),
                "docProps/custom.xml",
                CUSTOM_CT,
                CUSTOM_REL,
                &custom,
            )),
        );
        match OoxmlStore.read(&path).unwrap() {
            Some(Stored::Corrupt(reason)) => assert!(reason.contains(why), "{reason}"),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
}

#[test]
fn bad_packages_are_refused_and_left_untouched() {
    let w = World::new();
    let good = zip(&packages::docx());
    let mut no_ct = packages::docx();
    no_ct.retain(|(n, ..)| n != "[Content_Types].xml");
    let doctype = "<?xml version=\"1.0\"?><!DOCTYPE p [<!ENTITY a \"aaaaaaaaaa\">]><Properties>&a;</Properties>";
    let huge = format!("<Properties>{}</Properties>", " ".repeat(17 << 20));
    let mut flipped = good.clone();
    let at = flipped.len() / 3;
    flipped[at..at + 64].iter_mut().for_each(|b| *b ^= 0x55);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "text.docx",
            b"just some text, not a zip".to_vec(),
            "not a zip",
        ),
        ("truncated.docx", good[..good.len() / 2].to_vec(), "zip"),
        ("flipped.docx", flipped, "damaged"),
        ("plain.docx", zip(&no_ct), "[Content_Types].xml"),
        (
            "doctype.docx",
            zip(&with_part(
                packages::docx(),
                "docProps/custom.xml",
                CUSTOM_CT,
                CUSTOM_REL,
                doctype,
            )),
            "document type",
        ),
        (
            "huge.docx",
            zip(&with_part(
                packages::docx(),
                "docProps/custom.xml",
                CUSTOM_CT,
                CUSTOM_REL,
                &huge,
            )),
            "16 MiB",
        ),
        (
            "notxml.docx",
            zip(&with_part(
                packages::docx(),
                "docMetadata/LabelInfo.xml",
                INFO_CT,
                INFO_REL,
                "<clbl:labelList",
            )),
            "LabelInfo.xml",
        ),
    ];
    for (name, bytes, why) in cases {
        let path = w.file(name, &bytes);
        let listing = w.listing();
        let err = is_bad_package(w.label(&path, "internal", Method::Manual));
        assert!(err.contains(why) && err.contains(name), "{name}: {err}");
        assert!(err.contains("left unchanged"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name} changed");
        assert_eq!(w.listing(), listing, "{name}: a temporary file was left");
        if !matches!(name, "flipped.docx") {
            is_bad_package(OoxmlStore.read(&path));
        }
        if name == "flipped.docx" {
            // Nothing to remove: the damage is in content the store does not need to read.
            assert!(!OoxmlStore.remove(&path, &w.policy).unwrap());
        } else {
            is_bad_package(OoxmlStore.remove(&path, &w.policy));
        }
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name} changed");
    }
    // A damaged entry is found by the digest, which reads every byte.
    let path = w.dir.path().join("flipped.docx");
    is_bad_package(OoxmlStore.content_digest(&path));
}

#[test]
fn read_only_documents_are_refused() {
    let w = World::new();
    let bytes = zip(&packages::docx());
    let path = w.file("ro.docx", &bytes);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    match w.label(&path, "internal", Method::Manual) {
        Err(StoreError::ReadOnly(p)) => assert_eq!(p, path),
        other => panic!("expected ReadOnly, got {other:?}"),
    }
    assert!(matches!(
        OoxmlStore.remove(&path, &w.policy),
        Err(StoreError::ReadOnly(_))
    ));
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn missing_documents_are_reported_as_missing() {
    let w = World::new();
    let path = w.dir.path().join("nope.docx");
    assert!(matches!(
        OoxmlStore.read(&path),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        w.label(&path, "internal", Method::Manual),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn permission_bits_survive_labeling() {
    let w = World::new();
    let path = w.file("p.xlsx", &zip(&packages::xlsx()));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    w.label(&path, "internal", Method::Manual).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
}

#[test]
fn labeling_through_a_symlink_labels_the_target_and_keeps_the_link() {
    let w = World::new();
    let target = w.file("real.pptx", &zip(&packages::pptx()));
    let link = w.dir.path().join("link.pptx");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let s = w.label(&link, "internal", Method::Manual).unwrap();
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(signed(OoxmlStore.read(&target).unwrap()), s);
}

/// Checks a labeled file with the python libraries people use to read Office files.
const PY_CHECK: &str = r#"
import sys, zipfile, xml.dom.minidom
path, labeled = sys.argv[1], sys.argv[2] == "after"
z = zipfile.ZipFile(path)
assert z.testzip() is None
for name in z.namelist():
    if name.endswith(".xml") or name.endswith(".rels"):
        xml.dom.minidom.parseString(z.read(name))
if path.endswith(".docx"):
    import docx
    d = docx.Document(path)
    assert any(p.text for p in d.paragraphs), "no text"
elif path.endswith(".xlsx"):
    import openpyxl
    wb = openpyxl.load_workbook(path)
    assert wb.active.cell(1, 1).value
    names = [p.name for p in wb.custom_doc_props.props]
    if labeled:
        assert "fuda.label" in names, names
        assert any(n.startswith("MSIP_Label_") and n.endswith("_Enabled") for n in names), names
elif path.endswith(".pptx"):
    import pptx
    p = pptx.Presentation(path)
    assert len(p.slides) == 1
    assert any(s.has_text_frame and s.text_frame.text for s in p.slides[0].shapes)
print("ok")
"#;

#[test]
fn labeled_documents_still_open_with_python_office_libraries() {
    let required = std::env::var("FUDA_REQUIRE_TOOLS").is_ok_and(|v| v == "1");
    let probe = Command::new("python3")
        .args(["-c", "import docx, openpyxl, pptx"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        other => {
            let why = match other {
                Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                Err(e) => e.to_string(),
            };
            assert!(!required, "FUDA_REQUIRE_TOOLS=1 but python3 with python-docx, openpyxl and python-pptx is missing: {why}");
            eprintln!("skipping: python3 with python-docx, openpyxl and python-pptx is not available ({why}); pip install python-docx openpyxl python-pptx");
            return;
        }
    }
    let w = World::new();
    for (name, bytes) in documents() {
        let path = w.file(name, &bytes);
        // Check the unlabeled document first, so a failure blames the right thing.
        for stage in ["before", "after"] {
            if stage == "after" {
                w.label(&path, "confidential", Method::Manual).unwrap();
            }
            let out = Command::new("python3")
                .args(["-c", PY_CHECK])
                .arg(&path)
                .arg(stage)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{name} ({stage} labeling) does not open: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn the_labeler_sets_checks_and_imports_office_labels_through_the_store() {
    use fuda_core::labeling::{SetOutcome, SetRequest};
    let w = World::new();
    let trust = w.trust();
    let labeler = w.labeler(&trust);
    let request = |level: &str| SetRequest {
        level: w.policy.level(level).unwrap(),
        method: Method::Manual,
        asset: None,
        owner: None,
        justification: None,
        rule: None,
        flags: Vec::new(),
        evidence: Vec::new(),
        content_sha256: None,
        newest: None,
    };

    // An OEM's drawing arrives with the OEM's Purview label.
    let path = w.file("oem.docx", &office_docx_with_props(""));
    let seen = labeler.inspect(&path).unwrap();
    assert_eq!(seen.status, Status::Unverified);
    let imported = seen.label.unwrap();
    assert_eq!(imported.level, "strictly-confidential");
    assert!(imported.origin.unwrap().contains("Example OEM"));

    // We label it ourselves; the OEM's label stays in the file for the OEM's tools.
    match labeler
        .set(&path, &request("strictly-confidential"))
        .unwrap()
    {
        SetOutcome::Applied { store, .. } => assert_eq!(store.as_str(), "ooxml"),
        other => panic!("{other:?}"),
    }
    let now = labeler.inspect(&path).unwrap();
    assert_eq!(now.status, Status::Valid);
    assert!(part(&path, "docProps/custom.xml")
        .unwrap()
        .contains(OEM_GUID));

    // Relabeling places the new embedded label after the old one (seq), so the old one
    // written back would be recognisable as replayed.
    let first = now.label.unwrap();
    assert_eq!(first.seq, 0);
    labeler
        .set(&path, &request("strictly-confidential"))
        .unwrap();
    let again = labeler.inspect(&path).unwrap().label.unwrap();
    assert_eq!((again.doc, again.seq), (first.doc, 1));
    assert!(first.is_older_than(&again));

    // Lowering it needs a reason, and the refusal leaves the file alone.
    let bytes = std::fs::read(&path).unwrap();
    assert!(labeler.set(&path, &request("public")).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

/// One LibreOffice conversion and the text each converted file must contain.
struct Conversion {
    ext: &'static str,
    format: &'static str,
    out_ext: &'static str,
    expect: &'static [(&'static str, &'static str)],
}

/// Runs LibreOffice headless on `files`, converting to `format` into `out`.
fn soffice(profile: &Path, out: &Path, format: &str, files: &[PathBuf]) -> std::process::Output {
    Command::new("soffice")
        .arg(format!(
            "-env:UserInstallation=file://{}",
            profile.display()
        ))
        .args([
            "--headless",
            "--norestore",
            "--convert-to",
            format,
            "--outdir",
        ])
        .arg(out)
        .args(files)
        .output()
        .unwrap()
}

#[test]
fn labeled_documents_still_convert_with_libreoffice() {
    let required = std::env::var("FUDA_REQUIRE_TOOLS").is_ok_and(|v| v == "1");
    let probe = Command::new("soffice").arg("--version").output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            !required,
            "FUDA_REQUIRE_TOOLS=1 but LibreOffice (soffice) is not installed"
        );
        eprintln!("skipping: LibreOffice (soffice) is not installed; apt-get install libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui");
        return;
    }
    let w = World::new();
    let profile = w.dir.path().join("lo-profile");
    let out = w.dir.path().join("converted");
    let mut labeled = Vec::new();
    for (name, bytes) in documents() {
        let path = w.file(name, &bytes);
        w.label(&path, "confidential", Method::Manual).unwrap();
        labeled.push(path);
    }
    let of = |ext: &str| -> Vec<PathBuf> {
        labeled
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == ext))
            .cloned()
            .collect()
    };
    // Text must come out of documents and workbooks; slides must render.
    let checks = [
        Conversion {
            ext: "docx",
            format: "txt:Text (encoded):UTF8",
            out_ext: "txt",
            expect: &[
                ("built", "社外秘 design notes"),
                ("python-docx", "this drawing specification is internal"),
            ],
        },
        Conversion {
            ext: "xlsx",
            format: "csv:Text - txt - csv (StarCalc):44,34,76",
            out_ext: "csv",
            expect: &[("built", "設計図面"), ("openpyxl", "情報資産名称")],
        },
        Conversion {
            ext: "pptx",
            format: "pdf",
            out_ext: "pdf",
            expect: &[("built", ""), ("python-pptx", "")],
        },
    ];
    for Conversion {
        ext,
        format,
        out_ext,
        expect,
    } in checks
    {
        let o = soffice(&profile, &out, format, &of(ext));
        assert!(
            o.status.success(),
            "soffice failed on {ext}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        for (stem, text) in expect {
            let converted = out.join(format!("{stem}.{out_ext}"));
            let bytes = std::fs::read(&converted).unwrap_or_else(|e| {
                panic!(
                    "LibreOffice did not convert {stem}.{ext} ({e}): {}",
                    String::from_utf8_lossy(&o.stdout)
                )
            });
            let content = String::from_utf8_lossy(&bytes);
            assert!(
                bytes.len() > 100 || !text.is_empty(),
                "{stem}.{ext} converted to almost nothing"
            );
            assert!(
                content.contains(text),
                "{stem}.{ext}: {text:?} missing from {content}"
            );
        }
    }
}

#[test]
fn restore_puts_a_previous_label_on_a_replacement_with_its_doc_id_owner_and_method() {
    let w = World::new();
    let trust = w.trust();
    let labeler = w.labeler(&trust);
    let original = w.file("spec.docx", &zip(&packages::docx()));
    let mut had = w
        .label(&original, "confidential", Method::Manual)
        .unwrap()
        .label;
    had.owner = "tanaka".into();
    had.origin = Some("msip:oem (OEM Confidential)".into());
    // The saved document: other content, no label.
    let saved = w.file("saved.docx", &zip(&packages::xlsx()));
    let before = raw_entries(&saved);

    let restored = labeler.restore(&saved, &had).unwrap();
    let back = restored.label;
    assert_eq!(
        (
            back.doc,
            &back.level,
            &back.owner,
            back.method,
            &back.origin
        ),
        (had.doc, &had.level, &had.owner, had.method, &had.origin)
    );
    assert_eq!(back.set_by, "tester", "signed by the labeler");
    let now = labeler.inspect(&saved).unwrap();
    assert_eq!(now.status, Status::Valid, "signed for the new content");
    assert_eq!(now.label.unwrap().doc, had.doc);
    // Every entry but the label plumbing is still there, byte for byte.
    let after = raw_entries(&saved);
    for entry in before
        .iter()
        .filter(|(n, ..)| !LABEL_PARTS.contains(&n.as_str()))
    {
        assert!(after.contains(entry), "{} changed", entry.0);
    }

    // A level the policy does not define is refused, the file left as it was.
    let plain = w.file("plain.docx", &zip(&packages::docx()));
    let bytes = std::fs::read(&plain).unwrap();
    let mut unknown = had.clone();
    unknown.level = "top-secret".into();
    let err = labeler.restore(&plain, &unknown).unwrap_err();
    assert!(err.to_string().contains("top-secret"), "{err}");
    assert_eq!(std::fs::read(&plain).unwrap(), bytes);
}
