//! The delivery list screen: one Beijing day of the courier's orders, kept offline on the
//! device (store [`crate::store::deliveries`]), sorted by slot and address, with how many are
//! done and how many are left, and phones masked for lists others may glance at.

use serde::{Deserialize, Serialize};
use shuipiao_shared::event::MissReason;

use crate::engine::format_beijing_time;
use crate::store::deliveries::Delivery;

/// One day's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayList {
    /// The Beijing day, `YYYY-MM-DD`.
    pub day: String,
    /// Orders closed at the door.
    pub done: usize,
    /// Orders still to deliver.
    pub left: usize,
    /// The orders, morning before afternoon, then by address.
    pub items: Vec<Delivery>,
}

impl DayList {
    /// The list of `day` from its orders (already sorted by the store).
    pub fn new(day: String, items: Vec<Delivery>) -> DayList {
        let done = items.iter().filter(|item| item.state.is_done()).count();
        DayList {
            day,
            done,
            left: items.len() - done,
            items,
        }
    }

    /// The same list with every phone masked ([`mask_phone`]).
    pub fn masked(mut self) -> DayList {
        for item in &mut self.items {
            item.task.phone = mask_phone(&item.task.phone);
        }
        self
    }
}

/// The Beijing day of unix time `now`, `YYYY-MM-DD`.
pub fn beijing_day(now: u64) -> String {
    format_beijing_time(now)[..10].to_owned()
}

/// Reads a day typed by a person: `YYYY-MM-DD`, or `None` with the reason in zh-CN.
pub fn parse_day(text: &str) -> Result<String, &'static str> {
    let text = text.trim();
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
    let shaped = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && digits(0..4)
        && digits(5..7)
        && digits(8..10);
    let number = |range: std::ops::Range<usize>| text[range].parse::<u8>().unwrap_or(0);
    if !shaped || !(1..=12).contains(&number(5..7)) || !(1..=31).contains(&number(8..10)) {
        return Err("日期格式应为 YYYY-MM-DD，例如 2026-12-08");
    }
    Ok(text.to_owned())
}

/// Reads a reason an order was not delivered as a person types it: its zh-CN name
/// (无人在家, 地址错误, 客户拒收, 其他) or its protocol name (`nobody_home`, `wrong_address`,
/// `refused`, `other`); otherwise the zh-CN hint.
pub fn parse_miss_reason(text: &str) -> Result<MissReason, &'static str> {
    let text = text.trim();
    MissReason::ALL
        .into_iter()
        .find(|reason| {
            reason.label() == text
                || serde_json::to_value(reason).is_ok_and(|name| name.as_str() == Some(text))
        })
        .ok_or("未送达原因应为 无人在家、地址错误、客户拒收 或 其他")
}

/// A phone for a list: the first three and last four digits, e.g. `138****8000`; anything
/// shorter than eight characters is masked whole.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 8 {
        return "*".repeat(chars.len());
    }
    let hidden = chars.len() - 7;
    chars[..3]
        .iter()
        .chain(std::iter::repeat_n(&'*', hidden))
        .chain(&chars[chars.len() - 4..])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_keep_only_their_ends() {
        assert_eq!(mask_phone("13800138000"), "138****8000");
        assert_eq!(mask_phone("1234567"), "*******");
        assert_eq!(mask_phone(""), "");
    }

    #[test]
    fn days_are_read_strictly_and_told_in_chinese() {
        assert_eq!(parse_day(" 2026-12-08 ").unwrap(), "2026-12-08");
        for bad in [
            "2026-13-01",
            "2026-12-00",
            "2026/12/08",
            "明天",
            "2026-1-08",
            "２026-12-08",
        ] {
            assert!(parse_day(bad).unwrap_err().contains("YYYY-MM-DD"), "{bad}");
        }
    }

    #[test]
    fn miss_reasons_are_read_by_either_name() {
        for reason in MissReason::ALL {
            assert_eq!(parse_miss_reason(reason.label()), Ok(reason));
        }
        assert_eq!(
            parse_miss_reason(" nobody_home "),
            Ok(MissReason::NobodyHome)
        );
        assert_eq!(parse_miss_reason("refused"), Ok(MissReason::Refused));
        for bad in ["", "路上堵车", "NobodyHome", "4"] {
            assert!(
                parse_miss_reason(bad).unwrap_err().contains("无人在家"),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_day_is_the_beijing_day() {
        // 2026-12-07T16:30:00Z is already 8 December in Beijing.
        assert_eq!(beijing_day(1_796_661_000), "2026-12-08");
    }
}
