//! `shuipiao-courier`: the courier engine from a terminal, for scripting and headless store
//! counters. Human output is zh-CN verdict lines; `--json` prints one JSON document per result.
//! `--training` runs every command on the training database beside the device database
//! (练习模式: practice keys and tickets, never synced); the device database is not touched.

use std::io::{BufRead, Write};
use std::num::NonZeroU16;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use shuipiao_courier::clock::{OsRandom, SystemClock};
use shuipiao_courier::data_dir::DataDir;
use shuipiao_courier::decode::{self, Decoder};
use shuipiao_courier::deliveries::{self, DayList};
use shuipiao_courier::engine::{
    DoorInput, Engine, EngineError, Handover, OutcomeKind, ScanInput, ScanOutcome, ScanSource,
};
use shuipiao_courier::enroll_qr::{self, EnrollQr};
use shuipiao_courier::frame;
use shuipiao_courier::store::outbox::{OutboxEntry, PushState};
use shuipiao_courier::sync::{self, DeliveryListSync, SyncClient, SyncError};
use shuipiao_courier::training::{self, PracticeTicket};
use shuipiao_shared::event::{DeliveryOutcome, EventBody, MissReason, Refusal};
use shuipiao_shared::ids::{EventId, ProductCode};

#[derive(Debug, Parser)]
#[command(
    name = "shuipiao-courier",
    version,
    about = "水票 courier engine (offline verdicts, sync)"
)]
struct Cli {
    /// Device database; its key file sits beside it as `<db>.key` (with the `keystore` feature,
    /// a new database's key goes to the platform keystore instead).
    #[arg(long, global = true, env = "SHUIPIAO_COURIER_DB")]
    db: Option<PathBuf>,
    /// Print JSON instead of zh-CN lines.
    #[arg(long, global = true)]
    json: bool,
    /// 练习模式: use the training database beside the device database (`training.db`), which
    /// trusts only practice tickets and never syncs.
    #[arg(long, global = true)]
    training: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Enroll this device with a one-time code from an admin, then sync once.
    Enroll(EnrollArgs),
    /// Decide a scanned code and record it.
    Scan(ScanArgs),
    /// 练习模式: list the practice tickets, or scan practice ticket N (always on the training
    /// database).
    Practice(PracticeArgs),
    /// Undo one of this device's redemptions within 2 minutes.
    Undo {
        /// The redemption's event id (from `scan` or `history`).
        event_id: String,
    },
    /// Push pending events and pull statuses once.
    Sync,
    /// Enrollment, pending uploads, last sync, data age and freshness.
    Status,
    /// Recent events of this device.
    History {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// The delivery list of today (Beijing time) or `--date`, as last synced, with phones
    /// masked; it needs no network.
    Deliveries {
        /// The day, YYYY-MM-DD.
        #[arg(long)]
        date: Option<String>,
    },
    /// Deliver an order of the list at the door: scan the customer's ticket (a tickets order),
    /// or deliver for cash or on the account, or record why it was not delivered.
    Deliver(DeliverArgs),
    /// Set the supervisor PIN (4 to 12 digits).
    SetPin {
        /// The new PIN.
        pin: String,
    },
}

/// Where the server address and code come from: typed, or the enrollment QR of the admin
/// console's 设备管理 page (its text, or a photo of it).
#[derive(Debug, Args)]
struct EnrollArgs {
    /// Server base URL, e.g. https://shuipiao.example.com
    #[arg(long, requires = "code", required_unless_present_any = ["qr_text", "image"])]
    server: Option<String>,
    /// One-time enrollment code.
    #[arg(long, requires = "server", conflicts_with_all = ["qr_text", "image"])]
    code: Option<String>,
    /// The enrollment QR's text (SPENROLL:…).
    #[arg(long, conflicts_with_all = ["server", "image"])]
    qr_text: Option<String>,
    /// A photo or screenshot of the enrollment QR (PNG or JPEG).
    #[arg(long, conflicts_with = "server")]
    image: Option<PathBuf>,
    /// Device name for the admin's device list.
    #[arg(long)]
    name: String,
}

#[derive(Debug, Args)]
struct PracticeArgs {
    /// The practice ticket to scan, numbered as listed; without it, list them.
    number: Option<usize>,
    /// Product code being delivered (the practice tickets are for it); by default the
    /// product chosen on this device.
    #[arg(long)]
    product: Option<u16>,
    /// Units to redeem.
    #[arg(long, default_value_t = NonZeroU16::MIN)]
    quantity: NonZeroU16,
    /// Supervisor PIN, to practise an override of 数据过旧.
    #[arg(long)]
    pin: Option<String>,
}

#[derive(Debug, Args)]
#[group(id = "input", required = true, multiple = false)]
struct ScanInputArgs {
    /// The QR text (SP1…).
    #[arg(long)]
    text: Option<String>,
    /// A photo or screenshot of the QR code (PNG or JPEG).
    #[arg(long)]
    image: Option<PathBuf>,
    /// Counter mode: one QR text per line from standard input, until it closes.
    #[arg(long)]
    stdin: bool,
    /// Read one code from camera number N (default 0); needs the `camera` build feature.
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "0")]
    camera: Option<u32>,
}

#[derive(Debug, Args)]
struct ScanArgs {
    #[command(flatten)]
    input: ScanInputArgs,
    /// Product code being delivered; by default the product chosen on this device (the app's
    /// 默认产品 in `settings.json` beside the database: 18.9L 桶装水 until changed there).
    #[arg(long)]
    product: Option<u16>,
    /// Units to redeem.
    #[arg(long, default_value_t = NonZeroU16::MIN)]
    quantity: NonZeroU16,
    /// The text comes from a USB scanner (2.5 s dedupe window instead of 5 s).
    #[arg(long)]
    scanner: bool,
    /// Supervisor PIN, to override a freshness refusal.
    #[arg(long)]
    pin: Option<String>,
}

#[derive(Debug, Args)]
#[group(id = "handover", required = true, multiple = false)]
struct HandoverArgs {
    /// A tickets order: the QR text of the customer's ticket (SP1…).
    #[arg(long, value_name = "QR_TEXT")]
    scan: Option<String>,
    /// 货到付款: delivered and paid in cash.
    #[arg(long)]
    cash: bool,
    /// 月结: delivered on the enterprise's account.
    #[arg(long)]
    account: bool,
    /// 未送达, with the reason: 无人在家, 地址错误, 客户拒收, 其他 (or nobody_home,
    /// wrong_address, refused, other).
    #[arg(long, value_name = "REASON", value_parser = miss_reason)]
    failed: Option<MissReason>,
}

#[derive(Debug, Args)]
struct DeliverArgs {
    /// The order number, as `deliveries` lists it.
    order: u64,
    #[command(flatten)]
    handover: HandoverArgs,
    /// Empty buckets taken back (0 to 99).
    #[arg(long, default_value_t = 0)]
    empties: u16,
    /// Buckets whose deposit (押桶) was taken (0 to 99).
    #[arg(long, default_value_t = 0)]
    deposits: u16,
    /// The ticket's text comes from a USB scanner.
    #[arg(long, requires = "scan")]
    scanner: bool,
    /// Supervisor PIN, to override a freshness refusal of the scan.
    #[arg(long, requires = "scan")]
    pin: Option<String>,
}

fn miss_reason(text: &str) -> Result<MissReason, String> {
    deliveries::parse_miss_reason(text).map_err(str::to_owned)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("错误：{error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The database a command works on: the device's, or the training database beside it, and
/// the app's data directory that holds them.
struct Target {
    db: PathBuf,
    training: bool,
    data: DataDir,
}

impl Target {
    /// Creates the data directory and opens the engine. Practice tickets are made for
    /// `product`; commands that list none pass any.
    fn open(&self, product: ProductCode) -> Result<(Engine, Vec<PracticeTicket>)> {
        self.prepare()?;
        let opened = if self.training {
            training::open(&self.db, product, Arc::new(SystemClock), Box::new(OsRandom))
        } else {
            Engine::open(&self.db, Arc::new(SystemClock), Box::new(OsRandom))
                .map(|engine| (engine, Vec::new()))
        };
        opened
            .map_err(engine_error)
            .with_context(|| format!("无法打开设备数据库 {}", self.db.display()))
    }

    /// Creates the data directory and, with the `keystore` feature, gives a new database its key
    /// in the platform keystore (a key file where the keystore cannot take it).
    fn prepare(&self) -> Result<()> {
        if let Some(parent) = self.db.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("无法创建数据目录 {}", parent.display()))?;
        }
        #[cfg(feature = "keystore")]
        shuipiao_courier::store::key_source::provision(&self.db)
            .map_err(|error| anyhow::anyhow!("{}（{error}）", error.user_message()))?;
        Ok(())
    }

    fn engine(&self) -> Result<Engine> {
        Ok(self.open(ProductCode(1))?.0)
    }

    /// The product being delivered: `given`, or the one chosen on this device, as the app
    /// keeps it in its settings (a fresh device: 18.9L 桶装水).
    fn product(&self, given: Option<u16>) -> Result<ProductCode> {
        match given {
            Some(code) => Ok(ProductCode(code)),
            None => Ok(self
                .data
                .settings()
                .with_context(|| format!("无法读取本机设置 {}", self.data.root().display()))?
                .last_product),
        }
    }

    /// Refuses what a training database never does.
    fn online_only(&self) -> Result<()> {
        if self.training {
            bail!("练习模式不联网：不能注册或同步，请去掉 --training");
        }
        Ok(())
    }
}

fn run(cli: Cli) -> Result<()> {
    let db = cli
        .db
        .unwrap_or_else(|| PathBuf::from("courier-data").join("courier.db"));
    let practice = matches!(cli.command, Command::Practice(_));
    let data = DataDir::new(db.parent().unwrap_or(Path::new("")));
    let target = if cli.training || practice {
        Target {
            db: data.training_db_path(),
            training: true,
            data,
        }
    } else {
        Target {
            db,
            training: false,
            data,
        }
    };
    let json = cli.json;
    match cli.command {
        Command::Enroll(args) => {
            target.online_only()?;
            enroll(&target, json, &enrollment(&args)?, &args.name)
        }
        Command::Scan(args) => scan(&target, json, &args),
        Command::Practice(args) => practise(&target, json, &args),
        Command::Undo { event_id } => undo(&target, json, &event_id),
        Command::Sync => {
            target.online_only()?;
            run_sync(&target, json)
        }
        Command::Status => status(&target, json),
        Command::History { limit } => history(&target, json, limit),
        Command::Deliveries { date } => deliveries(&target, json, date.as_deref()),
        Command::Deliver(args) => deliver(&target, json, &args),
        Command::SetPin { pin } => {
            target
                .engine()?
                .set_supervisor_pin(&pin)
                .map_err(engine_error)?;
            print(json, &serde_json::json!({"ok": true}), || {
                "主管密码已设置".to_owned()
            })
        }
    }
}

/// The server and code to enroll with, checked before anything is written.
fn enrollment(args: &EnrollArgs) -> Result<EnrollQr> {
    let qr_error =
        |error: enroll_qr::EnrollQrError| anyhow::anyhow!("{}（{error}）", error.user_message());
    if let Some(text) = &args.qr_text {
        return enroll_qr::parse(text).map_err(qr_error);
    }
    if let Some(path) = &args.image {
        let frame =
            frame::load_image(path).with_context(|| format!("无法读取图片 {}", path.display()))?;
        let texts = decode::recommended().decode(&frame)?;
        let mut parsed = texts.iter().map(|text| enroll_qr::parse(text));
        let Some(first) = parsed.next() else {
            bail!("图片中没有找到二维码");
        };
        return first
            .or_else(|error| parsed.find_map(Result::ok).ok_or(error))
            .map_err(qr_error);
    }
    match (&args.server, &args.code) {
        (Some(server), Some(code)) => Ok(EnrollQr {
            server_url: server.clone(),
            code: code.clone(),
        }),
        _ => bail!("请给出 --server 和 --code，或 --qr-text / --image"),
    }
}

fn engine_error(error: EngineError) -> anyhow::Error {
    anyhow::anyhow!("{}（{error}）", error.user_message())
}

fn sync_error(error: SyncError) -> anyhow::Error {
    anyhow::anyhow!("{}（{error}）", error.user_message())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("无法启动异步运行时")
}

fn print<T: Serialize>(json: bool, value: &T, human: impl FnOnce() -> String) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer(&mut out, value).context("无法输出 JSON")?;
        writeln!(out)?;
    } else {
        writeln!(out, "{}", human())?;
    }
    out.flush().context("无法写入标准输出")
}

fn enroll(target: &Target, json: bool, with: &EnrollQr, name: &str) -> Result<()> {
    let db = &target.db;
    target.prepare()?;
    let rt = runtime()?;
    let response = rt
        .block_on(sync::enroll(&with.server_url, &with.code, name, db))
        .map_err(|error| anyhow::anyhow!("注册失败：{}（{error}）", error.user_message()))?;
    let client = SyncClient::open(db, Arc::new(SystemClock)).map_err(sync_error)?;
    let report = rt.block_on(client.sync_once());
    print(
        json,
        &serde_json::json!({
            "device_id": response.device_id,
            "courier": response.display_name,
            "first_sync": report.as_ref().ok(),
            "first_sync_error": report.as_ref().err().map(ToString::to_string),
        }),
        || {
            let mut text = format!(
                "注册成功：设备编号 {}，配送员 {}",
                response.device_id, response.display_name
            );
            match &report {
                Ok(report) => text.push_str(&format!(
                    "\n首次同步完成：{} 条状态，密钥版本 {}",
                    report.pulled_rows, report.keyring_version
                )),
                Err(error) => text.push_str(&format!(
                    "\n首次同步失败，请稍后运行 sync：{}（{error}）",
                    error.user_message()
                )),
            }
            text
        },
    )
}

fn scan(target: &Target, json: bool, args: &ScanArgs) -> Result<()> {
    // The camera comes first: with no camera there is nothing to decide.
    let camera_text = args.input.camera.map(read_camera).transpose()?;
    let product = target.product(args.product)?;
    let mut engine = target.engine()?;
    let input = ScanInput {
        product,
        quantity: args.quantity,
        source: if args.scanner || args.input.stdin {
            ScanSource::Scanner
        } else {
            ScanSource::Camera
        },
        supervisor_pin: args.pin.as_deref(),
    };
    let mut decide = |text: &str| -> Result<()> {
        let outcome = engine.scan(text, &input).map_err(engine_error)?;
        print(json, &outcome, || outcome_line(&outcome, target.training))
    };
    if let Some(text) = args.input.text.as_ref().or(camera_text.as_ref()) {
        decide(text)
    } else if let Some(path) = &args.input.image {
        let frame =
            frame::load_image(path).with_context(|| format!("无法读取图片 {}", path.display()))?;
        let texts = decode::recommended().decode(&frame)?;
        let Some(text) = texts.first() else {
            bail!("图片中没有找到二维码");
        };
        decide(text)
    } else {
        for line in std::io::stdin().lock().lines() {
            let line = line.context("无法读取标准输入")?;
            if !line.trim().is_empty() {
                decide(&line)?;
            }
        }
        Ok(())
    }
}

/// Waits for the first frame with a readable code and returns its text. One code per call: a
/// ticket held in view for longer than the dedupe window must not be redeemed twice.
#[cfg(feature = "camera")]
fn read_camera(index: u32) -> Result<String> {
    use shuipiao_courier::frame::{CameraSource, FrameSource};
    let mut camera = CameraSource::open(index)?;
    let decoder = decode::recommended();
    eprintln!("请将二维码对准摄像头（Ctrl+C 退出）");
    loop {
        let frame = camera.next_frame()?;
        if let Some(text) = decoder
            .decode(&frame)
            .unwrap_or_default()
            .into_iter()
            .next()
        {
            return Ok(text);
        }
    }
}

#[cfg(not(feature = "camera"))]
fn read_camera(_index: u32) -> Result<String> {
    bail!("此版本未包含摄像头支持：请以 --features camera 编译 shuipiao-courier")
}

/// Lists the practice tickets, or scans practice ticket `number` in its sync state.
fn practise(target: &Target, json: bool, args: &PracticeArgs) -> Result<()> {
    let product = target.product(args.product)?;
    let (mut engine, tickets) = target.open(product)?;
    let Some(number) = args.number else {
        return print(json, &tickets, || {
            let mut lines =
                vec!["练习票（shuipiao-courier practice 编号 即模拟扫描）：".to_owned()];
            for (index, ticket) in tickets.iter().enumerate() {
                let hint = ticket
                    .hint
                    .as_ref()
                    .map(|hint| format!("（{hint}）"))
                    .unwrap_or_default();
                lines.push(format!(
                    "{:>3}. {} → 应显示：{}{hint}",
                    index + 1,
                    ticket.label,
                    ticket.expect
                ));
            }
            lines.join("\n")
        });
    };
    let ticket = number
        .checked_sub(1)
        .and_then(|index| tickets.get(index))
        .with_context(|| format!("没有第 {number} 张练习票（共 {} 张）", tickets.len()))?;
    let input = ScanInput {
        product,
        quantity: args.quantity,
        source: ScanSource::Camera,
        supervisor_pin: args.pin.as_deref(),
    };
    let outcome = training::scan_ticket(&mut engine, ticket, &input).map_err(engine_error)?;
    print(json, &outcome, || {
        format!(
            "练习票：{}（应显示：{}）\n{}",
            ticket.label,
            ticket.expect,
            outcome_line(&outcome, true)
        )
    })
}

fn outcome_line(outcome: &ScanOutcome, training: bool) -> String {
    let mark = match outcome.kind {
        OutcomeKind::Accepted => "【绿】",
        OutcomeKind::AlreadyUsed => "【橙】",
        OutcomeKind::Rejected => "【红】",
    };
    let practice = if training { "【练习】" } else { "" };
    let mut line = format!("{practice}{mark}{}：{}", outcome.title, outcome.detail);
    if let Some(book) = outcome.book_id {
        line.push_str(&format!("（票册 {book}）"));
    }
    if outcome.duplicate {
        line.push_str("\n重复扫描，已忽略（未重复核销）");
    }
    if outcome.kind == OutcomeKind::Accepted
        && let Some(id) = outcome.event_id
    {
        line.push_str(&format!("\n记录编号 {id}（2分钟内可撤销）"));
    }
    for warning in &outcome.warnings {
        line.push_str(&format!("\n注意：{}", warning.message()));
    }
    line
}

fn undo(target: &Target, json: bool, event_id: &str) -> Result<()> {
    let id = uuid::Uuid::parse_str(event_id.trim()).context("记录编号格式不正确")?;
    let undone = target.engine()?.undo(EventId(id)).map_err(engine_error)?;
    print(json, &undone, || {
        format!(
            "已撤销：票册 {} 退回 {} 张（撤销记录 {}）",
            undone.book_id, undone.units, undone.void_event_id
        )
    })
}

fn run_sync(target: &Target, json: bool) -> Result<()> {
    target.prepare()?;
    let client = SyncClient::open(&target.db, Arc::new(SystemClock)).map_err(sync_error)?;
    let report = runtime()?
        .block_on(client.sync_once())
        .map_err(|error| anyhow::anyhow!("同步失败：{}（{error}）", error.user_message()))?;
    let state = client
        .state()
        .map_err(|error| sync_error(SyncError::Store(error)))?;
    print(
        json,
        &serde_json::json!({"report": report, "state": state}),
        || {
            let list = match report.delivery_list {
                DeliveryListSync::Pulled => format!("配送单更新 {} 条", report.delivery_rows),
                DeliveryListSync::NotOffered => "服务器暂不提供配送单".to_owned(),
                DeliveryListSync::NotCourier => "本设备没有配送单".to_owned(),
            };
            format!(
                "同步完成：上传 {} 条，已确认 {} 条，被拒 {} 条；下载状态 {} 条；{list}；待上传 {} 条",
                report.pushed,
                report.acknowledged,
                report.rejected,
                report.pulled_rows,
                state.pending
            )
        },
    )
}

fn status(target: &Target, json: bool) -> Result<()> {
    let status = target.engine()?.status().map_err(engine_error)?;
    print(json, &status, || {
        let mut lines = Vec::new();
        match (status.enrolled, status.device_id) {
            (true, Some(id)) => lines.push(format!(
                "设备 {id}{}，配送员 {}",
                if status.training {
                    "（练习模式）"
                } else {
                    ""
                },
                status.courier_name.clone().unwrap_or_default()
            )),
            _ => lines.push("设备尚未注册".to_owned()),
        }
        if status.training {
            lines.push("练习模式：记录只留在练习数据库，不会同步".to_owned());
        } else {
            lines.push(format!(
                "待上传 {} 条，被拒 {} 条",
                status.sync.pending, status.sync.rejected
            ));
            lines.push(match status.sync.last_success {
                Some(at) => format!(
                    "上次同步 {}",
                    shuipiao_courier::engine::format_beijing_time(at)
                ),
                None => "从未同步".to_owned(),
            });
        }
        if let Some(age) = status.data_age_secs {
            lines.push(format!(
                "数据时长 {} 小时 {} 分",
                age / 3600,
                age % 3600 / 60
            ));
        }
        lines.push(format!("数据状态：{}", status.freshness.message()));
        lines.push(format!(
            "离线核销额度：已用 {} / {} 张",
            status.offline_units_used, status.offline_units_budget
        ));
        if status.clock_rollback {
            lines.push("注意：设备时间早于服务器时间".to_owned());
        }
        if let Some(error) = &status.sync.last_error {
            lines.push(format!("上次同步错误：{error}"));
        }
        lines.join("\n")
    })
}

fn history(target: &Target, json: bool, limit: usize) -> Result<()> {
    let entries = target.engine()?.history(limit).map_err(engine_error)?;
    print(json, &entries, || {
        if entries.is_empty() {
            return "暂无记录".to_owned();
        }
        entries
            .iter()
            .map(|entry| history_line(entry, target.training))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

fn deliveries(target: &Target, json: bool, date: Option<&str>) -> Result<()> {
    let day = date
        .map(deliveries::parse_day)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let list = target
        .engine()?
        .deliveries(day.as_deref())
        .map_err(engine_error)?
        .masked();
    print(json, &list, || day_list_text(&list))
}

fn deliver(target: &Target, json: bool, args: &DeliverArgs) -> Result<()> {
    let mut engine = target.engine()?;
    let (empties, deposits) = (args.empties, args.deposits);
    let handover = &args.handover;
    let done = if let Some(text) = &handover.scan {
        let input = DoorInput {
            source: if args.scanner {
                ScanSource::Scanner
            } else {
                ScanSource::Camera
            },
            supervisor_pin: args.pin.as_deref(),
        };
        engine.deliver_scanned(args.order, text, &input, empties, deposits)
    } else {
        let handover = match handover.failed {
            Some(reason) => Handover::NotDelivered { reason, empties },
            None if handover.account => Handover::Account { empties, deposits },
            None => Handover::Cash { empties, deposits },
        };
        engine.deliver(args.order, handover)
    }
    .map_err(engine_error)?;
    print(json, &done, || match &done.scan {
        Some(scan) => format!("{}\n{}", outcome_line(scan, target.training), done.message),
        None => done.message.clone(),
    })?;
    if done.event_id.is_none() {
        bail!("扫码未通过，订单 {} 未送达", done.order_id);
    }
    Ok(())
}

fn day_list_text(list: &DayList) -> String {
    let mut lines = vec![format!(
        "{} 配送单：共 {} 单，已完成 {} 单，待送 {} 单",
        list.day,
        list.items.len(),
        list.done,
        list.left
    )];
    if list.items.is_empty() {
        lines.push("暂无配送单（同步后更新）".to_owned());
    }
    let mut slot = None;
    for item in &list.items {
        let task = &item.task;
        if slot != Some(task.slot) {
            slot = Some(task.slot);
            lines.push(format!("{} {}", task.slot.label(), task.slot_hours));
        }
        let label = if task.label.is_empty() {
            String::new()
        } else {
            format!("（{}）", task.label)
        };
        let book = task
            .book_id
            .map_or_else(String::new, |book| format!(" 票册 {book}"));
        let note = if task.note.is_empty() {
            String::new()
        } else {
            format!(" 备注：{}", task.note)
        };
        let state = match item.reason {
            Some(reason) => format!("{}：{}", item.state.label(), reason.label()),
            None => item.state.label().to_owned(),
        };
        lines.push(format!(
            "  #{} {}{label} {} {} {} ×{} {}{book}{note} 【{state}】",
            task.order_id,
            task.address,
            task.contact,
            task.phone,
            task.product_name,
            task.bottles,
            task.payment.label(),
        ));
    }
    lines.join("\n")
}

fn history_line(entry: &OutboxEntry, training: bool) -> String {
    let event = &entry.event.event;
    let what = match event.body {
        EventBody::Redemption { book_id, units, .. } => {
            format!(
                "核销 票册 {book_id} {units} 张{}",
                if entry.voided { "（已撤销）" } else { "" }
            )
        }
        EventBody::Void { book_id, .. } => format!("撤销 票册 {book_id}"),
        EventBody::ScanAttempt { book_id, refusal } => format!(
            "拒绝 {}：{}",
            book_id.map_or_else(|| "未知票册".to_owned(), |b| format!("票册 {b}")),
            match refusal {
                Refusal::AlreadyUsed => "已使用",
                Refusal::Rejected(reason) => reason.message(),
            }
        ),
        EventBody::Delivery {
            order_id,
            outcome,
            empties,
        } => match outcome {
            DeliveryOutcome::NotDelivered { reason } => {
                format!("订单 {order_id} 未送达：{}", reason.label())
            }
            delivered => format!(
                "订单 {order_id} 已送达 {} 桶，收回空桶 {empties} 只",
                delivered.bottles()
            ),
        },
    };
    let pushed = match entry.push_state {
        _ if training => "练习，不上传".to_owned(),
        PushState::Pending => "待上传".to_owned(),
        PushState::Acked => "已上传".to_owned(),
        PushState::Rejected => format!(
            "服务器拒收（{}）",
            entry
                .rejection
                .and_then(|r| serde_json::to_string(&r).ok())
                .unwrap_or_default()
        ),
    };
    format!(
        "#{} {} {} [{}] {}",
        event.device_seq,
        shuipiao_courier::engine::format_beijing_time(event.scanned_at),
        what,
        pushed,
        event.event_id
    )
}
