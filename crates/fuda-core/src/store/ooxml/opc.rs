//! Package plumbing (ECMA-376 Part 2, Open Packaging Conventions): the content-type
//! overrides in `[Content_Types].xml` and the package relationships in `_rels/.rels` that
//! make our label parts visible to Office.

use super::xml::{self, Builder, Doc, Edit};

/// A part the package must declare and link from its root.
pub(super) struct PartSpec {
    /// Part name without the leading slash, e.g. `docProps/custom.xml`.
    pub name: &'static str,
    /// Its content type.
    pub content_type: &'static str,
    /// The type of the package relationship that points at it.
    pub rel_type: &'static str,
}

/// Adds an `Override` for every part in `parts` that has none; `None` if nothing changed.
pub(super) fn ensure_overrides(ct: &[u8], parts: &[&PartSpec]) -> Result<Option<Vec<u8>>, String> {
    let doc = Doc::parse(ct).map_err(|e| format!("[Content_Types].xml: {e}"))?;
    if !xml::is(doc.root(), "Types") {
        return Err("[Content_Types].xml: the root element is not <Types>".into());
    }
    let mut present = Vec::new();
    for node in &doc.nodes {
        if let Some(s) = doc.start(*node).filter(|s| xml::is(s, "Override")) {
            if let Some(name) = xml::attr(s, "PartName")? {
                present.push(name.trim().trim_start_matches('/').to_ascii_lowercase());
            }
        }
    }
    let prefix = xml::prefix_of(doc.root());
    let mut b = Builder::new();
    let mut changed = false;
    for part in parts {
        if present.iter().any(|p| p.eq_ignore_ascii_case(part.name)) {
            continue;
        }
        let name = format!("/{}", part.name);
        b.empty(
            &format!("{prefix}Override"),
            &[("PartName", &name), ("ContentType", part.content_type)],
        );
        changed = true;
    }
    Ok(changed.then(|| {
        doc.render(&Edit {
            insert: b.finish(),
            ..Edit::default()
        })
    }))
}

/// Adds a relationship from the package root to every part in `parts` that has none of its
/// type, with fresh `rIdN` ids; `None` if nothing changed. A relationship of the type that
/// points at another part is an error: the package keeps that information elsewhere.
pub(super) fn ensure_relationships(
    rels: &[u8],
    parts: &[&PartSpec],
) -> Result<Option<Vec<u8>>, String> {
    let doc = Doc::parse(rels).map_err(|e| format!("_rels/.rels: {e}"))?;
    if !xml::is(doc.root(), "Relationships") {
        return Err("_rels/.rels: the root element is not <Relationships>".into());
    }
    let mut ids = Vec::new();
    let mut existing = Vec::new();
    for node in &doc.nodes {
        if let Some(s) = doc.start(*node).filter(|s| xml::is(s, "Relationship")) {
            if let Some(id) = xml::attr(s, "Id")? {
                ids.push(id);
            }
            if let (Some(ty), Some(target)) = (xml::attr(s, "Type")?, xml::attr(s, "Target")?) {
                existing.push((ty, target));
            }
        }
    }
    let prefix = xml::prefix_of(doc.root());
    let mut b = Builder::new();
    let mut changed = false;
    let mut n = 1u32;
    for part in parts {
        if let Some((_, target)) = existing.iter().find(|(ty, _)| ty == part.rel_type) {
            let target = target
                .trim()
                .trim_start_matches("./")
                .trim_start_matches('/');
            if target.eq_ignore_ascii_case(part.name) {
                continue;
            }
            return Err(format!(
                "_rels/.rels: the package keeps {} in /{target}; fuda only labels packages that use /{}",
                part.rel_type.rsplit('/').next().unwrap_or(part.rel_type),
                part.name
            ));
        }
        let id = loop {
            let id = format!("rId{n}");
            n += 1;
            if !ids.contains(&id) {
                break id;
            }
        };
        b.empty(
            &format!("{prefix}Relationship"),
            &[("Id", &id), ("Type", part.rel_type), ("Target", part.name)],
        );
        ids.push(id);
        changed = true;
    }
    Ok(changed.then(|| {
        doc.render(&Edit {
            insert: b.finish(),
            ..Edit::default()
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PART: PartSpec = PartSpec {
        name: "docProps/custom.xml",
        content_type: "application/vnd.openxmlformats-officedocument.custom-properties+xml",
        rel_type:
            "http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties",
    };

    #[test]
    fn override_added_once() {
        let ct = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/></Types>"#;
        let out = ensure_overrides(ct, &[&PART]).unwrap().unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.ends_with("<Override PartName=\"/docProps/custom.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.custom-properties+xml\"/></Types>"));
        assert_eq!(ensure_overrides(&out, &[&PART]).unwrap(), None);
    }

    #[test]
    fn relationship_added_with_fresh_id() {
        let rels = br#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="a" Target="word/document.xml"/><Relationship Id="rId2" Type="b" Target="x"/></Relationships>"#;
        let out = ensure_relationships(rels, &[&PART]).unwrap().unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.contains("<Relationship Id=\"rId3\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties\" Target=\"docProps/custom.xml\"/></Relationships>"));
        assert_eq!(ensure_relationships(&out, &[&PART]).unwrap(), None);
    }

    #[test]
    fn relationship_to_another_part_is_refused() {
        let rels = br#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties" Target="props/c.xml"/></Relationships>"#;
        assert!(ensure_relationships(rels, &[&PART])
            .unwrap_err()
            .contains("/props/c.xml"));
    }
}
