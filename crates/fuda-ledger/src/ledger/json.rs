//! The inventory as JSON: the same content as the workbook, for scripts, and the input of
//! next year's `fuda inventory --since`.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::LedgerError;
use crate::inventory::{AssetRow, Finding, Inventory, PolicyInfo, Review, Summary};

/// Writes the inventory as JSON (UTF-8, no byte-order mark, one line and a newline: a
/// million-file inventory stays a few hundred megabytes; `jq .` pretty-prints it).
///
/// The same bytes as `serde_json::to_writer(inventory)`; the files (nearly all of it) are
/// copied from the records the inventory spilled as it read them
/// ([`FileList::write_json_items`](crate::inventory::FileList::write_json_items)).
pub fn to_writer(inventory: &Inventory, mut out: impl Write) -> std::io::Result<()> {
    let head = serde_json::to_vec(&Head::of(inventory))?;
    // `…,"files":[]}`: the files go between the brackets.
    let open = head
        .strip_suffix(b"]}")
        .expect("the files are the last field");
    out.write_all(open)?;
    inventory.files.write_json_items(&mut out)?;
    out.write_all(b"]}\n")?;
    out.flush()
}

/// Everything of an [`Inventory`] but the files, in the same order, with an empty list
/// of files last (the `to_writer` test holds it to serde's output of the whole).
#[derive(Serialize)]
struct Head<'a> {
    format: &'a str,
    version: u32,
    generated_at: i64,
    policy: &'a PolicyInfo,
    roots: &'a [String],
    summary: &'a Summary,
    rows: &'a [AssetRow],
    findings: &'a [Finding],
    #[serde(skip_serializing_if = "Option::is_none")]
    review: Option<&'a Review>,
    files: [(); 0],
}

impl Head<'_> {
    fn of(inv: &Inventory) -> Head<'_> {
        Head {
            format: &inv.format,
            version: inv.version,
            generated_at: inv.generated_at,
            policy: &inv.policy,
            roots: &inv.roots,
            summary: &inv.summary,
            rows: &inv.rows,
            findings: &inv.findings,
            review: inv.review.as_ref(),
            files: [],
        }
    }
}

/// Writes the inventory JSON to `dest` atomically, streaming it (never whole in memory).
pub fn write(inventory: &Inventory, dest: &Path) -> Result<(), LedgerError> {
    let io = |source| LedgerError::Io {
        path: dest.to_owned(),
        source,
    };
    let mut tmp = fuda_core::fsutil::TempSibling::new(dest, super::OUTPUT_MODE).map_err(io)?;
    to_writer(
        inventory,
        std::io::BufWriter::with_capacity(1 << 20, tmp.file()),
    )
    .map_err(io)?;
    tmp.commit(dest).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::review::Trace;
    use crate::inventory::{FileEntry, Previous};

    fn render(inventory: &Inventory) -> Vec<u8> {
        let mut bytes = Vec::new();
        to_writer(inventory, &mut bytes).unwrap();
        bytes
    }

    fn review() -> Option<Review> {
        Some(Review {
            since: 1_790_000_000,
            added: 0,
            removed: 0,
            reclassified: 0,
            moved: 0,
            protected: 0,
            changes: Vec::new(),
        })
    }

    fn inventory(files: usize, review: Option<Review>) -> Inventory {
        let files = (0..files)
            .map(|i| {
                serde_json::from_value::<FileEntry>(serde_json::json!({
                    "path": format!("/s/d{}/f{i}.txt", i / 1000), "root": "/s", "size": i,
                    "modified": 1_795_000_000 + i as i64, "status": "valid", "level": "internal",
                    "owner": "佐藤", "sha256": format!("{:064x}", i),
                }))
                .unwrap()
            })
            .collect();
        Inventory {
            review,
            ..Inventory::of_files(files)
        }
    }

    #[test]
    fn the_writer_writes_exactly_what_serde_writes() {
        // With and without files and a review.
        for (count, review) in [(0, None), (1, review()), (3, None), (40, review())] {
            let inv = inventory(count, review);
            let mut want = serde_json::to_vec(&inv).unwrap();
            want.push(b'\n');
            assert!(render(&inv) == want, "{count} files");
            let back: Inventory = serde_json::from_slice(&render(&inv)).unwrap();
            let files = |inv: &Inventory| -> Vec<FileEntry> {
                inv.files.iter().map(Result::unwrap).collect()
            };
            assert_eq!(files(&back), files(&inv));
            // What the next review reads of it.
            let previous = Previous::from_reader(&mut &render(&inv)[..]).unwrap();
            assert_eq!(previous.generated_at, inv.generated_at);
            let traces: Vec<Trace> = files(&inv).iter().map(Trace::from).collect();
            assert_eq!(previous.files, traces);
        }
    }

    #[test]
    fn every_path_keeps_its_exact_bytes_and_people_read_it_escaped() {
        use std::ffi::OsString;
        use std::os::unix::ffi::OsStringExt;
        let names: [&[u8]; 4] = [
            b"\x8b\xc9\x94\xe9.txt",
            b"bad\xff.txt",
            b"two\nlines.txt",
            "普通.txt".as_bytes(),
        ];
        let files: Vec<FileEntry> = names
            .iter()
            .map(|name| {
                let mut path = b"/s/".to_vec();
                path.extend_from_slice(name);
                FileEntry {
                    path: OsString::from_vec(path).into(),
                    root: "/s".into(),
                    ..FileEntry::default()
                }
            })
            .collect();
        let inv = Inventory::of_files(files.clone());
        let text = String::from_utf8(render(&inv)).unwrap();
        assert!(
            text.contains(r#""path":{"bytes":"L3MvYmFk/y50eHQ="}"#),
            "{text}"
        );
        assert!(text.contains(r#""path":{"text":"/s/普通.txt"}"#), "{text}");
        let back: Inventory = serde_json::from_str(&text).unwrap();
        let back: Vec<FileEntry> = back.files.iter().map(Result::unwrap).collect();
        assert_eq!(back, files);
        let previous = Previous::from_reader(&mut text.as_bytes()).unwrap();
        let traces: Vec<Trace> = files.iter().map(Trace::from).collect();
        assert_eq!(previous.files, traces);

        let policy = fuda_core::policy::Policy::builtin("default").unwrap();
        let shown: Vec<String> = files
            .iter()
            .map(
                |f| match &crate::ledger::file_row(&policy, f, policy.language)[0] {
                    crate::ledger::Cell::Text(t) => t.clone(),
                    other => panic!("{other:?}"),
                },
            )
            .collect();
        // CP932 bytes can hold valid UTF-8 pieces (c9 94 is "ɔ").
        assert_eq!(
            shown,
            [
                r"/s/\x8bɔ\xe9.txt",
                r"/s/bad\xff.txt",
                r"/s/two\nlines.txt",
                "/s/普通.txt"
            ]
        );
    }
}
