//! The detectors and the default policy's rules must never panic on any text, each
//! detector must count the same alone as together with the others, and evidence must
//! never carry what was matched.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use fuda_core::policy::Policy;
use fuda_classify::detect::{self, Counts, Detector};
use fuda_classify::rules::Classifier;
use libfuzzer_sys::fuzz_target;

fn classifier() -> &'static Classifier {
    static C: OnceLock<Classifier> = OnceLock::new();
    C.get_or_init(|| Classifier::new(&Policy::builtin("default").unwrap()).unwrap())
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut all = Counts::default();
    detect::scan(&text, &Detector::ALL, &mut all);
    for d in Detector::ALL {
        assert_eq!(all.get(d), d.count(&text), "{} alone differs", d.name());
    }
    let c = classifier().evaluate(Path::new("/srv/share/fuzz.txt"), &text);
    for e in &c.evidence {
        // Evidence names a condition (`keyword:…`, `detector:…`, `path`, `regex`), never
        // the digits a detector saw.
        assert!(!e.what.starts_with("detector:") || !e.what.bytes().any(|b| b.is_ascii_digit()));
    }
});
