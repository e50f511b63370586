//! When the demo plant's water goes out: working hours in Beijing (08:00–20:00) with a morning
//! and an evening peak, households busier at weekends and offices on weekdays, and Wuhan's hot
//! summers (June–September) selling far more water than its winters. Pure, and driven by the
//! demo's seeded [`Dice`], so every demo shows the same year.

/// A small deterministic generator (xorshift) so every demo looks the same; no crate needed for
/// a few lines that only have to be repeatable, not unpredictable.
pub(super) struct Dice(pub(super) u64);

impl Dice {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in `[0, 1)`.
    pub(super) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Who drinks the water: a family at home or an office's staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Drinker {
    Household,
    Office,
}

/// Demand in each month (January first) relative to a mild month: Wuhan's summers are long
/// and hot, and the Spring Festival empties offices in February.
const SEASON: [f64; 12] = [
    0.70, 0.62, 0.75, 0.90, 1.05, 1.40, 1.65, 1.65, 1.35, 1.00, 0.80, 0.72,
];

/// Weight of each hour from 08:00 to 19:00 (the last delivery starts before 20:00): a morning
/// peak at 09–11 and an evening peak at 17–19, when people are home.
const HOURS: [u64; 12] = [3, 6, 7, 5, 2, 2, 3, 3, 4, 6, 8, 5];

/// First working hour, Beijing time; the last ends at 20:00.
const OPENS_HOUR: u64 = 8;

/// Demand factor of the month of a `YYYY-MM-DD` day.
pub(super) fn season(date: &str) -> f64 {
    let month: usize = date.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(1);
    SEASON[month.clamp(1, 12) - 1]
}

/// Demand factor of an ISO weekday (1 Monday … 7 Sunday) for `drinker`.
pub(super) fn weekday(weekday: u8, drinker: Drinker) -> f64 {
    let weekend = weekday >= 6;
    match (drinker, weekend) {
        (Drinker::Household, false) => 0.9,
        (Drinker::Household, true) => 1.25,
        (Drinker::Office, false) => 1.35,
        (Drinker::Office, true) => 0.1,
    }
}

/// Seconds after local midnight of a delivery: an hour drawn from [`HOURS`], then a second of
/// that hour.
pub(super) fn time_of_day(dice: &mut Dice) -> u64 {
    let mut pick = dice.below(HOURS.iter().sum());
    let mut hour = OPENS_HOUR;
    for weight in HOURS {
        if pick < weight {
            break;
        }
        pick -= weight;
        hour += 1;
    }
    hour * 3_600 + dice.below(3_600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_fall_in_working_hours_with_two_peaks() {
        let mut dice = Dice(7);
        let mut per_hour = [0u32; 24];
        for _ in 0..20_000 {
            let at = time_of_day(&mut dice);
            per_hour[(at / 3_600) as usize] += 1;
        }
        assert!(per_hour[..8].iter().chain(&per_hour[20..]).all(|&n| n == 0));
        assert!(
            per_hour[10] > 2 * per_hour[13],
            "morning peak: {per_hour:?}"
        );
        assert!(
            per_hour[18] > 2 * per_hour[13],
            "evening peak: {per_hour:?}"
        );
    }

    #[test]
    fn summer_outsells_winter_and_offices_rest_at_weekends() {
        assert!(season("2026-07-15") > 2.0 * season("2026-01-15"));
        assert!(season("2026-09-01") > season("2026-11-01"));
        assert!(weekday(6, Drinker::Household) > weekday(2, Drinker::Household));
        assert!(weekday(7, Drinker::Office) < weekday(3, Drinker::Office));
    }
}
