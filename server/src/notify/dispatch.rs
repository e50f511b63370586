//! Delivering the outbox: each due message is claimed (several servers may run rounds on one
//! database), then goes to its channel's adapter; a failure is retried with exponential backoff
//! and the message is dead-lettered after the configured number of attempts, whatever its
//! channel.

use std::time::Duration;

use crate::config::{MasterKey, PromotionConfig};
use crate::notify::adapter::Adapters;
use crate::store::{Store, StoreResult};

/// First retry delay; each further retry doubles it, up to [`MAX_BACKOFF_SECS`].
pub const FIRST_BACKOFF_SECS: i64 = 30;
/// Longest wait between two attempts.
pub const MAX_BACKOFF_SECS: i64 = 3_600;
/// How long a round's messages stay claimed by this server. A round delivers one message after
/// another, each within the gateway's 10 s timeout, so a claim outlives its round; if the server
/// dies mid-round, the others deliver its messages after this.
pub const CLAIM_SECS: i64 = 30 * 60;

/// When to try again after the `attempts`-th failed attempt, or `None` to give up.
pub fn retry_at(now: i64, attempts: u32, max_attempts: u32) -> Option<i64> {
    (attempts < max_attempts).then(|| {
        let doublings = attempts.saturating_sub(1).min(16);
        now + (FIRST_BACKOFF_SECS << doublings).min(MAX_BACKOFF_SECS)
    })
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Delivered.
    pub sent: u32,
    /// Failed, to be retried.
    pub retrying: u32,
    /// Failed for the last time.
    pub dead: u32,
}

/// Delivers the outbox through the channel adapters.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    store: Store,
    master: MasterKey,
    adapters: Adapters,
    max_attempts: u32,
}

impl Dispatcher {
    /// A dispatcher giving up after `max_attempts` attempts per message.
    pub fn new(
        store: Store,
        master: MasterKey,
        adapters: Adapters,
        max_attempts: u32,
    ) -> Dispatcher {
        Dispatcher {
            store,
            master,
            adapters,
            max_attempts: max_attempts.max(1),
        }
    }

    /// Delivers the messages due at `now` (up to `limit`), claimed first so that another server
    /// running the same round at the same time delivers none of them again.
    pub async fn run_once(&self, now: i64, limit: u32) -> StoreResult<Round> {
        let mut round = Round::default();
        let claimed = self
            .store
            .claim_notifications(now, now + CLAIM_SECS, limit)
            .await?;
        for message in claimed {
            let carrier = self.adapters.carrier(message.spec.channel);
            let result = self
                .adapters
                .deliver(&self.master, carrier, &message)
                .await
                .map_err(|err| err.0);
            let attempts = message.attempts + 1;
            let retry = retry_at(now, attempts, self.max_attempts);
            match (&result, retry) {
                (Ok(()), _) => round.sent += 1,
                (Err(_), Some(_)) => round.retrying += 1,
                (Err(error), None) => {
                    round.dead += 1;
                    tracing::warn!(id = message.id, channel = carrier.as_str(), %error,
                        "notification dead-lettered");
                }
            }
            self.store
                .record_delivery(
                    message.id,
                    carrier,
                    result.as_ref().map(|_| ()).map_err(|e| e.as_str()),
                    retry,
                    now,
                )
                .await?;
        }
        Ok(round)
    }

    /// Runs the background jobs and delivers the outbox every `interval` until the process ends.
    pub async fn run(self, interval: Duration, promotions: PromotionConfig) {
        loop {
            let now = crate::unix_now();
            if let Err(err) = crate::notify::jobs::run_all(&self.store, &promotions, now).await {
                tracing::warn!(error = %err, "notification jobs failed");
            }
            if let Err(err) = self.run_once(now, 100).await {
                tracing::warn!(error = %err, "notification delivery failed");
            }
            tokio::time::sleep(interval).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_capped_and_ends() {
        assert_eq!(retry_at(1_000, 1, 5), Some(1_030));
        assert_eq!(retry_at(1_000, 2, 5), Some(1_060));
        assert_eq!(retry_at(1_000, 4, 5), Some(1_240));
        assert_eq!(retry_at(1_000, 5, 5), None, "the fifth failure is the last");
        assert_eq!(retry_at(0, 12, 99), Some(MAX_BACKOFF_SECS));
    }
}
