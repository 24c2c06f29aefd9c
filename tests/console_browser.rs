//! The admin console in a real browser (headless Chromium over WebDriver, see
//! tests/common/browser.rs): the harness itself first — the one certificate it trusts,
//! and an accessibility check that can fail.

#[path = "common/browser.rs"]
mod browser;
mod common;

use browser::Browser;
use common::keyd::Keyd;

/// A page of our own, without the service.
fn data_page(html: &str) -> String {
    use base64::Engine;
    format!(
        "data:text/html;charset=utf-8;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(html)
    )
}

#[test]
fn the_browser_trusts_the_services_certificate_and_no_other() {
    let keyd = Keyd::start();
    let other = Keyd::start();
    let Some(browser) = Browser::start(&keyd) else {
        return;
    };
    browser.open("/v1/health");
    assert!(
        browser.page_text().contains(r#""status":"ok""#),
        "the service's own certificate is accepted: {}",
        browser.page_text()
    );
    let health = browser.get("/v1/health");
    assert_eq!(health.status, 200, "{}", health.text());
    assert!(health.content_type.starts_with("application/json"));
    // Another service's self-signed certificate is not: Chromium shows its error page.
    browser.open(&format!("{}/v1/health", other.url()));
    let text = browser.page_text();
    assert!(!text.contains(r#""status":"ok""#), "{text}");
}

#[test]
fn the_accessibility_check_names_what_a_keyboard_or_screen_reader_user_cannot_use() {
    let keyd = Keyd::start();
    let Some(browser) = Browser::start(&keyd) else {
        return;
    };
    browser.open(&data_page(
        r#"<html><head><title>悪い例</title></head><body>
<input type="text" name="q"><button></button><a href="/x"><img src="x.png"></a>
<button tabindex="2">二</button><button tabindex="1">一</button></body></html>"#,
    ));
    if let Some(violations) = browser.axe_violations() {
        let ids: Vec<&str> = violations.iter().map(|v| v.id.as_str()).collect();
        for id in ["html-has-lang", "label", "button-name", "image-alt"] {
            assert!(ids.contains(&id), "{id} missing from {violations:#?}");
        }
    }
    let problems = browser.keyboard_problems().join("\n");
    assert!(
        problems.contains(r#"no accessible name: <input type="text" name="q">"#),
        "{problems}"
    );
    assert!(problems.contains("expected focus on"), "{problems}");

    browser.open(&data_page(
        r#"<html lang="ja"><head><title>良い例</title></head><body><main>
<h1>検索</h1><form><label for="q">文書名</label><input id="q" name="q">
<button type="submit">検索する</button></form><a href="/help">ヘルプ</a></main></body></html>"#,
    ));
    browser.assert_accessible();
}
