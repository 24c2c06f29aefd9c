//! The policy file as written: TOML deserialised with source spans, before validation.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub policy: Spanned<RawHeader>,
    #[serde(default)]
    pub levels: Vec<Spanned<RawLevel>>,
    #[serde(default)]
    pub assets: Vec<Spanned<RawAsset>>,
    #[serde(default)]
    pub rules: Vec<Spanned<RawRule>>,
    #[serde(default)]
    pub import: RawImport,
    #[serde(default)]
    pub recovery: RawRecovery,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHeader {
    pub id: Spanned<String>,
    pub version: Spanned<u32>,
    pub name: Option<String>,
    pub organisation: Option<String>,
    pub language: Option<Spanned<String>>,
    pub default_level: Option<Spanned<String>>,
    pub apply_default_level: Option<bool>,
    pub ledger_level: Option<Spanned<String>>,
    pub utc_offset: Option<Spanned<String>>,
    #[serde(default)]
    pub msip: RawMsip,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMsip {
    pub site_id: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNames {
    pub ja: Spanned<String>,
    pub en: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLevel {
    pub id: Spanned<String>,
    pub rank: Spanned<u8>,
    pub name: Spanned<RawNames>,
    #[serde(default)]
    pub aliases: Vec<Spanned<String>>,
    pub description: Option<String>,
    pub ipa_confidentiality: Spanned<u8>,
    pub ipa_integrity: Option<Spanned<u8>>,
    pub ipa_availability: Option<Spanned<u8>>,
    pub protect: Spanned<String>,
    #[serde(default)]
    pub grants: BTreeMap<String, Spanned<String>>,
    pub max_rights: Option<Spanned<String>>,
    pub offline_days: Option<u32>,
    pub expires_days: Option<u32>,
    #[serde(default)]
    pub allowed_locations: Vec<Spanned<String>>,
    pub marking: Option<String>,
    pub msip_id: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMatch {
    #[serde(default)]
    pub paths: Vec<Spanned<String>>,
    #[serde(default)]
    pub extensions: Vec<String>,
    #[serde(default)]
    pub levels: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAsset {
    pub id: Spanned<String>,
    pub name: Spanned<String>,
    pub category: Option<String>,
    pub department: Option<String>,
    pub users: Option<String>,
    pub retention: Option<String>,
    pub custodian: Option<String>,
    pub contact: Option<String>,
    pub medium: Option<String>,
    pub recipients: Option<String>,
    pub note: Option<String>,
    #[serde(default)]
    pub personal_data: bool,
    #[serde(default)]
    pub sensitive_personal_data: bool,
    #[serde(default)]
    pub specific_personal_data: bool,
    /// Optional: an asset without one is only assigned explicitly (`--asset`).
    #[serde(rename = "match")]
    pub matcher: Option<RawMatch>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pub id: Spanned<String>,
    pub level: Spanned<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub paths: Vec<Spanned<String>>,
    #[serde(default)]
    pub extensions: Vec<String>,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub detectors: Vec<Spanned<String>>,
    pub regex: Option<Spanned<String>>,
    pub min_count: Option<u32>,
    #[serde(default)]
    pub flags: Vec<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawImport {
    #[serde(default)]
    pub msip: Vec<Spanned<RawMsipImport>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMsipImport {
    pub guid: Spanned<String>,
    pub name: Option<String>,
    pub level: Spanned<String>,
    pub origin: Spanned<String>,
    #[serde(default)]
    pub flags: Vec<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRecovery {
    #[serde(default)]
    pub recipients: Vec<Spanned<String>>,
}
