//! Property tests: numbers built with the official check-digit and Luhn algorithms are
//! found by the detectors, in every spelling, and numbers with any other check digit are not.

use fuda_classify::detect::{card_issuer_known, luhn_valid, my_number_check_digit, Detector};
use proptest::prelude::*;

fn digits(d: &[u8]) -> String {
    d.iter().map(|x| char::from(b'0' + x)).collect()
}

fn full_width(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap(),
            c => c,
        })
        .collect()
}

/// The Luhn check digit for a payload (independent of the detector's implementation).
fn luhn_digit(payload: &[u8]) -> u8 {
    let sum: u32 = payload
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 0 {
                let x = d * 2;
                x / 10 + x % 10
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_valid_my_number_is_found_in_every_spelling(first in proptest::array::uniform11(0u8..10), style in 0usize..4, gap in 0usize..200) {
        let check = my_number_check_digit(&first);
        let mut all = first.to_vec();
        all.push(check);
        let n = digits(&all);
        let written = match style {
            0 => n.clone(),
            1 => format!("{} {} {}", &n[..4], &n[4..8], &n[8..]),
            2 => format!("{}-{}-{}", &n[..4], &n[4..8], &n[8..]),
            _ => full_width(&n),
        };
        let filler = "あ".repeat(gap / 3);
        let text = format!("個人番号{filler}：{written}。");
        prop_assert_eq!(Detector::MyNumber.count(&text), 1, "{}", text);
        // Without a keyword it is just a number.
        prop_assert_eq!(Detector::MyNumber.count(&format!("伝票番号 {written}")), 0);
    }

    #[test]
    fn any_other_check_digit_is_rejected(first in proptest::array::uniform11(0u8..10), delta in 1u8..10) {
        let wrong = (my_number_check_digit(&first) + delta) % 10;
        let mut all = first.to_vec();
        all.push(wrong);
        prop_assert_eq!(Detector::MyNumber.count(&format!("マイナンバー {}", digits(&all))), 0);
    }

    #[test]
    fn corporate_numbers_never_count(first in proptest::array::uniform11(0u8..10), lead in 1u8..10) {
        // A 13-digit 法人番号 whose last 12 digits are a valid My Number.
        let mut all = vec![lead];
        all.extend_from_slice(&first);
        all.push(my_number_check_digit(&first));
        prop_assert_eq!(Detector::MyNumber.count(&format!("個人番号 法人番号 {}", digits(&all))), 0);
    }

    #[test]
    fn luhn_valid_cards_with_issuer_prefixes_are_found(issuer in 0usize..5, body in proptest::collection::vec(0u8..10, 18), wrong in 1u8..10, grouped in any::<bool>()) {
        let (prefix, len): (&[u8], usize) = [
            (&[4u8][..], 16),          // Visa
            (&[5, 3][..], 16),         // Mastercard
            (&[3, 7][..], 15),         // Amex
            (&[3, 5, 4, 0][..], 16),   // JCB
            (&[6, 0, 1, 1][..], 16),   // Discover
        ][issuer];
        let mut payload = prefix.to_vec();
        payload.extend_from_slice(&body[..len - 1 - prefix.len()]);
        let mut card = payload.clone();
        card.push(luhn_digit(&payload));
        prop_assert!(luhn_valid(&card) && card_issuer_known(&card));
        let s = digits(&card);
        let written = if grouped && len == 16 {
            format!("{} {} {} {}", &s[..4], &s[4..8], &s[8..12], &s[12..])
        } else {
            s.clone()
        };
        prop_assert_eq!(Detector::CreditCard.count(&format!("カード番号: {written}")), 1);
        let mut bad = card.clone();
        *bad.last_mut().unwrap() = (card[len - 1] + wrong) % 10;
        prop_assert_eq!(Detector::CreditCard.count(&format!("カード番号: {}", digits(&bad))), 0);
    }

    #[test]
    fn detectors_never_panic_on_any_text(text in "\\PC{0,200}", bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let lossy = String::from_utf8_lossy(&bytes).into_owned();
        for d in Detector::ALL {
            let _ = d.count(&text);
            let _ = d.count(&lossy);
        }
        let _ = fuda_classify::extract::decode(&bytes);
    }
}
