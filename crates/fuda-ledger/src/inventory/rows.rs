//! Ledger rows: one per *kind* of asset, not per file.
//!
//! A labeled file belongs to the asset its label names (when the policy still defines it),
//! else to the first policy asset whose `match` fits its path, extension and level. Files
//! that match no asset fall back to one row per (folder, level). Files without a usable
//! label (missing, tampered) are in no row: they are listed per file and as findings,
//! because their level is unknown.
//!
//! Row values follow the IPA ledger: 機密性, 完全性 and 可用性 are the highest IPA values of
//! the levels in the row (`ipa_confidentiality`, `ipa_integrity`, `ipa_availability` in
//! the policy; the last two are 1 where the policy does not rate them); 重要度 is the
//! maximum of the three, and 2 whenever personal data is present.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use fuda_core::label::Flag;
use fuda_core::policy::{Asset, Policy, DEFAULT_IPA_RATING};
use serde::{Deserialize, Serialize};

use super::FileEntry;

/// One row of the ledger (情報資産管理台帳).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetRow {
    /// 台帳ID: the asset id, or `LEVEL@FOLDER` for a fallback row.
    pub id: String,
    /// The policy asset id, for rows formed by an asset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    /// 業務分類.
    pub category: Option<String>,
    /// 情報資産名称.
    pub name: String,
    /// 備考.
    pub note: Option<String>,
    /// 利用者範囲.
    pub users: Option<String>,
    /// 管理部署.
    pub department: Option<String>,
    /// 媒体・保存先.
    pub medium: Option<String>,
    /// 個人情報.
    pub personal_data: bool,
    /// 要配慮個人情報.
    pub sensitive_personal_data: bool,
    /// 特定個人情報.
    pub specific_personal_data: bool,
    /// 機密性 (0–2).
    pub confidentiality: u8,
    /// 完全性 (0–2).
    pub integrity: u8,
    /// 可用性 (0–2).
    pub availability: u8,
    /// 重要度 (0–2).
    pub importance: u8,
    /// 保存期限.
    pub retention: Option<String>,
    /// 登録日: the earliest label date in the row, Unix seconds.
    pub registered: Option<i64>,
    /// 機密区分: the highest level id in the row.
    pub level: String,
    /// 管理者.
    pub custodian: Option<String>,
    /// 連絡先.
    pub contact: Option<String>,
    /// 開示先/受領元 (the asset's recipients and the origins of imported labels).
    pub recipients: Option<String>,
    /// 保管場所: the folders holding the files.
    pub locations: Vec<String>,
    /// How many of the files are protected (暗号化).
    pub encrypted: usize,
    /// ファイル数.
    pub files: usize,
    /// 最終更新日: the latest modification, Unix seconds.
    pub last_modified: i64,
    /// 最終棚卸日: this inventory, Unix seconds.
    pub inventoried_at: i64,
}

#[derive(Default)]
struct Acc {
    files: usize,
    encrypted: usize,
    rank: Option<u8>,
    level: String,
    confidentiality: u8,
    integrity: u8,
    availability: u8,
    personal: bool,
    sensitive: bool,
    specific: bool,
    registered: Option<i64>,
    last_modified: i64,
    owners: BTreeSet<String>,
    depts: BTreeSet<String>,
    origins: BTreeSet<String>,
    folders: BTreeSet<String>,
}

/// Which row a file with a trusted label belongs to: `(row id, asset)`.
pub fn row_of<'p>(policy: &'p Policy, file: &FileEntry) -> Option<(String, Option<&'p Asset>)> {
    if !file.counted_label() {
        return None;
    }
    let level = file.level.as_deref();
    let asset = file
        .asset
        .as_deref()
        .and_then(|a| policy.asset(a))
        .or_else(|| policy.asset_for(super::envelope::plaintext_name(&file.path), level));
    Some(match asset {
        Some(a) => (a.id.clone(), Some(a)),
        None => (
            format!("{}@{}", level.unwrap_or("?"), folder_of(&file.path)),
            None,
        ),
    })
}

/// The folder of a path, as people read it ([`super::display_path`]).
fn folder_of(path: &Path) -> Cow<'_, str> {
    path.parent().map_or(Cow::Borrowed(""), super::display_path)
}

/// Adds `value` to `set` unless it is there (without allocating when it is).
fn note(set: &mut BTreeSet<String>, value: Option<&str>) {
    if let Some(v) = value.filter(|v| !set.contains(*v)) {
        set.insert(v.to_owned());
    }
}

/// Sums files into their rows, one file at a time, in any order.
pub struct Grouper<'p> {
    policy: &'p Policy,
    /// The rows in order of appearance.
    accs: Vec<(Arc<str>, Option<&'p Asset>, Acc)>,
    index: HashMap<Arc<str>, usize>,
    /// The row of the previous file: files in path order mostly follow it.
    last: usize,
}

impl<'p> Grouper<'p> {
    /// No rows yet.
    pub fn new(policy: &'p Policy) -> Grouper<'p> {
        Grouper {
            policy,
            accs: Vec::new(),
            index: HashMap::new(),
            last: usize::MAX,
        }
    }

    /// Counts `file` in the row [`row_of`] found for it (`id`, `asset`).
    pub fn add(&mut self, file: &FileEntry, id: &str, asset: Option<&'p Asset>) {
        if self
            .accs
            .get(self.last)
            .is_none_or(|(last_id, _, _)| **last_id != *id)
        {
            self.last = match self.index.get(id) {
                Some(&i) => i,
                None => {
                    let id: Arc<str> = Arc::from(id);
                    self.index.insert(Arc::clone(&id), self.accs.len());
                    self.accs.push((id, asset, Acc::default()));
                    self.accs.len() - 1
                }
            };
        }
        let policy = self.policy;
        let (_, _, acc) = &mut self.accs[self.last];
        acc.files += 1;
        acc.encrypted += usize::from(file.protected);
        if let Some(level) = file.level.as_deref().and_then(|l| policy.level(l)) {
            if acc.rank.is_none_or(|r| level.rank > r) {
                acc.rank = Some(level.rank);
                acc.level = level.id.clone();
            }
            acc.confidentiality = acc.confidentiality.max(level.ipa_confidentiality);
            acc.integrity = acc.integrity.max(level.ipa_integrity);
            acc.availability = acc.availability.max(level.ipa_availability);
        } else if acc.rank.is_none() {
            // A level this policy does not know (reported as a finding): assume the worst.
            acc.level = file.level.clone().unwrap_or_default();
            acc.confidentiality = 2;
            acc.integrity = acc.integrity.max(DEFAULT_IPA_RATING);
            acc.availability = acc.availability.max(DEFAULT_IPA_RATING);
        }
        let has = |f: Flag| file.flags.contains(&f);
        acc.specific |= has(Flag::SpecificPersonalData);
        acc.sensitive |= has(Flag::SensitivePersonalData);
        acc.personal |= has(Flag::PersonalData) || acc.specific || acc.sensitive;
        if let Some(t) = file.set_at {
            acc.registered = Some(acc.registered.map_or(t, |r: i64| r.min(t)));
        }
        acc.last_modified = acc.last_modified.max(file.modified);
        note(&mut acc.owners, file.custodian());
        note(&mut acc.depts, file.department());
        note(&mut acc.origins, file.origin.as_deref());
        note(&mut acc.folders, Some(&folder_of(&file.path)));
    }

    /// The rows: policy assets first, in policy order; then fallback rows by folder and
    /// level.
    pub fn finish(self, now: i64) -> Vec<AssetRow> {
        let policy = self.policy;
        let mut rows: Vec<AssetRow> = self
            .accs
            .into_iter()
            .map(|(id, asset, acc)| row(id.to_string(), asset, acc, now))
            .collect();
        let order = |r: &AssetRow| {
            r.asset
                .as_deref()
                .and_then(|a| policy.assets.iter().position(|x| x.id == a))
                .unwrap_or(usize::MAX)
        };
        rows.sort_by(|a, b| (order(a), &a.id).cmp(&(order(b), &b.id)));
        rows
    }
}

fn join(set: &BTreeSet<String>) -> Option<String> {
    (!set.is_empty()).then(|| set.iter().cloned().collect::<Vec<_>>().join(", "))
}

fn row(id: String, asset: Option<&Asset>, acc: Acc, now: i64) -> AssetRow {
    let personal = acc.personal || asset.is_some_and(|a| a.personal_data);
    let sensitive = acc.sensitive || asset.is_some_and(|a| a.sensitive_personal_data);
    let specific = acc.specific || asset.is_some_and(|a| a.specific_personal_data);
    let any_personal = personal || sensitive || specific;
    let importance = if any_personal {
        2
    } else {
        acc.confidentiality.max(acc.integrity).max(acc.availability)
    };
    let recipients = {
        let mut parts: Vec<String> = asset
            .and_then(|a| a.recipients.clone())
            .into_iter()
            .collect();
        parts.extend(acc.origins.iter().cloned());
        (!parts.is_empty()).then(|| parts.join(", "))
    };
    let folder_name = acc.folders.iter().next().cloned().unwrap_or_default();
    AssetRow {
        asset: asset.map(|a| a.id.clone()),
        category: asset.and_then(|a| a.category.clone()),
        name: asset.map_or_else(
            || {
                Path::new(&folder_name)
                    .file_name()
                    .map_or_else(|| folder_name.clone(), |n| n.to_string_lossy().into_owned())
            },
            |a| a.name.clone(),
        ),
        note: asset.and_then(|a| a.note.clone()).or_else(|| {
            asset
                .is_none()
                .then(|| "no asset in the policy matches: one row per folder and level".into())
        }),
        users: asset.and_then(|a| a.users.clone()),
        department: asset
            .and_then(|a| a.department.clone())
            .or_else(|| join(&acc.depts)),
        medium: asset.and_then(|a| a.medium.clone()),
        personal_data: any_personal,
        sensitive_personal_data: sensitive,
        specific_personal_data: specific,
        confidentiality: acc.confidentiality,
        integrity: acc.integrity,
        availability: acc.availability,
        importance,
        retention: asset.and_then(|a| a.retention.clone()),
        registered: acc.registered,
        level: acc.level,
        custodian: asset
            .and_then(|a| a.custodian.clone())
            .or_else(|| join(&acc.owners)),
        contact: asset.and_then(|a| a.contact.clone()),
        recipients,
        locations: acc.folders.into_iter().collect(),
        encrypted: acc.encrypted,
        files: acc.files,
        last_modified: acc.last_modified,
        inventoried_at: now,
        id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fuda_core::label::Status;

    fn labeled(path: &str, level: &str) -> FileEntry {
        FileEntry {
            path: path.into(),
            root: "/s".into(),
            size: 1,
            status: Status::Valid,
            level: Some(level.into()),
            ..FileEntry::default()
        }
    }

    #[test]
    fn integrity_and_availability_come_from_the_levels_of_the_row() {
        let text = fuda_core::policy::BUILTIN[0]
            .1
            .replacen("ipa_availability = 1", "ipa_availability = 2", 1)
            .replacen("ipa_integrity = 1", "ipa_integrity = 0", 1);
        let policy = Policy::from_toml(&text, Path::new("p.toml")).unwrap();
        let files = [
            labeled("/s/catalogue/a.pdf", "public"),
            labeled("/s/design/b.dwg", "confidential"),
        ];
        let mut grouper = Grouper::new(&policy);
        for file in &files {
            let (id, asset) = row_of(&policy, file).unwrap();
            grouper.add(file, &id, asset);
        }
        let rows = grouper.finish(0);
        let rated = |folder: &str| {
            let r = rows.iter().find(|r| r.locations == [folder]).unwrap();
            (r.confidentiality, r.integrity, r.availability, r.importance)
        };
        // 公開 rated 完全性 0, 可用性 2 here: 重要度 follows the highest value.
        assert_eq!(rated("/s/catalogue"), (0, 0, 2, 2));
        assert_eq!(rated("/s/design"), (2, 2, 1, 2));
    }

    #[test]
    fn the_custodian_of_a_rule_labeled_file_is_its_owner_never_the_hook_account() {
        let policy = Policy::builtin("default").unwrap();
        let by_rule = |path: &str, file_owner: &str| FileEntry {
            owner: Some("fuda-hook".into()),
            dept: Some("情報システム".into()),
            file_owner: Some(file_owner.into()),
            method: Some(fuda_core::label::Method::Auto),
            ..labeled(path, "confidential")
        };
        let by_hand = FileEntry {
            owner: Some("suzuki".into()),
            dept: Some("設計部".into()),
            method: Some(fuda_core::label::Method::Manual),
            ..labeled("/s/memo/c.txt", "confidential")
        };
        let files = [
            by_rule("/s/memo/a.txt", "tanaka"),
            by_rule("/s/memo/b.txt", "sato"),
            by_hand,
        ];
        let mut grouper = Grouper::new(&policy);
        for file in &files {
            let (id, asset) = row_of(&policy, file).unwrap();
            grouper.add(file, &id, asset);
        }
        let rows = grouper.finish(0);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].custodian.as_deref(), Some("sato, suzuki, tanaka"));
        // Only the person who labeled by hand names a department.
        assert_eq!(rows[0].department.as_deref(), Some("設計部"));
    }
}
