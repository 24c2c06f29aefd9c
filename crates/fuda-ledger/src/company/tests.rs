//! The company ledger from records in memory, as the key service's index hands them over.

// The whole file is test code (so scripts/module-cycles reads no further).
use super::*;
#[cfg(test)]
use crate::ledger::company::to_json;
use fuda_core::label::{DocId, Status};

fn policy() -> Policy {
    Policy::builtin("default").unwrap()
}

const NOW: i64 = 1_800_000_000;
const DRAWING: &str = "01JB0000000000000000000001";
const OLD: &str = "01JB0000000000000000000002";
const SPEC: &str = "01JB0000000000000000000004";

fn labeled(path: &str, level: &str, doc: &str, sha: u8) -> FileEntry {
    FileEntry {
        path: path.into(),
        root: "/".into(),
        size: 10,
        modified: NOW - 86_400,
        status: Status::Valid,
        store: Some("xattr".into()),
        doc: Some(doc.parse::<DocId>().unwrap()),
        level: Some(level.into()),
        owner: Some("tanaka".into()),
        method: Some(fuda_core::label::Method::Manual),
        set_at: Some(NOW - 86_400),
        sha256: Some(format!("{:064x}", sha).parse().unwrap()),
        ..FileEntry::default()
    }
}

fn unlabeled(path: &str, sha: u8) -> FileEntry {
    FileEntry {
        path: path.into(),
        root: "/".into(),
        size: 10,
        modified: NOW - 86_400,
        sha256: Some(format!("{:064x}", sha).parse().unwrap()),
        ..FileEntry::default()
    }
}

fn source(name: &str, last: Option<i64>) -> Source {
    Source {
        name: name.into(),
        kind: "machine".into(),
        last_report_at: last,
        expected_interval_s: 3600,
        files: 1,
    }
}

/// The index: (machine, file).
fn index() -> Vec<(&'static str, FileEntry)> {
    vec![
        // Server A keeps the 極秘 drawing where the policy allows it.
        (
            "srv-a",
            labeled(
                "/srv/share/極秘/車体/drawing.dwg",
                "strictly-confidential",
                DRAWING,
                1,
            ),
        ),
        // Someone copied it to a PC, label and all …
        (
            "pc-sales",
            labeled(
                "/home/sato/Desktop/drawing.dwg",
                "strictly-confidential",
                DRAWING,
                1,
            ),
        ),
        // … and to a USB-synced folder on server B, where the label was lost.
        ("srv-b", unlabeled("/srv/usb-sync/drawing.dwg", 1)),
        // A revoked document still on server B.
        (
            "srv-b",
            labeled("/srv/share/秘/設計/old.dwg", "confidential", OLD, 2),
        ),
        // A 秘 specification, edited on the PC since it was copied: same document, other
        // content.
        (
            "srv-a",
            labeled("/srv/share/秘/設計/spec.docx", "confidential", SPEC, 5),
        ),
        (
            "pc-sales",
            labeled("/home/sato/spec.docx", "confidential", SPEC, 6),
        ),
        // A memo on two machines: 社外秘 copies are no finding.
        (
            "srv-a",
            labeled(
                "/srv/share/memo.txt",
                "internal",
                "01JB0000000000000000000003",
                3,
            ),
        ),
        (
            "srv-b",
            labeled(
                "/srv/share/memo.txt",
                "internal",
                "01JB0000000000000000000003",
                3,
            ),
        ),
    ]
}

fn registry() -> Registry {
    use crate::inventory::registry::{RegisteredDocument, Revoked};
    Registry {
        documents: vec![RegisteredDocument {
            id: OLD.into(),
            name: "old.dwg".into(),
            owner: "tanaka".into(),
            level: "confidential".into(),
            revoked: Some(Revoked {
                at: NOW - 7 * 86_400,
                by: "admin".into(),
            }),
        }],
    }
}

/// Builds the ledger in the three passes, each in the order the index gives.
fn build(sources: Vec<Source>, previous: Option<&Previous>) -> CompanyLedger {
    let policy = Box::leak(Box::new(policy()));
    let registry = Box::leak(Box::new(registry()));
    let dir = tempfile::tempdir().unwrap();
    let mut b = Builder::new(policy, NOW, sources, Some(registry), previous, dir.path()).unwrap();
    let mut index = index();
    for (m, e) in &index {
        b.add(m, e.clone()).unwrap();
    }
    let record = |e: &FileEntry| serde_json::to_vec(e).unwrap();
    index.sort_by_key(|(m, e)| {
        (
            e.sha256.map(|d| d.to_string()),
            m.to_string(),
            e.path.clone(),
        )
    });
    for (m, e) in &index {
        b.add_by_content(&e.sha256.unwrap().to_string(), m, &e.path, &record(e))
            .unwrap();
    }
    index.sort_by_key(|(m, e)| (e.doc.map(|d| d.to_string()), m.to_string(), e.path.clone()));
    for (m, e) in index.iter().filter(|(_, e)| e.doc.is_some()) {
        b.add_by_doc(&e.doc.unwrap().to_string(), m, &e.path, &record(e))
            .unwrap();
    }
    b.finish().unwrap()
}

fn findings(ledger: &CompanyLedger) -> Vec<Finding> {
    ledger.findings.iter().map(Result::unwrap).collect()
}

fn everyone_reported() -> Vec<Source> {
    ["pc-sales", "srv-a", "srv-b"]
        .iter()
        .map(|m| source(m, Some(NOW - 60)))
        .collect()
}

#[test]
fn a_secret_copied_to_several_machines_is_one_finding_naming_every_place() {
    let ledger = build(everyone_reported(), None);
    let copies: Vec<Finding> = findings(&ledger)
        .into_iter()
        .filter(|f| f.kind == FindingKind::CopiesOnSeveralMachines)
        .collect();
    assert_eq!(copies.len(), 2, "{copies:#?}");
    // The drawing is one finding, though both its id and its content group the copies.
    let f = &copies[0];
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.level.as_deref(), Some("strictly-confidential"));
    for place in [
        "srv-a:/srv/share/極秘/車体/drawing.dwg",
        "pc-sales:/home/sato/Desktop/drawing.dwg",
        "srv-b:/srv/usb-sync/drawing.dwg",
    ] {
        assert!(f.detail.contains(place), "{place} in {}", f.detail);
        assert!(f.detail_ja.contains(place), "{place} in {}", f.detail_ja);
    }
    assert!(f.detail_ja.starts_with("極秘の"), "{}", f.detail_ja);
    // The edited specification is found by its document id.
    let spec = &copies[1];
    assert_eq!(spec.level.as_deref(), Some("confidential"));
    assert!(spec.detail.contains(SPEC), "{}", spec.detail);
    assert!(
        spec.detail.contains("pc-sales:/home/sato/spec.docx"),
        "{}",
        spec.detail
    );
}

#[test]
fn the_policy_is_checked_where_each_copy_is_and_named_machine_and_path() {
    let ledger = build(everyone_reported(), None);
    let all = findings(&ledger);
    let at = |kind: FindingKind| -> Vec<String> {
        all.iter()
            .filter(|f| f.kind == kind)
            .map(|f| f.path.to_string_lossy().into_owned())
            .collect()
    };
    // The PC copies are outside their levels' allowed locations; the server copies not.
    assert_eq!(
        at(FindingKind::OutsideAllowedLocation),
        [
            "pc-sales:/home/sato/Desktop/drawing.dwg",
            "pc-sales:/home/sato/spec.docx"
        ]
    );
    assert_eq!(
        at(FindingKind::RevokedStillPresent),
        ["srv-b:/srv/share/秘/設計/old.dwg"]
    );
    // High first.
    let severities: Vec<Severity> = all.iter().map(|f| f.severity).collect();
    let mut sorted = severities.clone();
    sorted.sort();
    assert_eq!(severities, sorted);
    assert!(ledger.complete());
}

#[test]
fn rows_merge_across_machines_and_list_every_machine_and_folder() {
    let ledger = build(everyone_reported(), None);
    let memo = ledger.rows.iter().find(|r| r.level == "internal").unwrap();
    assert_eq!(memo.files, 2);
    assert_eq!(memo.locations, ["srv-a:/srv/share", "srv-b:/srv/share"]);
    assert_eq!(
        memo.medium.as_deref(),
        Some("srv-a:/srv/share\nsrv-b:/srv/share")
    );
    assert_eq!(ledger.summary.files, 8);
    let files: Vec<FileEntry> = ledger.files.iter().map(Result::unwrap).collect();
    assert_eq!(
        files[0].path,
        Path::new("srv-a:/srv/share/極秘/車体/drawing.dwg")
    );
}

#[test]
fn a_machine_silent_past_its_interval_is_a_finding_and_the_ledger_is_incomplete() {
    let mut sources = everyone_reported();
    sources.push(source("srv-c", Some(NOW - 2 * 3600)));
    sources.push(source("pc-new", None));
    let ledger = build(sources, None);
    assert!(!ledger.complete());
    assert_eq!(ledger.overdue, ["srv-c", "pc-new"]);
    let silent: Vec<Finding> = findings(&ledger)
        .into_iter()
        .filter(|f| f.kind == FindingKind::MachineNotReporting)
        .collect();
    assert_eq!(silent.len(), 2);
    assert_eq!(silent[0].path, Path::new("srv-c:"));
    assert!(
        silent[1].detail.contains("never reported"),
        "{}",
        silent[1].detail
    );
}

#[test]
fn the_review_compares_with_last_times_company_ledger_file_by_file() {
    let first = build(everyone_reported(), None);
    let mut json = Vec::new();
    to_json(&first, &mut json).unwrap();
    let previous = Previous::from_reader(&mut json.as_slice()).unwrap();
    let again = build(everyone_reported(), Some(&previous));
    let review = again.review.as_ref().unwrap();
    assert_eq!(
        (
            review.added,
            review.removed,
            review.reclassified,
            review.moved
        ),
        (0, 0, 0, 0)
    );
}

#[test]
fn the_ledger_crosses_the_wire_whole_and_a_cut_off_stream_is_refused() {
    let sent = build(everyone_reported(), None);
    let mut stream = Vec::new();
    wire::line(&mut stream, &wire::Line::Progress(3)).unwrap();
    wire::write(&sent, &mut stream).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let got = wire::read(&mut stream.as_slice(), &policy(), None, dir.path()).unwrap();
    assert_eq!(got.rows, sent.rows);
    assert_eq!(got.sources, sent.sources);
    assert_eq!(findings(&got), findings(&sent));
    let files =
        |l: &CompanyLedger| -> Vec<FileEntry> { l.files.iter().map(Result::unwrap).collect() };
    assert_eq!(files(&got), files(&sent));
    // Without its last line (the end), the stream is refused.
    let cut = &stream[..stream.len() - 1];
    let cut = &cut[..cut.iter().rposition(|b| *b == b'\n').unwrap() + 1];
    let Err(err) = wire::read(&mut &cut[..], &policy(), None, dir.path()) else {
        panic!("a cut-off stream was read");
    };
    assert!(matches!(err, wire::WireError::CutOff { files: 8 }), "{err}");
}
