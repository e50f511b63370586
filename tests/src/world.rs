//! One scenario's world: a fresh database, the server in-process on it, and the plant set up
//! through the admin API.

use shuipiao_courier::engine::{OutcomeKind, ScanOutcome};
use shuipiao_server::config::Config;
use shuipiao_shared::ids::EventId;
use shuipiao_shared::verdict::RejectReason;

use crate::device::Device;
use crate::inspect::ServerView;
use crate::plant::Plant;
use crate::server::InProcessServer;
use shuipiao_test_support::TestDb;

/// Database, server and plant.
pub struct World {
    /// The server's database.
    pub db: TestDb,
    /// The server.
    pub server: InProcessServer,
    /// The plant's catalogue and admin.
    pub plant: Plant,
}

impl World {
    /// Starts the server on `db` and sets up the plant.
    pub async fn start(db: TestDb) -> World {
        World::start_with(db, |_| {}).await
    }

    /// [`World::start`] with the server's configuration changed by `configure`.
    pub async fn start_with(db: TestDb, configure: impl FnOnce(&mut Config)) -> World {
        let server = InProcessServer::start_with(&db, configure).await;
        let plant = Plant::setup(&server.url).await;
        World { db, server, plant }
    }

    /// A new courier with an enrolled device talking to the server directly.
    pub async fn device(&self, name: &str) -> Device {
        let code = self.plant.courier_code(name).await;
        Device::enroll(&self.server.url, &code, name).await
    }

    /// What the server holds now.
    pub async fn view(&self) -> ServerView {
        ServerView::load(&self.db.url).await
    }
}

/// Asserts a green screen and returns the redemption's event id.
pub fn accepted(who: &str, outcome: &ScanOutcome, remaining: u16) -> EventId {
    assert_eq!(
        (outcome.kind, outcome.remaining),
        (OutcomeKind::Accepted, Some(remaining)),
        "{who}: expected 可以送水 with {remaining} left, got {outcome:#?}"
    );
    assert_eq!(outcome.title, "可以送水", "{who}: {outcome:#?}");
    outcome
        .event_id
        .unwrap_or_else(|| panic!("{who}: an accept without an event: {outcome:#?}"))
}

/// Asserts a red screen with `reason` and its zh-CN text, and returns the scan attempt's id.
pub fn rejected(who: &str, outcome: &ScanOutcome, reason: RejectReason, text: &str) -> EventId {
    assert_eq!(
        (outcome.kind, outcome.reason, outcome.title.as_str()),
        (OutcomeKind::Rejected, Some(reason), text),
        "{who}: expected a red screen {text} ({reason:?}), got {outcome:#?}"
    );
    assert_eq!(outcome.units, 0, "{who}: a refusal redeemed units");
    outcome
        .event_id
        .unwrap_or_else(|| panic!("{who}: a refusal left no scan attempt: {outcome:#?}"))
}

impl World {
    /// The operator's `compromise-key` command run at server time `at` (unix seconds): marks
    /// issuer key `kid` (hex) compromised from `at` and reissues its live books under the
    /// active key, through the server library as the CLI does. Scenarios whose device clocks
    /// run ahead of the wall clock pass `at` so "before" and "after" mean what they say.
    pub async fn compromise_key_at(&self, kid: &str, at: u64) -> Vec<shuipiao_shared::ids::BookId> {
        let kid = shuipiao_server::keys::parse_kid(kid).expect("kid is 8 hex digits");
        let master = crate::server::master_key();
        let now = i64::try_from(at).expect("time fits");
        let since = u32::try_from(at).expect("time fits");
        shuipiao_server::keys::mark_compromised(&self.server.store, &master, kid, since, None, now)
            .await
            .expect("mark the key compromised");
        shuipiao_server::issuance::reissue_compromised(&self.server.store, &master, kid, None, now)
            .await
            .expect("reissue the key's live books")
            .into_iter()
            .map(|book| book.issued.id)
            .collect()
    }
}
