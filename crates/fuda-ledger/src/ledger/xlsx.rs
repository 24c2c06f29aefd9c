//! The ledger as an Excel workbook (rust_xlsxwriter).
//!
//! Each sheet has a bold, shaded header row that stays in view (frozen panes), filter
//! buttons on every column, and column widths measured from the text (Japanese characters
//! count double, capped so a long path does not push everything off screen). Text is
//! always written as text, so a file name that looks like a formula is never run; dates
//! are real dates (`yyyy-mm-dd`), so they sort and filter as dates.
//!
//! Every sheet prints as a document to sign ([`Page`]): landscape, A3 for the wide
//! ledger sheets and A4 for the others, fit to one page wide, the header row repeated on
//! every page, the organisation, sheet, policy and generation time at the top of each
//! page and "page x / y" at the bottom.
//! Sheets are streamed (constant memory), so the per-file sheet of a million-file
//! inventory is not held in memory; a sheet longer than Excel's 1,048,576 rows continues
//! on `NAME (2)`, `NAME (3)` ….
//!
//! The [`Writer`] takes the files while the inventory reads them (the ファイル明細 sheet
//! fills as they come) and the rest of the inventory at the end, when the sheets that
//! need all of it (the ledger rows, the findings, the review) are written and placed in
//! workbook order.

use std::path::{Path, PathBuf};

use fuda_core::policy::{Language, Policy};
use rust_xlsxwriter::{Color, ExcelDateTime, Format, FormatAlign, Workbook, Worksheet, XlsxError};

use super::{text_width, Cell, LedgerError};
use crate::inventory::{FileEntry, Inventory};

/// Rows per worksheet, header included (Excel's limit).
pub const MAX_ROWS: u32 = 1_048_576;
const MIN_WIDTH: usize = 6;
const MAX_WIDTH: usize = 60;
/// Rows sampled per sheet to size columns.
const WIDTH_SAMPLE: u32 = 2_000;

/// A workbook being written: files first, as the inventory reads them, then the rest.
pub struct Writer<'p> {
    workbook: Workbook,
    dest: PathBuf,
    policy: &'p Policy,
    lang: Language,
    formats: Formats,
    page: Page,
    /// The ファイル明細 sheet's full parts, then the part being filled.
    files_done: Vec<Worksheet>,
    files: (Worksheet, Filler),
    /// Rows per worksheet, header included ([`MAX_ROWS`]; fewer in tests).
    rows_per_sheet: u32,
}

/// The cell formats of every sheet.
struct Formats {
    header: Format,
    wrap: Format,
    date: Format,
}

/// What every printed page says at its top: whose ledger, under which policy, when.
#[derive(Clone, Debug)]
pub struct Page {
    /// The organisation (the policy's `organisation`, else its name).
    pub organisation: String,
    /// `POLICY-ID vVERSION`.
    pub policy: String,
    /// The generation time as people read it (`YYYY-MM-DD HH:MM +09:00`).
    pub generated: String,
    /// The language of the labels around these values.
    pub lang: Language,
}

impl Page {
    /// The page header of a ledger made under `policy` at `generated_at` (Unix seconds).
    pub fn new(policy: &Policy, generated_at: i64, lang: Language) -> Page {
        let generated = time::OffsetDateTime::from_unix_timestamp(generated_at)
            .map(|t| t.to_offset(policy.utc_offset))
            .map(|t| {
                let o = policy.utc_offset;
                format!(
                    "{:04}-{:02}-{:02} {:02}:{:02} {}{:02}:{:02}",
                    t.year(),
                    u8::from(t.month()),
                    t.day(),
                    t.hour(),
                    t.minute(),
                    if o.is_negative() { '-' } else { '+' },
                    o.whole_hours().unsigned_abs(),
                    o.minutes_past_hour().unsigned_abs()
                )
            })
            .unwrap_or_default();
        Page {
            organisation: policy
                .organisation
                .clone()
                .unwrap_or_else(|| policy.name.clone()),
            policy: format!("{} v{}", policy.id, policy.version),
            generated,
            lang,
        }
    }

    /// The `&L…&C…&R…` page header of sheet `name` (Excel allows 255 characters).
    fn header(&self, name: &str) -> String {
        let (policy, generated) = match self.lang {
            Language::Ja => ("ポリシー", "作成"),
            Language::En => ("Policy", "Generated"),
        };
        format!(
            "&L{}&C{}&R{policy} {}  {generated} {}",
            header_text(&self.organisation, 60),
            header_text(name, 40),
            header_text(&self.policy, 40),
            self.generated
        )
    }

    /// The page footer: "page x / y".
    fn footer(&self) -> &'static str {
        match self.lang {
            Language::Ja => "&C&P / &N ページ",
            Language::En => "&CPage &P / &N",
        }
    }

    /// Sets up `ws` to print: landscape, `columns` wide on A3 (more than ten) or A4,
    /// one page wide, the header row on every page.
    fn apply(&self, ws: &mut Worksheet, name: &str, columns: u16) -> Result<(), XlsxError> {
        const A4: u8 = 9;
        const A3: u8 = 8;
        ws.set_landscape()
            .set_paper_size(if columns > 10 { A3 } else { A4 })
            .set_print_fit_to_pages(1, 0)
            .set_header(self.header(name))
            .set_footer(self.footer())
            .set_margins(0.4, 0.4, 0.6, 0.6, 0.3, 0.3);
        ws.set_repeat_rows(0, 0)?;
        Ok(())
    }
}

/// Text for a page header: `&` doubled (a control character there), at most `max`
/// characters.
fn header_text(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out.replace('&', "&&").replace(['\n', '\r'], " ")
}

impl<'p> Writer<'p> {
    /// A workbook for `dest` of a ledger made at `generated_at` (Unix seconds, printed
    /// on every page); nothing is written there before [`Writer::finish`].
    pub fn new(
        dest: &Path,
        policy: &'p Policy,
        lang: Language,
        generated_at: i64,
    ) -> Result<Writer<'p>, LedgerError> {
        Writer::with_rows_per_sheet(dest, policy, lang, generated_at, MAX_ROWS)
    }

    fn with_rows_per_sheet(
        dest: &Path,
        policy: &'p Policy,
        lang: Language,
        generated_at: i64,
        rows_per_sheet: u32,
    ) -> Result<Writer<'p>, LedgerError> {
        let page = Page::new(policy, generated_at, lang);
        let xlsx_err = xlsx_error(dest);
        let mut workbook = Workbook::new();
        // Deflate level 1 instead of the default 6: ~8 µs less CPU per file listed (a
        // third of the writer's time), for a file ~1.5 times as large (benches/README.md).
        workbook.set_zip_compression_level(1);
        // Stream rows to temporary files beside the destination, not to a shared /tmp.
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        workbook.set_tempdir(dir).map_err(&xlsx_err)?;
        let formats = Formats {
            header: Format::new()
                .set_bold()
                .set_background_color(Color::RGB(0xDDEBF7))
                .set_align(FormatAlign::Center)
                .set_text_wrap(),
            wrap: Format::new().set_text_wrap().set_align(FormatAlign::Top),
            date: Format::new()
                .set_num_format("yyyy-mm-dd")
                .set_align(FormatAlign::Top),
        };
        let files = files_part(&mut workbook, 1, lang, &formats, &page, rows_per_sheet)
            .map_err(&xlsx_err)?;
        Ok(Writer {
            workbook,
            dest: dest.to_owned(),
            policy,
            lang,
            formats,
            page,
            files_done: Vec::new(),
            files,
            rows_per_sheet,
        })
    }

    /// Adds files to the ファイル明細 sheet, in order.
    pub fn add_files(&mut self, files: &[FileEntry]) -> Result<(), LedgerError> {
        let xlsx_err = xlsx_error(&self.dest);
        for file in files {
            if self.files.1.full() {
                let part = self.files_done.len() + 2;
                let next = files_part(
                    &mut self.workbook,
                    part,
                    self.lang,
                    &self.formats,
                    &self.page,
                    self.rows_per_sheet,
                )
                .map_err(&xlsx_err)?;
                let (mut ws, filler) = std::mem::replace(&mut self.files, next);
                filler.end(&mut ws).map_err(&xlsx_err)?;
                self.files_done.push(ws);
            }
            let row = super::file_row(self.policy, file, self.lang);
            let (ws, filler) = &mut self.files;
            filler.row(ws, &row, &self.formats).map_err(&xlsx_err)?;
        }
        Ok(())
    }

    /// Writes the other sheets of `inventory` around the files and saves the workbook to
    /// its destination atomically.
    pub fn finish(self, inventory: &Inventory) -> Result<(), LedgerError> {
        let sheets = super::sheets(inventory, self.policy, self.lang);
        self.finish_sheets(sheets)
    }

    /// Writes `sheets` (the files already added go where the sheet with slug
    /// [`super::FILES_SLUG`] is; its rows are not read) and saves the workbook to its
    /// destination atomically.
    pub fn finish_sheets(mut self, sheets: Vec<super::Sheet<'_>>) -> Result<(), LedgerError> {
        let dest = self.dest.clone();
        let xlsx_err = xlsx_error(&dest);
        let (mut ws, filler) = self.files;
        filler.end(&mut ws).map_err(&xlsx_err)?;
        self.files_done.push(ws);
        let mut files = Some(self.files_done);
        for sheet in sheets {
            if sheet.slug == super::FILES_SLUG {
                for ws in files.take().into_iter().flatten() {
                    self.workbook.push_worksheet(ws);
                }
                continue;
            }
            let mut part = 1;
            let mut rows = sheet.rows.peekable();
            loop {
                let ws = self
                    .workbook
                    .add_worksheet_with_constant_memory()
                    .map_err(&xlsx_err)?;
                let mut filler = Filler::start(
                    ws,
                    &part_name(sheet.name, part),
                    sheet.header,
                    &self.formats.header,
                    &self.page,
                    self.rows_per_sheet,
                )
                .map_err(&xlsx_err)?;
                while !filler.full() {
                    let Some(row) = rows.next() else { break };
                    let row = row.map_err(|source| LedgerError::Io {
                        path: dest.clone(),
                        source,
                    })?;
                    filler.row(ws, &row, &self.formats).map_err(&xlsx_err)?;
                }
                let written = filler.rows;
                filler.end(ws).map_err(&xlsx_err)?;
                if written == 0 || rows.peek().is_none() {
                    break;
                }
                part += 1;
            }
        }
        let io = |source| LedgerError::Io {
            path: dest.clone(),
            source,
        };
        let mut tmp = fuda_core::fsutil::TempSibling::new(&dest, super::OUTPUT_MODE).map_err(io)?;
        self.workbook
            .save_to_writer(std::io::BufWriter::new(tmp.file()))
            .map_err(&xlsx_err)?;
        tmp.commit(&dest).map_err(io)
    }
}

fn xlsx_error(dest: &Path) -> impl Fn(XlsxError) -> LedgerError + '_ {
    move |e| LedgerError::Xlsx {
        path: dest.to_owned(),
        reason: e.to_string(),
    }
}

/// `NAME`, then `NAME (2)`, `NAME (3)` … for the parts of a long sheet.
fn part_name(name: &str, part: usize) -> String {
    if part == 1 {
        name.to_owned()
    } else {
        format!("{name} ({part})")
    }
}

/// A new part of the ファイル明細 sheet, its header written.
fn files_part(
    workbook: &mut Workbook,
    part: usize,
    lang: Language,
    formats: &Formats,
    page: &Page,
    rows_per_sheet: u32,
) -> Result<(Worksheet, Filler), XlsxError> {
    let mut ws = workbook.new_worksheet_with_constant_memory()?;
    let filler = Filler::start(
        &mut ws,
        &part_name(super::files_sheet_name(lang), part),
        super::files_header(lang),
        &formats.header,
        page,
        rows_per_sheet,
    )?;
    Ok((ws, filler))
}

/// Fills one worksheet: header, rows, then widths, frozen header and filters.
struct Filler {
    /// Rows per worksheet, header included.
    limit: u32,
    columns: u16,
    widths: Vec<usize>,
    /// Rows written below the header.
    rows: u32,
}

impl Filler {
    fn start(
        ws: &mut Worksheet,
        name: &str,
        header: &[&str],
        header_format: &Format,
        page: &Page,
        limit: u32,
    ) -> Result<Filler, XlsxError> {
        ws.set_name(name)?;
        page.apply(ws, name, header.len() as u16)?;
        for (c, h) in header.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, *h, header_format)?;
        }
        Ok(Filler {
            limit,
            columns: header.len() as u16,
            widths: header.iter().map(|h| text_width(h) + 2).collect(),
            rows: 0,
        })
    }

    /// Whether the sheet has its most rows (Excel's limit).
    fn full(&self) -> bool {
        self.rows + 1 >= self.limit
    }

    fn row(
        &mut self,
        ws: &mut Worksheet,
        row: &[Cell],
        formats: &Formats,
    ) -> Result<(), XlsxError> {
        self.rows += 1;
        let r = self.rows;
        for (c, cell) in row.iter().enumerate() {
            let col = c as u16;
            match cell {
                Cell::Empty => {}
                Cell::Int(n) => {
                    ws.write_number(r, col, *n as f64)?;
                }
                Cell::Date(d) => {
                    let day = ExcelDateTime::from_ymd(
                        d.year().clamp(1900, 9999) as u16,
                        u8::from(d.month()),
                        d.day(),
                    )?;
                    ws.write_datetime_with_format(r, col, day, &formats.date)?;
                }
                Cell::Text(t) if t.contains('\n') => {
                    ws.write_string_with_format(r, col, t, &formats.wrap)?;
                }
                Cell::Text(t) => {
                    ws.write_string(r, col, t)?;
                }
            }
            if r <= WIDTH_SAMPLE {
                if let (Some(w), Cell::Text(t)) = (self.widths.get_mut(c), cell) {
                    *w = (*w).max(text_width(t));
                } else if let (Some(w), Cell::Int(n)) = (self.widths.get_mut(c), cell) {
                    *w = (*w).max(n.to_string().len());
                } else if let (Some(w), Cell::Date(_)) = (self.widths.get_mut(c), cell) {
                    *w = (*w).max("yyyy-mm-dd".len());
                }
            }
        }
        Ok(())
    }

    fn end(self, ws: &mut Worksheet) -> Result<(), XlsxError> {
        for (c, w) in self.widths.iter().enumerate() {
            ws.set_column_width(c as u16, (w + 2).clamp(MIN_WIDTH, MAX_WIDTH) as f64)?;
        }
        ws.set_freeze_panes(1, 0)?;
        if self.columns > 0 {
            ws.autofilter(0, 0, self.rows, self.columns - 1)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fuda_core::label::Status;
    use std::io::Read;

    /// The workbook's sheet names in order, and the rows of each sheet's XML.
    fn sheets_of(path: &Path) -> Vec<(String, usize)> {
        let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
        let mut text = |name: &str| {
            let mut s = String::new();
            zip.by_name(name).unwrap().read_to_string(&mut s).unwrap();
            s
        };
        let workbook = text("xl/workbook.xml");
        let names: Vec<String> = workbook
            .split("<sheet name=\"")
            .skip(1)
            .map(|s| s.split('"').next().unwrap().to_owned())
            .collect();
        names
            .into_iter()
            .enumerate()
            .map(|(i, name)| {
                let sheet = text(&format!("xl/worksheets/sheet{}.xml", i + 1));
                (name, sheet.matches("<row ").count())
            })
            .collect()
    }

    #[test]
    fn a_long_file_sheet_continues_on_numbered_parts_in_workbook_order() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("ledger.xlsx");
        let policy = fuda_core::policy::Policy::from_toml(
            fuda_core::policy::BUILTIN[0].1,
            Path::new("p.toml"),
        )
        .unwrap();
        let files: Vec<FileEntry> = (0..5)
            .map(|i| FileEntry {
                path: format!("/s/{i}.txt").into(),
                root: "/s".into(),
                status: Status::Missing,
                ..FileEntry::default()
            })
            .collect();
        // Three rows a sheet: a header and two files.
        let mut writer = Writer::with_rows_per_sheet(&dest, &policy, Language::En, 0, 3).unwrap();
        writer.add_files(&files[..3]).unwrap();
        writer.add_files(&files[3..]).unwrap();
        assert!(!dest.exists(), "nothing is written before finish");
        writer.finish(&Inventory::of_files(files.clone())).unwrap();
        assert_eq!(
            sheets_of(&dest),
            [
                ("Asset ledger".to_owned(), 1),
                ("Confidential ledger".to_owned(), 1),
                ("Files".to_owned(), 3),
                ("Files (2)".to_owned(), 3),
                ("Files (3)".to_owned(), 2),
                ("Findings".to_owned(), 1),
            ]
        );
    }
}
