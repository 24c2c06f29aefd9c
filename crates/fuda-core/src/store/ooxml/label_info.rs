//! `docMetadata/LabelInfo.xml`: the sensitivity label part Office 2022 and later write
//! ([MS-OFFCRYPTO] §2.6.4): a `clbl:labelList` of `clbl:label` elements, at most one per
//! tenant (`siteId`), optionally followed by an `extLst`.

use super::xml::{self, Builder, Doc, Edit};

/// An empty label list.
const EMPTY: &str = concat!(
    "<?xml version=\"1.0\" encoding=\"utf-8\" standalone=\"yes\"?>",
    "<clbl:labelList xmlns:clbl=\"http://schemas.microsoft.com/office/2020/mipLabelMetadata\"/>"
);

/// One `label` element as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct LabelEntry {
    /// The label GUID as written (normally `{guid}`).
    pub id: String,
    /// `enabled` is true.
    pub enabled: bool,
    /// `removed` is true.
    pub removed: bool,
    /// `method`, as written.
    pub method: Option<String>,
    /// `siteId`, as written.
    pub site_id: Option<String>,
    node: usize,
}

/// What a new `label` element says.
pub(super) struct NewLabel<'s> {
    /// Label GUID, lower-case without braces.
    pub id: &'s str,
    /// `Standard` or `Privileged`.
    pub method: &'s str,
    /// Tenant GUID, lower-case without braces.
    pub site_id: &'s str,
}

/// A parsed label list.
pub(super) struct LabelInfo<'a> {
    doc: Doc<'a>,
    /// The labels, in document order.
    pub labels: Vec<LabelEntry>,
}

impl<'a> LabelInfo<'a> {
    /// Parses the part; the error says what is wrong.
    pub fn parse(bytes: &'a [u8]) -> Result<LabelInfo<'a>, String> {
        let doc = Doc::parse(bytes)?;
        if !xml::is(doc.root(), "labelList") {
            return Err("the root element is not <labelList>".into());
        }
        let mut labels = Vec::new();
        for (i, node) in doc.nodes.iter().enumerate() {
            let Some(start) = doc.start(*node).filter(|s| xml::is(s, "label")) else {
                continue;
            };
            let flag = |name: &str| -> Result<bool, String> {
                Ok(xml::attr(start, name)?.is_some_and(|v| matches!(v.trim(), "1" | "true")))
            };
            labels.push(LabelEntry {
                id: xml::attr(start, "id")?.unwrap_or_default(),
                enabled: flag("enabled")?,
                removed: flag("removed")?,
                method: xml::attr(start, "method")?,
                site_id: xml::attr(start, "siteId")?,
                node: i,
            });
        }
        Ok(LabelInfo { doc, labels })
    }

    /// An empty list, for packages that have none.
    pub fn empty() -> LabelInfo<'static> {
        LabelInfo::parse(EMPTY.as_bytes()).expect("the empty part parses")
    }

    /// Writes the part back without the labels `drop` selects and with `add` after the
    /// remaining labels (before any `extLst`).
    pub fn render(
        &self,
        drop: impl Fn(&LabelEntry) -> bool,
        add: Option<&NewLabel<'_>>,
    ) -> Vec<u8> {
        let prefix = xml::prefix_of(self.doc.root());
        let mut edit = Edit {
            drop: self
                .labels
                .iter()
                .filter(|l| drop(l))
                .map(|l| l.node)
                .collect(),
            insert_before: self
                .doc
                .nodes
                .iter()
                .position(|n| self.doc.start(*n).is_some_and(|s| xml::is(s, "extLst"))),
            ..Edit::default()
        };
        if let Some(new) = add {
            let id = format!("{{{}}}", new.id);
            let site = format!("{{{}}}", new.site_id);
            let mut b = Builder::new();
            b.empty(
                &format!("{prefix}label"),
                &[
                    ("id", &id),
                    ("enabled", "1"),
                    ("method", new.method),
                    ("siteId", &site),
                    ("contentBits", "0"),
                    ("removed", "0"),
                ],
            );
            edit.insert = b.finish();
        }
        self.doc.render(&edit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFICE: &str = concat!(
        "<?xml version=\"1.0\" encoding=\"utf-8\" standalone=\"yes\"?>",
        "<clbl:labelList xmlns:clbl=\"http://schemas.microsoft.com/office/2020/mipLabelMetadata\">",
        "<clbl:label id=\"{2096f6a2-d2f7-48be-b329-b73aaa526e5d}\" enabled=\"1\" method=\"Privileged\" siteId=\"{11111111-2222-3333-4444-555555555555}\" contentBits=\"0\" removed=\"0\" />",
        "<clbl:extLst><clbl:ext uri=\"x\"/></clbl:extLst>",
        "</clbl:labelList>"
    );

    #[test]
    fn reads_labels() {
        let info = LabelInfo::parse(OFFICE.as_bytes()).unwrap();
        assert_eq!(info.labels.len(), 1);
        let l = &info.labels[0];
        assert_eq!(l.id, "{2096f6a2-d2f7-48be-b329-b73aaa526e5d}");
        assert!(l.enabled && !l.removed);
        assert_eq!(l.method.as_deref(), Some("Privileged"));
    }

    #[test]
    fn adds_ours_before_the_extension_list_and_keeps_foreign() {
        let info = LabelInfo::parse(OFFICE.as_bytes()).unwrap();
        let new = NewLabel {
            id: "6f1c2b0e-0a35-4b8f-9d0e-3a1f9c000003",
            method: "Standard",
            site_id: "00000000-0000-0000-0000-000000000000",
        };
        let out = String::from_utf8(info.render(|_| false, Some(&new))).unwrap();
        assert!(out.contains("removed=\"0\" /><clbl:label id=\"{6f1c2b0e-0a35-4b8f-9d0e-3a1f9c000003}\" enabled=\"1\" method=\"Standard\" siteId=\"{00000000-0000-0000-0000-000000000000}\" contentBits=\"0\" removed=\"0\"/><clbl:extLst>"), "{out}");
        let dropped = String::from_utf8(info.render(|_| true, None)).unwrap();
        assert!(!dropped.contains("clbl:label "));
        assert!(dropped.contains("<clbl:extLst>"));
    }

    #[test]
    fn empty_list_gains_a_label() {
        let new = NewLabel {
            id: "a",
            method: "Privileged",
            site_id: "b",
        };
        let out = String::from_utf8(LabelInfo::empty().render(|_| false, Some(&new))).unwrap();
        assert!(out.ends_with("removed=\"0\"/></clbl:labelList>"), "{out}");
        assert_eq!(LabelInfo::parse(out.as_bytes()).unwrap().labels.len(), 1);
    }
}
