//! A small, strict XML splicer for the package parts fuda edits.
//!
//! Each part we touch has one root element whose direct children we keep, drop or add to
//! (custom properties, labels, content-type overrides, relationships). [`Doc`] parses a part
//! once with quick-xml and remembers where every direct child starts and ends, so that
//! [`Doc::render`] can write the part back with the kept children byte-for-byte as they
//! were — same declaration, prefixes, quoting and escaping — and new children appended.
//!
//! Hostile input is refused rather than interpreted: document type declarations (and so
//! entity definitions) are rejected, nesting, attributes and namespace declarations per
//! element are bounded ([`super::guard::check_element`]), and there must be exactly one root.

use std::borrow::Cow;

use quick_xml::events::{BytesEnd, BytesRef, BytesStart, Event};
use quick_xml::name::PrefixDeclaration;
use quick_xml::{Reader, XmlVersion};

/// Deepest element nesting accepted in a label-related part.
const MAX_DEPTH: usize = 64;
/// UTF-8 byte-order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A parsed part: its events and where the root's direct children are.
pub(super) struct Doc<'a> {
    bom: bool,
    events: Vec<Event<'a>>,
    root: usize,
    root_end: Option<usize>,
    /// Direct children of the root, in order.
    pub nodes: Vec<Node>,
}

/// A direct child of the root element.
#[derive(Clone, Copy, Debug)]
pub(super) enum Node {
    /// An element spanning events `first..=last`.
    Element {
        /// Index of its start (or empty) event.
        first: usize,
        /// Index of its end event (equal to `first` for an empty element).
        last: usize,
    },
    /// Text, a comment, a processing instruction or CDATA.
    Other(usize),
}

/// How to write a document back.
#[derive(Default)]
pub(super) struct Edit {
    /// Indices into [`Doc::nodes`] to leave out.
    pub drop: Vec<usize>,
    /// Node index before which `insert` goes; `None` means before the root's end.
    pub insert_before: Option<usize>,
    /// Serialised elements to insert.
    pub insert: Vec<u8>,
    /// Attributes to add to the root element (name, unescaped value).
    pub root_attrs: Vec<(String, String)>,
    /// Replacement start tags for kept elements (node index, new start tag).
    pub restart: Vec<(usize, BytesStart<'static>)>,
}

impl<'a> Doc<'a> {
    /// Parses `bytes`; the error says what is wrong.
    pub fn parse(bytes: &'a [u8]) -> Result<Doc<'a>, String> {
        let bom = bytes.starts_with(BOM);
        let body = if bom { &bytes[BOM.len()..] } else { bytes };
        let mut reader = Reader::from_reader(body);
        reader.config_mut().check_end_names = true;
        let mut events = Vec::new();
        let mut root = None;
        let mut root_end = None;
        let mut nodes = Vec::new();
        let mut depth = 0usize;
        let mut child_first = 0usize;
        loop {
            let at = reader.buffer_position();
            let event = reader
                .read_event()
                .map_err(|e| format!("malformed XML at byte {at}: {e}"))?;
            let index = events.len();
            match &event {
                Event::Eof => break,
                Event::DocType(_) => {
                    return Err("document type declarations are not allowed".into());
                }
                Event::Start(start) | Event::Empty(start) => {
                    super::guard::check_element(start).map_err(|e| e.to_string())?;
                    if depth == 0 {
                        if root.is_some() {
                            return Err("more than one root element".into());
                        }
                        root = Some(index);
                        if matches!(event, Event::Empty(_)) {
                            root_end = Some(index);
                        }
                    } else if depth == 1 {
                        child_first = index;
                        if matches!(event, Event::Empty(_)) {
                            nodes.push(Node::Element {
                                first: index,
                                last: index,
                            });
                        }
                    }
                    if matches!(event, Event::Start(_)) {
                        depth += 1;
                        if depth > MAX_DEPTH {
                            return Err(format!("elements nested deeper than {MAX_DEPTH}"));
                        }
                    }
                }
                Event::End(_) => {
                    depth = depth.checked_sub(1).ok_or("unmatched end tag")?;
                    if depth == 0 {
                        root_end = Some(index);
                    } else if depth == 1 {
                        nodes.push(Node::Element {
                            first: child_first,
                            last: index,
                        });
                    }
                }
                Event::Text(t) => {
                    if depth == 0 && !t.bytes().all(|b| b.is_ascii_whitespace()) {
                        return Err("text outside the root element".into());
                    }
                    if depth == 1 {
                        nodes.push(Node::Other(index));
                    }
                }
                Event::GeneralRef(_) => {
                    if depth == 0 {
                        return Err("text outside the root element".into());
                    }
                    if depth == 1 {
                        nodes.push(Node::Other(index));
                    }
                }
                Event::CData(_) | Event::Comment(_) | Event::PI(_) => {
                    if depth == 1 {
                        nodes.push(Node::Other(index));
                    }
                }
                Event::Decl(_) => {}
            }
            events.push(event);
        }
        let root = root.ok_or("no root element")?;
        if depth != 0 || root_end.is_none() {
            return Err("the root element is not closed".into());
        }
        Ok(Doc {
            bom,
            events,
            root,
            root_end,
            nodes,
        })
    }

    /// The root element's start tag.
    pub fn root(&self) -> &BytesStart<'a> {
        match &self.events[self.root] {
            Event::Start(s) | Event::Empty(s) => s,
            _ => unreachable!("root index points at a start tag"),
        }
    }

    /// The start tag of an element node.
    pub fn start(&self, node: Node) -> Option<&BytesStart<'a>> {
        match node {
            Node::Element { first, .. } => match &self.events[first] {
                Event::Start(s) | Event::Empty(s) => Some(s),
                _ => None,
            },
            Node::Other(_) => None,
        }
    }

    /// The concatenated text of the first element inside an element node (a property's
    /// typed value such as `<vt:lpwstr>…</vt:lpwstr>`); `None` if it has none.
    pub fn first_child_text(&self, node: Node) -> Result<Option<String>, String> {
        let Node::Element { first, last } = node else {
            return Ok(None);
        };
        if last <= first {
            return Ok(None);
        }
        let mut depth = 0usize;
        let mut text: Option<String> = None;
        for event in &self.events[first + 1..last] {
            match event {
                Event::Start(_) => {
                    depth += 1;
                    if depth == 1 && text.is_some() {
                        break;
                    }
                    if depth == 1 {
                        text = Some(String::new());
                    }
                }
                Event::Empty(_) if depth == 0 => return Ok(text.or(Some(String::new()))),
                Event::End(_) => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                Event::Text(t) if depth == 1 => {
                    text.get_or_insert_with(String::new)
                        .push_str(&t.xml_content(XmlVersion::Implicit1_0));
                }
                Event::GeneralRef(r) if depth == 1 => {
                    text.get_or_insert_with(String::new)
                        .push_str(&resolve_ref(r)?);
                }
                Event::CData(c) if depth == 1 => {
                    text.get_or_insert_with(String::new).push_str(c);
                }
                _ => {}
            }
        }
        Ok(text)
    }

    /// Writes the document back with `edit` applied.
    pub fn render(&self, edit: &Edit) -> Vec<u8> {
        let mut w = quick_xml::Writer::new(Vec::with_capacity(4096));
        if self.bom {
            w.get_mut().extend_from_slice(BOM);
        }
        let write = |w: &mut quick_xml::Writer<Vec<u8>>, e: &Event<'_>| {
            w.write_event(e.borrow()).expect("writing to memory");
        };
        for e in &self.events[..self.root] {
            write(&mut w, e);
        }
        let mut root = self.root().to_owned();
        for (k, v) in &edit.root_attrs {
            root.push_attribute((k.as_str(), v.as_str()));
        }
        let root_name = root.name().as_ref().to_owned();
        let self_closing = self.root_end == Some(self.root);
        let mut inserted = false;
        if self_closing && edit.insert.is_empty() {
            write(&mut w, &Event::Empty(root));
        } else {
            write(&mut w, &Event::Start(root));
            for (i, node) in self.nodes.iter().enumerate() {
                if edit.insert_before == Some(i) {
                    w.get_mut().extend_from_slice(&edit.insert);
                    inserted = true;
                }
                if edit.drop.contains(&i) {
                    continue;
                }
                match *node {
                    Node::Other(at) => write(&mut w, &self.events[at]),
                    Node::Element { first, last } => {
                        let replacement = edit.restart.iter().find(|(n, _)| *n == i);
                        for (at, e) in self.events[first..=last].iter().enumerate() {
                            match (at, e, replacement) {
                                (0, Event::Start(_), Some((_, s))) => {
                                    write(&mut w, &Event::Start(s.borrow()))
                                }
                                (0, Event::Empty(_), Some((_, s))) => {
                                    write(&mut w, &Event::Empty(s.borrow()))
                                }
                                _ => write(&mut w, e),
                            }
                        }
                    }
                }
            }
            if !inserted {
                w.get_mut().extend_from_slice(&edit.insert);
            }
            match self.root_end {
                Some(end) if end != self.root => write(&mut w, &self.events[end]),
                _ => write(&mut w, &Event::End(BytesEnd::new(Cow::Owned(root_name)))),
            }
        }
        if let Some(end) = self.root_end {
            for e in &self.events[end + 1..] {
                write(&mut w, e);
            }
        }
        w.into_inner()
    }
}

/// The text an entity or character reference in character data stands for: the five
/// predefined entities and character references; anything else is refused (a document
/// without a DTD cannot define entities).
fn resolve_ref(r: &BytesRef<'_>) -> Result<String, String> {
    if let Some(c) = r
        .resolve_char_ref()
        .map_err(|e| format!("bad character reference: {e}"))?
    {
        return Ok(c.to_string());
    }
    quick_xml::escape::resolve_predefined_entity(r)
        .map(str::to_owned)
        .ok_or_else(|| format!("unknown entity &{};", &**r))
}

/// The value of the attribute with local name `name`, unescaped.
pub(super) fn attr(start: &BytesStart<'_>, name: &str) -> Result<Option<String>, String> {
    for a in start.attributes().with_checks(true) {
        let a = a.map_err(|e| format!("bad attribute: {e}"))?;
        if a.key.local_name().as_ref() == name {
            let v = a
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| format!("bad attribute value: {e}"))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

/// Whether an element's local name is `name`.
pub(super) fn is(start: &BytesStart<'_>, name: &str) -> bool {
    start.local_name().as_ref() == name
}

/// The prefix (with its colon) of an element's name, to give new siblings the same one.
pub(super) fn prefix_of(start: &BytesStart<'_>) -> String {
    start
        .name()
        .prefix()
        .map(|p| format!("{}:", p.as_ref()))
        .unwrap_or_default()
}

/// The prefix the root declares for namespace `ns` (`Some("")` for the default namespace).
pub(super) fn declared_prefix(root: &BytesStart<'_>, ns: &str) -> Option<String> {
    root.attributes().flatten().find_map(|a| {
        let value = a.normalized_value(XmlVersion::Implicit1_0).ok()?;
        if value != ns {
            return None;
        }
        match a.key.as_namespace_binding()? {
            PrefixDeclaration::Default => Some(String::new()),
            PrefixDeclaration::Named(p) => Some(p.to_owned()),
        }
    })
}

/// Serialises new elements with proper escaping.
pub(super) struct Builder(quick_xml::Writer<Vec<u8>>);

impl Builder {
    /// An empty fragment.
    pub fn new() -> Builder {
        Builder(quick_xml::Writer::new(Vec::new()))
    }

    /// `<name attrs…/>`.
    pub fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) {
        let mut s = BytesStart::new(name);
        for a in attrs {
            s.push_attribute(*a);
        }
        self.0
            .write_event(Event::Empty(s))
            .expect("writing to memory");
    }

    /// `<name attrs…><child>text</child></name>`.
    pub fn with_text_child(&mut self, name: &str, attrs: &[(&str, &str)], child: &str, text: &str) {
        let mut s = BytesStart::new(name);
        for a in attrs {
            s.push_attribute(*a);
        }
        let w = &mut self.0;
        w.write_event(Event::Start(s)).expect("writing to memory");
        w.write_event(Event::Start(BytesStart::new(child)))
            .expect("writing to memory");
        w.write_event(Event::Text(quick_xml::events::BytesText::new(text)))
            .expect("writing to memory");
        w.write_event(Event::End(BytesEnd::new(child)))
            .expect("writing to memory");
        w.write_event(Event::End(BytesEnd::new(name)))
            .expect("writing to memory");
    }

    /// The serialised fragment.
    pub fn finish(self) -> Vec<u8> {
        self.0.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_children_round_trip_byte_for_byte() {
        let text = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\r\n<r xmlns=\"u\"><a  x='1 &amp; 2'/><!-- c --><b>t&lt;</b></r>";
        let doc = Doc::parse(text.as_bytes()).unwrap();
        assert_eq!(doc.nodes.len(), 3);
        assert_eq!(doc.render(&Edit::default()), text.as_bytes());
    }

    #[test]
    fn drop_and_insert() {
        let doc = Doc::parse(b"<r><a/><b/><c/></r>").unwrap();
        let mut b = Builder::new();
        b.empty("n", &[("v", "<&\">")]);
        let out = doc.render(&Edit {
            drop: vec![1],
            insert_before: Some(2),
            insert: b.finish(),
            ..Edit::default()
        });
        assert_eq!(out, b"<r><a/><n v=\"&lt;&amp;&quot;&gt;\"/><c/></r>");
    }

    #[test]
    fn self_closing_root_opens_when_children_are_added() {
        let doc = Doc::parse(b"\xEF\xBB\xBF<p:r xmlns:p=\"u\"/>").unwrap();
        let out = doc.render(&Edit {
            insert: b"<p:x/>".to_vec(),
            root_attrs: vec![("xmlns:q".into(), "w".into())],
            ..Edit::default()
        });
        assert_eq!(
            out,
            b"\xEF\xBB\xBF<p:r xmlns:p=\"u\" xmlns:q=\"w\"><p:x/></p:r>"
        );
    }

    fn refusal(bytes: &[u8]) -> String {
        Doc::parse(bytes).err().expect("refused")
    }

    #[test]
    fn hostile_documents_are_refused() {
        let bomb = b"<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaa\">]><r>&a;</r>";
        assert!(refusal(bomb).contains("document type"));
        assert!(refusal(b"<r/><s/>").contains("more than one root"));
        refusal(b"<r><a></r>");
        assert!(refusal(b"").contains("no root"));
        assert!(refusal(b"<r>").contains("not closed"));
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(refusal(deep.as_bytes()).contains("deeper"));
    }

    #[test]
    fn first_child_text_unescapes() {
        let doc = Doc::parse(b"<r><p n=\"x\"><vt:lpwstr>a &amp; b</vt:lpwstr></p></r>").unwrap();
        assert_eq!(
            doc.first_child_text(doc.nodes[0]).unwrap().as_deref(),
            Some("a & b")
        );
    }
}
