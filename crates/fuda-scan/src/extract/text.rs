//! Character encoding detection for Japanese plain text.

use encoding_rs::{Encoding, EUC_JP, SHIFT_JIS, UTF_8};

/// Text decoded from bytes.
#[derive(Clone, Debug)]
pub struct Decoded {
    /// The text.
    pub text: String,
    /// The encoding used (`UTF-8`, `UTF-16LE`, `UTF-16BE`, `Shift_JIS` (CP932), `EUC-JP`).
    pub encoding: &'static str,
    /// Whether invalid sequences were replaced with U+FFFD.
    pub lossy: bool,
}

/// Decodes bytes in the most likely encoding.
///
/// A BOM decides; else valid UTF-8 is UTF-8; else CP932 and EUC-JP are both tried and the
/// one that decodes without errors (or with fewer, preferring more kana and kanji) wins.
/// `encoding_rs`'s `Shift_JIS` is the WHATWG one, which is Windows-31J (CP932): it
/// includes the NEC and IBM extensions (①, ㈱, 髙 …) that plain Shift_JIS lacks.
///
/// ```
/// let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode("【極秘】設計変更");
/// let decoded = fuda_scan::extract::decode(&bytes);
/// assert_eq!(decoded.text, "【極秘】設計変更");
/// assert_eq!(decoded.encoding, "Shift_JIS");
/// ```
pub fn decode(bytes: &[u8]) -> Decoded {
    if let Some((enc, bom)) = Encoding::for_bom(bytes) {
        let (text, lossy) = enc.decode_without_bom_handling(&bytes[bom..]);
        return Decoded {
            text: text.into_owned(),
            encoding: enc.name(),
            lossy,
        };
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Decoded {
            text: s.to_owned(),
            encoding: UTF_8.name(),
            lossy: false,
        };
    }
    // Truncation may cut a multi-byte character: allow an invalid UTF-8 tail of ≤ 3 bytes.
    if let Err(e) = std::str::from_utf8(bytes) {
        if e.error_len().is_none() && bytes.len() - e.valid_up_to() < 4 && e.valid_up_to() > 0 {
            return Decoded {
                text: String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned(),
                encoding: UTF_8.name(),
                lossy: false,
            };
        }
    }
    let candidates = [SHIFT_JIS, EUC_JP];
    let mut best: Option<(i64, Decoded)> = None;
    for enc in candidates {
        let (text, lossy) = enc.decode_without_bom_handling(bytes);
        let errors = text.matches('\u{FFFD}').count() as i64;
        let score = japanese_score(&text) - errors * 1000;
        let d = Decoded {
            text: text.into_owned(),
            encoding: enc.name(),
            lossy,
        };
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, d));
        }
    }
    let (_, mut d) = best.expect("two candidates");
    // Mostly-garbage bytes in neither encoding: UTF-8 with replacements reads best.
    if d.lossy && d.text.matches('\u{FFFD}').count() * 4 > d.text.chars().count() {
        d = Decoded {
            text: String::from_utf8_lossy(bytes).into_owned(),
            encoding: UTF_8.name(),
            lossy: true,
        };
    }
    d
}

/// Hiragana, katakana and common kanji count for a decoding; half-width katakana (what
/// EUC-JP bytes look like when read as CP932) and rare symbols count against it.
fn japanese_score(text: &str) -> i64 {
    text.chars()
        .map(|c| match c as u32 {
            0x3040..=0x30FF => 3,
            0x4E00..=0x9FFF => 2,
            0x3000..=0x303F | 0xFF01..=0xFF5E => 1,
            0xFF61..=0xFF9F => -2,
            0x20..=0x7E | 0x0A | 0x0D | 0x09 => 0,
            _ => -1,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cp932_euc_jp_and_utf8_are_told_apart() {
        let text = "①㈱髙橋製作所 極秘資料です。設計部";
        let (sjis, _, bad) = SHIFT_JIS.encode(text);
        assert!(!bad);
        let d = decode(&sjis);
        assert_eq!(
            (d.text.as_str(), d.encoding, d.lossy),
            (text, "Shift_JIS", false)
        );
        let plain = "社外秘：会議の議事録です。よろしくお願いします。";
        let (euc, _, bad) = EUC_JP.encode(plain);
        assert!(!bad);
        let d = decode(&euc);
        assert_eq!((d.text.as_str(), d.encoding), (plain, "EUC-JP"));
        assert_eq!(decode(plain.as_bytes()).encoding, "UTF-8");
    }

    #[test]
    fn invalid_bytes_are_replaced_not_fatal() {
        let d = decode(&[0x82, 0xa0, 0xff, 0xfe, 0x80, 0x00, 0x81]);
        assert!(d.lossy);
    }
}
