//! Turns a [`RawPolicy`] into a [`Policy`], collecting every problem with its position.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

use globset::{Glob, GlobSet, GlobSetBuilder};
use toml::Spanned;

use super::raw::{RawAsset, RawLevel, RawMsipImport, RawPolicy, RawRule};
use super::{
    normalise_guid, Asset, Language, Level, MsipImport, Policy, Problem, Protect, Rule, DETECTORS,
};
use crate::label::Flag;
use crate::rights::Rights;

/// Collects problems while validating, turning byte spans into lines and columns.
struct Checker<'t> {
    text: &'t str,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn report(&mut self, span: Range<usize>, key: impl Into<String>, message: impl Into<String>) {
        let (line, column) = line_column(self.text, span.start);
        self.problems.push(Problem {
            line,
            column,
            key: key.into(),
            message: message.into(),
        });
    }

    fn rights(&mut self, value: &Spanned<String>, key: String) -> Rights {
        match value.get_ref().parse::<Rights>() {
            Ok(r) => r,
            Err(e) => {
                self.report(value.span(), key, e.to_string());
                Rights::NONE
            }
        }
    }

    /// Checks that an id is a well-formed ascii id not used before in its section.
    fn unique_id(
        &mut self,
        id: &Spanned<String>,
        seen: &mut HashSet<String>,
        key: String,
        what: &str,
    ) {
        if !is_ascii_id(id.get_ref()) {
            self.report(
                id.span(),
                key,
                "must be lower-case ascii letters, digits, '-' or '_'",
            );
        } else if !seen.insert(id.get_ref().clone()) {
            self.report(
                id.span(),
                key,
                format!("duplicate {what} id {:?}", id.get_ref()),
            );
        }
    }

    fn globs(&mut self, globs: &[Spanned<String>], key: &str) -> GlobSet {
        let mut builder = GlobSetBuilder::new();
        for (i, g) in globs.iter().enumerate() {
            match Glob::new(g.get_ref()) {
                Ok(glob) => {
                    builder.add(glob);
                }
                Err(e) => self.report(
                    g.span(),
                    format!("{key}[{i}]"),
                    format!("not a valid glob: {e}"),
                ),
            }
        }
        builder.build().unwrap_or_else(|_| GlobSet::empty())
    }

    fn flags(&mut self, flags: &[Spanned<String>], key: &str) -> Vec<Flag> {
        let mut out = Vec::new();
        for (i, f) in flags.iter().enumerate() {
            match f.get_ref().parse::<Flag>() {
                Ok(flag) => out.push(flag),
                Err(e) => self.report(f.span(), format!("{key}[{i}]"), e.to_string()),
            }
        }
        out
    }

    fn level_ref(&mut self, level: &Spanned<String>, known: &HashSet<String>, key: String) {
        if !known.contains(level.get_ref()) {
            let mut names: Vec<&String> = known.iter().collect();
            names.sort();
            self.report(
                level.span(),
                key,
                format!(
                    "unknown level {:?}: use one of the level ids {:?}",
                    level.get_ref(),
                    names
                ),
            );
        }
    }
}

/// 1-based line and column of a byte offset.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary_compat(offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

trait FloorCharBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}

impl FloorCharBoundary for str {
    fn floor_char_boundary_compat(&self, mut i: usize) -> usize {
        while i > 0 && !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

fn is_ascii_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

pub(super) fn parse(text: &str) -> Result<Policy, Vec<Problem>> {
    // Unknown keys are reported all at once: each is set aside (its line commented out)
    // and the file read again, so a typo does not hide the problems after it.
    let mut unknown = Vec::new();
    let mut current = std::borrow::Cow::Borrowed(text);
    let raw: RawPolicy = loop {
        match toml::from_str(&current) {
            Ok(raw) => break raw,
            Err(e) => {
                let problem = syntax_problem(text, &e);
                let set_aside = e
                    .message()
                    .starts_with("unknown field")
                    .then(|| set_aside(&current, e.span()?.start))
                    .flatten();
                unknown.push(problem);
                match set_aside {
                    Some(next) => current = std::borrow::Cow::Owned(next),
                    None => return Err(unknown),
                }
            }
        }
    };
    let mut c = Checker {
        text,
        problems: unknown,
    };
    let policy = build(&mut c, raw);
    if c.problems.is_empty() {
        Ok(policy)
    } else {
        c.problems.sort_by_key(|p| (p.line, p.column));
        Err(c.problems)
    }
}

/// The problem a TOML or schema error describes, placed in the original `text` (setting
/// keys aside keeps every byte offset).
fn syntax_problem(text: &str, e: &toml::de::Error) -> Problem {
    let span = e.span().unwrap_or(0..0);
    let (line, column) = line_column(text, span.start);
    let key = text
        .get(span.clone())
        .map(|s| s.split(['=', '\n']).next().unwrap_or("").trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "(syntax)".to_owned());
    Problem {
        line,
        column,
        key,
        message: e.message().to_owned(),
    }
}

/// `text` with the line of the key at `at` turned into a comment of the same length, when
/// that line is a whole one-line `key = value`; `None` otherwise (the reading stops there).
fn set_aside(text: &str, at: usize) -> Option<String> {
    let start = text.get(..at)?.rfind('\n').map_or(0, |i| i + 1);
    let end = text.get(at..)?.find('\n').map_or(text.len(), |i| at + i);
    let line = &text[start..end];
    let indent = line.len() - line.trim_start().len();
    if start + indent != at || !line.contains('=') {
        return None;
    }
    // A value that goes on to the next lines (an array, a multi-line string) is not set
    // aside: its other lines would be read as keys.
    let value = line.split_once('=')?.1.trim();
    let open = |o: char, c: char| value.matches(o).count() != value.matches(c).count();
    if open('[', ']') || open('{', '}') || value.starts_with("\"\"\"") || value.starts_with("'''") {
        return None;
    }
    // The key's first character becomes `#` (and spaces, for one of several bytes), so
    // every byte offset stays where it was.
    let first = text[at..].chars().next()?.len_utf8();
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..at]);
    out.push('#');
    out.push_str(&" ".repeat(first - 1));
    out.push_str(&text[at + first..]);
    Some(out)
}

fn build(c: &mut Checker<'_>, raw: RawPolicy) -> Policy {
    let header_span = raw.policy.span();
    let header = raw.policy.into_inner();
    if !is_ascii_id(header.id.get_ref()) {
        c.report(
            header.id.span(),
            "policy.id",
            "must be lower-case ascii letters, digits, '-' or '_'",
        );
    }
    let language = match header.language.as_ref().map(|l| l.get_ref().as_str()) {
        None | Some("en") => Language::En,
        Some("ja") => Language::Ja,
        Some(other) => {
            let span = header
                .language
                .as_ref()
                .map_or(header_span.clone(), |l| l.span());
            c.report(
                span,
                "policy.language",
                format!("unknown language {other:?}: use \"en\" or \"ja\""),
            );
            Language::En
        }
    };
    let utc_offset = match &header.utc_offset {
        None => super::DEFAULT_UTC_OFFSET,
        Some(o) => parse_utc_offset(o.get_ref()).unwrap_or_else(|| {
            c.report(
                o.span(),
                "policy.utc_offset",
                format!(
                    "{:?} is not an offset from UTC: write it as \"+09:00\" (Japan) or \"-05:00\"; \
                     time-zone names and daylight saving are not supported",
                    o.get_ref()
                ),
            );
            super::DEFAULT_UTC_OFFSET
        }),
    };
    let site_id = match &header.msip.site_id {
        None => "00000000-0000-0000-0000-000000000000".to_owned(),
        Some(s) => normalise_guid(s.get_ref()).unwrap_or_else(|| {
            c.report(
                s.span(),
                "policy.msip.site_id",
                "not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
            );
            String::new()
        }),
    };

    if raw.levels.is_empty() {
        c.report(
            header_span,
            "levels",
            "a policy needs at least one [[levels]] entry",
        );
    }
    let levels = build_levels(c, raw.levels);
    let known: HashSet<String> = levels.iter().map(|l| l.id.clone()).collect();

    if let Some(d) = &header.default_level {
        c.level_ref(d, &known, "policy.default_level".into());
    }
    if let Some(l) = &header.ledger_level {
        c.level_ref(l, &known, "policy.ledger_level".into());
    }
    let assets = build_assets(c, raw.assets, &known);
    let rules = build_rules(c, raw.rules, &known);
    let msip_imports = build_imports(c, raw.import.msip, &known, &levels);

    let mut recovery = Vec::new();
    for (i, r) in raw.recovery.recipients.iter().enumerate() {
        if r.get_ref().parse::<age::x25519::Recipient>().is_err() {
            c.report(
                r.span(),
                format!("recovery.recipients[{i}]"),
                "not an age X25519 recipient (age1…): generate one with age-keygen",
            );
        } else {
            recovery.push(r.get_ref().clone());
        }
    }

    Policy {
        id: header.id.into_inner(),
        version: header.version.into_inner(),
        name: header.name.unwrap_or_default(),
        organisation: header.organisation.filter(|o| !o.trim().is_empty()),
        language,
        default_level: header.default_level.map(Spanned::into_inner),
        apply_default_level: header.apply_default_level.unwrap_or(true),
        ledger_level: header.ledger_level.map(Spanned::into_inner),
        utc_offset,
        msip_site_id: site_id,
        levels,
        assets,
        rules,
        msip_imports,
        recovery_recipients: recovery,
    }
}

/// Parses `+HH:MM` / `-HH:MM` (hours up to 14, as in real time zones).
fn parse_utc_offset(text: &str) -> Option<time::UtcOffset> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !(h.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    if h > 14 || m > 59 {
        return None;
    }
    time::UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

fn build_levels(c: &mut Checker<'_>, raw: Vec<Spanned<RawLevel>>) -> Vec<Level> {
    let mut ids = HashSet::new();
    let mut ranks = HashSet::new();
    let mut names: HashSet<String> = HashSet::new();
    let mut guids = HashSet::new();
    let mut levels = Vec::new();
    for (i, spanned) in raw.into_iter().enumerate() {
        let key = |k: &str| format!("levels[{i}].{k}");
        let l = spanned.into_inner();
        c.unique_id(&l.id, &mut ids, key("id"), "level");
        if !ranks.insert(*l.rank.get_ref()) {
            c.report(
                l.rank.span(),
                key("rank"),
                format!(
                    "rank {} is used by another level; ranks must be distinct",
                    l.rank.get_ref()
                ),
            );
        }
        let n = l.name.get_ref();
        for (name, k) in [(&n.ja, "name.ja"), (&n.en, "name.en")] {
            if name.get_ref().trim().is_empty() {
                c.report(name.span(), key(k), "must not be empty");
            } else if !names.insert(name.get_ref().to_lowercase()) {
                c.report(
                    name.span(),
                    key(k),
                    format!("name {:?} is used by another level", name.get_ref()),
                );
            }
        }
        for (j, a) in l.aliases.iter().enumerate() {
            if !names.insert(a.get_ref().to_lowercase()) {
                c.report(
                    a.span(),
                    key(&format!("aliases[{j}]")),
                    format!("name {:?} is used by another level", a.get_ref()),
                );
            }
        }
        if *l.ipa_confidentiality.get_ref() > 2 {
            c.report(
                l.ipa_confidentiality.span(),
                key("ipa_confidentiality"),
                "must be 0, 1 or 2 (IPA 機密性)",
            );
        }
        for (rating, name, what) in [
            (&l.ipa_integrity, "ipa_integrity", "完全性"),
            (&l.ipa_availability, "ipa_availability", "可用性"),
        ] {
            if let Some(r) = rating.as_ref().filter(|r| *r.get_ref() > 2) {
                c.report(
                    r.span(),
                    key(name),
                    format!("must be 0, 1 or 2 (IPA {what})"),
                );
            }
        }
        let protect = match l.protect.get_ref().as_str() {
            "never" => Protect::Never,
            "optional" => Protect::Optional,
            "required" => Protect::Required,
            other => {
                c.report(
                    l.protect.span(),
                    key("protect"),
                    format!("unknown value {other:?}: use never, optional or required"),
                );
                Protect::Optional
            }
        };
        let mut grants = BTreeMap::new();
        for (principal, rights) in &l.grants {
            let valid_principal = principal == "owner"
                || ["group:", "user:"].iter().any(|p| {
                    principal
                        .strip_prefix(p)
                        .is_some_and(|rest| !rest.is_empty())
                });
            if !valid_principal {
                c.report(
                    rights.span(),
                    key(&format!("grants.{principal}")),
                    "principal must be \"owner\", \"group:NAME\" (or group:$dept) or \"user:NAME\"",
                );
            }
            grants.insert(
                principal.clone(),
                c.rights(rights, key(&format!("grants.{principal}"))),
            );
        }
        let max_rights = l
            .max_rights
            .as_ref()
            .map_or("view".parse().expect("view is a right"), |r| {
                c.rights(r, key("max_rights"))
            });
        let allowed_set = c.globs(&l.allowed_locations, &key("allowed_locations"));
        let msip_id = l.msip_id.as_ref().and_then(|g| {
            let guid = normalise_guid(g.get_ref());
            match &guid {
                None => c.report(
                    g.span(),
                    key("msip_id"),
                    "not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
                ),
                Some(v) if !guids.insert(v.clone()) => c.report(
                    g.span(),
                    key("msip_id"),
                    "this GUID is used by another level",
                ),
                Some(_) => {}
            }
            guid
        });
        levels.push(Level {
            id: l.id.into_inner(),
            rank: l.rank.into_inner(),
            name_ja: n.ja.get_ref().clone(),
            name_en: n.en.get_ref().clone(),
            aliases: l.aliases.into_iter().map(Spanned::into_inner).collect(),
            description: l.description.unwrap_or_default(),
            ipa_confidentiality: l.ipa_confidentiality.into_inner(),
            ipa_integrity: l
                .ipa_integrity
                .map_or(super::DEFAULT_IPA_RATING, Spanned::into_inner),
            ipa_availability: l
                .ipa_availability
                .map_or(super::DEFAULT_IPA_RATING, Spanned::into_inner),
            protect,
            grants,
            max_rights,
            offline_days: l.offline_days.unwrap_or(0),
            expires_days: l.expires_days.unwrap_or(0),
            allowed_locations: l
                .allowed_locations
                .into_iter()
                .map(Spanned::into_inner)
                .collect(),
            marking: l.marking,
            msip_id,
            allowed_set,
        });
    }
    levels.sort_by_key(|l| l.rank);
    levels
}

fn build_assets(
    c: &mut Checker<'_>,
    raw: Vec<Spanned<RawAsset>>,
    known: &HashSet<String>,
) -> Vec<Asset> {
    let mut ids = HashSet::new();
    let mut assets = Vec::new();
    for (i, spanned) in raw.into_iter().enumerate() {
        let key = |k: &str| format!("assets[{i}].{k}");
        let a = spanned.into_inner();
        c.unique_id(&a.id, &mut ids, key("id"), "asset");
        if a.name.get_ref().trim().is_empty() {
            c.report(
                a.name.span(),
                key("name"),
                "must not be empty (情報資産名称)",
            );
        }
        let (paths, extensions, levels, path_set) = match a.matcher {
            None => (Vec::new(), Vec::new(), Vec::new(), GlobSet::empty()),
            Some(m) => {
                let set = c.globs(&m.paths, &key("match.paths"));
                for (j, l) in m.levels.iter().enumerate() {
                    c.level_ref(l, known, key(&format!("match.levels[{j}]")));
                }
                (
                    m.paths.into_iter().map(Spanned::into_inner).collect(),
                    m.extensions
                        .into_iter()
                        .map(|e| e.trim_start_matches('.').to_lowercase())
                        .collect(),
                    m.levels.into_iter().map(Spanned::into_inner).collect(),
                    set,
                )
            }
        };
        assets.push(Asset {
            id: a.id.into_inner(),
            name: a.name.into_inner(),
            category: a.category,
            department: a.department,
            users: a.users,
            retention: a.retention,
            custodian: a.custodian,
            contact: a.contact,
            medium: a.medium,
            recipients: a.recipients,
            note: a.note,
            personal_data: a.personal_data,
            sensitive_personal_data: a.sensitive_personal_data,
            specific_personal_data: a.specific_personal_data,
            paths,
            extensions,
            levels,
            path_set,
        });
    }
    assets
}

fn build_rules(
    c: &mut Checker<'_>,
    raw: Vec<Spanned<RawRule>>,
    known: &HashSet<String>,
) -> Vec<Rule> {
    let mut ids = HashSet::new();
    let mut rules = Vec::new();
    for (i, spanned) in raw.into_iter().enumerate() {
        let span = spanned.span();
        let key = |k: &str| format!("rules[{i}].{k}");
        let r = spanned.into_inner();
        c.unique_id(&r.id, &mut ids, key("id"), "rule");
        c.level_ref(&r.level, known, key("level"));
        c.globs(&r.paths, &key("paths"));
        for (j, d) in r.detectors.iter().enumerate() {
            if !DETECTORS.contains(&d.get_ref().as_str()) {
                c.report(
                    d.span(),
                    key(&format!("detectors[{j}]")),
                    format!(
                        "unknown detector {:?}: use one of {DETECTORS:?}",
                        d.get_ref()
                    ),
                );
            }
        }
        if let Some(re) = &r.regex {
            if let Err(e) = regex::Regex::new(re.get_ref()) {
                c.report(
                    re.span(),
                    key("regex"),
                    format!("not a valid regular expression: {e}"),
                );
            }
        }
        if r.paths.is_empty()
            && r.extensions.is_empty()
            && r.keywords.is_empty()
            && r.detectors.is_empty()
            && r.regex.is_none()
        {
            c.report(
                span,
                format!("rules[{i}]"),
                "a rule needs at least one of paths, extensions, keywords, detectors or regex",
            );
        }
        let flags = c.flags(&r.flags, &key("flags"));
        rules.push(Rule {
            id: r.id.into_inner(),
            level: r.level.into_inner(),
            description: r.description,
            paths: r.paths.into_iter().map(Spanned::into_inner).collect(),
            extensions: r
                .extensions
                .into_iter()
                .map(|e| e.trim_start_matches('.').to_lowercase())
                .collect(),
            keywords: r.keywords,
            detectors: r.detectors.into_iter().map(Spanned::into_inner).collect(),
            regex: r.regex.map(Spanned::into_inner),
            min_count: r.min_count.unwrap_or(1).max(1),
            flags,
        });
    }
    rules
}

fn build_imports(
    c: &mut Checker<'_>,
    raw: Vec<Spanned<RawMsipImport>>,
    known: &HashSet<String>,
    levels: &[Level],
) -> Vec<MsipImport> {
    let mut imports = Vec::new();
    for (i, spanned) in raw.into_iter().enumerate() {
        let key = |k: &str| format!("import.msip[{i}].{k}");
        let m = spanned.into_inner();
        let guid = normalise_guid(m.guid.get_ref()).unwrap_or_else(|| {
            c.report(
                m.guid.span(),
                key("guid"),
                "not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
            );
            String::new()
        });
        if levels
            .iter()
            .any(|l| l.msip_id.as_deref() == Some(guid.as_str()))
        {
            c.report(
                m.guid.span(),
                key("guid"),
                "this GUID is already one of our own levels' msip_id",
            );
        }
        c.level_ref(&m.level, known, key("level"));
        if m.origin.get_ref().trim().is_empty() {
            c.report(
                m.origin.span(),
                key("origin"),
                "must name where the label comes from",
            );
        }
        let flags = c.flags(&m.flags, &key("flags"));
        imports.push(MsipImport {
            guid,
            name: m.name,
            level: m.level.into_inner(),
            origin: m.origin.into_inner(),
            flags,
        });
    }
    imports
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_policies_are_valid() {
        for (name, _) in super::super::BUILTIN {
            let p = Policy::builtin(name).unwrap_or_else(|e| panic!("{e}"));
            assert!(p.levels.len() >= 3, "{name}");
        }
    }

    #[test]
    fn problems_name_line_and_key() {
        let text = "[policy]\nid = \"x\"\nversion = 1\n\n[[levels]]\nid = \"a\"\nrank = 0\nname = { ja = \"公開\", en = \"Public\" }\nipa_confidentiality = 7\nprotect = \"sometimes\"\n";
        let problems = parse(text).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(
            (problems[0].line, problems[0].key.as_str()),
            (9, "levels[0].ipa_confidentiality")
        );
        assert_eq!(
            (problems[1].line, problems[1].key.as_str()),
            (10, "levels[0].protect")
        );
    }

    #[test]
    fn integrity_and_availability_are_rated_like_confidentiality() {
        let level = "[policy]\nid = \"x\"\nversion = 1\n\n[[levels]]\nid = \"a\"\nrank = 0\nname = { ja = \"公開\", en = \"Public\" }\nipa_confidentiality = 0\nprotect = \"never\"\n";
        let p = parse(level).unwrap();
        assert_eq!(
            (p.levels[0].ipa_integrity, p.levels[0].ipa_availability),
            (1, 1)
        );
        let p = parse(&format!("{level}ipa_integrity = 2\nipa_availability = 0\n")).unwrap();
        assert_eq!(
            (p.levels[0].ipa_integrity, p.levels[0].ipa_availability),
            (2, 0)
        );
        let problems =
            parse(&format!("{level}ipa_integrity = 3\nipa_availability = 9\n")).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(
            (problems[0].line, problems[0].key.as_str()),
            (11, "levels[0].ipa_integrity")
        );
        assert!(problems[0].message.contains("完全性"), "{problems:?}");
        assert_eq!(
            (problems[1].line, problems[1].key.as_str()),
            (12, "levels[0].ipa_availability")
        );
    }

    #[test]
    fn unmatched_files_get_the_default_level_unless_the_policy_turns_it_off() {
        let default = crate::policy::Policy::builtin("default").unwrap();
        assert_eq!(default.unmatched_level().unwrap().name_ja, "社外秘");
        let text = crate::policy::BUILTIN[0].1.replacen(
            "apply_default_level = true",
            "apply_default_level = false",
            1,
        );
        assert!(parse(&text).unwrap().unmatched_level().is_none());
    }

    #[test]
    fn a_ledger_is_at_least_secret_and_as_high_as_what_it_lists() {
        let default = crate::policy::Policy::builtin("default").unwrap();
        let name = |l: Option<&crate::policy::Level>| l.map(|l| l.name_ja.clone());
        let level = |n: &str| default.level_by_name(n);
        assert_eq!(name(default.ledger_level_for(None)).unwrap(), "秘");
        assert_eq!(name(default.ledger_level_for(level("公開"))).unwrap(), "秘");
        assert_eq!(
            name(default.ledger_level_for(level("極秘"))).unwrap(),
            "極秘"
        );
        // The three-level IPA policy has no 秘: its lowest IPA-2 level is 極秘.
        let ipa = crate::policy::Policy::builtin("ipa-sme").unwrap();
        assert_eq!(name(ipa.ledger_level_for(None)).unwrap(), "極秘");
        // A policy that names the ledger's level has the last word.
        let text = crate::policy::BUILTIN[0].1.replacen(
            "default_level = \"internal\"",
            "default_level = \"internal\"\nledger_level = \"strictly-confidential\"",
            1,
        );
        let named = parse(&text).unwrap();
        assert_eq!(name(named.ledger_level_for(None)).unwrap(), "極秘");
        let problems = parse(&crate::policy::BUILTIN[0].1.replacen(
            "default_level = \"internal\"",
            "default_level = \"internal\"\nledger_level = \"nope\"",
            1,
        ))
        .unwrap_err();
        assert_eq!(problems[0].key, "policy.ledger_level", "{problems:?}");
    }

    #[test]
    fn utc_offsets_are_fixed_offsets_checked_on_load() {
        let policy = |header: &str| {
            parse(&format!("[policy]\nid = \"x\"\nversion = 1\n{header}\n[[levels]]\nid = \"a\"\nrank = 0\nname = {{ ja = \"公開\", en = \"Public\" }}\nipa_confidentiality = 0\nprotect = \"never\"\n"))
        };
        assert_eq!(policy("").unwrap().utc_offset, time::macros::offset!(+9));
        assert_eq!(
            policy("utc_offset = \"-05:30\"").unwrap().utc_offset,
            time::macros::offset!(-5:30)
        );
        assert_eq!(
            policy("utc_offset = \"+00:00\"").unwrap().utc_offset,
            time::UtcOffset::UTC
        );
        for bad in ["Asia/Tokyo", "+9", "+09:60", "+15:00", "09:00"] {
            let problems = policy(&format!("utc_offset = \"{bad}\"")).unwrap_err();
            assert_eq!(
                (problems[0].line, problems[0].key.as_str()),
                (4, "policy.utc_offset"),
                "{bad}"
            );
            assert!(problems[0].message.contains("+09:00"), "{problems:?}");
        }
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let problems = parse("[policy]\nid = \"x\"\nversion = \n").unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, 3);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let problems = parse("[policy]\nid = \"x\"\nversion = 1\nlevle = 3\n").unwrap_err();
        let typo = problems.iter().find(|p| p.key == "levle").unwrap();
        assert_eq!(typo.line, 4);
        assert!(typo.message.contains("unknown field"), "{problems:?}");
        // The other problems still show: this policy has no levels.
        assert!(problems.iter().any(|p| p.key == "levels"), "{problems:?}");
    }

    #[test]
    fn every_unknown_key_is_reported_with_the_other_problems() {
        let text = crate::policy::BUILTIN[0]
            .1
            .replacen("language = \"en\"", "langauge = \"en\"", 1)
            .replacen(
                "protect = \"never\"",
                "protect = \"never\"\nprotcet = \"never\"",
                1,
            )
            .replacen("ipa_confidentiality = 1", "ipa_confidentiality = 7", 1);
        let problems = parse(&text).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["langauge", "protcet", "levels[1].ipa_confidentiality"],
            "{problems:?}"
        );
        let line_of = |needle: &str| text[..text.find(needle).unwrap()].matches('\n').count() + 1;
        assert_eq!(problems[0].line, line_of("langauge"));
        assert_eq!(problems[1].line, line_of("protcet"));
        assert!(
            problems[1].message.contains("unknown field"),
            "{problems:?}"
        );
        // A key in Japanese, and one whose value goes on over lines (reading stops there).
        let problems =
            parse("[policy]\nid = \"x\"\n\"名前\" = 1\nversion = 1\nnmae = 2\n").unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["levels", "\"名前\"", "nmae"], "{problems:?}");
        let problems = parse("[policy]\nid = \"x\"\nversion = 1\nlist = [\n  1,\n]\n").unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
    }
}
