//! Labels inside Office Open XML documents (docx, xlsx, pptx and their macro and template
//! variants), where they travel with the file by mail, on USB sticks and to Windows.
//!
//! A label is written twice, once for Microsoft Office and once for fuda:
//!
//! - for Office and Purview, the documented sensitivity-label metadata: text properties
//!   `MSIP_Label_<guid>_{Enabled,SetDate,Method,Name,SiteId,ActionId,ContentBits}` in
//!   `docProps/custom.xml`, and a `clbl:label` element in `docMetadata/LabelInfo.xml`
//!   ([MS-OFFCRYPTO] §2.6) — only for levels that name a Purview label (`msip_id`);
//! - for fuda, the signed record as a `fuda.label` text property: base64 of the
//!   [compact](crate::label::compact) encoding, about 200–250 characters.
//!
//! Custom properties and labels that belong to someone else (another tenant's label, the
//! author's own properties) are kept as they were. The relationship and content-type
//! entries the two parts need are added only where missing.
//!
//! # What is changed, and what is not
//!
//! The package is rewritten into a temporary file beside the original, synced and renamed
//! over it, keeping its permission bits; on any error the original is untouched. Only the
//! two label parts, `[Content_Types].xml` and `_rels/.rels` can change; every other entry is
//! copied raw — the same compressed bytes, compression method and order — so the document's
//! content is not recompressed, reformatted or re-dated. (Zip headers are rewritten, and
//! extended attributes, owner and hard links of the old file do not carry over to the new
//! one, as with any editor that saves by renaming.)
//!
//! # The content digest
//!
//! A label covers the document's content as it was when labeled: SHA-256 over every entry
//! except `docProps/custom.xml` and `docMetadata/LabelInfo.xml`, in entry-name order, each
//! as u32-BE name length ‖ name (UTF-8) ‖ u64-BE uncompressed length ‖ uncompressed bytes.
//! Saving the document in Office changes the digest, and the label becomes `stale`.
//!
//! # Reading labels written by Office
//!
//! Without a `fuda.label` property, an enabled Office label is returned as a
//! [`ForeignLabel`] for the policy to map. As [MS-OFFCRYPTO] §2.6.3 prescribes,
//! `LabelInfo.xml` is read first (Office 2022 and later may write only that), and custom
//! properties count only for tenants that have no element there; a label element with
//! `removed="1"` or `enabled="0"` means "no label" for its tenant.
//!
//! # Example
//!
//! ```no_run
//! use std::path::Path;
//! use fuda_core::store::{ooxml::OoxmlStore, LabelStore, Stored};
//!
//! let path = Path::new("drawing-spec.docx");
//! match OoxmlStore.read(path)? {
//!     Some(Stored::Signed(s)) => println!("fuda label: {}", s.label.level),
//!     Some(Stored::Foreign(f)) => println!("Purview label {} ({:?})", f.guid, f.name),
//!     Some(Stored::Corrupt(why)) => println!("tampered: {why}"),
//!     None => println!("no label"),
//! }
//! # Ok::<(), fuda_core::store::StoreError>(())
//! ```
//!
//! # Limits
//!
//! XML parts are read into memory only up to 16 MiB each; everything inflated from a
//! package is held to one budget and packages whose entries share bytes are refused
//! ([`guard`]); elements with more than [`guard::MAX_ATTRIBUTES`] attributes and document
//! type declarations are refused; parts in encodings other than UTF-8 are reported as bad packages. Packages whose
//! custom properties live in a part other than `/docProps/custom.xml` are refused rather
//! than split in two.

mod custom_props;
pub mod guard;
mod label_info;
mod opc;
mod package;
mod xml;

use std::path::{Path, PathBuf};

use base64::Engine;

use super::{
    decode_stored, ensure_writable, ForeignLabel, LabelStore, StoreError, StoreKind, Stored,
    WriteContext,
};
use crate::digest::Digest;
use crate::label::{compact, Method, SignedLabel};
use crate::policy::{normalise_guid, Policy};
use custom_props::CustomProps;
use label_info::{LabelEntry, LabelInfo, NewLabel};
use opc::PartSpec;
use package::Package;

/// Name of the custom property holding fuda's signed label.
pub const LABEL_PROPERTY: &str = "fuda.label";
/// Prefix of Microsoft's sensitivity-label custom properties.
pub const MSIP_PREFIX: &str = "MSIP_Label_";

/// The custom properties part.
const CUSTOM: PartSpec = PartSpec {
    name: "docProps/custom.xml",
    content_type: "application/vnd.openxmlformats-officedocument.custom-properties+xml",
    rel_type:
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties",
};
/// The sensitivity label part.
const LABEL_INFO: PartSpec = PartSpec {
    name: "docMetadata/LabelInfo.xml",
    content_type: "application/vnd.ms-office.classificationlabels+xml",
    rel_type: "http://schemas.microsoft.com/office/2020/02/relationships/classificationlabels",
};
const CONTENT_TYPES: &str = "[Content_Types].xml";
const ROOT_RELS: &str = "_rels/.rels";

/// The OOXML label store.
#[derive(Debug, Default, Clone, Copy)]
pub struct OoxmlStore;

/// The label-related parts of a package, as read.
struct Parts {
    path: PathBuf,
    custom: Option<Vec<u8>>,
    info: Option<Vec<u8>>,
}

impl Parts {
    fn read(pkg: &mut Package, path: &Path) -> Result<Parts, StoreError> {
        Ok(Parts {
            path: path.to_owned(),
            custom: pkg.read_part(CUSTOM.name)?,
            info: pkg.read_part(LABEL_INFO.name)?,
        })
    }

    fn bad(&self, part: &str, e: String) -> StoreError {
        StoreError::BadPackage {
            path: self.path.clone(),
            reason: format!("{part}: {e}"),
        }
    }

    fn custom(&self) -> Result<CustomProps<'_>, StoreError> {
        match &self.custom {
            Some(bytes) => CustomProps::parse(bytes).map_err(|e| self.bad(CUSTOM.name, e)),
            None => Ok(CustomProps::empty()),
        }
    }

    fn info(&self) -> Result<Option<LabelInfo<'_>>, StoreError> {
        self.info
            .as_deref()
            .map(|bytes| LabelInfo::parse(bytes).map_err(|e| self.bad(LABEL_INFO.name, e)))
            .transpose()
    }
}

/// The `[Content_Types].xml` and `_rels/.rels` bytes, which every package must have.
fn plumbing(pkg: &mut Package) -> Result<(Vec<u8>, Vec<u8>), StoreError> {
    let ct = pkg
        .read_part(CONTENT_TYPES)?
        .ok_or_else(|| pkg.bad("it has no [Content_Types].xml"))?;
    let rels = pkg
        .read_part(ROOT_RELS)?
        .ok_or_else(|| pkg.bad("it has no _rels/.rels"))?;
    Ok((ct, rels))
}

/// The GUID in a property name `MSIP_Label_<guid>_<field>`, normalised, and the field.
fn msip_property(name: &str) -> Option<(String, &str)> {
    let rest = name.strip_prefix(MSIP_PREFIX)?;
    let (guid, field) = rest.split_at_checked(36)?;
    Some((normalise_guid(guid)?, field.strip_prefix('_')?))
}

/// Whether a Purview label GUID is one of `policy`'s levels.
fn is_our_label(policy: &Policy, guid: &str) -> bool {
    let guid = normalise_guid(guid);
    guid.is_some() && policy.levels.iter().any(|l| l.msip_id == guid)
}

/// Whether a tenant id is `policy`'s own.
fn is_our_site(policy: &Policy, site: Option<&str>) -> bool {
    let ours = normalise_guid(&policy.msip_site_id);
    ours.is_some() && site.and_then(normalise_guid) == ours
}

/// Lower-case GUID text of 16 bytes.
fn guid_of(bytes: [u8; 16]) -> String {
    let h = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// RFC 3339 UTC time of a Unix timestamp, to the second.
fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

/// The Office labels a package carries, LabelInfo first (MS-OFFCRYPTO §2.6.3).
fn foreign_label(custom: &CustomProps<'_>, info: Option<&LabelInfo<'_>>) -> Option<ForeignLabel> {
    let prop = |guid: &str, field: &str| {
        custom
            .props
            .iter()
            .find(|p| msip_property(&p.name).is_some_and(|(g, f)| g == guid && f == field))
            .and_then(|p| p.value.clone())
    };
    let entries: &[LabelEntry] = info.map_or(&[], |i| &i.labels);
    for e in entries.iter().filter(|e| e.enabled && !e.removed) {
        let Some(guid) = normalise_guid(&e.id) else {
            continue;
        };
        return Some(ForeignLabel {
            name: prop(&guid, "Name"),
            set_date: prop(&guid, "SetDate"),
            site_id: e.site_id.as_deref().and_then(normalise_guid),
            method: e.method.clone().or_else(|| prop(&guid, "Method")),
            guid,
        });
    }
    // Tenants LabelInfo speaks for (even to say "removed") are not read from properties.
    let covered: Vec<String> = entries
        .iter()
        .filter_map(|e| e.site_id.as_deref().and_then(normalise_guid))
        .collect();
    for p in &custom.props {
        let Some((guid, "Enabled")) = msip_property(&p.name) else {
            continue;
        };
        if !p
            .value
            .as_deref()
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        {
            continue;
        }
        let site_id = prop(&guid, "SiteId").as_deref().and_then(normalise_guid);
        if site_id.as_ref().is_some_and(|s| covered.contains(s)) {
            continue;
        }
        return Some(ForeignLabel {
            name: prop(&guid, "Name"),
            set_date: prop(&guid, "SetDate"),
            method: prop(&guid, "Method"),
            site_id,
            guid,
        });
    }
    None
}

/// Where to write: the file a symbolic link points at, so the link stays a link.
fn target(path: &Path) -> Result<PathBuf, StoreError> {
    let meta = crate::longpath::symlink_metadata(path).map_err(|e| StoreError::io(path, e))?;
    if meta.file_type().is_symlink() {
        std::fs::canonicalize(&*super::reach(path)?).map_err(|e| StoreError::io(path, e))
    } else {
        Ok(path.to_owned())
    }
}

fn mode_of(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

impl LabelStore for OoxmlStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Ooxml
    }

    fn read(&self, path: &Path) -> Result<Option<Stored>, StoreError> {
        let mut pkg = Package::open(path)?;
        let parts = Parts::read(&mut pkg, path)?;
        let custom = parts.custom()?;
        if let Some(p) = custom.get(LABEL_PROPERTY) {
            let value = p.value.as_deref().unwrap_or("").trim();
            return Ok(Some(
                match base64::engine::general_purpose::STANDARD.decode(value) {
                    Ok(bytes) => match decode_stored(&bytes) {
                        Stored::Corrupt(e) => Stored::Corrupt(format!("{LABEL_PROPERTY}: {e}")),
                        stored => stored,
                    },
                    Err(e) => Stored::Corrupt(format!("{LABEL_PROPERTY} is not base64: {e}")),
                },
            ));
        }
        let info = parts.info()?;
        Ok(foreign_label(&custom, info.as_ref()).map(Stored::Foreign))
    }

    fn content_digest(&self, path: &Path) -> Result<Digest, StoreError> {
        let mut pkg = Package::open(path)?;
        pkg.digest(&[CUSTOM.name, LABEL_INFO.name], &[])
    }

    fn write(
        &self,
        path: &Path,
        ctx: WriteContext<'_>,
        sign: &mut dyn FnMut(Digest) -> SignedLabel,
    ) -> Result<SignedLabel, StoreError> {
        let dest = target(path)?;
        let meta = ensure_writable(&dest)?;
        let mut pkg = Package::open(&dest)?;
        let parts = Parts::read(&mut pkg, &dest)?;
        let (ct, rels) = plumbing(&mut pkg)?;
        let msip = ctx.level.msip_id.as_deref().and_then(normalise_guid);
        let site = normalise_guid(&ctx.policy.msip_site_id);
        // Parse the label parts before signing, so a bad part fails without a signature.
        let custom = parts.custom()?;
        let info = parts.info()?;
        let has_info = info.is_some();

        let mut declared = vec![&CUSTOM];
        if msip.is_some() || has_info {
            declared.push(&LABEL_INFO);
        }
        let bad = |e: String| pkg.bad(e);
        let new_ct = opc::ensure_overrides(&ct, &declared).map_err(bad)?;
        let new_rels = opc::ensure_relationships(&rels, &declared).map_err(bad)?;
        let mut replaced: Vec<(&str, &[u8])> = Vec::new();
        if let Some(b) = &new_ct {
            replaced.push((CONTENT_TYPES, b));
        }
        if let Some(b) = &new_rels {
            replaced.push((ROOT_RELS, b));
        }
        let digest = pkg.digest(&[CUSTOM.name, LABEL_INFO.name], &replaced)?;
        let signed = sign(digest);

        let policy = ctx.policy;
        let drop_prop = |name: &str| {
            name == LABEL_PROPERTY
                || msip_property(name).is_some_and(|(guid, _)| is_our_label(policy, &guid))
        };
        // Our tenant's properties go too, whatever label GUID they name.
        let our_site_guids: Vec<String> = custom
            .props
            .iter()
            .filter_map(|p| {
                let (guid, field) = msip_property(&p.name)?;
                (field == "SiteId" && is_our_site(policy, p.value.as_deref())).then_some(guid)
            })
            .collect();
        let encoded = base64::engine::general_purpose::STANDARD.encode(compact::encode(&signed));
        let method = if signed.label.method == Method::Manual {
            "Privileged"
        } else {
            "Standard"
        };
        let site_text = site
            .clone()
            .unwrap_or_else(|| ctx.policy.msip_site_id.clone());
        let mut add = Vec::new();
        if let Some(guid) = &msip {
            let p = |field: &str| format!("{MSIP_PREFIX}{guid}_{field}");
            add.push((p("Enabled"), "true".to_owned()));
            add.push((p("SetDate"), rfc3339(signed.label.set_at)));
            add.push((p("Method"), method.to_owned()));
            add.push((p("Name"), ctx.level.name_en.clone()));
            add.push((p("SiteId"), site_text.clone()));
            add.push((p("ActionId"), guid_of(signed.label.doc.to_bytes())));
            add.push((p("ContentBits"), "0".to_owned()));
        }
        add.push((LABEL_PROPERTY.to_owned(), encoded));
        let new_custom = custom.render(
            |name| {
                drop_prop(name)
                    || msip_property(name).is_some_and(|(g, _)| our_site_guids.contains(&g))
            },
            &add,
        );

        let mut out: Vec<(&str, Vec<u8>)> = vec![(CUSTOM.name, new_custom)];
        if msip.is_some() || has_info {
            let info = match info {
                Some(info) => info,
                None => LabelInfo::empty(),
            };
            let new = msip.as_deref().map(|id| NewLabel {
                id,
                method,
                site_id: &site_text,
            });
            let bytes = info.render(
                |e| is_our_label(policy, &e.id) || is_our_site(policy, e.site_id.as_deref()),
                new.as_ref(),
            );
            out.push((LABEL_INFO.name, bytes));
        }
        if let Some(b) = new_ct {
            out.push((CONTENT_TYPES, b));
        }
        if let Some(b) = new_rels {
            out.push((ROOT_RELS, b));
        }
        pkg.rewrite(&dest, mode_of(&meta), &out)?;
        Ok(signed)
    }

    fn remove(&self, path: &Path, _policy: &Policy) -> Result<bool, StoreError> {
        let dest = target(path)?;
        let meta = ensure_writable(&dest)?;
        let mut pkg = Package::open(&dest)?;
        let parts = Parts::read(&mut pkg, &dest)?;
        let custom = parts.custom()?;
        let info = parts.info()?;
        let drop_prop = |name: &str| name == LABEL_PROPERTY || name.starts_with(MSIP_PREFIX);
        let had_props = custom.props.iter().any(|p| drop_prop(&p.name));
        let had_labels = info.as_ref().is_some_and(|i| !i.labels.is_empty());
        if !had_props && !had_labels {
            return Ok(false);
        }
        let mut out: Vec<(&str, Vec<u8>)> = Vec::new();
        if had_props {
            out.push((CUSTOM.name, custom.render(drop_prop, &[])));
        }
        if let Some(info) = info.filter(|_| had_labels) {
            // An empty list keeps the part, its relationship and content type valid.
            out.push((LABEL_INFO.name, info.render(|_| true, None)));
        }
        pkg.rewrite(&dest, mode_of(&meta), &out)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msip_property_names() {
        assert_eq!(
            msip_property("MSIP_Label_2096F6A2-D2F7-48BE-B329-B73AAA526E5D_Enabled"),
            Some(("2096f6a2-d2f7-48be-b329-b73aaa526e5d".to_owned(), "Enabled"))
        );
        assert_eq!(msip_property("MSIP_Label_nonsense_Enabled"), None);
        assert_eq!(msip_property("Other"), None);
    }

    #[test]
    fn doc_ids_format_as_guids() {
        let mut b = [0u8; 16];
        b[0] = 0xab;
        b[15] = 0x01;
        assert_eq!(guid_of(b), "ab000000-0000-0000-0000-000000000001");
    }

    proptest::proptest! {
        /// Whatever XML-like text a package holds, parsing and rewriting the label parts
        /// never panics, and whatever we write back parses again.
        #[test]
        fn label_parts_never_panic(tokens in proptest::collection::vec(proptest::sample::select(vec![
            "<Properties>", "</Properties>", "<property name=\"a\" pid=\"2\">", "</property>",
            "<property pid=\"x\" name=\"fuda.label\">", "<property/>", "<vt:lpwstr>", "</vt:lpwstr>",
            "MSIP", "&amp;", "&bogus;", "<!--c-->", "<?pi x?>", "<![CDATA[<x>]]>", " ",
            "<clbl:labelList xmlns:clbl=\"u\">", "</clbl:labelList>", "<labelList>", "</labelList>",
            "<label id=\"{6f1c2b0e-0a35-4b8f-9d0e-3a1f9c000002}\" enabled=\"1\" removed=\"0\"/>",
            "<extLst>", "</extLst>", "<Types>", "</Types>", "<Override PartName=\"/docProps/custom.xml\"/>",
            "<Relationships>", "</Relationships>", "<Relationship Id=\"rId1\" Type=\"t\" Target=\"x\"/>",
            "<a b=\"1\" b=\"2\"/>", "<?xml version=\"1.0\"?>", "<!DOCTYPE x>", "\u{feff}",
        ]), 0..24)) {
            let text = tokens.concat();
            let policy = Policy::builtin("default").unwrap();
            if let Ok(props) = CustomProps::parse(text.as_bytes()) {
                let out = props.render(|n| n == LABEL_PROPERTY || n.starts_with(MSIP_PREFIX), &[("fuda.label".into(), "x<&".into())]);
                let again = CustomProps::parse(&out).expect("our output parses");
                let value = again.get("fuda.label").and_then(|p| p.value.clone());
                proptest::prop_assert_eq!(value.as_deref(), Some("x<&"));
            }
            if let Ok(info) = LabelInfo::parse(text.as_bytes()) {
                let new = NewLabel { id: "a", method: "Standard", site_id: "b" };
                let out = info.render(|e| is_our_label(&policy, &e.id), Some(&new));
                proptest::prop_assert!(LabelInfo::parse(&out).is_ok());
            }
            let parts = [&CUSTOM, &LABEL_INFO];
            if let Ok(Some(out)) = opc::ensure_overrides(text.as_bytes(), &parts) {
                proptest::prop_assert_eq!(opc::ensure_overrides(&out, &parts), Ok(None));
            }
            if let Ok(Some(out)) = opc::ensure_relationships(text.as_bytes(), &parts) {
                proptest::prop_assert_eq!(opc::ensure_relationships(&out, &parts), Ok(None));
            }
        }
    }

    #[test]
    fn set_dates_are_rfc3339_utc() {
        assert_eq!(rfc3339(1_795_600_800), "2026-11-25T10:00:00Z");
    }
}
