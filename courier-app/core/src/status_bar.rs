//! The line every screen shows at the top: pending uploads, age of the last successful sync
//! (red once the data is past the freshness limit) and online/offline, worded in zh-CN.

use serde::{Deserialize, Serialize};

use crate::engine::{EngineStatus, Freshness, ONLINE_WINDOW_SECS};

/// What the status bar shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusBar {
    /// Events waiting for upload.
    pub pending: u64,
    /// Events the server refused for good.
    pub rejected: u64,
    /// The last sync succeeded recently.
    pub online: bool,
    /// A training database (练习模式): never synced.
    pub training: bool,
    /// e.g. 3分钟前同步 / 从未同步.
    pub last_sync_text: String,
    /// The data is past the stale limit (or was never synced): show the age in red.
    pub stale: bool,
    /// Freshness in words.
    pub freshness_text: String,
    /// A warning to show under the bar (clock rollback, last sync error), if any.
    pub warning: Option<String>,
}

/// The status bar for `status`.
pub fn status_bar(status: &EngineStatus) -> StatusBar {
    let online = !status.training
        && status.sync.last_error.is_none()
        && status
            .data_age_secs
            .is_some_and(|age| age <= ONLINE_WINDOW_SECS);
    let last_sync_text = match (status.training, status.data_age_secs) {
        // A training database never syncs; a practice sync state pretends an age.
        (true, Some(age)) if status.freshness != Freshness::Fresh => {
            format!("练习：模拟{}同步", age_text(age))
        }
        (true, _) => "练习模式，不会同步".to_owned(),
        (false, None) => "从未同步".to_owned(),
        (false, Some(age)) => format!("{}同步", age_text(age)),
    };
    let warning = if status.clock_rollback {
        Some("设备时间早于服务器时间，请检查手机时间设置".to_owned())
    } else if status.sync.rejected > 0 {
        Some(format!(
            "{} 条记录被服务器拒收，请联系水厂",
            status.sync.rejected
        ))
    } else {
        None
    };
    StatusBar {
        pending: status.sync.pending,
        rejected: status.sync.rejected,
        online,
        training: status.training,
        last_sync_text,
        stale: status.freshness != Freshness::Fresh,
        freshness_text: status.freshness.message().to_owned(),
        warning,
    }
}

/// A duration ago in words: 刚刚 / 5分钟前 / 3小时前 / 2天前.
pub fn age_text(secs: u64) -> String {
    match secs {
        0..60 => "刚刚".to_owned(),
        60..3600 => format!("{}分钟前", secs / 60),
        3600..86_400 => format!("{}小时前", secs / 3600),
        _ => format!("{}天前", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::SyncState;

    fn status(age: Option<u64>, freshness: Freshness, error: Option<&str>) -> EngineStatus {
        EngineStatus {
            enrolled: true,
            training: false,
            device_id: None,
            courier_name: None,
            sync: SyncState {
                pending: 2,
                rejected: 0,
                last_success: None,
                last_error: error.map(str::to_owned),
            },
            data_age_secs: age,
            freshness,
            clock_rollback: false,
            keyring_version: 1,
            offline_units_used: 0,
            offline_units_budget: 20,
        }
    }

    #[test]
    fn online_needs_a_recent_clean_sync_and_stale_data_is_red() {
        let fresh = status_bar(&status(Some(30), Freshness::Fresh, None));
        assert!(fresh.online && !fresh.stale);
        assert_eq!(fresh.last_sync_text, "刚刚同步");
        assert_eq!(fresh.pending, 2);
        let failing = status_bar(&status(Some(30), Freshness::Fresh, Some("sync_network")));
        assert!(!failing.online);
        let old = status_bar(&status(Some(30 * 3600), Freshness::Stale, None));
        assert!(!old.online && old.stale);
        assert_eq!(old.last_sync_text, "1天前同步");
        let never = status_bar(&status(None, Freshness::Never, None));
        assert!(never.stale);
        assert_eq!(never.last_sync_text, "从未同步");
    }

    #[test]
    fn training_shows_its_practice_age_only_when_it_pretends_old_data() {
        let practice = |age, freshness| {
            status_bar(&EngineStatus {
                training: true,
                ..status(Some(age), freshness, None)
            })
        };
        let fresh = practice(0, Freshness::Fresh);
        assert!(!fresh.online && !fresh.stale);
        assert_eq!(fresh.last_sync_text, "练习模式，不会同步");
        let old = practice(80 * 3600, Freshness::TooOld);
        assert!(!old.online && old.stale);
        assert_eq!(old.last_sync_text, "练习：模拟3天前同步");
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age_text(59), "刚刚");
        assert_eq!(age_text(60), "1分钟前");
        assert_eq!(age_text(7200), "2小时前");
        assert_eq!(age_text(3 * 86_400), "3天前");
    }
}
