//! The organisation's policy (`/console/policy`): the version in force, readable — its
//! levels with what belongs in them and the rules each carries, its auto-labeling rules —
//! every version set, and the diff of a version from the one before.

use std::path::Path;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use fuda_core::policy::{Policy, Protect};
use fuda_keyd::policy::PolicyVersion;
use fuda_keyd::service::Service;
use fuda_keyd::Error;

use super::page::{html, Ui};
use super::{failed, Signed};

/// The policy page's routes.
pub fn routes() -> Router<Service> {
    Router::new().route("/console/policy", get(show))
}

/// `?v=N`: the version to show (default: the one in force).
#[derive(Deserialize)]
struct Which {
    v: Option<u32>,
}

/// A level as the page shows it.
pub struct LevelView {
    name: String,
    id: String,
    rank: u8,
    description: String,
    protect: &'static str,
    grants: String,
    max_rights: String,
    offline_days: u32,
    expires_days: u32,
    ipa: String,
}

/// An auto-labeling rule as the page shows it.
pub struct RuleView {
    id: String,
    level: String,
    description: String,
    matches: String,
}

/// A version in the list.
pub struct VersionView {
    version: u32,
    set_by: String,
    set_at: String,
    origin: String,
}

#[derive(Template)]
#[template(path = "console/policy.html")]
struct PolicyPage {
    ui: Ui,
    /// The version shown, and whether it is the one in force.
    shown: Option<VersionView>,
    current: bool,
    name: String,
    levels: Vec<LevelView>,
    rules: Vec<RuleView>,
    /// A version the service holds but this build cannot read (should not happen).
    unreadable: Option<String>,
    text: String,
    diff: String,
    versions: Vec<VersionView>,
}

fn version_view(p: &PolicyVersion, ui: &Ui) -> VersionView {
    VersionView {
        version: p.version,
        set_by: p.set_by.clone(),
        set_at: ui.time(p.set_at),
        origin: p.origin.clone(),
    }
}

fn levels(policy: &Policy, ui: &Ui) -> Vec<LevelView> {
    policy
        .levels
        .iter()
        .rev()
        .map(|l| LevelView {
            name: ui.t(&l.name_ja, &l.name_en).to_owned(),
            id: l.id.clone(),
            rank: l.rank,
            description: l.description.clone(),
            protect: match l.protect {
                Protect::Never => ui.t("暗号化しない", "never encrypted"),
                Protect::Optional => ui.t("任意", "optional"),
                Protect::Required => ui.t("必須", "required"),
            },
            grants: l
                .grants
                .iter()
                .map(|(who, rights)| format!("{who}: {rights}"))
                .collect::<Vec<_>>()
                .join(", "),
            max_rights: l.max_rights.to_string(),
            offline_days: l.offline_days,
            expires_days: l.expires_days,
            ipa: format!(
                "{} / {} / {}",
                l.ipa_confidentiality, l.ipa_integrity, l.ipa_availability
            ),
        })
        .collect()
}

fn rules(policy: &Policy, ui: &Ui) -> Vec<RuleView> {
    let level_name = |id: &str| {
        policy
            .level(id)
            .map_or(id.to_owned(), |l| ui.t(&l.name_ja, &l.name_en).to_owned())
    };
    policy
        .rules
        .iter()
        .map(|r| {
            let mut matches = Vec::new();
            let mut add = |label: &str, items: &[String]| {
                if !items.is_empty() {
                    matches.push(format!("{label}: {}", items.join(", ")));
                }
            };
            add(ui.t("パス", "paths"), &r.paths);
            add(ui.t("拡張子", "extensions"), &r.extensions);
            add(ui.t("キーワード", "keywords"), &r.keywords);
            add(ui.t("検出器", "detectors"), &r.detectors);
            if let Some(re) = &r.regex {
                matches.push(format!("{}: {re}", ui.t("正規表現", "regex")));
            }
            RuleView {
                id: r.id.clone(),
                level: level_name(&r.level),
                description: r.description.clone().unwrap_or_default(),
                matches: matches.join(" / "),
            }
        })
        .collect()
}

async fn show(State(service): State<Service>, me: Signed, Query(which): Query<Which>) -> Response {
    match build(&service, &me, which.v).await {
        Ok(page) => me.answer(html(&page)),
        Err(e) => failed(&me.ui, &e),
    }
}

async fn build(service: &Service, me: &Signed, asked: Option<u32>) -> Result<PolicyPage, Error> {
    let ui = me.ui.clone();
    let current = match service.policy_version(me.caller(), None).await {
        Ok(signed) => Some(signed.policy),
        Err(Error::NotFound(_)) => None,
        Err(e) => return Err(e),
    };
    let Some(current) = current else {
        // No version set: the service runs on the built-in default.
        let builtin = Policy::builtin("default").map_err(|e| Error::Invalid(e.to_string()))?;
        return Ok(PolicyPage {
            name: builtin.name.clone(),
            levels: levels(&builtin, &ui),
            rules: rules(&builtin, &ui),
            ui,
            shown: None,
            current: true,
            unreadable: None,
            text: String::new(),
            diff: String::new(),
            versions: Vec::new(),
        });
    };
    let mut versions = Vec::new();
    for v in (1..current.version).rev() {
        if let Ok(signed) = service.policy_version(me.caller(), Some(v)).await {
            versions.push(signed.policy);
        }
    }
    versions.insert(0, current.clone());
    let shown = match asked {
        Some(v) => versions
            .iter()
            .find(|p| p.version == v)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("there is no policy version {v}")))?,
        None => current.clone(),
    };
    let before = versions.iter().find(|p| p.version + 1 == shown.version);
    let diff = before.map_or_else(String::new, |b| {
        fuda_keyd::policy::diff(
            &b.text,
            &shown.text,
            &format!("version {}", b.version),
            &format!("version {}", shown.version),
        )
    });
    let (name, level_views, rule_views, unreadable) =
        match Policy::from_toml(&shown.text, Path::new(&shown.origin)) {
            Ok(p) => (p.name.clone(), levels(&p, &ui), rules(&p, &ui), None),
            Err(e) => (String::new(), Vec::new(), Vec::new(), Some(e.to_string())),
        };
    Ok(PolicyPage {
        current: shown.version == current.version,
        shown: Some(version_view(&shown, &ui)),
        name,
        levels: level_views,
        rules: rule_views,
        unreadable,
        text: shown.text.clone(),
        diff,
        versions: versions.iter().map(|p| version_view(p, &ui)).collect(),
        ui,
    })
}
