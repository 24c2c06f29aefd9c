//! Detectors: personal data that auto-labeling rules can ask for by name.
//!
//! Every detector returns a **count**, never the values it found: nothing a detector sees
//! leaves this module, so evidence in labels, logs and JSON output cannot leak a My Number
//! or a card number.
//!
//! | name          | what counts                                                                |
//! |---------------|----------------------------------------------------------------------------|
//! | `my-number`   | 12 digits (`123456789018`, `1234 5678 9018`, `1234-5678-9018`, full-width) with the official check digit, and 個人番号 / マイナンバー / My Number within [`MY_NUMBER_WINDOW`] bytes or in the first line (a column header). 13-digit corporate numbers (法人番号) are public and never count. |
//! | `credit-card` | 13–19 digits (plain or in groups of 4, Amex 4-6-5) that pass the Luhn check and start with a known issuer prefix (Visa, Mastercard, Amex, JCB, Diners, Discover, UnionPay). |
//! | `jp-phone`    | Japanese phone numbers: 0X… landlines (10 digits), 070/080/090/050 (11 digits), 0120/0800 toll-free, also `+81` forms. |
//! | `jp-address`  | a prefecture (都道府県) followed by a 市区町村 name.                          |
//! | `email-list`  | the number of distinct e-mail addresses, when there are at least [`EMAIL_LIST_MIN`] (a list, not a signature line). |
//!
//! ```
//! use fuda_classify::detect::{Detector, my_number_check_digit};
//! let body = [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1];
//! let number: String = body.iter().map(|d| char::from(b'0' + d)).collect::<String>()
//!     + &my_number_check_digit(&body).to_string();
//! let text = format!("氏名,個人番号\n山田太郎,{number}\n");
//! assert_eq!(Detector::MyNumber.count(&text), 1);
//! ```

use std::collections::HashSet;
use std::sync::OnceLock;

use regex::Regex;

/// How close (in bytes of UTF-8 text) a My Number keyword must be to the number.
pub const MY_NUMBER_WINDOW: usize = 300;

/// The fewest distinct addresses that make an `email-list`.
pub const EMAIL_LIST_MIN: usize = 5;

/// Keywords that make a 12-digit number a My Number candidate.
pub const MY_NUMBER_KEYWORDS: [&str; 5] = [
    "個人番号",
    "マイナンバー",
    "my number",
    "mynumber",
    "マイナンバ-",
];

/// A built-in detector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Detector {
    /// 個人番号 with check digit and a keyword nearby.
    MyNumber,
    /// Payment card numbers (Luhn + issuer prefix).
    CreditCard,
    /// Japanese phone numbers.
    JpPhone,
    /// Japanese postal addresses (都道府県 + 市区町村).
    JpAddress,
    /// Lists of e-mail addresses.
    EmailList,
}

impl Detector {
    /// Every detector, in the order of `fuda_core::policy::DETECTORS`.
    pub const ALL: [Detector; 5] = [
        Detector::MyNumber,
        Detector::CreditCard,
        Detector::JpPhone,
        Detector::JpAddress,
        Detector::EmailList,
    ];

    /// The detector's name in policies.
    pub fn name(self) -> &'static str {
        match self {
            Detector::MyNumber => "my-number",
            Detector::CreditCard => "credit-card",
            Detector::JpPhone => "jp-phone",
            Detector::JpAddress => "jp-address",
            Detector::EmailList => "email-list",
        }
    }

    /// The detector a policy names.
    pub fn from_name(name: &str) -> Option<Detector> {
        Detector::ALL.into_iter().find(|d| d.name() == name)
    }

    /// How many hits the detector finds in `text`.
    pub fn count(self, text: &str) -> u32 {
        let mut counts = Counts::default();
        scan(text, &[self], &mut counts);
        counts.get(self)
    }
}

/// Hit counts per detector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts([u32; 5]);

impl Counts {
    /// The count of one detector.
    pub fn get(&self, d: Detector) -> u32 {
        self.0[d as usize]
    }

    fn add(&mut self, d: Detector, n: u32) {
        self.0[d as usize] = self.0[d as usize].saturating_add(n);
    }
}

/// Runs the `wanted` detectors over `text` in one pass over its digits, adding to `counts`.
pub fn scan(text: &str, wanted: &[Detector], counts: &mut Counts) {
    let keywords = if wanted.contains(&Detector::MyNumber) {
        my_number_keywords(text)
    } else {
        Vec::new()
    };
    scan_with_keywords(text, wanted, &keywords, counts);
}

/// [`scan`] for a caller that already searched `text` for [`MY_NUMBER_KEYWORDS`] (ASCII ones
/// case-insensitively) in its own pass: `keywords` are the byte offsets where they start.
pub fn scan_with_keywords(
    text: &str,
    wanted: &[Detector],
    keywords: &[usize],
    counts: &mut Counts,
) {
    let want = |d| wanted.contains(&d);
    let digits = want(Detector::MyNumber) || want(Detector::CreditCard) || want(Detector::JpPhone);
    if digits {
        let header_end = text.find('\n').unwrap_or(text.len());
        let header_has_keyword = keywords.iter().any(|&k| k < header_end);
        for token in NumberTokens::new(text.as_bytes()) {
            if want(Detector::MyNumber) && token.is_my_number_shape() && token.my_number_valid() {
                let near = header_has_keyword
                    || keywords.iter().any(|&k| {
                        k + MY_NUMBER_WINDOW >= token.start && k <= token.end + MY_NUMBER_WINDOW
                    });
                if near {
                    counts.add(Detector::MyNumber, 1);
                }
            }
            if want(Detector::CreditCard) && token.is_card() {
                counts.add(Detector::CreditCard, 1);
            }
            if want(Detector::JpPhone) && token.is_jp_phone() {
                counts.add(Detector::JpPhone, 1);
            }
        }
    }
    if want(Detector::JpAddress) {
        counts.add(
            Detector::JpAddress,
            address_regex().find_iter(text).count() as u32,
        );
    }
    if want(Detector::EmailList) && text.contains('@') {
        let mut seen = HashSet::new();
        for m in email_regex().find_iter(text) {
            // Only a hash of the lower-cased address is kept, and only for this call.
            seen.insert(fxhash(&m.as_str().to_ascii_lowercase()));
        }
        if seen.len() >= EMAIL_LIST_MIN {
            counts.add(Detector::EmailList, seen.len() as u32);
        }
    }
}

/// Byte offsets of My Number keywords (ASCII ones case-insensitively).
fn my_number_keywords(text: &str) -> Vec<usize> {
    static AC: OnceLock<aho_corasick::AhoCorasick> = OnceLock::new();
    let ac = AC.get_or_init(|| {
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .build(MY_NUMBER_KEYWORDS)
            .expect("fixed keywords build")
    });
    ac.find_iter(text).map(|m| m.start()).collect()
}

/// The official check digit of a My Number (個人番号) for its first 11 digits.
///
/// From the ordinance (行政手続における特定の個人を識別するための番号の利用等に関する法律施行令
/// 第八条): with P(n) the n-th digit counted from the right of the 11 and Q(n) = n + 1 for
/// n ≤ 6, n − 5 for n ≥ 7, the check digit is 0 if Σ P(n)·Q(n) mod 11 ≤ 1, else 11 minus it.
pub fn my_number_check_digit(first11: &[u8; 11]) -> u8 {
    let sum: u32 = (1..=11)
        .map(|n| {
            let p = u32::from(first11[11 - n]);
            let q = if n <= 6 { n + 1 } else { n - 5 } as u32;
            p * q
        })
        .sum();
    let r = sum % 11;
    if r <= 1 {
        0
    } else {
        (11 - r) as u8
    }
}

/// Whether `digits` pass the Luhn check.
pub fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Whether a card number of this length starts with a known issuer prefix.
pub fn card_issuer_known(digits: &[u8]) -> bool {
    let len = digits.len();
    let prefix = |n: usize| -> u32 {
        digits[..n.min(len)]
            .iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d))
    };
    let (p1, p2, p3, p4, p6) = (prefix(1), prefix(2), prefix(3), prefix(4), prefix(6));
    // Visa
    (p1 == 4 && matches!(len, 13 | 16 | 19))
        // Mastercard
        || (len == 16 && ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)))
        // American Express
        || (len == 15 && (p2 == 34 || p2 == 37))
        // JCB
        || ((16..=19).contains(&len) && (3528..=3589).contains(&p4))
        // Diners Club
        || ((14..=19).contains(&len)
            && ((300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39))
        // Discover
        || ((16..=19).contains(&len)
            && (p4 == 6011 || p2 == 65 || (644..=649).contains(&p3) || (622126..=622925).contains(&p6)))
        // UnionPay
        || ((16..=19).contains(&len) && p2 == 62)
}

/// Up to [`Small::CAP`] small numbers, on the stack: a token's digits or group lengths
/// (the tokenizer runs on every number in every file, so it allocates nothing).
#[derive(Clone, Copy, Debug)]
struct Small {
    buf: [u8; Small::CAP],
    len: usize,
}

impl Small {
    /// Tokens with this many digits or more are discarded, so they never need more.
    const CAP: usize = 32;

    fn new() -> Small {
        Small {
            buf: [0; Small::CAP],
            len: 0,
        }
    }

    /// Appends `x`; beyond the capacity only the count grows.
    fn push(&mut self, x: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = x;
        }
        self.len += 1;
    }

    fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len.min(Small::CAP)]
    }
}

/// A run of digits, possibly grouped by single spaces or hyphens.
#[derive(Debug)]
struct NumberToken {
    start: usize,
    end: usize,
    digits: Small,
    groups: Small,
    plus81: bool,
    paren: bool,
}

impl NumberToken {
    fn is_my_number_shape(&self) -> bool {
        self.digits.len == 12 && matches!(self.groups.as_slice(), [12] | [4, 4, 4])
    }

    fn my_number_valid(&self) -> bool {
        let mut first = [0u8; 11];
        first.copy_from_slice(&self.digits.buf[..11]);
        my_number_check_digit(&first) == self.digits.buf[11]
    }

    fn is_card(&self) -> bool {
        let shape = match self.groups.as_slice() {
            [n] => (13..=19).contains(n),
            [4, 4, 4, 4] | [4, 6, 5] | [4, 6, 4] | [4, 4, 4, 4, 3] => true,
            _ => false,
        };
        let digits = self.digits.as_slice();
        shape && luhn_valid(digits) && card_issuer_known(digits)
    }

    fn is_jp_phone(&self) -> bool {
        // The national form: +81-90-1234-5678 is 090-1234-5678.
        let mut national = [0u8; Small::CAP + 1];
        let d: &[u8] = if self.plus81 {
            let Some(rest) = self.digits.as_slice().strip_prefix(&[8, 1]) else {
                return false;
            };
            if rest.first() == Some(&0) {
                rest
            } else {
                national[1..=rest.len()].copy_from_slice(rest);
                &national[..=rest.len()]
            }
        } else {
            self.digits.as_slice()
        };
        if d.first() != Some(&0) || d.get(1) == Some(&0) {
            return false;
        }
        let grouped = self.groups.len == 3 || self.paren || self.plus81;
        if !grouped && self.groups.len != 1 {
            return false;
        }
        let mobile = matches!(d.get(1..3), Some([7..=9, 0]) | Some([5, 0]));
        let free = d.starts_with(&[0, 1, 2, 0]) || d.starts_with(&[0, 8, 0, 0]);
        if mobile {
            d.len() == 11
        } else if free {
            d.len() == 10 || d.len() == 11
        } else {
            // Landlines: 10 digits; unseparated ones only with an explicit grouping hint
            // elsewhere would be guesswork, so a bare 10-digit run counts too (0 + 9).
            d.len() == 10
        }
    }
}

/// Splits text into number tokens: ASCII or full-width digits, with single spaces or
/// hyphens (ASCII, full-width, or the minus sign) between groups.
struct NumberTokens<'a> {
    text: &'a [u8],
    pos: usize,
}

impl<'a> NumberTokens<'a> {
    fn new(text: &'a [u8]) -> Self {
        NumberTokens { text, pos: 0 }
    }

    /// The digit at `i` and its byte length (ASCII or full-width ０-９).
    fn digit_at(&self, i: usize) -> Option<(u8, usize)> {
        let b = *self.text.get(i)?;
        if b.is_ascii_digit() {
            return Some((b - b'0', 1));
        }
        if b == 0xEF && self.text.get(i + 1) == Some(&0xBC) {
            let c = *self.text.get(i + 2)?;
            if (0x90..=0x99).contains(&c) {
                return Some((c - 0x90, 3));
            }
        }
        None
    }

    /// A group separator at `i` and its byte length.
    fn separator_at(&self, i: usize) -> Option<usize> {
        match self.text.get(i..) {
            Some([b' ' | b'-', ..]) => Some(1),
            // ー (U+30FC), － (U+FF0D), − (U+2212), ‐ (U+2010)
            Some([0xE3, 0x83, 0xBC, ..])
            | Some([0xEF, 0xBC, 0x8D, ..])
            | Some([0xE2, 0x88, 0x92, ..])
            | Some([0xE2, 0x80, 0x90, ..]) => Some(3),
            _ => None,
        }
    }

    fn is_ascii_alnum_before(&self, i: usize) -> bool {
        i > 0 && (self.text[i - 1].is_ascii_alphanumeric() || self.text[i - 1] == b'.')
    }
}

impl Iterator for NumberTokens<'_> {
    type Item = NumberToken;

    fn next(&mut self) -> Option<NumberToken> {
        loop {
            // Find the next digit quickly.
            let rest = self.text.get(self.pos..)?;
            let skip = rest.iter().position(|&b| b.is_ascii_digit() || b == 0xEF)?;
            self.pos += skip;
            if self.digit_at(self.pos).is_none() {
                self.pos += 1;
                continue;
            }
            let start = self.pos;
            let glued = self.is_ascii_alnum_before(start);
            let plus81 = start >= 1 && self.text[start - 1] == b'+';
            let paren = start >= 1 && self.text[start - 1] == b'(';
            let mut digits = Small::new();
            let mut groups = Small::new();
            let mut group = 0u8;
            let mut i = start;
            let mut paren_closed = false;
            loop {
                if let Some((d, n)) = self.digit_at(i) {
                    digits.push(d);
                    group = group.saturating_add(1);
                    i += n;
                    continue;
                }
                // A separator continues the token only when a digit follows it.
                let sep = if paren && !paren_closed && self.text.get(i) == Some(&b')') {
                    paren_closed = true;
                    Some(1)
                } else {
                    self.separator_at(i)
                };
                match sep {
                    Some(n) if self.digit_at(i + n).is_some() => {
                        groups.push(group);
                        group = 0;
                        i += n;
                    }
                    _ => break,
                }
            }
            groups.push(group);
            self.pos = i;
            // Digits glued to letters, decimals or longer digit runs are not numbers we know.
            let glued_after = self.text.get(i).is_some_and(|b| {
                b.is_ascii_alphabetic() || *b == b'.' && self.digit_at(i + 1).is_some()
            });
            if glued || glued_after || digits.len >= Small::CAP {
                continue;
            }
            return Some(NumberToken {
                start,
                end: i,
                digits,
                groups,
                plus81,
                paren,
            });
        }
    }
}

fn address_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let prefectures = "北海道|青森県|岩手県|宮城県|秋田県|山形県|福島県|茨城県|栃木県|群馬県|埼玉県|千葉県|東京都|神奈川県|新潟県|富山県|石川県|福井県|山梨県|長野県|岐阜県|静岡県|愛知県|三重県|滋賀県|京都府|大阪府|兵庫県|奈良県|和歌山県|鳥取県|島根県|岡山県|広島県|山口県|徳島県|香川県|愛媛県|高知県|福岡県|佐賀県|長崎県|熊本県|大分県|宮崎県|鹿児島県|沖縄県";
        Regex::new(&format!(
            r"(?:{prefectures})\s?[\p{{Han}}\p{{Hiragana}}\p{{Katakana}}ー]{{1,8}}?(?:市|区|町|村|郡)"
        ))
        .expect("address regex")
    })
}

fn email_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63})*\.[A-Za-z]{2,24}")
            .expect("email regex")
    })
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn my_number(first11: [u8; 11]) -> String {
        let mut s: String = first11.iter().map(|d| char::from(b'0' + d)).collect();
        s.push(char::from(b'0' + my_number_check_digit(&first11)));
        s
    }

    #[test]
    fn my_numbers_need_the_check_digit_and_a_keyword() {
        let good = my_number([1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
        assert_eq!(Detector::MyNumber.count(&format!("個人番号: {good}")), 1);
        assert_eq!(Detector::MyNumber.count(&format!("注文番号: {good}")), 0);
        let mut bad = good.clone().into_bytes();
        bad[11] = b'0' + (bad[11] - b'0' + 1) % 10;
        let bad = String::from_utf8(bad).unwrap();
        assert_eq!(Detector::MyNumber.count(&format!("個人番号: {bad}")), 0);
        // Grouped and full-width forms.
        let grouped = format!("{} {} {}", &good[..4], &good[4..8], &good[8..]);
        assert_eq!(
            Detector::MyNumber.count(&format!("マイナンバー {grouped}")),
            1
        );
        let wide: String = good
            .chars()
            .map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap())
            .collect();
        assert_eq!(Detector::MyNumber.count(&format!("個人番号：{wide}")), 1);
    }

    #[test]
    fn corporate_numbers_are_not_my_numbers() {
        // 13-digit 法人番号 (public): never counted, even when 12 of its digits would pass.
        let good = my_number([1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
        assert_eq!(
            Detector::MyNumber.count(&format!("個人番号 法人番号 7{good}")),
            0
        );
        assert_eq!(Detector::MyNumber.count(&format!("個人番号 {good}7")), 0);
    }

    #[test]
    fn cards_need_luhn_and_an_issuer() {
        assert_eq!(Detector::CreditCard.count("VISA 4111 1111 1111 1111"), 1);
        assert_eq!(Detector::CreditCard.count("JCB 3530111333300000"), 1);
        assert_eq!(Detector::CreditCard.count("Amex 3782-822463-10005"), 1);
        assert_eq!(Detector::CreditCard.count("VISA 4111 1111 1111 1112"), 0);
        assert_eq!(Detector::CreditCard.count("9111 1111 1111 1111"), 0);
    }

    #[test]
    fn phones_addresses_and_mail_lists() {
        assert_eq!(
            Detector::JpPhone.count("TEL 03-1234-5678 携帯 090-1234-5678 +81-90-1234-5678"),
            3
        );
        assert_eq!(Detector::JpPhone.count("部品番号 12-3456-7890"), 0);
        assert_eq!(
            Detector::JpAddress.count("東京都千代田区丸の内1-1 / 愛知県豊田市トヨタ町1"),
            2
        );
        let few = "a@example.com b@example.com";
        assert_eq!(Detector::EmailList.count(few), 0);
        let many: String = (0..7).map(|i| format!("user{i}@example.co.jp\n")).collect();
        assert_eq!(Detector::EmailList.count(&many), 7);
    }
}
