//! CSV in UTF-8 with a byte-order mark and CRLF line ends, the form Excel opens with
//! Japanese text intact (RFC 4180 quoting).
//!
//! Text that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab
//! or CR — a file named `=HYPERLINK(…)` for example) is prefixed with `'`, so opening a
//! ledger never executes what a file name says.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Cell, LedgerError, Sheet};

/// The UTF-8 byte-order mark.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

fn field(out: &mut Vec<u8>, cell: &Cell) {
    let text = match cell {
        Cell::Empty => return,
        Cell::Int(n) => {
            let _ = write!(out, "{n}");
            return;
        }
        Cell::Date(d) => {
            let _ = write!(
                out,
                "{:04}-{:02}-{:02}",
                d.year(),
                u8::from(d.month()),
                d.day()
            );
            return;
        }
        Cell::Text(t) => t,
    };
    let formula = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula || text.contains([',', '"', '\r', '\n']);
    if quote {
        out.push(b'"');
    }
    if formula {
        out.push(b'\'');
    }
    for b in text.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    if quote {
        out.push(b'"');
    }
}

fn line(out: &mut Vec<u8>, cells: impl IntoIterator<Item = Cell>) {
    for (i, cell) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        field(out, &cell);
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes one sheet as CSV (with BOM), a line at a time.
pub fn write_sheet(sheet: Sheet<'_>, out: &mut impl Write) -> std::io::Result<()> {
    let mut bytes = BOM.to_vec();
    line(&mut bytes, sheet.header.iter().map(|h| Cell::from(*h)));
    out.write_all(&bytes)?;
    for row in sheet.rows {
        bytes.clear();
        line(&mut bytes, row?);
        out.write_all(&bytes)?;
    }
    out.flush()
}

/// Where the CSV of `slug` goes when the main sheet goes to `dest`.
pub fn sibling(dest: &Path, slug: &str) -> PathBuf {
    let stem = dest
        .file_stem()
        .map_or_else(|| "ledger".into(), |s| s.to_string_lossy().into_owned());
    dest.with_file_name(format!("{stem}-{slug}.csv"))
}

/// Writes the first sheet to `dest` and the others beside it; each file atomically.
pub fn write(sheets: Vec<Sheet<'_>>, dest: &Path) -> Result<Vec<PathBuf>, LedgerError> {
    let mut written = Vec::new();
    for (i, sheet) in sheets.into_iter().enumerate() {
        let path = if i == 0 {
            dest.to_owned()
        } else {
            sibling(dest, sheet.slug)
        };
        let io = |source| LedgerError::Io {
            path: path.clone(),
            source,
        };
        let mut tmp = fuda_core::fsutil::TempSibling::new(&path, super::OUTPUT_MODE).map_err(io)?;
        write_sheet(
            sheet,
            &mut std::io::BufWriter::with_capacity(1 << 20, tmp.file()),
        )
        .map_err(io)?;
        tmp.commit(&path).map_err(io)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_formula_guard() {
        let mut out = Vec::new();
        line(
            &mut out,
            [
                Cell::from("a,b"),
                Cell::from("say \"hi\""),
                Cell::from("=HYPERLINK(\"x\")"),
                Cell::Int(-3),
                Cell::Date(time::macros::date!(2026 - 04 - 01)),
                Cell::Empty,
                Cell::from("顧客図面"),
            ],
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a,b\",\"say \"\"hi\"\"\",\"'=HYPERLINK(\"\"x\"\")\",-3,2026-04-01,,顧客図面\r\n"
        );
    }
}
