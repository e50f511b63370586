//! What the shell holds between commands: the engines (device and 练习模式), the running camera
//! loop, the sync task and the keyboard-wedge parser. Locks are taken for one engine call at a
//! time and never across a network call.

use std::num::NonZeroU16;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use shuipiao_courier::clock::{OsRandom, SystemClock};
use shuipiao_courier::data_dir::DataDir;
use shuipiao_courier::engine::{
    DeliveryDone, DoorInput, Engine, ScanInput, ScanOutcome, ScanSource,
};
use shuipiao_courier::live::LiveScanner;
use shuipiao_courier::status_bar::{StatusBar, status_bar};
use shuipiao_courier::store::key_source;
use shuipiao_courier::sync::{LoopConfig, SyncClient, run_sync_loop};
use shuipiao_courier::training::{self, PracticeTicket};
use shuipiao_courier::wedge::{WedgeConfig, WedgeParser};
use shuipiao_shared::ids::ProductCode;
use tauri::{AppHandle, Manager, Runtime};
use tokio::sync::watch;

use crate::error::CommandError;
use crate::events;

/// Product and quantity chosen on the scan screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    /// Product being delivered.
    pub product: ProductCode,
    /// Units per scan.
    pub quantity: NonZeroU16,
}

/// The running sync loop.
struct SyncTask {
    client: Arc<SyncClient>,
    stop: watch::Sender<bool>,
}

/// The shell's state, managed by Tauri.
pub struct AppState {
    /// The app's directory.
    pub data: DataDir,
    /// Frame source spec from the environment, overriding the settings.
    pub camera_override: Option<String>,
    device: Mutex<Option<Engine>>,
    training: Mutex<Option<(Engine, Vec<PracticeTicket>)>>,
    training_on: AtomicBool,
    sync: Mutex<Option<SyncTask>>,
    scanner: Mutex<Option<LiveScanner>>,
    wedge: Mutex<WedgeParser>,
    choice: Mutex<Choice>,
    pending_pin: Mutex<Option<String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock leaves SQLite consistent (transactions roll back).
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl AppState {
    /// State over `data`, with the device database opened (created if new).
    pub fn open(data: DataDir, camera_override: Option<String>) -> Result<AppState, CommandError> {
        data.create()?;
        let settings = data.settings()?;
        let engine = open_engine(&data)?;
        Ok(AppState {
            camera_override,
            device: Mutex::new(Some(engine)),
            training: Mutex::new(None),
            training_on: AtomicBool::new(false),
            sync: Mutex::new(None),
            scanner: Mutex::new(None),
            wedge: Mutex::new(WedgeParser::new(WedgeConfig::default())),
            choice: Mutex::new(Choice {
                product: settings.last_product,
                quantity: NonZeroU16::new(settings.default_quantity).unwrap_or(NonZeroU16::MIN),
            }),
            pending_pin: Mutex::new(None),
            data,
        })
    }

    /// Whether 练习模式 is on.
    pub fn training(&self) -> bool {
        self.training_on.load(Ordering::SeqCst)
    }

    /// Runs `f` on the engine of the current mode.
    pub fn with_engine<T>(
        &self,
        f: impl FnOnce(&mut Engine) -> Result<T, CommandError>,
    ) -> Result<T, CommandError> {
        if self.training() {
            let mut training = lock(&self.training);
            let (engine, _) = training
                .as_mut()
                .ok_or_else(|| CommandError::new("training", "练习模式尚未准备好"))?;
            f(engine)
        } else {
            let mut device = lock(&self.device);
            let engine = device
                .as_mut()
                .ok_or_else(|| CommandError::new("logged_out", "设备已注销，请重新注册"))?;
            f(engine)
        }
    }

    /// The status bar of the current mode.
    pub fn status_bar(&self) -> Result<StatusBar, CommandError> {
        self.with_engine(|engine| Ok(status_bar(&engine.status()?)))
    }

    /// Turns 练习模式 on (opening the training database) or off; returns the practice tickets.
    pub fn set_training(&self, on: bool) -> Result<Vec<PracticeTicket>, CommandError> {
        let tickets = if on {
            let mut slot = lock(&self.training);
            if slot.is_none() {
                let product = lock(&self.choice).product;
                let db_path = self.data.training_db_path();
                key_source::provision(&db_path)?;
                *slot = Some(training::open(
                    &db_path,
                    product,
                    Arc::new(SystemClock),
                    Box::new(OsRandom),
                )?);
            }
            slot.as_ref().map(|(_, t)| t.clone()).unwrap_or_default()
        } else {
            Vec::new()
        };
        self.training_on.store(on, Ordering::SeqCst);
        Ok(tickets)
    }

    /// The product and quantity chosen now.
    pub fn choice(&self) -> Choice {
        *lock(&self.choice)
    }

    /// Sets the product and quantity.
    pub fn set_choice(&self, choice: Choice) {
        *lock(&self.choice) = choice;
    }

    /// Arms a supervisor PIN for the next scan only (override of a freshness refusal).
    pub fn arm_override(&self, pin: String) {
        *lock(&self.pending_pin) = Some(pin);
    }

    /// The scan input of the current choice, with an armed override (used up by this call).
    fn with_input<T>(
        &self,
        source: ScanSource,
        f: impl FnOnce(&ScanInput<'_>) -> Result<T, CommandError>,
    ) -> Result<T, CommandError> {
        let choice = self.choice();
        let pin = lock(&self.pending_pin).take();
        f(&ScanInput {
            product: choice.product,
            quantity: choice.quantity,
            source,
            supervisor_pin: pin.as_deref(),
        })
    }

    /// Decides `text` with the current choice (and an armed override).
    pub fn scan(&self, text: &str, source: ScanSource) -> Result<ScanOutcome, CommandError> {
        self.with_input(source, |input| {
            self.with_engine(|engine| Ok(engine.scan(text, input)?))
        })
    }

    /// Delivers tickets order `order_id` by its ticket `text`, read by the camera (with an armed
    /// override).
    pub fn deliver_scanned(
        &self,
        order_id: u64,
        text: &str,
        empties: u16,
        deposits: u16,
    ) -> Result<DeliveryDone, CommandError> {
        let pin = lock(&self.pending_pin).take();
        let input = DoorInput {
            source: ScanSource::Camera,
            supervisor_pin: pin.as_deref(),
        };
        self.with_engine(|engine| {
            Ok(engine.deliver_scanned(order_id, text, &input, empties, deposits)?)
        })
    }

    /// 练习模式: scans practice ticket `index` (as listed when 练习模式 was turned on) in its
    /// sync state, with the current choice (and an armed override).
    pub fn practice_scan(&self, index: usize) -> Result<ScanOutcome, CommandError> {
        if !self.training() {
            return Err(CommandError::new("not_training", "请先进入练习模式"));
        }
        self.with_input(ScanSource::Camera, |input| {
            let mut training = lock(&self.training);
            let (engine, tickets) = training
                .as_mut()
                .ok_or_else(|| CommandError::new("training", "练习模式尚未准备好"))?;
            let ticket = tickets
                .get(index)
                .ok_or_else(|| CommandError::new("no_practice_ticket", "没有这张练习票"))?;
            Ok(training::scan_ticket(engine, ticket, input)?)
        })
    }

    /// Feeds scanner keys (`"Enter"`, `"Tab"` or one character) to the wedge parser; returns
    /// the lines completed.
    pub fn wedge_keys(&self, keys: &[(String, u64)]) -> Vec<String> {
        let mut parser = lock(&self.wedge);
        keys.iter()
            .filter_map(|(key, at_ms)| match key.as_str() {
                "Enter" => parser.push(shuipiao_courier::wedge::Key::Enter, *at_ms),
                "Tab" => parser.push(shuipiao_courier::wedge::Key::Tab, *at_ms),
                other => {
                    let mut chars = other.chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) => parser.push(c, *at_ms),
                        // Shift, Alt and friends are not part of the code.
                        _ => None,
                    }
                }
            })
            .collect()
    }

    /// Replaces the running camera loop (`None` stops it).
    pub fn set_scanner(&self, scanner: Option<LiveScanner>) {
        // Take the old loop out first: dropping it joins its thread, which may need the lock
        // on the engine but never this one.
        let old = std::mem::replace(&mut *lock(&self.scanner), scanner);
        drop(old);
    }

    /// Decodes again after a verdict.
    pub fn resume_scanner(&self) {
        if let Some(scanner) = lock(&self.scanner).as_ref() {
            scanner.resume();
        }
    }

    /// Starts the sync loop if the device is enrolled and it is not running.
    pub fn start_sync<R: Runtime>(&self, app: &AppHandle<R>) -> Result<(), CommandError> {
        let enrolled = lock(&self.device)
            .as_ref()
            .map(|engine| engine.status().map(|s| s.enrolled && !s.training))
            .transpose()?
            .unwrap_or(false);
        let mut sync = lock(&self.sync);
        if !enrolled || sync.is_some() {
            return Ok(());
        }
        let client = Arc::new(SyncClient::open(
            &self.data.db_path(),
            Arc::new(SystemClock),
        )?);
        let (stop, shutdown) = watch::channel(false);
        let (loop_client, app) = (client.clone(), app.clone());
        tauri::async_runtime::spawn(async move {
            // A loop that stops for good (device disabled, chain diverged) leaves its reason in
            // the status bar's last error.
            let _ = run_sync_loop(&loop_client, LoopConfig::default(), shutdown).await;
            refresh_status(&app);
        });
        *sync = Some(SyncTask { client, stop });
        Ok(())
    }

    /// The sync client, if the loop runs.
    pub fn sync_client(&self) -> Option<Arc<SyncClient>> {
        lock(&self.sync).as_ref().map(|task| task.client.clone())
    }

    /// Logout: stops the camera and sync, closes the databases, wipes them and opens a fresh
    /// device database.
    pub fn wipe(&self) -> Result<(), CommandError> {
        self.set_scanner(None);
        if let Some(task) = lock(&self.sync).take() {
            let _ = task.stop.send(true);
        }
        self.training_on.store(false, Ordering::SeqCst);
        let mut device = lock(&self.device);
        *device = None;
        *lock(&self.training) = None;
        self.data.wipe()?;
        *device = Some(open_engine(&self.data)?);
        Ok(())
    }
}

/// Opens the device engine; a new database gets its key in the platform keystore.
fn open_engine(data: &DataDir) -> Result<Engine, CommandError> {
    let db_path = data.db_path();
    key_source::provision(&db_path)?;
    Ok(Engine::open(
        &db_path,
        Arc::new(SystemClock),
        Box::new(OsRandom),
    )?)
}

/// Emits the current status bar.
pub fn refresh_status<R: Runtime>(app: &AppHandle<R>) {
    if let Ok(bar) = app.state::<AppState>().status_bar() {
        events::status(app, &bar);
    }
}

/// Emits the status bar every second while it changes (pending count, sync age, online), so
/// every screen's bar stays current without polling from the UI.
pub fn spawn_status_ticker<R: Runtime>(app: AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        let mut last: Option<StatusBar> = None;
        loop {
            let handle = app.clone();
            let bar = tauri::async_runtime::spawn_blocking(move || {
                handle.state::<AppState>().status_bar().ok()
            })
            .await
            .ok()
            .flatten();
            if let Some(bar) = bar
                && last.as_ref() != Some(&bar)
            {
                events::status(&app, &bar);
                last = Some(bar);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}
