//! Policies: an organisation's classification scheme, read from a TOML file.
//!
//! A policy names the levels (公開 / 社外秘 / 秘 / 極秘 …), the assets that form the rows of
//! the ledger, the auto-labeling rules, how foreign Microsoft Purview labels map to our
//! levels, and the break-glass recovery recipients. [`Policy::from_toml`] validates all of
//! it and reports every problem with its line, column and key.
//!
//! ```
//! let policy = fuda_core::policy::Policy::builtin("default").unwrap();
//! let level = policy.level_by_name("極秘").unwrap();
//! assert_eq!(level.id, "strictly-confidential");
//! assert_eq!(level.ipa_confidentiality, 2);
//! ```

mod raw;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use globset::GlobSet;
use serde::Serialize;

use crate::label::Flag;
use crate::rights::Rights;

/// The policies that ship with fuda, by name: `default` and `ipa-sme`.
pub const BUILTIN: [(&str, &str); 2] = [
    ("default", include_str!("../../../../policies/default.toml")),
    ("ipa-sme", include_str!("../../../../policies/ipa-sme.toml")),
];

/// The organisation's offset from UTC when the policy does not give one: +09:00, Japan
/// Standard Time (Asia/Tokyo keeps it all year: Japan has no daylight saving).
pub const DEFAULT_UTC_OFFSET: time::UtcOffset = time::macros::offset!(+9);

/// A validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Stable identifier, recorded in every label.
    pub id: String,
    /// Version, recorded in every label; raised when level meanings change.
    pub version: u32,
    /// Human-readable name.
    pub name: String,
    /// The organisation the policy belongs to, as printed at the top of every ledger page
    /// (`organisation = "…"` under `[policy]`).
    pub organisation: Option<String>,
    /// Language of messages: `en` or `ja`.
    pub language: Language,
    /// Level id given to files nobody classified (method `default`).
    pub default_level: Option<String>,
    /// Whether `fuda scan --apply` and `fuda watch` give [`Policy::default_level`] to the
    /// files no rule matches (`apply_default_level`, true unless the policy turns it off).
    pub apply_default_level: bool,
    /// The level of the ledgers `fuda inventory` writes (`ledger_level`); when unset, see
    /// [`Policy::ledger_level_for`].
    pub ledger_level: Option<String>,
    /// The organisation's offset from UTC, for the dates people read (the ledger):
    /// [`DEFAULT_UTC_OFFSET`] (Japan) unless the policy says otherwise.
    pub utc_offset: time::UtcOffset,
    /// Microsoft 365 tenant id written into MSIP properties.
    pub msip_site_id: String,
    /// Levels ordered by rank, lowest first.
    pub levels: Vec<Level>,
    /// Ledger row units.
    pub assets: Vec<Asset>,
    /// Auto-labeling rules.
    pub rules: Vec<Rule>,
    /// Foreign Purview labels and the levels they map to.
    pub msip_imports: Vec<MsipImport>,
    /// Break-glass age recipients (`age1…`).
    pub recovery_recipients: Vec<String>,
}

/// Language of fuda's messages under a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// English.
    En,
    /// Japanese.
    Ja,
}

/// Whether files of a level may, or must, be encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protect {
    /// Never encrypted (public information).
    Never,
    /// Encryption allowed.
    Optional,
    /// Encryption mandatory: the ledger flags unprotected files of this level.
    Required,
}

/// IPA 完全性 and 可用性 of a level whose policy does not rate them: 1, "an error or an
/// outage would be felt but not be serious".
pub const DEFAULT_IPA_RATING: u8 = 1;

/// One classification level.
#[derive(Debug, Clone, Serialize)]
pub struct Level {
    /// Stable ascii id stored in labels.
    pub id: String,
    /// Order: 0 is the lowest.
    pub rank: u8,
    /// Japanese name (公開, 社外秘, 秘, 極秘).
    pub name_ja: String,
    /// English name.
    pub name_en: String,
    /// Other names accepted on the command line.
    pub aliases: Vec<String>,
    /// What belongs in this level.
    pub description: String,
    /// IPA 機密性 value (0, 1 or 2).
    pub ipa_confidentiality: u8,
    /// IPA 完全性 value (0, 1 or 2) of the assets at this level; [`DEFAULT_IPA_RATING`]
    /// when the policy does not say.
    pub ipa_integrity: u8,
    /// IPA 可用性 value (0, 1 or 2) of the assets at this level; [`DEFAULT_IPA_RATING`]
    /// when the policy does not say.
    pub ipa_availability: u8,
    /// Encryption requirement.
    pub protect: Protect,
    /// Default grants when protected: principal → rights.
    pub grants: BTreeMap<String, Rights>,
    /// Most rights anyone outside the default grants may receive.
    pub max_rights: Rights,
    /// Days an opened file may be used offline (0 = always ask).
    pub offline_days: u32,
    /// Days until a protected file expires (0 = never).
    pub expires_days: u32,
    /// Globs of where files of this level may be stored.
    pub allowed_locations: Vec<String>,
    /// Marking text such as 【社外秘】.
    pub marking: Option<String>,
    /// Microsoft Purview label GUID (lower-case, no braces).
    pub msip_id: Option<String>,
    #[serde(skip)]
    allowed_set: GlobSet,
}

impl Level {
    /// Whether `path` is inside one of the level's allowed locations.
    pub fn allowed_at(&self, path: &Path) -> bool {
        self.allowed_locations.is_empty() || self.allowed_set.is_match(path)
    }

    /// The name to show in a given language.
    pub fn display_name(&self, language: Language) -> &str {
        match language {
            Language::Ja => &self.name_ja,
            Language::En => &self.name_en,
        }
    }

    /// Whether `name` names this level (id, Japanese or English name, alias).
    pub fn is_named(&self, name: &str) -> bool {
        let name = name.trim();
        let normalise = |s: &str| s.to_lowercase().replace([' ', '_'], "-");
        self.id == name
            || self.name_ja == name
            || normalise(&self.name_en) == normalise(name)
            || normalise(&self.id) == normalise(name)
            || self
                .aliases
                .iter()
                .any(|a| a == name || normalise(a) == normalise(name))
    }
}

/// A ledger row unit (情報資産).
#[derive(Debug, Clone, Serialize)]
pub struct Asset {
    /// Stable id stored in labels.
    pub id: String,
    /// 情報資産名称.
    pub name: String,
    /// 業務分類.
    pub category: Option<String>,
    /// 管理部署.
    pub department: Option<String>,
    /// 利用者範囲.
    pub users: Option<String>,
    /// 保存期限.
    pub retention: Option<String>,
    /// 管理者.
    pub custodian: Option<String>,
    /// 連絡先.
    pub contact: Option<String>,
    /// 媒体・保存先.
    pub medium: Option<String>,
    /// 開示先/受領元.
    pub recipients: Option<String>,
    /// 備考.
    pub note: Option<String>,
    /// 個人情報.
    pub personal_data: bool,
    /// 要配慮個人情報.
    pub sensitive_personal_data: bool,
    /// 特定個人情報.
    pub specific_personal_data: bool,
    /// Path globs that select files of this asset.
    pub paths: Vec<String>,
    /// Extensions (lower-case, no dot) that select files of this asset.
    pub extensions: Vec<String>,
    /// Level ids that select files of this asset (empty = any).
    pub levels: Vec<String>,
    #[serde(skip)]
    path_set: GlobSet,
}

impl Asset {
    /// Whether a file at `path` with a label of `level` belongs to this asset.
    pub fn matches(&self, path: &Path, level: Option<&str>) -> bool {
        if self.paths.is_empty() && self.extensions.is_empty() {
            return false;
        }
        let level_ok =
            self.levels.is_empty() || level.is_some_and(|l| self.levels.iter().any(|x| x == l));
        let path_ok = !self.paths.is_empty() && self.path_set.is_match(path);
        let ext_ok = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| self.extensions.iter().any(|x| x.eq_ignore_ascii_case(e)));
        level_ok && (path_ok || ext_ok)
    }
}

/// An auto-labeling rule (used by `fuda-scan`).
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    /// Stable id recorded in auto labels.
    pub id: String,
    /// Level the rule proposes.
    pub level: String,
    /// What the rule is for.
    pub description: Option<String>,
    /// Path globs.
    pub paths: Vec<String>,
    /// Extensions, lower-case without the dot.
    pub extensions: Vec<String>,
    /// Keywords in names or text.
    pub keywords: Vec<String>,
    /// Built-in detectors by name.
    pub detectors: Vec<String>,
    /// Custom regular expression on the text.
    pub regex: Option<String>,
    /// Hits needed for keywords/detectors/regex.
    pub min_count: u32,
    /// Flags the label receives when the rule matches.
    pub flags: Vec<Flag>,
}

/// The detectors rules may name.
pub const DETECTORS: [&str; 5] = [
    "my-number",
    "credit-card",
    "jp-phone",
    "jp-address",
    "email-list",
];

/// A foreign Purview label mapped to one of our levels.
#[derive(Debug, Clone, Serialize)]
pub struct MsipImport {
    /// Purview label GUID (lower-case, no braces).
    pub guid: String,
    /// Display name of the foreign label.
    pub name: Option<String>,
    /// Our level id.
    pub level: String,
    /// Who the label comes from, kept in the imported label.
    pub origin: String,
    /// Flags the imported label receives.
    pub flags: Vec<Flag>,
}

/// How a Purview label GUID maps onto this policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MsipMapping<'a> {
    /// One of our own levels' `msip_id`.
    Own(&'a Level),
    /// A foreign label listed under `[[import.msip]]`.
    Imported(&'a Level, &'a MsipImport),
}

impl PartialEq for Level {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for Level {}
impl PartialEq for MsipImport {
    fn eq(&self, other: &Self) -> bool {
        self.guid == other.guid
    }
}
impl Eq for MsipImport {}

/// One problem found in a policy file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Dotted key, e.g. `levels[2].rank`.
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// Errors loading a policy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read policy {path}: {source}")]
    Read {
        /// The policy file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file was read but is not a valid policy.
    #[error("{}", format_problems(.path, .problems))]
    Invalid {
        /// The policy file (or `<builtin:NAME>`).
        path: PathBuf,
        /// Every problem found.
        problems: Vec<Problem>,
    },
    /// No built-in policy of that name.
    #[error("no built-in policy named {0:?}: use default or ipa-sme, or give a file path")]
    UnknownBuiltin(String),
}

fn format_problems(path: &Path, problems: &[Problem]) -> String {
    let mut out = format!(
        "policy {} has {} problem{}:",
        path.display(),
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        out.push_str(&format!(
            "\n  {}:{}:{}: {}: {}",
            path.display(),
            p.line,
            p.column,
            p.key,
            p.message
        ));
    }
    out
}

impl Policy {
    /// Parses and validates policy text; `origin` names the file in error messages.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Policy, PolicyError> {
        validate::parse(text).map_err(|problems| PolicyError::Invalid {
            path: origin.to_owned(),
            problems,
        })
    }

    /// Reads and validates a policy file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Policy::from_toml(&text, path)
    }

    /// One of the policies shipped with fuda (`default`, `ipa-sme`).
    pub fn builtin(name: &str) -> Result<Policy, PolicyError> {
        let (_, text) = BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| PolicyError::UnknownBuiltin(name.to_owned()))?;
        Policy::from_toml(text, Path::new(&format!("<builtin:{name}>")))
    }

    /// The level with this id.
    pub fn level(&self, id: &str) -> Option<&Level> {
        self.levels.iter().find(|l| l.id == id)
    }

    /// The level a person means: id, Japanese or English name, or alias.
    pub fn level_by_name(&self, name: &str) -> Option<&Level> {
        self.level(name.trim())
            .or_else(|| self.levels.iter().find(|l| l.is_named(name)))
    }

    /// The asset with this id.
    pub fn asset(&self, id: &str) -> Option<&Asset> {
        self.assets.iter().find(|a| a.id == id)
    }

    /// The first asset a file belongs to.
    pub fn asset_for(&self, path: &Path, level: Option<&str>) -> Option<&Asset> {
        self.assets.iter().find(|a| a.matches(path, level))
    }

    /// How a Purview label GUID maps onto this policy, if at all.
    pub fn map_msip(&self, guid: &str) -> Option<MsipMapping<'_>> {
        let guid = normalise_guid(guid)?;
        if let Some(level) = self
            .levels
            .iter()
            .find(|l| l.msip_id.as_deref() == Some(guid.as_str()))
        {
            return Some(MsipMapping::Own(level));
        }
        let import = self.msip_imports.iter().find(|i| i.guid == guid)?;
        Some(MsipMapping::Imported(self.level(&import.level)?, import))
    }

    /// The level scans and watchers give files that no rule matches: the policy's
    /// `default_level`, unless it is unset or `apply_default_level = false`.
    pub fn unmatched_level(&self) -> Option<&Level> {
        self.default_level
            .as_deref()
            .filter(|_| self.apply_default_level)
            .and_then(|id| self.level(id))
    }

    /// The level of a ledger whose files reach at most `highest` (the highest level it
    /// lists): the policy's `ledger_level` when it names one, else the higher of
    /// `highest` and the lowest level whose IPA 機密性 is 2 (秘 in the default policy) — a
    /// list of where the confidential files are is itself confidential.
    pub fn ledger_level_for(&self, highest: Option<&Level>) -> Option<&Level> {
        if let Some(level) = self.ledger_level.as_deref().and_then(|id| self.level(id)) {
            return Some(level);
        }
        let floor = self
            .levels
            .iter()
            .filter(|l| l.ipa_confidentiality >= 2)
            .min_by_key(|l| l.rank)
            .or_else(|| self.levels.iter().max_by_key(|l| l.rank));
        match (floor, highest.and_then(|h| self.level(&h.id))) {
            (Some(f), Some(h)) if h.rank > f.rank => Some(h),
            (Some(f), _) => Some(f),
            (None, h) => h,
        }
    }

    /// The names of every level, for error messages.
    pub fn level_names(&self) -> String {
        self.levels
            .iter()
            .map(|l| format!("{} ({} / {})", l.id, l.name_ja, l.name_en))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} v{}", self.id, self.version)
    }
}

/// Lower-cases a GUID and strips braces; `None` if it is not a GUID.
pub fn normalise_guid(s: &str) -> Option<String> {
    let s = s
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .to_ascii_lowercase();
    let groups: Vec<&str> = s.split('-').collect();
    let shape_ok = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n)
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()));
    shape_ok.then_some(s)
}
