//! The 今日配送 screen: the day's list (phones masked) and delivering an order at the door, for
//! cash, on the account or not delivered, or by scanning the customer's ticket with the camera
//! bound to the order.

use shuipiao_courier::clock::{Clock, SystemClock};
use shuipiao_courier::deliveries::{DayList, beijing_day};
use shuipiao_courier::engine::{DeliveryDone, Handover};
use tauri::{AppHandle, Runtime};

use super::blocking;
use crate::camera::{self, Purpose};
use crate::error::CommandError;
use crate::state::refresh_status;

/// Today's list (Beijing day), or tomorrow's, as last synced, with phones masked.
#[tauri::command]
pub async fn deliveries<R: Runtime>(
    app: AppHandle<R>,
    tomorrow: bool,
) -> Result<DayList, CommandError> {
    blocking(&app, move |_, state| {
        let now = SystemClock.now_secs() + if tomorrow { 86_400 } else { 0 };
        let day = beijing_day(now);
        let list = state.with_engine(|engine| Ok(engine.deliveries(Some(&day))?))?;
        Ok(list.masked())
    })
    .await
}

/// The `tel:` link of an order's contact, asked for only when the courier taps 拨打: the list
/// itself carries phones masked.
#[tauri::command]
pub async fn delivery_phone<R: Runtime>(
    app: AppHandle<R>,
    order_id: u64,
) -> Result<String, CommandError> {
    blocking(&app, move |_, state| {
        let delivery = state.with_engine(|engine| Ok(engine.delivery(order_id)?))?;
        Ok(format!("tel:{}", delivery.task.phone))
    })
    .await
}

/// Delivers an order for cash or on the account, or records why it was not delivered.
#[tauri::command]
pub async fn deliver<R: Runtime>(
    app: AppHandle<R>,
    order_id: u64,
    handover: Handover,
) -> Result<DeliveryDone, CommandError> {
    blocking(&app, move |app, state| {
        let done = state.with_engine(|engine| Ok(engine.deliver(order_id, handover)?))?;
        refresh_status(app);
        Ok(done)
    })
    .await
}

/// 扫码送达: starts the camera bound to a tickets order; the first code read delivers it (or is
/// refused) and arrives as a `delivery` event.
#[tauri::command]
pub async fn deliver_scan<R: Runtime>(
    app: AppHandle<R>,
    order_id: u64,
    empties: u16,
    deposits: u16,
) -> Result<(), CommandError> {
    let purpose = Purpose::Delivery {
        order_id,
        empties,
        deposits,
    };
    blocking(&app, move |app, _| camera::start(app, purpose)).await
}
