//! Delivery slots (docs/deliveries.md, "Delivery slots"): a region's hours, what an order may
//! choose at a moment (today's or tomorrow's morning or afternoon, today's until an hour before
//! it ends, in Beijing time), and an admin setting a region's hours.

use serde::{Deserialize, Serialize};
use serde_json::json;
use shuipiao_shared::ids::UserId;
use utoipa::ToSchema;

use crate::local_time;
use crate::ordering::addresses::live_address;
use crate::ordering::{OrderingError, ordering_account, region_exists};
use crate::store::delivery_orders::Slot;
use crate::store::delivery_slots::SlotHoursRow;
use crate::store::models::{AuditEntry, User};
use crate::store::{Store, StoreResult};

/// The plant's hours, for a region without its own: 08:00–12:00 and 13:00–18:00.
pub const PLANT_HOURS: [SlotHoursRow; 2] = [
    SlotHoursRow {
        slot: Slot::Morning,
        starts_minute: 8 * 60,
        ends_minute: 12 * 60,
        offered: true,
    },
    SlotHoursRow {
        slot: Slot::Afternoon,
        starts_minute: 13 * 60,
        ends_minute: 18 * 60,
        offered: true,
    },
];

/// Today's slot closes this many minutes before it ends.
pub const CUTOFF_MINUTES: u32 = 60;

/// A region's hours for both slots, in the order of the day: its own rows, else the plant's.
pub async fn hours(store: &Store, region_id: i64) -> StoreResult<[SlotHoursRow; 2]> {
    let own = store.slot_hours(region_id).await?;
    Ok(PLANT_HOURS.map(|plant| {
        own.iter()
            .find(|row| row.slot == plant.slot)
            .copied()
            .unwrap_or(plant)
    }))
}

/// One day and slot an order may name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SlotChoice {
    /// The Beijing day, `YYYY-MM-DD`.
    pub date: String,
    /// 今天 or 明天.
    pub day_label: String,
    /// `morning` or `afternoon`.
    pub slot: String,
    /// 上午 or 下午.
    pub slot_label: String,
    /// `08:00`.
    pub starts: String,
    /// `12:00`.
    pub ends: String,
}

/// `HH:MM` of a minute of the day (1440 is `24:00`).
pub fn clock(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// The choices open at `now` under `hours`, in the order of the days.
pub fn open_at(hours: &[SlotHoursRow; 2], now: i64) -> Vec<SlotChoice> {
    let today = local_time::date(now);
    let tomorrow = local_time::date(now + 86_400);
    let minute = local_time::minute_of_day(now);
    let mut open = Vec::new();
    for (date, day_label, is_today) in [(today, "今天", true), (tomorrow, "明天", false)] {
        for row in hours.iter().filter(|row| row.offered) {
            if is_today && minute + CUTOFF_MINUTES >= u32::from(row.ends_minute) {
                continue;
            }
            open.push(SlotChoice {
                date: date.clone(),
                day_label: day_label.to_string(),
                slot: row.slot.as_str().to_string(),
                slot_label: row.slot.label().to_string(),
                starts: clock(row.starts_minute),
                ends: clock(row.ends_minute),
            });
        }
    }
    open
}

/// The choices open at `now` in region `region_id`.
pub async fn open_in(store: &Store, region_id: i64, now: i64) -> StoreResult<Vec<SlotChoice>> {
    Ok(open_at(&hours(store, region_id).await?, now))
}

/// What `user` may choose now for one of their addresses.
pub async fn for_address(
    store: &Store,
    user: &User,
    address_id: i64,
    now: i64,
) -> Result<Vec<SlotChoice>, OrderingError> {
    let account = ordering_account(user)?;
    let address = live_address(store, account, address_id).await?;
    Ok(open_in(store, address.region_id, now).await?)
}

/// Checks that `date` and `slot` name a choice open at `now` in `region_id`.
pub async fn check_open(
    store: &Store,
    region_id: i64,
    date: &str,
    slot: &str,
    now: i64,
) -> Result<Slot, OrderingError> {
    let date = date.trim();
    let parsed = Slot::parse(slot.trim()).ok_or(OrderingError::SlotChoice)?;
    let near = [local_time::date(now), local_time::date(now + 86_400)];
    if !near.iter().any(|day| day == date) {
        return Err(OrderingError::SlotChoice);
    }
    let open = open_in(store, region_id, now).await?;
    if open
        .iter()
        .any(|choice| choice.date == date && choice.slot == parsed.as_str())
    {
        Ok(parsed)
    } else {
        Err(OrderingError::SlotClosed)
    }
}

/// The first choice still open at `now` in `region_id`.
pub async fn first_open(
    store: &Store,
    region_id: i64,
    now: i64,
) -> Result<SlotChoice, OrderingError> {
    open_in(store, region_id, now)
        .await?
        .into_iter()
        .next()
        .ok_or(OrderingError::NoOpenSlot)
}

/// One slot's hours as typed in the console.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
pub struct SlotHoursInput {
    /// `morning` or `afternoon`.
    pub slot: String,
    /// `HH:MM`.
    pub starts: String,
    /// `HH:MM`, up to `24:00`.
    pub ends: String,
    /// Whether customers may choose it.
    pub offered: bool,
}

fn minute(text: &str) -> Option<u16> {
    let (hour, minute) = text.trim().split_once(':')?;
    if hour.is_empty() || hour.len() > 2 || minute.len() != 2 {
        return None;
    }
    let hour: u16 = hour.parse().ok()?;
    let minute: u16 = minute.parse().ok()?;
    let total = hour.checked_mul(60)?.checked_add(minute)?;
    (minute < 60 && total <= 1440).then_some(total)
}

/// Checks a region's hours: both slots, each a span within the day, the morning's ending by the
/// afternoon's start.
fn check_hours(input: &[SlotHoursInput]) -> Result<[SlotHoursRow; 2], OrderingError> {
    const BAD: OrderingError = OrderingError::SlotHours("时段时间应为 HH:MM,开始早于结束");
    let mut rows = PLANT_HOURS;
    for row in rows.iter_mut() {
        let typed = input
            .iter()
            .find(|typed| typed.slot.trim() == row.slot.as_str())
            .ok_or(OrderingError::SlotHours("请填写上午和下午两个时段"))?;
        let (starts, ends) = match (minute(&typed.starts), minute(&typed.ends)) {
            (Some(starts), Some(ends)) if starts < ends && starts < 1440 => (starts, ends),
            _ => return Err(BAD),
        };
        *row = SlotHoursRow {
            slot: row.slot,
            starts_minute: starts,
            ends_minute: ends,
            offered: typed.offered,
        };
    }
    if rows[0].ends_minute > rows[1].starts_minute {
        return Err(OrderingError::SlotHours("上午时段应在下午时段开始前结束"));
    }
    Ok(rows)
}

/// An admin sets region `region_id`'s slot hours.
pub async fn set_hours(
    store: &Store,
    actor: Option<UserId>,
    region_id: i64,
    input: &[SlotHoursInput],
    now: i64,
) -> Result<[SlotHoursRow; 2], OrderingError> {
    let rows = check_hours(input)?;
    if !region_exists(store, region_id).await? {
        return Err(OrderingError::UnknownRegion);
    }
    let audit = AuditEntry::new(
        actor,
        "region.slots",
        format!("region:{region_id}"),
        json!(
            rows.iter()
                .map(|row| json!({
                    "slot": row.slot.as_str(),
                    "starts": clock(row.starts_minute),
                    "ends": clock(row.ends_minute),
                    "offered": row.offered,
                }))
                .collect::<Vec<_>>()
        ),
    );
    store.set_slot_hours(region_id, &rows, &audit, now).await?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beijing(date: &str, hour: i64, minute: i64) -> i64 {
        local_time::day_start(date).expect("a date") + hour * 3600 + minute * 60
    }

    #[test]
    fn todays_slot_closes_an_hour_before_it_ends() {
        let choices = |now| {
            open_at(&PLANT_HOURS, now)
                .into_iter()
                .map(|c| format!("{} {}", c.date, c.slot))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            choices(beijing("2026-12-08", 10, 59)),
            [
                "2026-12-08 morning",
                "2026-12-08 afternoon",
                "2026-12-09 morning",
                "2026-12-09 afternoon"
            ]
        );
        assert_eq!(
            choices(beijing("2026-12-08", 11, 0)),
            [
                "2026-12-08 afternoon",
                "2026-12-09 morning",
                "2026-12-09 afternoon"
            ]
        );
        assert_eq!(
            choices(beijing("2026-12-08", 17, 0)),
            ["2026-12-09 morning", "2026-12-09 afternoon"]
        );
    }

    #[test]
    fn hours_are_checked() {
        let typed = |slot: &str, starts: &str, ends: &str| SlotHoursInput {
            slot: slot.into(),
            starts: starts.into(),
            ends: ends.into(),
            offered: true,
        };
        let good = [
            typed("morning", "7:30", "11:00"),
            typed("afternoon", "14:00", "24:00"),
        ];
        let rows = check_hours(&good).unwrap();
        assert_eq!((rows[0].starts_minute, rows[1].ends_minute), (450, 1440));
        for bad in [
            [typed("morning", "11:00", "9:00"), good[1].clone()],
            [typed("morning", "9:00", "25:00"), good[1].clone()],
            [typed("morning", "9", "10:00"), good[1].clone()],
            [typed("morning", "9:00", "15:00"), good[1].clone()],
            [good[1].clone(), good[1].clone()],
        ] {
            assert!(check_hours(&bad).is_err(), "{bad:?}");
        }
    }
}
