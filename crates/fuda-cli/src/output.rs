//! Printing: readable tables for people, JSON lines for scripts.

use std::io::{self, Write};

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
