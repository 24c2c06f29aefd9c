//! `docProps/custom.xml`: the document's custom properties (ECMA-376 Part 1, §22.3).
//!
//! Microsoft Office keeps sensitivity labels here as `MSIP_Label_<guid>_<Field>` text
//! properties; fuda adds its signed record as `fuda.label`. Every other property is kept
//! exactly as written.

use super::xml::{self, Builder, Doc, Edit};

/// Namespace of the variant types (`vt:lpwstr` …).
pub(super) const VT_NS: &str =
    "http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes";
/// The format id every user-defined custom property carries.
pub(super) const FMTID: &str = "{D5CDD505-2E9C-101B-9397-08002B2CF9AE}";
/// Lowest property id allowed for user-defined properties.
const FIRST_PID: u32 = 2;

/// An empty custom properties part, as Office writes one.
const EMPTY: &str = concat!(
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\r\n",
    "<Properties xmlns=\"http://schemas.openxmlformats.org/officeDocument/2006/custom-properties\"",
    " xmlns:vt=\"http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes\"/>"
);

/// One property as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Property {
    /// Its name.
    pub name: String,
    /// Its value as text (whatever its variant type), if any.
    pub value: Option<String>,
    pid: Option<u32>,
    node: usize,
}

/// A parsed custom properties part.
pub(super) struct CustomProps<'a> {
    doc: Doc<'a>,
    /// The properties, in document order.
    pub props: Vec<Property>,
}

impl<'a> CustomProps<'a> {
    /// Parses the part; the error says what is wrong.
    pub fn parse(bytes: &'a [u8]) -> Result<CustomProps<'a>, String> {
        let doc = Doc::parse(bytes)?;
        if !xml::is(doc.root(), "Properties") {
            return Err("the root element is not <Properties>".into());
        }
        let mut props = Vec::new();
        for (i, node) in doc.nodes.iter().enumerate() {
            let Some(start) = doc.start(*node).filter(|s| xml::is(s, "property")) else {
                continue;
            };
            let Some(name) = xml::attr(start, "name")? else {
                continue;
            };
            let pid = xml::attr(start, "pid")?.and_then(|p| p.trim().parse().ok());
            props.push(Property {
                name,
                value: doc.first_child_text(*node)?,
                pid,
                node: i,
            });
        }
        Ok(CustomProps { doc, props })
    }

    /// An empty part, for packages that have none.
    pub fn empty() -> CustomProps<'static> {
        CustomProps::parse(EMPTY.as_bytes()).expect("the empty part parses")
    }

    /// The value of a property, by exact name.
    pub fn get(&self, name: &str) -> Option<&Property> {
        self.props.iter().find(|p| p.name == name)
    }

    /// Writes the part back without the properties `drop` selects, with `add` (name, text
    /// value) appended as `vt:lpwstr` properties. Kept properties keep their `pid` unless it
    /// is missing, below 2 or taken by an earlier one; new properties take the next free ids.
    pub fn render(&self, drop: impl Fn(&str) -> bool, add: &[(String, String)]) -> Vec<u8> {
        let root = self.doc.root();
        let prefix = xml::prefix_of(root);
        let mut edit = Edit::default();
        // Our values need a prefix for the variant types: the root's own if it declares
        // one, else `vt` (declared on the root), else a private one if `vt` means
        // something else there.
        let vt = match xml::declared_prefix(root, VT_NS) {
            Some(p) if !p.is_empty() => format!("{p}:"),
            _ => {
                let p = if declares(root, "vt") { "fudavt" } else { "vt" };
                edit.root_attrs
                    .push((format!("xmlns:{p}"), VT_NS.to_owned()));
                format!("{p}:")
            }
        };

        let mut used = std::collections::BTreeSet::new();
        let mut renumber = Vec::new();
        for p in &self.props {
            if drop(&p.name) {
                edit.drop.push(p.node);
                continue;
            }
            match p.pid {
                Some(pid) if pid >= FIRST_PID && used.insert(pid) => {}
                _ => renumber.push(p.node),
            }
        }
        let mut next = FIRST_PID;
        let mut fresh = || {
            while used.contains(&next) {
                next += 1;
            }
            used.insert(next);
            next
        };
        for node in renumber {
            if let Some(start) = self.doc.start(self.doc.nodes[node]) {
                edit.restart.push((node, with_pid(start, fresh())));
            }
        }
        let mut b = Builder::new();
        for (name, value) in add {
            let pid = fresh().to_string();
            b.with_text_child(
                &format!("{prefix}property"),
                &[("fmtid", FMTID), ("pid", &pid), ("name", name)],
                &format!("{vt}lpwstr"),
                value,
            );
        }
        edit.insert = b.finish();
        self.doc.render(&edit)
    }
}

/// Whether the root declares namespace prefix `prefix`.
fn declares(root: &quick_xml::events::BytesStart<'_>, prefix: &str) -> bool {
    let key = format!("xmlns:{prefix}");
    root.attributes().flatten().any(|a| a.key.as_ref() == key)
}

/// A copy of a start tag with its `pid` attribute set to `pid`.
fn with_pid(
    start: &quick_xml::events::BytesStart<'_>,
    pid: u32,
) -> quick_xml::events::BytesStart<'static> {
    let name = start.name().as_ref().to_owned();
    let mut out = quick_xml::events::BytesStart::new(name);
    let pid = pid.to_string();
    let mut had = false;
    for a in start.attributes().flatten() {
        if a.key.local_name().as_ref() == "pid" {
            out.push_attribute(("pid", pid.as_str()));
            had = true;
        } else {
            out.push_attribute(a);
        }
    }
    if !had {
        out.push_attribute(("pid", pid.as_str()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFICE: &str = concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\r\n",
        "<Properties xmlns=\"http://schemas.openxmlformats.org/officeDocument/2006/custom-properties\" ",
        "xmlns:vt=\"http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes\">",
        "<property fmtid=\"{D5CDD505-2E9C-101B-9397-08002B2CF9AE}\" pid=\"2\" name=\"Project\"><vt:lpwstr>R&amp;D</vt:lpwstr></property>",
        "<property fmtid=\"{D5CDD505-2E9C-101B-9397-08002B2CF9AE}\" pid=\"3\" name=\"Drop me\"><vt:bool>true</vt:bool></property>",
        "<property fmtid=\"{D5CDD505-2E9C-101B-9397-08002B2CF9AE}\" pid=\"4\" name=\"Count\"><vt:i4>7</vt:i4></property>",
        "</Properties>"
    );

    #[test]
    fn reads_values_of_any_type() {
        let props = CustomProps::parse(OFFICE.as_bytes()).unwrap();
        let names: Vec<_> = props.props.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["Project", "Drop me", "Count"]);
        assert_eq!(props.get("Project").unwrap().value.as_deref(), Some("R&D"));
        assert_eq!(props.get("Count").unwrap().value.as_deref(), Some("7"));
    }

    #[test]
    fn keeps_others_verbatim_and_appends_with_fresh_pids() {
        let props = CustomProps::parse(OFFICE.as_bytes()).unwrap();
        let out = props.render(|n| n == "Drop me", &[("new <one>".into(), "a&b".into())]);
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("pid=\"2\" name=\"Project\"><vt:lpwstr>R&amp;D</vt:lpwstr>"));
        assert!(out.contains("pid=\"4\" name=\"Count\"><vt:i4>7</vt:i4>"));
        assert!(!out.contains("Drop me"));
        assert!(out.contains(
            "<property fmtid=\"{D5CDD505-2E9C-101B-9397-08002B2CF9AE}\" pid=\"3\" name=\"new &lt;one&gt;\"><vt:lpwstr>a&amp;b</vt:lpwstr></property></Properties>"
        ));
        let again = CustomProps::parse(out.as_bytes()).unwrap();
        assert_eq!(
            again.get("new <one>").unwrap().value.as_deref(),
            Some("a&b")
        );
    }

    #[test]
    fn empty_part_gains_properties() {
        let out = CustomProps::empty().render(|_| false, &[("a".into(), "1".into())]);
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\r\n<Properties "
        ));
        assert!(
            out.ends_with("pid=\"2\" name=\"a\"><vt:lpwstr>1</vt:lpwstr></property></Properties>")
        );
    }

    #[test]
    fn duplicate_and_missing_pids_are_renumbered() {
        let text = "<Properties xmlns=\"u\" xmlns:vt=\"http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes\"><property pid=\"2\" name=\"a\"/><property pid=\"2\" name=\"b\"/><property name=\"c\"/></Properties>";
        let out = CustomProps::parse(text.as_bytes())
            .unwrap()
            .render(|_| false, &[("d".into(), "x".into())]);
        let out = String::from_utf8(out).unwrap();
        let pids: Vec<u32> = CustomProps::parse(out.as_bytes())
            .unwrap()
            .props
            .iter()
            .map(|p| p.pid.unwrap())
            .collect();
        assert_eq!(pids, [2, 3, 4, 5]);
    }

    #[test]
    fn other_prefixes_are_respected() {
        let text = "<cp:Properties xmlns:cp=\"http://schemas.openxmlformats.org/officeDocument/2006/custom-properties\" xmlns:t=\"http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes\"/>";
        let out = CustomProps::parse(text.as_bytes())
            .unwrap()
            .render(|_| false, &[("d".into(), "x".into())]);
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("<cp:property fmtid="), "{out}");
        assert!(
            out.contains("<t:lpwstr>x</t:lpwstr></cp:property></cp:Properties>"),
            "{out}"
        );
    }

    #[test]
    fn wrong_root_is_refused() {
        assert!(CustomProps::parse(b"<Types/>").is_err());
    }
}
