//! Delivering the outbox: each due message is claimed (several servers may run rounds on one
//! database), then goes to its channel's adapter; a failure is retried with exponential backoff
//! and the message is dead-lettered after the configured number of attempts, whatever its
//! channel.
//!
//! A round's claim lasts `notify.claim_secs` and is renewed just before each message is sent,
//! and each send is cut off at half of it, so a claim never runs out while its message is being
//! sent: a message is handed to its gateway by one round at a time. A round that lost a claim
//! (it ran out between two messages and another round took it) skips the message and records
//! nothing over the other round's result. The one duplicate left is a send whose result was
//! never recorded (the instance died, or the gateway answered after the cut-off): the message
//! goes again after its claim runs out with the same `id`, which the gateway drops duplicates by.

use std::time::{Duration, Instant};

use crate::config::{MasterKey, PromotionConfig};
use crate::notify::adapter::Adapters;
use crate::store::{Store, StoreResult};

/// First retry delay; each further retry doubles it, up to [`MAX_BACKOFF_SECS`].
pub const FIRST_BACKOFF_SECS: i64 = 30;
/// Longest wait between two attempts.
pub const MAX_BACKOFF_SECS: i64 = 3_600;
/// A round's clock is whole seconds read twice (its start, then the time since), so it may lag
/// the wall clock by up to this much: a renewed claim lasts this much longer, so that it still
/// outlives its send by the wall clock the other instances claim on.
const CLOCK_SLACK_SECS: i64 = 2;

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
    /// Claimed, then held by another round before this one sent it or recorded its attempt:
    /// left to that round.
    pub lost: u32,
}

/// Delivers the outbox through the channel adapters.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    store: Store,
    master: MasterKey,
    adapters: Adapters,
    max_attempts: u32,
    claim_secs: i64,
}

impl Dispatcher {
    /// A dispatcher giving up after `max_attempts` attempts per message, holding each message
    /// it is about to send for `claim_secs` (see the module documentation).
    pub fn new(
        store: Store,
        master: MasterKey,
        adapters: Adapters,
        max_attempts: u32,
        claim_secs: u64,
    ) -> Dispatcher {
        Dispatcher {
            store,
            master,
            adapters,
            max_attempts: max_attempts.max(1),
            claim_secs: i64::try_from(claim_secs.max(2)).unwrap_or(i64::MAX / 4),
        }
    }

    /// Delivers the messages due at `now` (up to `limit`), claimed first so that another server
    /// running the same round at the same time delivers none of them again. `now` is the
    /// round's start; claims are renewed on the clock moved on by the time the round took.
    pub async fn run_once(&self, now: i64, limit: u32) -> StoreResult<Round> {
        let started = Instant::now();
        let clock = || now.saturating_add(i64::try_from(started.elapsed().as_secs()).unwrap_or(0));
        // A fresh token per round: a later round of this same server is another holder too.
        let holder = data_encoding::HEXLOWER.encode(&crate::random::bytes::<16>());
        let cut_off = Duration::from_secs((self.claim_secs / 2) as u64);
        let mut round = Round::default();
        let claimed = self
            .store
            .claim_notifications(&holder, now, now + self.claim_secs, limit)
            .await?;
        for message in claimed {
            if !self
                .store
                .renew_notification_claim(
                    &holder,
                    message.id,
                    clock() + self.claim_secs + CLOCK_SLACK_SECS,
                )
                .await?
            {
                round.lost += 1;
                continue;
            }
            let carrier = self.adapters.carrier(message.spec.channel);
            let result = match tokio::time::timeout(
                cut_off,
                self.adapters.deliver(&self.master, carrier, &message),
            )
            .await
            {
                Ok(delivered) => delivered.map_err(|err| err.0),
                Err(_) => Err(format!(
                    "gateway gave no answer within {} s",
                    cut_off.as_secs()
                )),
            };
            let attempts = message.attempts + 1;
            let retry = retry_at(now, attempts, self.max_attempts);
            let recorded = self
                .store
                .record_delivery(
                    &holder,
                    message.id,
                    carrier,
                    result.as_ref().map(|_| ()).map_err(|e| e.as_str()),
                    retry,
                    now,
                )
                .await?;
            match (&result, retry) {
                _ if !recorded => round.lost += 1,
                (Ok(()), _) => round.sent += 1,
                (Err(_), Some(_)) => round.retrying += 1,
                (Err(error), None) => {
                    round.dead += 1;
                    tracing::warn!(id = message.id, channel = carrier.as_str(), %error,
                        "notification dead-lettered");
                }
            }
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
