//! File names as they are, whatever their bytes: for JSON output and for people.
//!
//! A Unix file name is bytes. Shares written by older Samba set-ups (`unix charset = CP932`)
//! or unpacked from old archives hold names that are not UTF-8, so output must never assume
//! they are. JSON carries a path as ripgrep's JSON output does: `{"text": "…"}` when the
//! bytes are UTF-8, else `{"bytes": "<standard base64 of the raw bytes>"}`. People see the
//! name with undecodable bytes and control characters escaped (`\xff`, `\n`).
//!
//! A record that is read back (an inventory) carries its paths with
//! `#[serde(with = "fuda_core::pathname")]` (or [`option`] for an optional one): the same
//! JSON form, decoded to the exact bytes; a plain string, as older records wrote, still
//! reads.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Serialize, Serializer};

/// A path for JSON output: `{"text": …}` or `{"bytes": base64}`, exactly as ripgrep writes it.
#[derive(Debug, Clone, Copy)]
pub struct JsonPath<'a>(pub &'a Path);

impl<'a> JsonPath<'a> {
    /// The JSON form of `path`.
    pub fn new(path: &'a (impl AsRef<Path> + ?Sized)) -> JsonPath<'a> {
        JsonPath(path.as_ref())
    }

    /// The JSON value of the path, for records still built with `serde_json::json!`.
    pub fn value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a path serialises")
    }
}

impl Serialize for JsonPath<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let bytes = self.0.as_os_str().as_bytes();
        let mut map = s.serialize_map(Some(1))?;
        match std::str::from_utf8(bytes) {
            Ok(text) => map.serialize_entry("text", text)?,
            Err(_) => map.serialize_entry(
                "bytes",
                &base64::engine::general_purpose::STANDARD.encode(bytes),
            )?,
        }
        map.end()
    }
}

/// `#[serde(serialize_with = "fuda_core::pathname::serialize")]` for a path field of a
/// JSON record.
pub fn serialize<S: Serializer>(path: &impl AsRef<Path>, s: S) -> Result<S::Ok, S::Error> {
    JsonPath::new(path).serialize(s)
}

/// `#[serde(with = "fuda_core::pathname")]`: reads a path [`JsonPath`] wrote (or a plain
/// string) with its exact bytes.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    d.deserialize_any(PathVisitor)
}

/// `#[serde(default, with = "fuda_core::pathname::option")]` for an optional path.
pub mod option {
    use super::*;

    /// Writes `Some` as a [`JsonPath`], `None` as `null`.
    pub fn serialize<S: Serializer>(path: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
        path.as_deref().map(JsonPath).serialize(s)
    }

    /// Reads what [`serialize`] wrote.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
        d.deserialize_option(OptionVisitor)
    }

    struct OptionVisitor;

    impl<'de> Visitor<'de> for OptionVisitor {
        type Value = Option<PathBuf>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a path or null")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            super::deserialize(d).map(Some)
        }
    }
}

/// Reads `{"text": …}`, `{"bytes": base64}` or a plain string.
struct PathVisitor;

impl<'de> Visitor<'de> for PathVisitor {
    type Value = PathBuf;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a path: {"text": "…"}, {"bytes": "<base64>"} or a string"#)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<PathBuf, E> {
        Ok(PathBuf::from(text))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<PathBuf, E> {
        Ok(PathBuf::from(text))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PathBuf, A::Error> {
        let Some(key) = map.next_key::<Cow<'de, str>>()? else {
            return Err(de::Error::invalid_length(0, &self));
        };
        let path = match &*key {
            "text" => PathBuf::from(map.next_value::<String>()?),
            "bytes" => {
                let b64: Cow<'de, str> = map.next_value()?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(&*b64)
                    .map_err(|e| {
                        de::Error::custom(format!("a path's bytes are not base64: {e}"))
                    })?;
                PathBuf::from(OsString::from_vec(bytes))
            }
            other => return Err(de::Error::unknown_field(other, &["text", "bytes"])),
        };
        if let Some(extra) = map.next_key::<Cow<'de, str>>()? {
            return Err(de::Error::custom(format!(
                "a path has one field, text or bytes; found {extra} too"
            )));
        }
        Ok(path)
    }
}

/// The raw bytes of a path a [`JsonPath`] wrote, or `None` when `value` is not one.
pub fn decode_json_path(value: &serde_json::Value) -> Option<Vec<u8>> {
    if let Some(text) = value.get("text").and_then(|t| t.as_str()) {
        return Some(text.as_bytes().to_vec());
    }
    let b64 = value.get("bytes")?.as_str()?;
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// A path for people: UTF-8 as it is, invalid bytes as `\xNN`, control characters
/// (a newline, a tab …) and backslashes escaped, so one name is always one line.
pub fn escaped(path: impl AsRef<Path>) -> String {
    escaped_bytes(path.as_ref().as_os_str())
}

/// [`escaped`], borrowing the name when it needs no escape (most names): for columns of
/// million-row ledgers.
pub fn escaped_cow(path: &Path) -> Cow<'_, str> {
    match path.to_str() {
        Some(text) if !text.chars().any(|c| c == '\\' || c.is_control()) => Cow::Borrowed(text),
        _ => Cow::Owned(escaped(path)),
    }
}

fn escaped_bytes(name: &OsStr) -> String {
    let mut out = String::new();
    for chunk in name.as_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    use std::path::PathBuf;

    fn path(bytes: &[u8]) -> PathBuf {
        PathBuf::from(OsString::from_vec(bytes.to_vec()))
    }

    #[test]
    fn a_utf8_name_is_text_and_an_invalid_one_is_base64_bytes() {
        let utf8 = serde_json::to_string(&JsonPath::new("共有/極秘.txt")).unwrap();
        assert_eq!(utf8, r#"{"text":"共有/極秘.txt"}"#);
        let bad = serde_json::to_string(&JsonPath(&path(b"bad\xff.txt"))).unwrap();
        assert_eq!(bad, r#"{"bytes":"YmFk/y50eHQ="}"#);
    }

    #[test]
    fn people_see_invalid_bytes_and_newlines_escaped() {
        assert_eq!(escaped(path(b"bad\xff.txt")), r"bad\xff.txt");
        assert_eq!(escaped(path(b"two\nlines")), r"two\nlines");
        assert_eq!(escaped("極秘.txt"), "極秘.txt");
    }

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Record {
        #[serde(with = "crate::pathname")]
        path: PathBuf,
        #[serde(default, with = "crate::pathname::option")]
        previous: Option<PathBuf>,
    }

    #[test]
    fn a_record_reads_back_its_exact_paths_and_older_plain_strings() {
        let record = Record {
            path: path(b"\x8b\xc9\x94\xe9.txt"),
            previous: Some(path("極秘/two\nlines.txt".as_bytes())),
        };
        let text = serde_json::to_string(&record).unwrap();
        assert_eq!(
            text,
            r#"{"path":{"bytes":"i8mU6S50eHQ="},"previous":{"text":"極秘/two\nlines.txt"}}"#
        );
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), record);
        let old: Record = serde_json::from_str(r#"{"path":"/s/a.txt","previous":null}"#).unwrap();
        assert_eq!(
            old,
            Record {
                path: "/s/a.txt".into(),
                previous: None
            }
        );
        let absent: Record = serde_json::from_str(r#"{"path":"/s/a.txt"}"#).unwrap();
        assert_eq!(absent.previous, None);
        for bad in [
            r#"{"path":{"bytes":"!!"}}"#,
            r#"{"path":{"name":"a"}}"#,
            r#"{"path":{}}"#,
            r#"{"path":{"text":"a","bytes":"YQ=="}}"#,
        ] {
            assert!(serde_json::from_str::<Record>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_plain_name_is_borrowed_and_an_awkward_one_escaped() {
        assert!(matches!(
            escaped_cow(Path::new("共有/図面.txt")),
            Cow::Borrowed("共有/図面.txt")
        ));
        assert_eq!(escaped_cow(&path(b"a\\b\n\xff")), r"a\\b\n\xff");
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_round_trip_through_json(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let p = path(&bytes);
            let text = serde_json::to_string(&JsonPath(&p)).unwrap();
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            proptest::prop_assert_eq!(decode_json_path(&back), Some(bytes));
        }

        #[test]
        fn an_escaped_name_is_one_line(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100)) {
            let shown = escaped(path(&bytes));
            proptest::prop_assert!(!shown.contains('\n') && !shown.contains('\r'));
        }
    }
}
