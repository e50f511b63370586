//! Plant-local time for people: Beijing time (UTC+8, no daylight saving) for display and for the
//! date filters of web pages. The protocol and the database keep UTC unix seconds.

use time::format_description::FormatItem;
use time::macros::{format_description, offset};
use time::{Date, Month, OffsetDateTime, UtcOffset};

const BEIJING: UtcOffset = offset!(+8);
const DATE: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]");
const MINUTE: &[FormatItem<'static>] = format_description!("[year]-[month]-[day] [hour]:[minute]");

fn local(unix: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .map(|at| at.to_offset(BEIJING))
}

/// `2026-11-27`.
pub fn date(unix: i64) -> String {
    local(unix)
        .and_then(|at| at.format(DATE).ok())
        .unwrap_or_default()
}

/// `2026-11-27 15:04`.
pub fn minute(unix: i64) -> String {
    local(unix)
        .and_then(|at| at.format(MINUTE).ok())
        .unwrap_or_default()
}

/// The first second of a `YYYY-MM-DD` day in Beijing; `None` if the text is not a date.
pub fn day_start(text: &str) -> Option<i64> {
    let day = Date::parse(text.trim(), DATE).ok()?;
    Some(day.midnight().assume_offset(BEIJING).unix_timestamp())
}

/// The first second after a `YYYY-MM-DD` day in Beijing (an exclusive end).
pub fn day_end(text: &str) -> Option<i64> {
    day_start(text).map(|start| start + 86_400)
}

/// A `YYYY-MM` month in Beijing as its first second and the first second after it; `None` if
/// the text is not such a month (four-digit years only, so the month after December always
/// exists on the calendar).
pub fn month_span(text: &str) -> Option<(i64, i64)> {
    let (year, month) = text.trim().split_once('-')?;
    if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) || month.len() > 2 {
        return None;
    }
    let year: i32 = year.parse().ok()?;
    let month = Month::try_from(month.parse::<u8>().ok()?).ok()?;
    let next = match month {
        Month::December => Date::from_calendar_date(year.checked_add(1)?, Month::January, 1),
        month => Date::from_calendar_date(year, month.next(), 1),
    };
    let start = |day: Date| day.midnight().assume_offset(BEIJING).unix_timestamp();
    Some((
        start(Date::from_calendar_date(year, month, 1).ok()?),
        start(next.ok()?),
    ))
}

/// Minutes since Beijing midnight at `unix` (0–1439).
pub fn minute_of_day(unix: i64) -> u32 {
    (unix + i64::from(BEIJING.whole_seconds())).rem_euclid(86_400) as u32 / 60
}

/// The `YYYY-MM-DD` day `days` after the day `text`; `None` if the text is not a date.
pub fn add_days(text: &str, days: i64) -> Option<String> {
    let day = Date::parse(text.trim(), DATE).ok()?;
    day.checked_add(time::Duration::days(days))?
        .format(DATE)
        .ok()
}

/// A `YYYY-MM-DD` day as a customer's message says it, `12月8日`; the text itself if it is not a
/// date.
pub fn month_day(text: &str) -> String {
    match Date::parse(text.trim(), DATE) {
        Ok(day) => format!("{}月{}日", u8::from(day.month()), day.day()),
        Err(_) => text.to_string(),
    }
}

/// The ISO weekday of a `YYYY-MM-DD` day: 1 is Monday, 7 Sunday.
pub fn weekday(text: &str) -> Option<u8> {
    Date::parse(text.trim(), DATE)
        .ok()
        .map(|day| day.weekday().number_from_monday())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_reads_as_month_and_day() {
        assert_eq!(month_day("2026-12-08"), "12月8日");
        assert_eq!(month_day("2027-01-31"), "1月31日");
        assert_eq!(month_day("昨天"), "昨天");
    }

    #[test]
    fn beijing_days_are_eight_hours_ahead_of_utc() {
        // 2026-11-26T16:00:00Z is midnight of the 27th in Beijing.
        let midnight = 1_795_708_800;
        assert_eq!(day_start("2026-11-27"), Some(midnight));
        assert_eq!(day_end("2026-11-27"), Some(midnight + 86_400));
        assert_eq!(date(midnight), "2026-11-27");
        assert_eq!(date(midnight - 1), "2026-11-26");
        assert_eq!(minute(midnight + 3_660), "2026-11-27 01:01");
        assert_eq!(day_start("27/11/2026"), None);
        assert_eq!(day_start(""), None);
        assert_eq!(minute_of_day(midnight), 0);
        assert_eq!(minute_of_day(midnight - 60), 1439);
        assert_eq!(minute_of_day(midnight + 3_660), 61);
        assert_eq!(add_days("2026-12-31", 1).as_deref(), Some("2027-01-01"));
        assert_eq!(add_days("2026-13-01", 1), None);
        assert_eq!(weekday("2026-12-07"), Some(1), "a Monday");
        assert_eq!(weekday("2026-12-13"), Some(7), "a Sunday");
    }

    #[test]
    fn months_are_whole_beijing_months() {
        let november = month_span("2026-11").unwrap();
        assert_eq!(
            november,
            (
                day_start("2026-11-01").unwrap(),
                day_start("2026-12-01").unwrap()
            )
        );
        let december = month_span("2026-12").unwrap();
        assert_eq!(december.1, day_start("2027-01-01").unwrap());
        for bad in [
            "2147483647-12",
            "9999-99",
            "2026-13",
            "2026-0",
            "26-11",
            "-2026-11",
            "2026",
        ] {
            assert_eq!(month_span(bad), None, "{bad}");
        }
    }
}
