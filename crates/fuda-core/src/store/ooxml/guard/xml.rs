//! Bounds on one XML element: how many attributes and namespace declarations it may have.
//!
//! An element with tens of thousands of attributes is no Office document; refusing it
//! before any attribute is looked at keeps every later lookup cheap.

use quick_xml::events::BytesStart;

/// Most attributes one element may have (Office writes a few dozen at most).
pub const MAX_ATTRIBUTES: usize = 1024;
/// Most namespace declarations (`xmlns`, `xmlns:p`) one element may have (the root of a
/// Word body declares about forty).
pub const MAX_NAMESPACES: usize = 256;

/// Why an element was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ElementError {
    /// More than [`MAX_ATTRIBUTES`] attributes.
    #[error("an element has more than {MAX_ATTRIBUTES} attributes: the document is malformed or hostile")]
    TooManyAttributes,
    /// More than [`MAX_NAMESPACES`] namespace declarations.
    #[error("an element declares more than {MAX_NAMESPACES} namespaces: the document is malformed or hostile")]
    TooManyNamespaces,
}

/// Checks a start (or empty) tag against [`MAX_ATTRIBUTES`] and [`MAX_NAMESPACES`], in
/// time linear in the tag's length. Malformed attributes are left for the caller's own
/// parsing to report.
pub fn check_element(start: &BytesStart<'_>) -> Result<(), ElementError> {
    let mut attributes = 0usize;
    let mut namespaces = 0usize;
    for a in start.attributes().with_checks(false) {
        let Ok(a) = a else { break };
        attributes += 1;
        if attributes > MAX_ATTRIBUTES {
            return Err(ElementError::TooManyAttributes);
        }
        if a.key.as_namespace_binding().is_some() {
            namespaces += 1;
            if namespaces > MAX_NAMESPACES {
                return Err(ElementError::TooManyNamespaces);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(attrs: impl Iterator<Item = String>) -> BytesStart<'static> {
        let mut s = BytesStart::new("e");
        for a in attrs {
            s.push_attribute((a.as_str(), "1"));
        }
        s
    }

    #[test]
    fn ordinary_elements_pass() {
        let office_root = tag((0..40).map(|i| format!("xmlns:p{i}")));
        assert_eq!(check_element(&office_root), Ok(()));
        let at_limit = tag((0..MAX_ATTRIBUTES).map(|i| format!("a{i}")));
        assert_eq!(check_element(&at_limit), Ok(()));
    }

    #[test]
    fn too_many_attributes_or_namespaces_are_refused() {
        let wide = tag((0..=MAX_ATTRIBUTES).map(|i| format!("a{i}")));
        assert_eq!(check_element(&wide), Err(ElementError::TooManyAttributes));
        let namespaces = tag((0..=MAX_NAMESPACES).map(|i| format!("xmlns:p{i}")));
        assert_eq!(
            check_element(&namespaces),
            Err(ElementError::TooManyNamespaces)
        );
    }
}
