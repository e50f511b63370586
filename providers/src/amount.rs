//! Money: integers in fen (分) everywhere; Alipay's yuan strings only at its edge.
//!
//! WeChat Pay API v3 already counts in fen (`amount.total` is an integer). Alipay sends and
//! expects yuan with at most two decimals (`"88.88"`); those strings are converted exactly, never
//! through a float, and anything else (a third decimal, a sign, an exponent) is refused.

/// `"88.88"` → 8888. `None` for anything that is not a non-negative yuan amount with at most two
/// decimals, or that does not fit.
pub fn yuan_to_fen(yuan: &str) -> Option<u64> {
    let (whole, fraction) = yuan.split_once('.').unwrap_or((yuan, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 2 {
        return None;
    }
    if yuan.contains('.') && fraction.is_empty() {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    let cents: u64 = format!("{fraction:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(cents)
}

/// 8888 → `"88.88"`, the form Alipay's `total_amount` and `refund_amount` take.
pub fn fen_to_yuan(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn yuan_strings_convert_exactly_and_odd_ones_are_refused() {
        assert_eq!(yuan_to_fen("88.88"), Some(8888));
        assert_eq!(yuan_to_fen("0.1"), Some(10));
        assert_eq!(yuan_to_fen("0.01"), Some(1));
        assert_eq!(yuan_to_fen("12"), Some(1200));
        for bad in [
            "", ".5", "1.", "1.234", "-1.00", "+1", "1e2", "1,00", " 1.00", "１.00",
        ] {
            assert_eq!(yuan_to_fen(bad), None, "{bad:?}");
        }
        assert_eq!(yuan_to_fen("184467440737095516.16"), None);
    }

    proptest! {
        #[test]
        fn fen_round_trips_through_yuan(fen in 0u64..=u64::MAX / 100) {
            prop_assert_eq!(yuan_to_fen(&fen_to_yuan(fen)), Some(fen));
        }
    }
}
