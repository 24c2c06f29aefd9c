//! Findings (指摘事項): what a person must look at.
//!
//! | kind | when |
//! | --- | --- |
//! | `tampered` | the label does not match its signature, or is corrupt |
//! | `replayed` | the file carries an older label of its document than the previous inventory saw on it: an old signed label was written back (a silent relabel, often a downgrade) |
//! | `label-disappeared` | a file labeled in the previous inventory, or known to the label memory of `fuda watch`, has no label now |
//! | `personal-data-under-low-level` | personal data (flag or asset) under a level whose IPA 機密性 is below 2 |
//! | `unlabeled` | no label where the policy expects one: the file matches an asset or a path/extension rule, or lies in a restricted folder (an `allowed_locations` entry of a level with IPA 機密性 2 that is not `**`) |
//! | `outside-allowed-location` | the file's level does not allow the folder it is in |
//! | `unprotected` | the level requires encryption and the file is not a protected `.fuda` file |
//! | `plaintext-working-copy` | the plaintext of a protected document (`fuda open --out`, `export`, `recover`) at a level that requires encryption: who wrote it out, and when |
//! | `unknown-level` | the label names a level this policy does not define |
//! | `stale` | the content changed since labeling: the level needs a re-review |
//! | `unverified` | signed by a key the trust store does not know (or a Purview label) |
//! | `unreadable` | a file or folder could not be read |
//! | `path-too-long-for-windows` | `X:\` plus the path below the root exceeds 259 characters |
//! | `label-restored` | `fuda watch` put a label back after a save or tool replaced the file (when, why) |
//!
//! Revoked documents still on disk (`revoked-still-present`) need the key service's
//! registry (`--from-service`): see [`super::registry`]. The company ledger adds
//! `copies-on-several-machines` and `machine-not-reporting` ([`crate::company`]).

use std::path::{Path, PathBuf};

use fuda_core::label::{Flag, Status};
use fuda_core::policy::{Asset, Level, Policy};
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use super::FileEntry;

/// How urgent a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Possible leak or attack: look today.
    High,
    /// Breaks the policy: fix before the next review.
    Medium,
    /// Housekeeping.
    Low,
}

/// The kinds of finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FindingKind {
    /// The label's signature does not match, or the label is corrupt.
    Tampered,
    /// The file was labeled in the previous inventory and is not now.
    LabelDisappeared,
    /// The file carries an older label of its document than the one seen on it before.
    Replayed,
    /// A protected document that the key service revoked is still on disk.
    RevokedStillPresent,
    /// Personal data under a level too low for it.
    PersonalDataUnderLowLevel,
    /// No label where the policy expects one.
    Unlabeled,
    /// The level does not allow the folder the file is in.
    OutsideAllowedLocation,
    /// The level requires encryption and the file is not protected.
    Unprotected,
    /// The plaintext of a protected document, written out of it, at a level that requires
    /// encryption.
    PlaintextWorkingCopy,
    /// The label names a level the policy does not define.
    UnknownLevel,
    /// The content changed since labeling.
    Stale,
    /// The signer is not trusted.
    Unverified,
    /// The file or folder could not be read.
    Unreadable,
    /// The path is too long for Windows clients of the share.
    PathTooLongForWindows,
    /// `fuda watch` restored a label that a save or a tool had stripped.
    LabelRestored,
    /// Copies of one confidential document (same document id or content) on several
    /// machines (the company ledger).
    CopiesOnSeveralMachines,
    /// A machine has not reported for longer than its interval: the company ledger is
    /// incomplete for it.
    MachineNotReporting,
}

impl FindingKind {
    /// The kind's name in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Tampered => "tampered",
            FindingKind::LabelDisappeared => "label-disappeared",
            FindingKind::Replayed => "replayed",
            FindingKind::RevokedStillPresent => "revoked-still-present",
            FindingKind::PersonalDataUnderLowLevel => "personal-data-under-low-level",
            FindingKind::Unlabeled => "unlabeled",
            FindingKind::OutsideAllowedLocation => "outside-allowed-location",
            FindingKind::Unprotected => "unprotected",
            FindingKind::PlaintextWorkingCopy => "plaintext-working-copy",
            FindingKind::UnknownLevel => "unknown-level",
            FindingKind::Stale => "stale",
            FindingKind::Unverified => "unverified",
            FindingKind::Unreadable => "unreadable",
            FindingKind::PathTooLongForWindows => "path-too-long-for-windows",
            FindingKind::LabelRestored => "label-restored",
            FindingKind::CopiesOnSeveralMachines => "copies-on-several-machines",
            FindingKind::MachineNotReporting => "machine-not-reporting",
        }
    }

    /// The kind's name in the ledger.
    pub fn title(self, ja: bool) -> &'static str {
        let (j, e) = match self {
            FindingKind::Tampered => ("ラベル改ざん", "Tampered label"),
            FindingKind::LabelDisappeared => ("ラベル消失", "Label disappeared"),
            FindingKind::Replayed => ("旧ラベルの再使用", "Replayed label"),
            FindingKind::RevokedStillPresent => {
                ("失効済み文書の残存", "Revoked document still present")
            }
            FindingKind::PersonalDataUnderLowLevel => {
                ("個人情報の区分不足", "Personal data under a low level")
            }
            FindingKind::Unlabeled => ("ラベルなし", "Unlabeled"),
            FindingKind::OutsideAllowedLocation => ("保管場所違反", "Outside allowed location"),
            FindingKind::Unprotected => ("未暗号化", "Not protected"),
            FindingKind::PlaintextWorkingCopy => (
                "保護文書の平文コピー",
                "Plaintext copy of a protected document",
            ),
            FindingKind::UnknownLevel => ("未定義の区分", "Unknown level"),
            FindingKind::Stale => ("内容変更後未確認", "Stale label"),
            FindingKind::Unverified => ("署名者不明", "Unverified signer"),
            FindingKind::Unreadable => ("読み取り不可", "Unreadable"),
            FindingKind::PathTooLongForWindows => {
                ("パス長超過 (Windows)", "Path too long for Windows")
            }
            FindingKind::LabelRestored => ("ラベル復元", "Label restored"),
            FindingKind::CopiesOnSeveralMachines => {
                ("複数マシンに同一文書", "Copies on several machines")
            }
            FindingKind::MachineNotReporting => ("報告停止", "Machine not reporting"),
        };
        if ja {
            j
        } else {
            e
        }
    }

    /// How urgent findings of this kind are.
    pub fn severity(self) -> Severity {
        match self {
            FindingKind::Tampered
            | FindingKind::LabelDisappeared
            | FindingKind::Replayed
            | FindingKind::RevokedStillPresent
            | FindingKind::PersonalDataUnderLowLevel
            | FindingKind::PlaintextWorkingCopy
            | FindingKind::CopiesOnSeveralMachines
            | FindingKind::MachineNotReporting => Severity::High,
            FindingKind::Unlabeled
            | FindingKind::OutsideAllowedLocation
            | FindingKind::Unprotected
            | FindingKind::UnknownLevel => Severity::Medium,
            FindingKind::Stale
            | FindingKind::Unverified
            | FindingKind::Unreadable
            | FindingKind::PathTooLongForWindows
            | FindingKind::LabelRestored => Severity::Low,
        }
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// What kind.
    pub kind: FindingKind,
    /// How urgent.
    pub severity: Severity,
    /// The file or folder, with its exact bytes.
    #[serde(with = "fuda_core::pathname")]
    pub path: PathBuf,
    /// The file's level, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// What was found and what to do, in English.
    pub detail: String,
    /// The same in Japanese.
    pub detail_ja: String,
}

impl Finding {
    /// A finding with its severity taken from the kind.
    pub fn new(
        kind: FindingKind,
        path: impl Into<PathBuf>,
        level: Option<String>,
        detail: impl Into<String>,
        detail_ja: impl Into<String>,
    ) -> Finding {
        Finding {
            kind,
            severity: kind.severity(),
            path: path.into(),
            level,
            detail: detail.into(),
            detail_ja: detail_ja.into(),
        }
    }
}

/// The names of level `id` for finding texts, `(English, Japanese)`: the policy's names,
/// or the id itself for a level the policy does not define.
pub fn level_names(policy: &Policy, id: &str) -> (String, String) {
    policy.level(id).map_or_else(
        || (id.to_owned(), id.to_owned()),
        |l| (l.name_en.clone(), l.name_ja.clone()),
    )
}

/// How urgent a finding of `kind` about a file of `level` is. Breaking the rules of a
/// level with IPA 機密性 2 (秘, 極秘) — a copy outside the places the level allows, or
/// unencrypted where the policy requires encryption — is a possible leak: high, like a
/// tampered label. For lower levels the kind decides ([`FindingKind::severity`]).
pub fn severity(kind: FindingKind, level: Option<&Level>) -> Severity {
    let secret = level.is_some_and(|l| l.ipa_confidentiality >= 2);
    match kind {
        FindingKind::OutsideAllowedLocation | FindingKind::Unprotected if secret => Severity::High,
        _ => kind.severity(),
    }
}

/// Where the policy expects every file to carry a label.
pub struct Expectations<'p> {
    policy: &'p Policy,
    restricted: GlobSet,
    rule_paths: GlobSet,
    rule_extensions: Vec<String>,
}

fn globset<'a>(globs: impl IntoIterator<Item = &'a String>) -> GlobSet {
    let mut builder = GlobSetBuilder::new();
    for g in globs {
        // The policy validated these globs already.
        if let Ok(glob) = Glob::new(g) {
            builder.add(glob);
        }
    }
    builder.build().unwrap_or_else(|_| GlobSet::empty())
}

impl<'p> Expectations<'p> {
    /// Derives the expectations from a policy.
    pub fn new(policy: &'p Policy) -> Expectations<'p> {
        let catch_all = |g: &String| matches!(g.as_str(), "**" | "**/*" | "*" | "/**");
        Expectations {
            policy,
            restricted: globset(
                policy
                    .levels
                    .iter()
                    .filter(|l| l.ipa_confidentiality >= 2)
                    .flat_map(|l| l.allowed_locations.iter())
                    .filter(|g| !catch_all(g)),
            ),
            rule_paths: globset(policy.rules.iter().flat_map(|r| r.paths.iter())),
            rule_extensions: policy
                .rules
                .iter()
                .flat_map(|r| r.extensions.iter().map(|e| e.to_ascii_lowercase()))
                .collect(),
        }
    }

    /// Why a file at `path` should have a label, if it should: `(English, Japanese)`.
    pub fn reason(&self, path: &Path) -> Option<(String, String)> {
        if let Some(asset) = self.policy.asset_for(path, None) {
            return Some((
                format!("asset {} ({})", asset.id, asset.name),
                format!("情報資産「{}」", asset.name),
            ));
        }
        if self.restricted.is_match(path) {
            return Some(("restricted folder".into(), "機密区分の保管場所".into()));
        }
        if self.rule_paths.is_match(path) {
            return Some((
                "an auto-labeling rule's folder".into(),
                "自動ラベル規則の対象フォルダ".into(),
            ));
        }
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if ext.is_some_and(|e| self.rule_extensions.contains(&e)) {
            return Some((
                "an auto-labeling rule's file type".into(),
                "自動ラベル規則の対象ファイル形式".into(),
            ));
        }
        None
    }
}

/// Longest path a Windows client handles without long-path support (MAX_PATH less NUL).
pub const WINDOWS_MAX_PATH: usize = 259;

/// Length of the path as a Windows client of the share sees it: `X:\` + path below the root.
fn windows_length(file: &FileEntry) -> usize {
    let below = file
        .path
        .strip_prefix(&*file.root)
        .unwrap_or(&file.path)
        .to_string_lossy();
    3 + below.trim_start_matches('/').encode_utf16().count()
}

/// The findings for folders and files the walk could not read.
pub fn unreadable(unreadable: &[super::walk::Unreadable]) -> Vec<Finding> {
    unreadable
        .iter()
        .map(|(path, reason)| {
            Finding::new(
                FindingKind::Unreadable,
                path.clone(),
                None,
                format!("cannot be read ({reason}); the inventory is incomplete here"),
                format!("読み取れません ({reason})。この場所の棚卸は不完全です"),
            )
        })
        .collect()
}

/// Checks one file against the policy; `asset` is the policy asset of its row
/// ([`super::rows::row_of`]).
pub fn check_file(
    expect: &Expectations<'_>,
    file: &FileEntry,
    asset: Option<&Asset>,
    out: &mut Vec<Finding>,
) {
    let policy = expect.policy;
    let path = file.path.as_path();
    let first = out.len();
    let mut push = |kind, detail: String, detail_ja: String| {
        out.push(Finding::new(
            kind,
            file.path.clone(),
            file.level.clone(),
            detail,
            detail_ja,
        ));
    };
    if windows_length(file) > WINDOWS_MAX_PATH {
        push(
            FindingKind::PathTooLongForWindows,
            format!(
                "{} characters below the share: Windows clients without long-path support cannot open it; shorten folder or file names",
                windows_length(file) - 3
            ),
            format!(
                "共有以下のパスが{}文字あり、Windowsクライアントで開けない場合があります。フォルダ名・ファイル名を短くしてください",
                windows_length(file) - 3
            ),
        );
    }
    match file.status {
        Status::Missing => {
            if let Some(problem) = &file.problem {
                push(
                    FindingKind::Unreadable,
                    format!("cannot be read: {problem}"),
                    format!("読み取れません: {problem}"),
                );
            } else if let Some((why, why_ja)) =
                expect.reason(super::envelope::plaintext_name(path))
            {
                push(
                    FindingKind::Unlabeled,
                    format!("no label, but the policy expects one ({why}); label it with `fuda label set`"),
                    format!("ラベルがありません ({why_ja})。`fuda label set` で区分を付けてください"),
                );
            }
            return;
        }
        Status::Tampered => {
            let why = file.problem.as_deref().unwrap_or("the signature does not match the label");
            push(
                FindingKind::Tampered,
                format!("the label was altered or is corrupt ({why}); its level cannot be trusted: investigate, then re-label with --justify"),
                format!("ラベルが改ざんまたは破損しています ({why})。区分は信頼できません。調査のうえ --justify 付きで再設定してください"),
            );
            return;
        }
        Status::Replayed => {
            push(
                FindingKind::Replayed,
                "an older label of this document was written back over a newer one; its level cannot be trusted: investigate, then re-label with --justify".into(),
                "新しいラベルの上に同じ文書の古いラベルが書き戻されています。区分は信頼できません。調査のうえ --justify 付きで再設定してください".into(),
            );
            return;
        }
        Status::Stale => push(
            FindingKind::Stale,
            "the content changed since it was labeled: review the level and run `fuda label set` again".into(),
            "ラベル設定後に内容が変更されています。区分を見直し `fuda label set` で再設定してください".into(),
        ),
        Status::Unverified => push(
            FindingKind::Unverified,
            format!(
                "signed by a key the trust store does not know{}: `fuda trust add` the signer if you know them",
                file.owner.as_deref().map(|o| format!(" (owner {o})")).unwrap_or_default()
            ),
            "信頼されていない鍵による署名です。署名者を確認し `fuda trust add` してください".into(),
        ),
        Status::Valid => {}
    }
    let Some(level_id) = file.level.as_deref() else {
        return;
    };
    let Some(level) = policy.level(level_id) else {
        push(
            FindingKind::UnknownLevel,
            format!("level {level_id:?} is not defined by policy {policy}: re-label the file"),
            format!("区分 {level_id:?} はポリシー {policy} にありません。再設定してください"),
        );
        return;
    };
    if !level.allowed_at(path) {
        push(
            FindingKind::OutsideAllowedLocation,
            format!(
                "{} files may only be stored in {}: move the file there",
                level.name_en,
                level.allowed_locations.join(", ")
            ),
            format!(
                "{}の文書の保管場所は {} に限られます。移動してください",
                level.name_ja,
                level.allowed_locations.join(", ")
            ),
        );
    }
    let personal = file.flags.iter().any(|f| {
        matches!(
            f,
            Flag::PersonalData | Flag::SensitivePersonalData | Flag::SpecificPersonalData
        )
    }) || asset
        .is_some_and(|a| a.personal_data || a.sensitive_personal_data || a.specific_personal_data);
    if personal && level.ipa_confidentiality < 2 {
        push(
            FindingKind::PersonalDataUnderLowLevel,
            format!(
                "personal data labeled {} (IPA confidentiality {}): raise it to a level with confidentiality 2",
                level.name_en, level.ipa_confidentiality
            ),
            format!(
                "個人情報が{} (機密性{}) に区分されています。機密性2の区分に引き上げてください",
                level.name_ja, level.ipa_confidentiality
            ),
        );
    }
    let required = level.protect == fuda_core::policy::Protect::Required && !file.protected;
    if required && file.method.is_some_and(|m| m.is_working_copy()) {
        let who = file.set_by.as_deref().unwrap_or("?");
        let when = file
            .set_at
            .map(|t| crate::calendar::minute(t, policy.utc_offset))
            .unwrap_or_else(|| "?".into());
        let how = file.method.map(|m| m.as_str()).unwrap_or_default();
        push(
            FindingKind::PlaintextWorkingCopy,
            format!(
                "plaintext of a protected {} document, {how} by {who} at {when}: save it back (`fuda save`) or delete it",
                level.name_en
            ),
            format!(
                "保護された{}文書の平文コピーです ({who} が {when} に {how})。`fuda save` で書き戻すか削除してください",
                level.name_ja
            ),
        );
    } else if required {
        push(
            FindingKind::Unprotected,
            format!(
                "{} files must be encrypted: run `fuda protect`",
                level.name_en
            ),
            format!(
                "{}の文書は暗号化が必須です。`fuda protect` で保護してください",
                level.name_ja
            ),
        );
    }
    for finding in &mut out[first..] {
        finding.severity = severity(finding.kind, Some(level));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fuda_core::label::Status;

    fn labeled(path: &str, level: &str) -> FileEntry {
        FileEntry {
            path: path.into(),
            root: "/srv".into(),
            status: Status::Valid,
            level: Some(level.into()),
            ..FileEntry::default()
        }
    }

    fn severities(policy: &Policy, file: &FileEntry) -> Vec<(FindingKind, Severity)> {
        let mut out = Vec::new();
        check_file(&Expectations::new(policy), file, None, &mut out);
        out.iter().map(|f| (f.kind, f.severity)).collect()
    }

    #[test]
    fn an_unprotected_or_misplaced_secret_is_high_and_a_lesser_level_medium() {
        let text = fuda_core::policy::BUILTIN[0]
            .1
            .replace("protect = \"optional\"", "protect = \"required\"");
        let policy = Policy::from_toml(&text, Path::new("p.toml")).unwrap();
        let secret = policy.level("strictly-confidential").unwrap();
        assert_eq!(secret.protect, fuda_core::policy::Protect::Required);
        let internal = policy.level("internal").unwrap();
        assert_eq!(internal.protect, fuda_core::policy::Protect::Required);
        assert_eq!(
            severities(
                &policy,
                &labeled("/srv/営業/図面.dwg", "strictly-confidential")
            ),
            [
                (FindingKind::OutsideAllowedLocation, Severity::High),
                (FindingKind::Unprotected, Severity::High)
            ]
        );
        assert_eq!(
            severities(&policy, &labeled("/srv/営業/メモ.txt", "internal")),
            [(FindingKind::Unprotected, Severity::Medium)]
        );
    }
}
