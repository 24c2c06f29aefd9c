//! Minimal but complete Office documents, built entry by entry, and zip helpers.

use std::io::{Cursor, Read, Write};
use std::path::Path;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

/// One entry to put in a package: name, bytes, and whether to deflate it.
pub type Entry = (String, Vec<u8>, bool);

const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\r\n";
const CT_NS: &str = "http://schemas.openxmlformats.org/package/2006/content-types";
const RELS_NS: &str = "http://schemas.openxmlformats.org/package/2006/relationships";
const R: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

/// Writes entries into a zip, in order.
pub fn zip(entries: &[Entry]) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes, deflate) in entries {
        let method = if *deflate {
            CompressionMethod::Deflated
        } else {
            CompressionMethod::Stored
        };
        w.start_file(
            name.as_str(),
            SimpleFileOptions::default().compression_method(method),
        )
        .unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Every entry of a package file, decompressed, in order.
pub fn unzip(path: &Path) -> Vec<Entry> {
    let mut a = ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..a.len())
        .map(|i| {
            let mut f = a.by_index(i).unwrap();
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).unwrap();
            let deflate = f.compression() != CompressionMethod::Stored;
            (f.name().to_owned(), bytes, deflate)
        })
        .collect()
}

/// The decompressed text of one part, if present.
pub fn part(path: &Path, name: &str) -> Option<String> {
    unzip(path)
        .into_iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, b, _)| String::from_utf8(b).unwrap())
}

/// A part entry (deflated).
pub fn e(name: &str, text: &str) -> Entry {
    (name.to_owned(), text.as_bytes().to_vec(), true)
}

fn content_types(overrides: &[(&str, &str)], extra_defaults: &str) -> String {
    let mut s = format!(
        "{XML_DECL}<Types xmlns=\"{CT_NS}\"><Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/><Default Extension=\"xml\" ContentType=\"application/xml\"/>{extra_defaults}"
    );
    for (part, ct) in overrides {
        s += &format!("<Override PartName=\"{part}\" ContentType=\"{ct}\"/>");
    }
    s + "</Types>"
}

/// A relationships part: (id, type suffix or full type, target).
pub fn rels(list: &[(&str, &str, &str)]) -> String {
    let mut s = format!("{XML_DECL}<Relationships xmlns=\"{RELS_NS}\">");
    for (id, ty, target) in list {
        let ty = if ty.starts_with("http") {
            ty.to_string()
        } else {
            format!("{R}/{ty}")
        };
        s += &format!("<Relationship Id=\"{id}\" Type=\"{ty}\" Target=\"{target}\"/>");
    }
    s + "</Relationships>"
}

const CORE_TYPE: &str =
    "http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties";

fn core() -> Entry {
    e(
        "docProps/core.xml",
        &format!("{XML_DECL}<cp:coreProperties xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:title>Design notes</dc:title><dc:creator>fuda tests</dc:creator></cp:coreProperties>"),
    )
}

/// Bytes that do not compress, stored raw as Office stores images.
fn picture() -> Vec<u8> {
    (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// A Word document with one paragraph and a stored (uncompressed) picture part.
pub fn docx() -> Vec<Entry> {
    let w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";
    vec![
        e(
            "[Content_Types].xml",
            &content_types(
                &[
                    ("/word/document.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"),
                    ("/docProps/core.xml", "application/vnd.openxmlformats-package.core-properties+xml"),
                ],
                "<Default Extension=\"png\" ContentType=\"image/png\"/>",
            ),
        ),
        e(
            "_rels/.rels",
            &rels(&[
                ("rId1", "officeDocument", "word/document.xml"),
                ("rId2", CORE_TYPE, "docProps/core.xml"),
            ]),
        ),
        e(
            "word/document.xml",
            &format!("{XML_DECL}<w:document xmlns:w=\"{w}\"><w:body><w:p><w:r><w:t>社外秘 design notes</w:t></w:r></w:p><w:sectPr/></w:body></w:document>"),
        ),
        e(
            "word/_rels/document.xml.rels",
            &rels(&[("rId1", "image", "media/image1.png")]),
        ),
        ("word/media/image1.png".to_owned(), picture(), false),
        core(),
    ]
}

/// An Excel workbook with one sheet and one cell.
pub fn xlsx() -> Vec<Entry> {
    let s = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
    vec![
        e(
            "[Content_Types].xml",
            &content_types(
                &[
                    ("/xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"),
                    ("/xl/worksheets/sheet1.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"),
                    ("/docProps/core.xml", "application/vnd.openxmlformats-package.core-properties+xml"),
                ],
                "",
            ),
        ),
        e(
            "_rels/.rels",
            &rels(&[
                ("rId1", "officeDocument", "xl/workbook.xml"),
                ("rId2", CORE_TYPE, "docProps/core.xml"),
            ]),
        ),
        e(
            "xl/workbook.xml",
            &format!("{XML_DECL}<workbook xmlns=\"{s}\" xmlns:r=\"{R}\"><sheets><sheet name=\"台帳\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>"),
        ),
        e(
            "xl/_rels/workbook.xml.rels",
            &rels(&[("rId1", "worksheet", "worksheets/sheet1.xml")]),
        ),
        e(
            "xl/worksheets/sheet1.xml",
            &format!("{XML_DECL}<worksheet xmlns=\"{s}\"><sheetData><row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>設計図面</t></is></c></row></sheetData></worksheet>"),
        ),
        core(),
    ]
}

const P_NS: &str = "xmlns:a=\"http://schemas.openxmlformats.org/drawingml/2006/main\" xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\" xmlns:p=\"http://schemas.openxmlformats.org/presentationml/2006/main\"";
const GROUP: &str =
    "<p:nvGrpSpPr><p:cNvPr id=\"1\" name=\"\"/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr><p:grpSpPr/>";

fn theme() -> String {
    let sys = |n: &str, v: &str| format!("<a:{n}><a:srgbClr val=\"{v}\"/></a:{n}>");
    let colours: String = [
        ("dk1", "000000"),
        ("lt1", "FFFFFF"),
        ("dk2", "1F497D"),
        ("lt2", "EEECE1"),
        ("accent1", "4F81BD"),
        ("accent2", "C0504D"),
        ("accent3", "9BBB59"),
        ("accent4", "8064A2"),
        ("accent5", "4BACC6"),
        ("accent6", "F79646"),
        ("hlink", "0000FF"),
        ("folHlink", "800080"),
    ]
    .iter()
    .map(|(n, v)| sys(n, v))
    .collect();
    let font = |n: &str| {
        format!("<a:{n}><a:latin typeface=\"Calibri\"/><a:ea typeface=\"\"/><a:cs typeface=\"\"/></a:{n}>")
    };
    let fill = "<a:solidFill><a:schemeClr val=\"phClr\"/></a:solidFill>".repeat(3);
    let line =
        "<a:ln w=\"9525\"><a:solidFill><a:schemeClr val=\"phClr\"/></a:solidFill></a:ln>".repeat(3);
    let effect = "<a:effectStyle><a:effectLst/></a:effectStyle>".repeat(3);
    format!(
        "{XML_DECL}<a:theme xmlns:a=\"http://schemas.openxmlformats.org/drawingml/2006/main\" name=\"fuda\"><a:themeElements><a:clrScheme name=\"fuda\">{colours}</a:clrScheme><a:fontScheme name=\"fuda\">{}{}</a:fontScheme><a:fmtScheme name=\"fuda\"><a:fillStyleLst>{fill}</a:fillStyleLst><a:lnStyleLst>{line}</a:lnStyleLst><a:effectStyleLst>{effect}</a:effectStyleLst><a:bgFillStyleLst>{fill}</a:bgFillStyleLst></a:fmtScheme></a:themeElements></a:theme>",
        font("majorFont"),
        font("minorFont")
    )
}

/// A PowerPoint presentation: one master, one layout, one theme, one slide with a title.
pub fn pptx() -> Vec<Entry> {
    let pml = "application/vnd.openxmlformats-officedocument.presentationml";
    vec![
        e(
            "[Content_Types].xml",
            &content_types(
                &[
                    ("/ppt/presentation.xml", &format!("{pml}.presentation.main+xml")),
                    ("/ppt/slideMasters/slideMaster1.xml", &format!("{pml}.slideMaster+xml")),
                    ("/ppt/slideLayouts/slideLayout1.xml", &format!("{pml}.slideLayout+xml")),
                    ("/ppt/slides/slide1.xml", &format!("{pml}.slide+xml")),
                    ("/ppt/theme/theme1.xml", "application/vnd.openxmlformats-officedocument.theme+xml"),
                    ("/docProps/core.xml", "application/vnd.openxmlformats-package.core-properties+xml"),
                ],
                "",
            ),
        ),
        e(
            "_rels/.rels",
            &rels(&[
                ("rId1", "officeDocument", "ppt/presentation.xml"),
                ("rId2", CORE_TYPE, "docProps/core.xml"),
            ]),
        ),
        e(
            "ppt/presentation.xml",
            &format!("{XML_DECL}<p:presentation {P_NS}><p:sldMasterIdLst><p:sldMasterId id=\"2147483648\" r:id=\"rId1\"/></p:sldMasterIdLst><p:sldIdLst><p:sldId id=\"256\" r:id=\"rId2\"/></p:sldIdLst><p:sldSz cx=\"9144000\" cy=\"6858000\"/><p:notesSz cx=\"6858000\" cy=\"9144000\"/></p:presentation>"),
        ),
        e(
            "ppt/_rels/presentation.xml.rels",
            &rels(&[
                ("rId1", "slideMaster", "slideMasters/slideMaster1.xml"),
                ("rId2", "slide", "slides/slide1.xml"),
                ("rId3", "theme", "theme/theme1.xml"),
            ]),
        ),
        e(
            "ppt/slideMasters/slideMaster1.xml",
            &format!("{XML_DECL}<p:sldMaster {P_NS}><p:cSld><p:spTree>{GROUP}</p:spTree></p:cSld><p:clrMap bg1=\"lt1\" tx1=\"dk1\" bg2=\"lt2\" tx2=\"dk2\" accent1=\"accent1\" accent2=\"accent2\" accent3=\"accent3\" accent4=\"accent4\" accent5=\"accent5\" accent6=\"accent6\" hlink=\"hlink\" folHlink=\"folHlink\"/><p:sldLayoutIdLst><p:sldLayoutId id=\"2147483649\" r:id=\"rId1\"/></p:sldLayoutIdLst></p:sldMaster>"),
        ),
        e(
            "ppt/slideMasters/_rels/slideMaster1.xml.rels",
            &rels(&[
                ("rId1", "slideLayout", "../slideLayouts/slideLayout1.xml"),
                ("rId2", "theme", "../theme/theme1.xml"),
            ]),
        ),
        e(
            "ppt/slideLayouts/slideLayout1.xml",
            &format!("{XML_DECL}<p:sldLayout {P_NS}><p:cSld name=\"Blank\"><p:spTree>{GROUP}</p:spTree></p:cSld><p:clrMapOvr><a:masterClrMapping/></p:clrMapOvr></p:sldLayout>"),
        ),
        e(
            "ppt/slideLayouts/_rels/slideLayout1.xml.rels",
            &rels(&[("rId1", "slideMaster", "../slideMasters/slideMaster1.xml")]),
        ),
        e(
            "ppt/slides/slide1.xml",
            &format!("{XML_DECL}<p:sld {P_NS}><p:cSld><p:spTree>{GROUP}<p:sp><p:nvSpPr><p:cNvPr id=\"2\" name=\"Title\"/><p:cNvSpPr/><p:nvPr/></p:nvSpPr><p:spPr><a:xfrm><a:off x=\"457200\" y=\"274638\"/><a:ext cx=\"8229600\" cy=\"1143000\"/></a:xfrm></p:spPr><p:txBody><a:bodyPr/><a:p><a:r><a:t>極秘 roadmap</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld><p:clrMapOvr><a:masterClrMapping/></p:clrMapOvr></p:sld>"),
        ),
        e(
            "ppt/slides/_rels/slide1.xml.rels",
            &rels(&[("rId1", "slideLayout", "../slideLayouts/slideLayout1.xml")]),
        ),
        e("ppt/theme/theme1.xml", &theme()),
        core(),
    ]
}

/// Adds a part and its override and package relationship to a package's entries.
pub fn with_part(
    mut entries: Vec<Entry>,
    name: &str,
    content_type: &str,
    rel_type: &str,
    text: &str,
) -> Vec<Entry> {
    for (n, bytes, _) in entries.iter_mut() {
        let s = String::from_utf8(bytes.clone()).unwrap_or_default();
        if n == "[Content_Types].xml" {
            *bytes = s
                .replace(
                    "</Types>",
                    &format!(
                        "<Override PartName=\"/{name}\" ContentType=\"{content_type}\"/></Types>"
                    ),
                )
                .into_bytes();
        } else if n == "_rels/.rels" {
            *bytes = s
                .replace("</Relationships>", &format!("<Relationship Id=\"rId9{}\" Type=\"{rel_type}\" Target=\"{name}\"/></Relationships>", name.len()))
                .into_bytes();
        }
    }
    entries.push(e(name, text));
    entries
}
