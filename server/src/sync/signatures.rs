//! Checking a pushed batch's device signatures, off the async runtime and before the write
//! transaction: signatures are most of a push's CPU time and need no database state, so
//! checking them first keeps the single SQLite writer (or PostgreSQL's status clock lock) busy
//! only with writing.

use std::sync::{Arc, LazyLock};

use ed25519_dalek::VerifyingKey;
use shuipiao_shared::event::SignedEvent;
use tokio::sync::Semaphore;

use crate::store::StoreError;
use crate::store::models::Device;

/// One permit per core for checking pushed signatures: a hundred devices pushing at once would
/// otherwise start a blocking thread each and spend the cores switching between them. One set
/// per process, since the cores are the process's whatever the number of stores.
static CHECKERS: LazyLock<Checkers> = LazyLock::new(Checkers::new);

#[derive(Debug)]
struct Checkers {
    permits: Arc<Semaphore>,
    cores: usize,
}

impl Checkers {
    /// As many checkers as the machine has cores.
    fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Checkers {
            permits: Arc::new(Semaphore::new(cores)),
            cores,
        }
    }
}

/// Whether each event carries `device`'s signature, in order: spread over the machine's cores,
/// one batch verification per part, each part waiting for a free core.
pub(super) async fn check(
    device: &Device,
    events: &[SignedEvent],
) -> Result<Vec<bool>, StoreError> {
    let device_key = VerifyingKey::from_bytes(&device.public_key)
        .map_err(|_| StoreError::Other("corrupt row: devices.public_key".into()))?;
    let checkers = &*CHECKERS;
    let chunk = events.len().div_ceil(checkers.cores).max(1);
    let tasks: Vec<_> = events
        .chunks(chunk)
        .map(|part| {
            let part = part.to_vec();
            let permits = Arc::clone(&checkers.permits);
            tokio::spawn(async move {
                let _permit = permits.acquire_owned().await;
                tokio::task::spawn_blocking(move || SignedEvent::verify_all(&part, &device_key))
                    .await
            })
        })
        .collect();
    let mut verified = Vec::with_capacity(events.len());
    for task in tasks {
        let part = task
            .await
            .and_then(|checked| checked)
            .map_err(|err| StoreError::Other(Box::new(err)))?;
        verified.extend(part);
    }
    Ok(verified)
}
