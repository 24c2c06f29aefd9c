//! The inventory as JSON: the same content as the workbook, for scripts, and the input of
//! next year's `fuda inventory --since`.

use std::io::Write;
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use super::LedgerError;
use crate::inventory::{AssetRow, Finding, Inventory, PolicyInfo, Review, Summary};

/// Writes the inventory as JSON (UTF-8, no byte-order mark, one line and a newline: a
/// million-file inventory stays a few hundred megabytes; `jq .` pretty-prints it).
///
/// The same bytes as `serde_json::to_writer(inventory)`, but the files (nearly all of it)
/// are serialized on every core, a few thousand at a time, and written in order.
pub fn to_writer(inventory: &Inventory, mut out: impl Write) -> std::io::Result<()> {
    let head = serde_json::to_vec(&Head::of(inventory))?;
    // `…,"files":[]}`: the files go between the brackets.
    let open = head
        .strip_suffix(b"]}")
        .expect("the files are the last field");
    out.write_all(open)?;
    for (round, files) in inventory.files.chunks(ROUND).enumerate() {
        let parts: Vec<std::io::Result<Vec<u8>>> = files
            .par_chunks(PART)
            .enumerate()
            .map(|(part, files)| {
                let mut bytes = Vec::with_capacity(files.len() * 512);
                for (i, file) in files.iter().enumerate() {
                    if round + part + i > 0 {
                        bytes.push(b',');
                    }
                    serde_json::to_writer(&mut bytes, file)?;
                }
                Ok(bytes)
            })
            .collect();
        for part in parts {
            out.write_all(&part?)?;
        }
    }
    out.write_all(b"]}\n")?;
    out.flush()
}

/// Files serialized by one worker at a time.
const PART: usize = 1024;
/// Files serialized before they are written (bounds the memory: ~8 MB).
const ROUND: usize = 16 * PART;

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

/// The inventory as JSON bytes (see [`to_writer`]).
pub fn render(inventory: &Inventory) -> Vec<u8> {
    let mut bytes = Vec::new();
    to_writer(inventory, &mut bytes).expect("writing to memory");
    bytes
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
    use crate::inventory::FileEntry;

    fn review() -> Option<Review> {
        Some(Review {
            since: 1_790_000_000,
            added: 0,
            removed: 0,
            reclassified: 0,
            moved: 0,
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
    fn the_parallel_writer_writes_exactly_what_serde_writes() {
        // Empty, one part, and across rounds and parts; with and without a review.
        for (count, review) in [
            (0, None),
            (1, review()),
            (PART + 1, None),
            (ROUND * 2 + PART + 3, review()),
        ] {
            let inv = inventory(count, review);
            let mut want = serde_json::to_vec(&inv).unwrap();
            want.push(b'\n');
            assert!(render(&inv) == want, "{count} files");
            let back = Inventory::from_json(&render(&inv)).unwrap();
            assert_eq!(back.files, inv.files);
        }
    }
}
