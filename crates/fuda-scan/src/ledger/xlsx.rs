//! The ledger as an Excel workbook (rust_xlsxwriter).
//!
//! Each sheet has a bold, shaded header row that stays in view (frozen panes), filter
//! buttons on every column, and column widths measured from the text (Japanese characters
//! count double, capped so a long path does not push everything off screen). Text is
//! always written as text, so a file name that looks like a formula is never run.
//! Sheets are streamed (constant memory), so the per-file sheet of a million-file
//! inventory is not held in memory; a sheet longer than Excel's 1,048,576 rows continues
//! on `NAME (2)`, `NAME (3)` ….

use std::path::Path;

use rust_xlsxwriter::{Color, Format, FormatAlign, Workbook, Worksheet, XlsxError};

use super::{text_width, Cell, LedgerError, Sheet};

/// Rows per worksheet, header included (Excel's limit).
pub const MAX_ROWS: u32 = 1_048_576;
const MIN_WIDTH: usize = 6;
const MAX_WIDTH: usize = 60;
/// Rows sampled per sheet to size columns.
const WIDTH_SAMPLE: u32 = 2_000;

/// Writes the sheets to `dest` atomically.
pub fn write(sheets: Vec<Sheet<'_>>, dest: &Path) -> Result<(), LedgerError> {
    let xlsx_err = |e: XlsxError| LedgerError::Xlsx {
        path: dest.to_owned(),
        reason: e.to_string(),
    };
    let mut workbook = Workbook::new();
    // Deflate level 1 instead of the default 6: ~8 µs less CPU per file listed (a third
    // of the writer's time), for a file ~1.5 times as large (benches/README.md).
    workbook.set_zip_compression_level(1);
    // Stream rows to temporary files beside the destination, not to a shared /tmp.
    if let Some(dir) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        workbook.set_tempdir(dir).map_err(xlsx_err)?;
    }
    let header_format = Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0xDDEBF7))
        .set_align(FormatAlign::Center)
        .set_text_wrap();
    let wrap = Format::new().set_text_wrap().set_align(FormatAlign::Top);
    for sheet in sheets {
        let mut part = 1;
        let mut rows = sheet.rows.peekable();
        loop {
            let name = if part == 1 {
                sheet.name.to_owned()
            } else {
                format!("{} ({part})", sheet.name)
            };
            let ws = workbook
                .add_worksheet_with_constant_memory()
                .map_err(xlsx_err)?;
            let written = fill(ws, &name, sheet.header, &mut rows, &header_format, &wrap)
                .map_err(xlsx_err)?;
            if written == 0 || rows.peek().is_none() {
                break;
            }
            part += 1;
        }
    }
    let mut tmp =
        fuda_core::fsutil::TempSibling::new(dest, super::OUTPUT_MODE).map_err(|source| {
            LedgerError::Io {
                path: dest.to_owned(),
                source,
            }
        })?;
    workbook
        .save_to_writer(std::io::BufWriter::new(tmp.file()))
        .map_err(xlsx_err)?;
    tmp.commit(dest).map_err(|source| LedgerError::Io {
        path: dest.to_owned(),
        source,
    })
}

fn fill(
    ws: &mut Worksheet,
    name: &str,
    header: &[&str],
    rows: &mut std::iter::Peekable<Box<dyn Iterator<Item = std::io::Result<Vec<Cell>>> + '_>>,
    header_format: &Format,
    wrap: &Format,
) -> Result<u32, XlsxError> {
    ws.set_name(name)?;
    let mut widths: Vec<usize> = header.iter().map(|h| text_width(h) + 2).collect();
    for (c, h) in header.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, header_format)?;
    }
    let mut r: u32 = 0;
    while r + 1 < MAX_ROWS {
        let Some(row) = rows.next() else { break };
        let row = row?;
        r += 1;
        for (c, cell) in row.iter().enumerate() {
            let col = c as u16;
            match cell {
                Cell::Empty => {}
                Cell::Int(n) => {
                    ws.write_number(r, col, *n as f64)?;
                }
                Cell::Text(t) if t.contains('\n') => {
                    ws.write_string_with_format(r, col, t, wrap)?;
                }
                Cell::Text(t) => {
                    ws.write_string(r, col, t)?;
                }
            }
            if r <= WIDTH_SAMPLE {
                if let (Some(w), Cell::Text(t)) = (widths.get_mut(c), cell) {
                    *w = (*w).max(text_width(t));
                } else if let (Some(w), Cell::Int(n)) = (widths.get_mut(c), cell) {
                    *w = (*w).max(n.to_string().len());
                }
            }
        }
    }
    for (c, w) in widths.iter().enumerate() {
        ws.set_column_width(c as u16, (w + 2).clamp(MIN_WIDTH, MAX_WIDTH) as f64)?;
    }
    ws.set_freeze_panes(1, 0)?;
    if !header.is_empty() {
        ws.autofilter(0, 0, r, header.len() as u16 - 1)?;
    }
    Ok(r)
}
