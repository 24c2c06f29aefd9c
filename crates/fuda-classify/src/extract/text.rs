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
/// A BOM decides; else valid UTF-8 is UTF-8; else CP932 and EUC-JP are told apart by
/// their bytes and the text is decoded once: bytes 0x80–0xA0 (other than EUC-JP's 0x8E
/// and 0x8F) occur in CP932 and never in EUC-JP, so text with such bytes that decodes
/// cleanly as CP932 (without half-width katakana, which is what EUC-JP bytes turn into in
/// CP932) is CP932; text without them that decodes cleanly as EUC-JP into Japanese is
/// EUC-JP. Anything else is decoded both ways and the decoding with fewer errors (then
/// more kana and kanji) wins. `encoding_rs`'s `Shift_JIS` is the WHATWG one, which is
/// Windows-31J (CP932): it includes the NEC and IBM extensions (①, ㈱, 髙 …) that plain
/// Shift_JIS lacks.
///
/// ```
/// let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode("【極秘】設計変更");
/// let decoded = fuda_classify::extract::decode(&bytes);
/// assert_eq!(decoded.text, "【極秘】設計変更");
/// assert_eq!(decoded.encoding, "Shift_JIS");
/// ```
pub fn decode(bytes: &[u8]) -> Decoded {
    match std::str::from_utf8(bytes) {
        Ok(s) if Encoding::for_bom(bytes).is_none() => Decoded {
            text: s.to_owned(),
            encoding: UTF_8.name(),
            lossy: false,
        },
        _ => decode_owned(bytes.to_vec()),
    }
}

/// [`decode`] for bytes the caller no longer needs: UTF-8 text (the common case) becomes
/// the `String` without a copy.
pub fn decode_owned(bytes: Vec<u8>) -> Decoded {
    if let Some((enc, bom)) = Encoding::for_bom(&bytes) {
        let (text, lossy) = enc.decode_without_bom_handling(&bytes[bom..]);
        return Decoded {
            text: text.into_owned(),
            encoding: enc.name(),
            lossy,
        };
    }
    let bytes = match String::from_utf8(bytes) {
        Ok(text) => {
            return Decoded {
                text,
                encoding: UTF_8.name(),
                lossy: false,
            }
        }
        Err(e) => e.into_bytes(),
    };
    // Truncation may cut a multi-byte character: allow an invalid UTF-8 tail of ≤ 3 bytes.
    if let Err(e) = std::str::from_utf8(&bytes) {
        let valid = e.valid_up_to();
        if e.error_len().is_none() && bytes.len() - valid < 4 && valid > 0 {
            let mut bytes = bytes;
            bytes.truncate(valid);
            return Decoded {
                text: String::from_utf8(bytes).expect("valid up to here"),
                encoding: UTF_8.name(),
                lossy: false,
            };
        }
    }
    decode_legacy(&bytes)
}

/// CP932 or EUC-JP (or, failing both, UTF-8 with replacements).
fn decode_legacy(bytes: &[u8]) -> Decoded {
    let cp932_only = bytes
        .iter()
        .any(|&b| (0x80..=0xA0).contains(&b) && b != 0x8E && b != 0x8F);
    let (enc, clean) = if cp932_only {
        let text = SHIFT_JIS.decode_without_bom_handling_and_without_replacement(bytes);
        (
            SHIFT_JIS,
            text.filter(|t| !t.chars().any(is_halfwidth_katakana)),
        )
    } else {
        let text = EUC_JP.decode_without_bom_handling_and_without_replacement(bytes);
        (EUC_JP, text.filter(|t| japanese_score(t) > 0))
    };
    if let Some(text) = clean {
        return Decoded {
            text: text.into_owned(),
            encoding: enc.name(),
            lossy: false,
        };
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

fn is_halfwidth_katakana(c: char) -> bool {
    ('\u{FF61}'..='\u{FF9F}').contains(&c)
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
    fn the_one_pass_choice_agrees_with_decoding_both_ways() {
        // Half-width katakana in CP932 look like EUC-JP bytes: both are decoded and scored.
        let kana = "ｶﾀｶﾅの社外秘資料";
        let (sjis, _, _) = SHIFT_JIS.encode(kana);
        assert_eq!(decode(&sjis).text, kana);
        // Owned and borrowed decoding agree, also on a UTF-8 tail cut by truncation.
        let mut cut = "極秘".as_bytes().to_vec();
        cut.pop();
        let (a, b) = (decode(&cut), decode_owned(cut.clone()));
        assert_eq!((a.text.as_str(), a.encoding), ("極", "UTF-8"));
        assert_eq!((b.text, b.encoding), (a.text, a.encoding));
    }

    #[test]
    fn invalid_bytes_are_replaced_not_fatal() {
        let d = decode(&[0x82, 0xa0, 0xff, 0xfe, 0x80, 0x00, 0x81]);
        assert!(d.lossy);
    }
}
