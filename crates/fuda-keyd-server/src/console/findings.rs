//! The findings of the company ledger (`/console/findings`): how many of each kind, what
//! each kind means and what to do about it, and the findings themselves a page at a time
//! (filter by kind and machine), each linked to its document or its machine's files.
//!
//! They come from the ledger the console keeps ([`super::ledger::cache`]): the page says
//! when it was built, and that a newer one is on its way when reports arrived since.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use fuda_core::pathname::escaped;
use fuda_keyd::service::Service;
use fuda_ledger::inventory::{FindingKind, Severity};

use super::ledger::cache::{self, FindingFilter};
use super::ledger::{
    doc_href, encode, kind_of, level_name, machine_href, strip_machine, LevelName,
};
use super::page::{html, Lang, Ui};
use super::pager::{PageQuery, Pager};
use super::{failed, Signed};

/// The findings' routes.
pub fn routes() -> Router<Service> {
    Router::new().route("/console/findings", get(page))
}

/// What a finding of `kind` means and what to do about it: (meaning, action) in `lang`.
pub fn explain(kind: FindingKind, lang: Lang) -> (&'static str, &'static str) {
    let (mj, aj, me, ae) = match kind {
        FindingKind::Tampered => (
            "ラベルの署名が内容と一致しないか、ラベルが壊れています。誰かがラベルを書き換えた可能性があります。",
            "ファイルの持ち主に確認し、正しい区分で fuda label set をやり直してください。意図しない改ざんなら情報セキュリティ担当者に報告してください。",
            "The label's signature does not match, or the label is corrupt: someone may have edited it.",
            "Ask the file's owner, label it again with fuda label set at the right level, and report it to security if nobody meant to change it.",
        ),
        FindingKind::LabelDisappeared => (
            "前回の棚卸でラベルがあったファイルから、ラベルが消えています。",
            "ファイルを開いて区分を確認し、ラベルを付け直してください（fuda label set、または fuda watch が自動で戻します）。",
            "A file labeled at the previous inventory has no label now.",
            "Check the file's level and label it again (fuda label set; fuda watch restores labels it remembers).",
        ),
        FindingKind::Replayed => (
            "同じ文書の、以前より古いラベルが付いています。古い版で上書きされた可能性があります。",
            "最新版がどれか持ち主に確認し、古い版なら最新版に戻してください。",
            "The file carries an older label of its document than one seen before: an old copy may have overwritten it.",
            "Ask the owner which version is current, and put the current one back if this is an old copy.",
        ),
        FindingKind::RevokedStillPresent => (
            "失効させた保護文書が、まだマシンに残っています（開くことはできません）。",
            "不要なら削除してください。失効が誤りなら、文書ページで失効を取り消してください。",
            "A protected document revoked for everyone is still on a machine (it cannot be opened).",
            "Delete it if it is no longer needed; if the revocation was a mistake, unrevoke it on the document's page.",
        ),
        FindingKind::PersonalDataUnderLowLevel => (
            "個人情報を含むファイルが、それにふさわしくない低い区分になっています。",
            "内容を確認し、ポリシーが求める区分に引き上げてください（必要なら保護も）。",
            "A file with personal data is labeled at a level too low for it.",
            "Check the content and raise the label to the level the policy asks for (and protect it if needed).",
        ),
        FindingKind::Unlabeled => (
            "ポリシーがラベルを求める場所に、ラベルのないファイルがあります。",
            "区分を決めてラベルを付けてください（fuda scan --apply でまとめて付けられます）。",
            "A file has no label where the policy expects one.",
            "Decide its level and label it (fuda scan --apply labels a folder by the rules).",
        ),
        FindingKind::OutsideAllowedLocation => (
            "この区分のファイルを置いてはいけない場所にあります。",
            "許可された場所に移すか、区分が誤りなら付け直してください。",
            "The file is in a folder its level does not allow.",
            "Move it to an allowed location, or correct its level if that is wrong.",
        ),
        FindingKind::Unprotected => (
            "暗号化が必要な区分なのに、保護（暗号化）されていません。",
            "fuda protect で保護してください。",
            "The level requires encryption and the file is not protected.",
            "Protect it with fuda protect.",
        ),
        FindingKind::PlaintextWorkingCopy => (
            "保護文書から書き出した平文のコピーが、暗号化が必要な区分のまま残っています。",
            "作業が終わったら削除するか、fuda protect で保護し直してください。",
            "A plaintext copy written out of a protected document, at a level that requires encryption.",
            "Delete it when the work is done, or protect it again with fuda protect.",
        ),
        FindingKind::UnknownLevel => (
            "ラベルの区分が、現在のポリシーにありません。",
            "ポリシーにある区分で付け直すか、ポリシーに区分を追加してください。",
            "The label names a level the policy does not define.",
            "Label it again with a level of the policy, or add the level to the policy.",
        ),
        FindingKind::Stale => (
            "ラベルを付けた後に内容が変わっています。区分が今も正しいか未確認です。",
            "内容を確認し、区分が正しければ fuda label set で付け直してください。",
            "The content changed since it was labeled: nobody confirmed the level since.",
            "Review the content and label it again with fuda label set if the level still fits.",
        ),
        FindingKind::Unverified => (
            "ラベルの署名者が信頼ストアにありません（退職者や他社のラベルなど）。",
            "署名者を確認し、信頼するなら登録、そうでなければ付け直してください。",
            "The label's signer is not trusted here (a leaver, another company's label …).",
            "Check the signer: trust them, or label the file again.",
        ),
        FindingKind::Unreadable => (
            "ファイルまたはフォルダを読めませんでした（権限など）。",
            "報告するマシンの fuda に読み取り権限を与えてください。",
            "The file or folder could not be read (permissions …).",
            "Give the reporting machine's fuda read access.",
        ),
        FindingKind::PathTooLongForWindows => (
            "パスが長すぎて、Windows のクライアントから開けない可能性があります。",
            "フォルダ名やファイル名を短くしてください。",
            "The path is too long for Windows clients of the share.",
            "Shorten the folder or file names.",
        ),
        FindingKind::LabelRestored => (
            "保存やツールで消えたラベルを fuda watch が戻しました。",
            "対応は不要です。頻発する場合は、ラベルを消すアプリを確認してください。",
            "fuda watch put back a label that a save or a tool had stripped.",
            "Nothing to do; if it happens often, look at the application that strips labels.",
        ),
        FindingKind::CopiesOnSeveralMachines => (
            "同じ機密文書のコピーが複数のマシンにあります。",
            "必要なコピーか持ち主に確認し、不要なものは削除してください。",
            "Copies of one confidential document are on several machines.",
            "Ask the owner which copies are needed and delete the others.",
        ),
        FindingKind::MachineNotReporting => (
            "マシンが報告間隔を過ぎても報告していません。台帳はこのマシンについて不完全です。",
            "マシンが稼働し、fuda inventory --report（タイマー）か fuda watch --report が動いているか確認してください。",
            "A machine has not reported within its interval: the ledger is incomplete for it.",
            "Check that the machine is on and fuda inventory --report (its timer) or fuda watch --report runs.",
        ),
        _ => (
            "この種類の指摘です。",
            "詳細を確認してください。",
            "A finding of this kind.",
            "Read its detail.",
        ),
    };
    match lang {
        Lang::Ja => (mj, aj),
        Lang::En => (me, ae),
    }
}

/// The filters of the findings page.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FindingsQuery {
    kind: Option<String>,
    machine: Option<String>,
    page: Option<usize>,
    per_page: Option<usize>,
}

/// A kind with its count and explanation.
struct KindView {
    name: &'static str,
    title: &'static str,
    severity: &'static str,
    severity_class: &'static str,
    count: usize,
    meaning: &'static str,
    action: &'static str,
    href: String,
    current: bool,
}

/// One finding.
struct FindingView {
    title: &'static str,
    severity_class: &'static str,
    machine: String,
    machine_href: String,
    path: String,
    level: Option<LevelName>,
    detail: String,
    doc: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "console/findings.html")]
struct FindingsPage {
    ui: Ui,
    built: bool,
    updating: bool,
    as_of: String,
    total: usize,
    kinds: Vec<KindView>,
    chosen: Option<KindView>,
    machine: String,
    findings: Vec<FindingView>,
    pager: Pager,
    base: String,
}

fn severity(s: Severity, lang: Lang) -> (&'static str, &'static str) {
    match s {
        Severity::High => (lang.t("高", "high"), "bad"),
        Severity::Medium => (lang.t("中", "medium"), "warn"),
        _ => (lang.t("低", "low"), "muted"),
    }
}

fn kind_view(kind: FindingKind, count: usize, lang: Lang, chosen: Option<FindingKind>) -> KindView {
    let (meaning, action) = explain(kind, lang);
    let (sev, class) = severity(kind.severity(), lang);
    KindView {
        name: kind.as_str(),
        title: kind.title(lang == Lang::Ja),
        severity: sev,
        severity_class: class,
        count,
        meaning,
        action,
        href: format!("/console/findings?kind={}", kind.as_str()),
        current: chosen == Some(kind),
    }
}

async fn page(
    State(service): State<Service>,
    me: Signed,
    Query(q): Query<FindingsQuery>,
) -> Response {
    let view = match cache::view(&service, me.caller(), true).await {
        Ok(v) => v,
        Err(e) => return failed(&me.ui, &e),
    };
    let ui = &me.ui;
    let lang = ui.lang;
    let kind = q
        .kind
        .as_deref()
        .filter(|k| !k.is_empty())
        .and_then(kind_of);
    let machine = q.machine.clone().filter(|m| !m.trim().is_empty());
    let b = view.built.as_deref();
    let counts = b.map(|b| b.findings.by_kind()).unwrap_or_default();
    let filter = FindingFilter {
        kind,
        machine: machine.clone(),
        level: None,
    };
    let pages = PageQuery {
        page: q.page,
        per_page: q.per_page,
    };
    let (total, pager, found) = match b {
        Some(b) => {
            let read = |o, l| b.findings.page(&filter, o, l);
            match read(0, 0).and_then(|(total, _)| {
                let pager = Pager::new(pages, total);
                read(pager.offset(), pager.per_page).map(|(_, f)| (total, pager, f))
            }) {
                Ok(x) => x,
                Err(e) => {
                    return failed(
                        ui,
                        &fuda_keyd::Error::Invalid(format!("reading the findings: {e}")),
                    )
                }
            }
        }
        None => (0, Pager::new(pages, 0), Vec::new()),
    };
    // Each finding's document, from the index (a page of look-ups by key).
    let keys: Vec<(String, std::path::PathBuf)> = found
        .iter()
        .map(|f| {
            let m = cache::machine_of(f).to_owned();
            let p = strip_machine(&f.path, &m);
            (m, p)
        })
        .collect();
    let s = service.clone();
    let docs =
        tokio::task::spawn_blocking(move || -> Result<Vec<Option<String>>, fuda_keyd::Error> {
            let mut snap = s.index_snapshot()?;
            keys.iter()
                .map(|(m, p)| Ok(snap.index_file(m, p)?.and_then(|f| f.doc)))
                .collect()
        })
        .await;
    let docs = match docs {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => return failed(ui, &e),
        Err(_) => return failed(ui, &fuda_keyd::Error::ShuttingDown),
    };
    let policy = b.map_or_else(|| super::page::policy_shown(&service), |b| b.policy.clone());
    let findings = found
        .into_iter()
        .zip(docs)
        .map(|(f, doc)| {
            let machine = cache::machine_of(&f).to_owned();
            let path = strip_machine(&f.path, &machine);
            FindingView {
                title: f.kind.title(lang == Lang::Ja),
                severity_class: severity(f.severity, lang).1,
                machine_href: machine_href(&machine),
                machine,
                path: escaped(&path),
                level: f
                    .level
                    .as_deref()
                    .map(|l| level_name(&policy, lang, Some(l))),
                detail: lang.t(&f.detail_ja, &f.detail).to_owned(),
                doc: doc.map(|d| (doc_href(&d), d)),
            }
        })
        .collect();
    let mut base = String::from("/console/findings?");
    if let Some(k) = kind {
        base.push_str(&format!("kind={}&", k.as_str()));
    }
    if let Some(m) = &machine {
        base.push_str(&format!("machine={}&", encode(m)));
    }
    let page = FindingsPage {
        ui: ui.clone(),
        built: b.is_some(),
        updating: view.updating,
        as_of: b
            .map(|b| ui.time(b.ledger.generated_at))
            .unwrap_or_default(),
        total,
        chosen: kind.map(|k| {
            let n = counts.iter().find(|(c, _)| *c == k).map_or(0, |(_, n)| *n);
            kind_view(k, n, lang, kind)
        }),
        kinds: counts
            .iter()
            .map(|&(k, n)| kind_view(k, n, lang, kind))
            .collect(),
        machine: machine.unwrap_or_default(),
        findings,
        pager,
        base,
    };
    me.answer(html(&page))
}
