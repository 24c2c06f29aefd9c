//! Printing: readable tables for people, JSON lines for scripts.
//!
//! # The `--json` convention (every command follows it)
//!
//! - `--json` comes from [`crate::args::OutputArgs`] (`#[command(flatten)]`), never a
//!   command's own flag.
//! - Every JSON record is a `#[derive(Serialize)]` type that implements [`Record`]; its
//!   [`Record::TYPE`] becomes the record's `type` field, the first key of the object. The
//!   type names what the record *is*, not which command printed it (`"file"`,
//!   `"summary"`, `"finding"`, `"event"`, `"user"`, `"signer"` …), so a script filters
//!   with `select(.type == "file")`. A record type never has its own field named `type`.
//! - Records are written by [`write_json`] only: one object per line (JSON Lines). It
//!   returns the `io::Error` of a closed stdout, which `main` treats as success (a
//!   broken pipe is not a failure; never `println!`, which panics on one).
//! - A command that works on files writes one `"file"` record per file, with its `path`;
//!   a command that also counts writes a `"summary"` record last. Each record says which
//!   it is, so per-file records and totals never need telling apart by their fields.
//! - Paths are never strings: a path field is a [`fuda_core::pathname::JsonPath`]
//!   (`{"text": …}` or `{"bytes": base64}` for a name that is not UTF-8), or a `PathBuf`
//!   with `#[serde(serialize_with = "fuda_core::pathname::serialize")]`. Tables and
//!   messages for people print names with [`fuda_core::pathname::escaped`].
//! - Times are RFC 3339 strings ([`timestamp`]) unless a field's name says otherwise
//!   (`at_ms`).
//! - Records are defined next to the code that prints them (in the command's module);
//!   docs/cli.md lists every record type and its fields. The records are pinned by
//!   snapshot tests (`tests/json_cli.rs`, `tests/snapshots/`): a schema change is a
//!   deliberate, reviewed change of a snapshot.
//!
//! ```ignore
//! #[derive(Serialize)]
//! struct Removed<'a> {
//!     path: JsonPath<'a>,
//!     removed: Option<&'a str>,
//! }
//! impl Record for Removed<'_> {
//!     const TYPE: &'static str = "file";
//! }
//! output::write_json(&mut out, &Removed { path: JsonPath::new(&path), removed: None })?;
//! // {"type":"file","path":{"text":"a.txt"},"removed":null}
//! ```

use std::io::{self, Write};

use serde::Serialize;

/// A record of `--json` output: one JSON object, one line.
pub trait Record: Serialize {
    /// The record's `type` field: what the record is (`"file"`, `"summary"` …).
    const TYPE: &'static str;
}

/// A record with its `type` field first.
#[derive(Serialize)]
struct Typed<'a, R> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    record: &'a R,
}

/// Writes `record` as one line of JSON: `{"type": R::TYPE, …its fields}`.
///
/// A closed stdout comes back as an `io::Error` of kind `BrokenPipe` (see
/// [`is_broken_pipe`]).
pub fn write_json<R: Record>(out: &mut impl Write, record: &R) -> io::Result<()> {
    let typed = Typed {
        kind: R::TYPE,
        record,
    };
    serde_json::to_writer(&mut *out, &typed).map_err(io::Error::from)?;
    out.write_all(b"\n")
}

/// Standard output, buffered: what commands print to (flush before writing to stderr).
pub fn stdout() -> io::BufWriter<io::StdoutLock<'static>> {
    io::BufWriter::new(io::stdout().lock())
}

/// Whether an error is a closed stdout (e.g. `fuda label show … | head`), which is not a failure.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// An error and its causes, one after another, leaving out a cause whose text an earlier
/// message already quotes (library errors often name their cause in their own message).
pub fn describe(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Display width of a string in a terminal (East Asian wide characters count two columns).
pub fn width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// A table printed with columns padded to their widest cell.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headings.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Prints the table.
    pub fn print(&self, out: &mut impl Write) -> io::Result<()> {
        let mut widths: Vec<usize> = self.header.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(width(cell));
            }
        }
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                line.push_str(cell);
                if i + 1 < row.len() {
                    line.push_str(&" ".repeat(widths[i] - width(cell) + 2));
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// Formats Unix seconds as an RFC 3339 UTC time.
pub fn timestamp(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

#[cfg(test)]
mod tests {
    #[derive(Serialize)]
    struct Removed<'a> {
        path: fuda_core::pathname::JsonPath<'a>,
        removed: Option<&'a str>,
    }

    impl Record for Removed<'_> {
        const TYPE: &'static str = "file";
    }

    #[test]
    fn a_record_is_one_line_with_its_type_first_and_its_path_as_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let name = std::path::Path::new(std::ffi::OsStr::from_bytes(b"two\nlines\xff"));
        let mut out = Vec::new();
        write_json(
            &mut out,
            &Removed {
                path: fuda_core::pathname::JsonPath::new(name),
                removed: Some("secret"),
            },
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"type\":\"file\",\"path\":{\"bytes\":\"dHdvCmxpbmVz/w==\"},\"removed\":\"secret\"}\n"
        );
    }

    #[test]
    fn a_closed_stdout_is_a_broken_pipe_not_a_failure() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let record = Removed {
            path: fuda_core::pathname::JsonPath::new("a"),
            removed: None,
        };
        let e = write_json(&mut Closed, &record).unwrap_err();
        assert!(is_broken_pipe(&anyhow::Error::new(e).context("printing")));
    }

    #[test]
    fn a_cause_quoted_by_its_error_is_said_once() {
        let io = std::io::Error::other("disk full");
        let quoted = anyhow::Error::new(std::io::Error::other(format!("cannot write x: {io}")))
            .context("saving the ledger");
        assert_eq!(
            describe(&quoted),
            "saving the ledger: cannot write x: disk full"
        );
        let chained = anyhow::Error::new(io).context("cannot write x");
        assert_eq!(describe(&chained), "cannot write x: disk full");
    }

    use super::*;

    #[test]
    fn japanese_text_takes_two_columns_per_character() {
        assert_eq!(width("設計部"), 6);
        assert_eq!(width("ﾃｽﾄ"), 3, "half-width katakana is narrow");
        assert_eq!(width("秘 (confidential)"), 17);
        let mut t = Table::new(&["区分", "n"]);
        t.row(vec!["極秘".into(), "1".into()]);
        t.row(vec!["public".into(), "2".into()]);
        let mut out = Vec::new();
        t.print(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let columns: Vec<usize> = text
            .lines()
            .map(|l| width(&l[..l.rfind(' ').unwrap() + 1]))
            .collect();
        assert!(columns.windows(2).all(|w| w[0] == w[1]), "{text}");
    }
}
