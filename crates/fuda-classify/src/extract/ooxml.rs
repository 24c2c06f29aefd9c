//! Text of Office Open XML documents (docx, xlsx, pptx), read from the zip with quick-xml.
//!
//! Only the parts that hold what people wrote are read: the body, headers, footers,
//! footnotes, endnotes and comments of a document; shared strings, inline strings and cell
//! values of a workbook; slides and notes of a presentation; and title, subject, keywords
//! and description from `docProps/core.xml`. Paragraphs, rows and cells are separated by
//! newlines and tabs so that detectors see a CSV-like text.
//!
//! The package is read through fuda-core's guard ([`fuda_core::store::ooxml::guard`]), the
//! same one labeling uses: entries sharing bytes are refused, inflation is held to
//! [`Limits::max_ratio`] and [`Limits::max_unpacked`], and elements with too many
//! attributes or namespace declarations are refused.

use std::io::{Read, Seek};
use std::path::Path;

use fuda_core::store::ooxml::guard::{self, Budget, GuardError, Unpacker};
use quick_xml::events::{BytesRef, Event};
use quick_xml::{Reader, XmlVersion};

use super::{DocKind, ExtractError, Extracted, Limits};

/// Reads the text of an Office document.
pub fn extract(path: &Path, kind: DocKind, limits: &Limits) -> Result<Extracted, ExtractError> {
    let file = fuda_core::longpath::reach(path)
        .and_then(std::fs::File::open)
        .map_err(|e| ExtractError::io(path, e))?;
    extract_from(std::io::BufReader::new(file), path, kind, limits)
}

/// Reads the text of an Office document from `reader` (`path` names it in errors).
pub fn extract_from(
    reader: impl Read + Seek,
    path: &Path,
    kind: DocKind,
    limits: &Limits,
) -> Result<Extracted, ExtractError> {
    let bad = |reason: String| ExtractError::BadPackage {
        path: path.to_owned(),
        reason,
    };
    let refused = |e: GuardError| match e {
        GuardError::Inflates { entry, detail } => ExtractError::ZipBomb {
            path: path.to_owned(),
            entry,
            detail,
        },
        e => bad(e.to_string()),
    };
    let mut zip =
        zip::ZipArchive::new(reader).map_err(|e| bad(format!("not a zip package ({e})")))?;
    guard::check_layout(&mut zip).map_err(refused)?;
    let mut names: Vec<String> = zip
        .file_names()
        .filter(|n| wanted(kind, n))
        .map(str::to_owned)
        .collect();
    names.sort_by(|a, b| part_order(a).cmp(&part_order(b)).then(natural(a, b)));
    let mut text = String::new();
    let mut unpacker = Unpacker::new(Budget {
        max_unpacked: limits.max_unpacked,
        max_ratio: limits.max_ratio,
    });
    for name in names {
        let Some(index) = zip.index_for_name(&name) else {
            continue;
        };
        let xml = unpacker.read(&mut zip, index, u64::MAX).map_err(refused)?;
        xml_text(&xml, &name, &mut text).map_err(|e| bad(format!("{name}: {e}")))?;
        text.push('\n');
    }
    Ok(Extracted {
        kind,
        text,
        encoding: None,
        lossy: false,
        truncated: false,
        note: None,
    })
}

fn wanted(kind: DocKind, name: &str) -> bool {
    if name == "docProps/core.xml" {
        return true;
    }
    let xml = name.ends_with(".xml");
    match kind {
        DocKind::Docx => {
            xml && name.starts_with("word/")
                && [
                    "document",
                    "header",
                    "footer",
                    "footnotes",
                    "endnotes",
                    "comments",
                ]
                .iter()
                .any(|p| name["word/".len()..].starts_with(p))
        }
        DocKind::Xlsx => {
            xml && (name == "xl/sharedStrings.xml"
                || (name.starts_with("xl/worksheets/sheet") && !name.contains("/_rels/")))
        }
        DocKind::Pptx => {
            xml && (name.starts_with("ppt/slides/slide") || name.starts_with("ppt/notesSlides/"))
        }
        _ => false,
    }
}

/// Properties first, then the main text, so a title marking is seen early.
fn part_order(name: &str) -> u8 {
    if name == "docProps/core.xml" {
        0
    } else if name.contains("sharedStrings") || name.ends_with("document.xml") {
        1
    } else {
        2
    }
}

/// `slide2.xml` before `slide10.xml`.
fn natural(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |s: &str| {
        let prefix: String = s.chars().filter(|c| !c.is_ascii_digit()).collect();
        let digits: String = s.chars().filter(char::is_ascii_digit).collect();
        (prefix, digits.parse::<u64>().unwrap_or(0))
    };
    key(a).cmp(&key(b))
}

/// Appends the character data of text-bearing elements, with newlines after paragraphs
/// and rows and tabs after cells.
fn xml_text(xml: &[u8], part: &str, out: &mut String) -> Result<(), String> {
    let mut reader = Reader::from_reader(xml);
    let core = part == "docProps/core.xml";
    let sheet = part.starts_with("xl/worksheets/");
    let mut buf = Vec::new();
    // Whether the current element's text is wanted; whether the current cell's <v> is a
    // shared-string index (not text).
    let mut take = false;
    let mut shared_index = false;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| e.to_string())?;
        if let Event::Start(e) | Event::Empty(e) = &event {
            guard::check_element(e).map_err(|e| e.to_string())?;
        }
        match event {
            Event::Start(e) => {
                let name = e.local_name();
                let name = name.as_ref();
                if sheet && name == "c" {
                    shared_index = e
                        .attributes()
                        .flatten()
                        .any(|a| a.key.local_name().as_ref() == "t" && a.value == "s");
                }
                take = match name {
                    "t" => true,
                    "v" => sheet && !shared_index,
                    "title" | "subject" | "keywords" | "description" => core,
                    _ => false,
                };
            }
            Event::Text(t) if take => out.push_str(&t.xml_content(XmlVersion::Implicit1_0)),
            Event::GeneralRef(r) if take => out.push_str(&resolve_ref(&r)),
            Event::CData(t) if take => out.push_str(&t),
            Event::End(e) => {
                take = false;
                match e.local_name().as_ref() {
                    "p" | "row" | "si" | "title" | "subject" | "keywords" | "description" => {
                        out.push('\n')
                    }
                    "c" | "tc" => out.push('\t'),
                    "tab" => out.push('\t'),
                    _ => {}
                }
            }
            Event::Empty(e) if e.local_name().as_ref() == "tab" => out.push('\t'),
            Event::Empty(e) if e.local_name().as_ref() == "br" => out.push('\n'),
            Event::Eof => return Ok(()),
            _ => {}
        }
        buf.clear();
    }
}

/// The text an entity or character reference stands for; an unknown entity (which a
/// document without a DTD cannot define) is kept as written.
fn resolve_ref(r: &BytesRef<'_>) -> String {
    match r.resolve_char_ref() {
        Ok(Some(c)) => c.to_string(),
        _ => quick_xml::escape::resolve_predefined_entity(r)
            .map_or_else(|| format!("&{};", &**r), str::to_owned),
    }
}
