//! The sync client against a small fake server on 127.0.0.1:0 that speaks the shared v1 DTOs:
//! enrollment, push with per-event verdicts (duplicate = acknowledged, rejected = kept), resume
//! after a lost push response through `/sync/status`, paged pull with a keyring update, training
//! databases that never sync, the sync loop's shutdown, and the courier's delivery list (paged,
//! kept offline, listed by the engine and the CLI; a server without it leaves it empty).

mod engine_support;

use std::collections::BTreeMap;
use std::num::NonZeroU16;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ed25519_dalek::VerifyingKey;
use engine_support::*;
use shuipiao_courier::clock::{CountingIds, TestClock};
use shuipiao_courier::engine::{Engine, OutcomeKind, ScanInput, ScanSource};
use shuipiao_courier::store::deliveries::TaskState;
use shuipiao_courier::store::{self, outbox, status};
use shuipiao_courier::sync::{self, DeliveryListSync, LoopConfig, SyncClient, SyncError};
use shuipiao_shared::delivery::{
    DeliveriesQuery, DeliveriesResponse, DeliveryChange, DeliveryPayment, DeliveryRow,
    DeliverySlot, DeliveryTask,
};
use shuipiao_shared::event::{ChainTip, EventBody, SignedEvent};
use shuipiao_shared::ids::{BookId, EventId, UserId};
use shuipiao_shared::keyring::{IssuerKey, KeyState, Keyring, KeyringError};
use shuipiao_shared::status::{BookState, StatusRow};
use shuipiao_shared::sync::{
    DeviceRole, EnrollRequest, EnrollResponse, ErrorBody, ErrorCode, NamedScope, PullQuery,
    PullResponse, PushRejection, PushRequest, PushResponse, PushResult, PushVerdict,
    SyncStatusResponse,
};

/// The fake server refuses events for this book for good, as a real one refuses a reused id.
const REFUSED_BOOK: u64 = 9999;
const PAGE: usize = 2;

#[derive(Default)]
struct Fake {
    device_key: Option<VerifyingKey>,
    tip: Option<ChainTip>,
    stored: BTreeMap<EventId, (SignedEvent, Option<u64>)>,
    rows: BTreeMap<u64, StatusRow>,
    seq: u64,
    pushes: usize,
    lose_next_push_response: bool,
    forged_keyring: bool,
    /// The courier's delivery feed; `None` plays a server older than the delivery list.
    deliveries: Option<Vec<DeliveryRow>>,
    /// Answer the delivery list as to a store counter's device.
    store_counter: bool,
}

type Shared = Arc<Mutex<Fake>>;

fn error(status: StatusCode, code: ErrorCode) -> Response {
    let body = ErrorBody {
        code,
        message: "测试服务器拒绝".to_owned(),
    };
    (status, Json(body)).into_response()
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "Bearer token-7")
}

async fn enroll_route(State(fake): State<Shared>, Json(request): Json<EnrollRequest>) -> Response {
    if request.code != "ENROLL-1" {
        return error(StatusCode::BAD_REQUEST, ErrorCode::EnrollmentCodeInvalid);
    }
    fake.lock().unwrap().device_key = VerifyingKey::from_bytes(&request.device_pubkey).ok();
    Json(EnrollResponse {
        device_id: DEVICE,
        device_token: "token-7".to_owned(),
        root_public_key: root().verifying_key().to_bytes(),
        role: DeviceRole::Courier,
        user_id: UserId(3),
        display_name: "张师傅".to_owned(),
        store_name: None,
        scopes: vec![NamedScope {
            scope: WUHAN,
            name: "武汉市江汉区".to_owned(),
        }],
        staff_code: "ZS01".to_owned(),
        server_time: NOW,
    })
    .into_response()
}

async fn status_route(State(fake): State<Shared>, headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized);
    }
    let tip = fake.lock().unwrap().tip.unwrap_or(ChainTip::GENESIS);
    Json(SyncStatusResponse {
        device_id: DEVICE,
        last_device_seq: tip.device_seq,
        last_hash: tip.hash,
        server_time: NOW,
    })
    .into_response()
}

async fn push_route(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Json(request): Json<PushRequest>,
) -> Response {
    if !authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized);
    }
    let mut fake = fake.lock().unwrap();
    fake.pushes += 1;
    let key = fake.device_key.expect("device enrolled on the fake");
    let mut results = Vec::new();
    let mut failed = false;
    for event in request.events {
        let id = event.event.event_id;
        let result = |verdict, server_seq, rejection| PushResult {
            event_id: id,
            device_seq: event.event.device_seq,
            verdict,
            server_seq,
            rejection,
        };
        if let Some((held, server_seq)) = fake.stored.get(&id) {
            results.push(if *held == event {
                result(PushVerdict::Duplicate, *server_seq, None)
            } else {
                result(PushVerdict::Rejected, None, Some(PushRejection::IdReused))
            });
            continue;
        }
        if failed {
            results.push(result(
                PushVerdict::Rejected,
                None,
                Some(PushRejection::AfterRejected),
            ));
            continue;
        }
        let tip = fake.tip.unwrap_or(ChainTip::GENESIS);
        let new_tip = match tip.extend(DEVICE, &key, &event) {
            Ok(new_tip) => new_tip,
            Err(link) => {
                failed = true;
                results.push(result(
                    PushVerdict::Rejected,
                    None,
                    Some(PushRejection::Chain { link }),
                ));
                continue;
            }
        };
        // The fake keeps refused events in the chain so later links still verify.
        fake.tip = Some(new_tip);
        let server_seq = match event.event.body {
            EventBody::Redemption { book_id, .. } | EventBody::Void { book_id, .. }
                if book_id.0 == REFUSED_BOOK =>
            {
                results.push(result(
                    PushVerdict::Rejected,
                    None,
                    Some(PushRejection::IdReused),
                ));
                continue;
            }
            EventBody::Redemption { book_id, units, .. } => Some(fake.bump(book_id, units.into())),
            EventBody::Void { book_id, .. } => Some(fake.bump(book_id, -1)),
            EventBody::ScanAttempt { .. } | EventBody::Delivery { .. } => None,
        };
        fake.stored.insert(id, (event, server_seq));
        results.push(result(PushVerdict::Accepted, server_seq, None));
    }
    if std::mem::take(&mut fake.lose_next_push_response) {
        return error(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal);
    }
    Json(PushResponse {
        results,
        server_time: NOW,
    })
    .into_response()
}

impl Fake {
    fn bump(&mut self, book_id: BookId, delta: i32) -> u64 {
        self.seq += 1;
        let seq = self.seq;
        let entry = self.rows.entry(book_id.0).or_insert(StatusRow {
            book_id,
            used_units: 0,
            state: BookState::Active,
            seq,
            last_used_at: None,
        });
        entry.used_units = u16::try_from(i32::from(entry.used_units) + delta).unwrap();
        entry.seq = seq;
        entry.last_used_at = Some(NOW);
        seq
    }
}

async fn pull_route(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<PullQuery>,
) -> Response {
    if !authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized);
    }
    let fake = fake.lock().unwrap();
    let mut rows: Vec<StatusRow> = fake
        .rows
        .values()
        .filter(|r| r.seq > query.cursor)
        .copied()
        .collect();
    rows.sort_by_key(|r| r.seq);
    let has_more = rows.len() > PAGE;
    rows.truncate(PAGE);
    let next_cursor = rows.last().map_or(query.cursor, |r| r.seq);
    Json(PullResponse {
        statuses: rows,
        keyring: (query.keyring_version < 4).then(|| {
            let signer = if fake.forged_keyring {
                other_plant()
            } else {
                root()
            };
            keyring(4).sign(&signer)
        }),
        server_time: NOW,
        next_cursor,
        has_more,
    })
    .into_response()
}

async fn deliveries_route(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<DeliveriesQuery>,
) -> Response {
    if !authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized);
    }
    let fake = fake.lock().unwrap();
    if fake.store_counter {
        return error(StatusCode::FORBIDDEN, ErrorCode::Forbidden);
    }
    let Some(feed) = &fake.deliveries else {
        return error(StatusCode::NOT_FOUND, ErrorCode::NotFound);
    };
    let mut rows: Vec<DeliveryRow> = feed
        .iter()
        .filter(|row| row.seq > query.cursor)
        .cloned()
        .collect();
    let has_more = rows.len() > PAGE;
    rows.truncate(PAGE);
    Json(DeliveriesResponse {
        next_cursor: rows.last().map_or(query.cursor, |row| row.seq),
        rows,
        has_more,
        server_time: NOW,
    })
    .into_response()
}

async fn start(fake: Fake) -> (String, Shared) {
    let shared = Arc::new(Mutex::new(fake));
    let app = Router::new()
        .route("/api/v1/devices/enroll", post(enroll_route))
        .route("/api/v1/sync/status", get(status_route))
        .route("/api/v1/sync/push", post(push_route))
        .route("/api/v1/sync/pull", get(pull_route))
        .route("/api/v1/sync/deliveries", get(deliveries_route))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, shared)
}

fn fake_with_rows() -> Fake {
    let mut fake = Fake::default();
    for (book, used, state) in [
        (100, 10, BookState::UsedUp),
        (101, 0, BookState::Revoked),
        (102, 3, BookState::Active),
    ] {
        fake.seq += 1;
        fake.rows.insert(book, row(book, used, state, fake.seq));
    }
    fake
}

fn one() -> ScanInput<'static> {
    ScanInput {
        product: BUCKET,
        quantity: NonZeroU16::MIN,
        source: ScanSource::Camera,
        supervisor_pin: None,
    }
}

fn engine(db: &std::path::Path, clock: &TestClock) -> Engine {
    Engine::open(
        db,
        Arc::new(clock.clone()),
        Box::new(CountingIds::default()),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enroll_then_sync_pulls_pages_and_keyring_and_pushes_redemptions() {
    let (url, fake) = start(fake_with_rows()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("courier.db");

    let refused = sync::enroll(&url, "WRONG", "张师傅的手机", &db).await;
    assert!(matches!(
        refused,
        Err(SyncError::Server {
            status: 400,
            body: Some(ErrorBody {
                code: ErrorCode::EnrollmentCodeInvalid,
                ..
            }),
            ..
        })
    ));
    let response = sync::enroll(&url, "ENROLL-1", "张师傅的手机", &db)
        .await
        .unwrap();
    assert_eq!(response.device_id, DEVICE);
    assert!(matches!(
        sync::enroll(&url, "ENROLL-1", "again", &db).await,
        Err(SyncError::AlreadyEnrolled)
    ));

    let clock = TestClock::at_secs(NOW);
    let client = SyncClient::open(&db, Arc::new(clock.clone())).unwrap();
    let report = client.sync_once().await.unwrap();
    assert_eq!(report.pulled_rows, 3, "two pages of at most {PAGE}");
    assert_eq!(report.keyring_version, 4);

    let mut engine = engine(&db, &clock);
    assert_eq!(
        engine.scan(&ticket(book(101, 10)), &one()).unwrap().kind,
        OutcomeKind::Rejected,
        "revocation pulled"
    );
    let accepted = engine.scan(&ticket(book(102, 10)), &one()).unwrap();
    assert_eq!(accepted.remaining, Some(6), "3 used on the server + 1 now");
    assert_eq!(client.state().unwrap().pending, 2);

    let report = client.sync_once().await.unwrap();
    assert_eq!((report.pushed, report.acknowledged), (2, 2));
    let state = client.state().unwrap();
    assert_eq!((state.pending, state.last_success), (0, Some(NOW)));
    assert_eq!(fake.lock().unwrap().stored.len(), 2);
    // The pulled row reflects the redemption: counted once.
    let conn = store::open(&db).unwrap();
    assert_eq!(
        status::book_view(&conn, BookId(102), 0).unwrap().used_units,
        4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_are_acknowledged_rejections_kept_and_a_lost_response_resumed() {
    let (url, fake) = start(fake_with_rows()).await;
    fake.lock().unwrap().device_key = Some(device_key().verifying_key());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("courier.db");
    enroll_at(&db, &url, &[], NOW - HOUR);
    let clock = TestClock::at_secs(NOW);
    let mut engine = engine(&db, &clock);
    for book_id in [200, 201, 202] {
        engine.scan(&ticket(book(book_id, 5)), &one()).unwrap();
    }
    let client = SyncClient::open(&db, Arc::new(clock.clone())).unwrap();

    // The server stores the batch but the answer is lost, as if the app died mid-push.
    fake.lock().unwrap().lose_next_push_response = true;
    let lost = client.sync_once().await;
    assert!(matches!(lost, Err(SyncError::Server { status: 500, .. })));
    let state = client.state().unwrap();
    assert_eq!(state.pending, 3);
    assert!(state.last_error.is_some());
    assert_eq!(fake.lock().unwrap().stored.len(), 3);

    // Next cycle: /sync/status shows the server has seq 3; the resend comes back duplicate.
    let report = client.sync_once().await.unwrap();
    assert_eq!(report.acknowledged, 3);
    let state = client.state().unwrap();
    assert_eq!((state.pending, state.last_error), (0, None));
    assert_eq!(fake.lock().unwrap().stored.len(), 3, "nothing stored twice");
    let conn = store::open(&db).unwrap();
    let entries = outbox::recent(&conn, 10).unwrap();
    assert!(
        entries
            .iter()
            .all(|e| e.verdict == Some(PushVerdict::Duplicate) && e.server_seq.is_some())
    );

    // A refused event is kept, shown and not resent; later events still go through.
    clock.advance_millis(10_000);
    engine.scan(&ticket(book(REFUSED_BOOK, 5)), &one()).unwrap();
    engine.scan(&ticket(book(203, 5)), &one()).unwrap();
    let report = client.sync_once().await.unwrap();
    assert_eq!((report.acknowledged, report.rejected), (1, 1));
    let pushes = fake.lock().unwrap().pushes;
    let report = client.sync_once().await.unwrap();
    assert_eq!(report.pushed, 0, "a final rejection is not resent");
    assert_eq!(fake.lock().unwrap().pushes, pushes);
    assert_eq!(client.state().unwrap().rejected, 1);
    let history = engine.history(10).unwrap();
    let kept = history
        .iter()
        .find(|e| e.event.event.body.book_id() == Some(BookId(REFUSED_BOOK)))
        .unwrap();
    assert_eq!(kept.rejection, Some(PushRejection::IdReused));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_training_database_scans_but_never_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("training.db");
    let clock = TestClock::at_secs(NOW);
    let training_root = key(0x77);
    let training_issuer = key(0x78);
    let bundle = Keyring {
        version: 1,
        issued_at: NOW,
        keys: vec![IssuerKey::new(
            training_issuer.verifying_key(),
            1_700_000_000,
            1_900_000_000,
            KeyState::Active,
        )],
    }
    .sign(&training_root);
    let mut engine = engine(&db, &clock);
    engine
        .init_training(training_root.verifying_key(), &bundle, vec![WUHAN])
        .unwrap();
    let practice = book(1, 3).sign(&training_issuer).to_qr_text();
    assert_eq!(
        engine.scan(&practice, &one()).unwrap().kind,
        OutcomeKind::Accepted
    );
    assert!(engine.status().unwrap().training);
    let client = SyncClient::open(&db, Arc::new(clock)).unwrap();
    assert!(matches!(client.sync_once().await, Err(SyncError::Training)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_loop_syncs_and_stops_on_shutdown() {
    let (url, fake) = start(fake_with_rows()).await;
    fake.lock().unwrap().device_key = Some(device_key().verifying_key());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("courier.db");
    enroll_at(&db, &url, &[], NOW - HOUR);
    let clock = TestClock::at_secs(NOW + 10);
    engine(&db, &clock)
        .scan(&ticket(book(300, 5)), &one())
        .unwrap();
    let client = Arc::new(SyncClient::open(&db, Arc::new(clock)).unwrap());
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let looping = {
        let client = client.clone();
        tokio::spawn(async move {
            sync::run_sync_loop(
                &client,
                LoopConfig {
                    interval: Duration::from_millis(20),
                    base_backoff: Duration::from_millis(10),
                    max_backoff: Duration::from_millis(50),
                },
                shutdown,
            )
            .await
        })
    };
    for _ in 0..200 {
        if client.state().unwrap().pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(client.state().unwrap().pending, 0);
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), looping)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyring_not_signed_by_the_pinned_root_is_refused() {
    let (url, fake) = start(Fake {
        forged_keyring: true,
        ..fake_with_rows()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("courier.db");
    enroll_at(&db, &url, &[], NOW - HOUR);
    fake.lock().unwrap().device_key = Some(device_key().verifying_key());
    let client = SyncClient::open(&db, Arc::new(TestClock::at_secs(NOW))).unwrap();
    assert!(matches!(
        client.sync_once().await,
        Err(SyncError::Keyring(KeyringError::BadSignature))
    ));
    let conn = store::open(&db).unwrap();
    assert_eq!(
        status::keyring_version(&conn).unwrap(),
        3,
        "old keyring kept"
    );
    assert!(client.state().unwrap().last_error.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_chain_that_differs_from_the_local_one_stops_sync() {
    let (url, fake) = start(fake_with_rows()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("courier.db");
    enroll_at(&db, &url, &[], NOW - HOUR);
    let clock = TestClock::at_secs(NOW);
    engine(&db, &clock)
        .scan(&ticket(book(400, 5)), &one())
        .unwrap();
    let client = SyncClient::open(&db, Arc::new(clock)).unwrap();

    // The server claims two events: this database is behind (restored from an old backup?).
    fake.lock().unwrap().tip = Some(ChainTip {
        device_seq: 2,
        hash: [9; 32],
    });
    assert!(matches!(
        client.sync_once().await,
        Err(SyncError::ServerAhead {
            server: 2,
            local: 1
        })
    ));
    // Same length, other content.
    fake.lock().unwrap().tip = Some(ChainTip {
        device_seq: 1,
        hash: [9; 32],
    });
    let diverged = client.sync_once().await;
    assert!(matches!(diverged, Err(SyncError::ChainDiverged(1))));
    assert!(!diverged.unwrap_err().is_retryable());
    assert_eq!(client.state().unwrap().pending, 1, "nothing dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_enrolls_scans_and_syncs() {
    let (url, fake) = start(fake_with_rows()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    let run = move |args: Vec<String>| {
        let db = db.clone();
        tokio::task::spawn_blocking(move || {
            let output = std::process::Command::new(env!("CARGO_BIN_EXE_shuipiao-courier"))
                .arg("--db")
                .arg(&db)
                .args(&args)
                .output()
                .unwrap();
            let stdout = String::from_utf8(output.stdout).unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "{args:?}: {stdout} {stderr}");
            stdout
        })
    };
    let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let enrolled = run(args(&[
        "enroll",
        "--server",
        &url,
        "--code",
        "ENROLL-1",
        "--name",
        "柜台扫码枪",
    ]))
    .await
    .unwrap();
    assert!(enrolled.contains("注册成功"), "{enrolled}");
    assert!(
        enrolled.contains("首次同步完成：3 条状态，密钥版本 4"),
        "{enrolled}"
    );
    let scanned = run(args(&[
        "scan",
        "--text",
        &ticket(live_book(102, 10)),
        "--scanner",
    ]))
    .await
    .unwrap();
    assert!(scanned.contains("剩余 6 张"), "{scanned}");
    let synced = run(args(&["sync"])).await.unwrap();
    assert!(synced.contains("已确认 1 条"), "{synced}");
    assert!(synced.contains("待上传 0 条"), "{synced}");
    assert_eq!(fake.lock().unwrap().stored.len(), 1);
}

/// Runs the CLI on `db` off the async runtime.
async fn cli(db: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_shuipiao-courier"));
    command.arg("--db").arg(db).args(args);
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

/// A photo of `text` as a QR code, as a phone would take of the admin console's screen.
fn qr_photo(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    use shuipiao_courier::frame::{FrameSource, SyntheticSource};
    let frame = SyntheticSource::new(text, 640, 480).next_frame().unwrap();
    let path = dir.join(name);
    image::GrayImage::from_raw(frame.width(), frame.height(), frame.into_luma())
        .unwrap()
        .save(&path)
        .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_enrolls_from_the_enrollment_qr_text_or_a_photo_of_it() {
    let (url, _fake) = start(fake_with_rows()).await;
    let dir = tempfile::tempdir().unwrap();
    let enroll_text = format!("SPENROLL:1:ENROLL-1:{url}/");

    // A ticket is not an enrollment QR: a clear refusal, and no database is made.
    let by_text = dir.path().join("text").join("courier.db");
    let ticket_text = ticket(live_book(102, 10));
    let refused = cli(
        &by_text,
        &["enroll", "--qr-text", &ticket_text, "--name", "柜台"],
    )
    .await;
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("这是水票二维码"), "{stderr}");
    assert!(!by_text.parent().unwrap().exists(), "nothing written");
    let both = cli(
        &by_text,
        &[
            "enroll",
            "--qr-text",
            &enroll_text,
            "--server",
            &url,
            "--name",
            "柜台",
        ],
    )
    .await;
    assert_eq!(
        both.status.code(),
        Some(2),
        "the QR or the typed address, not both"
    );

    let enrolled = cli(
        &by_text,
        &["enroll", "--qr-text", &enroll_text, "--name", "柜台"],
    )
    .await;
    let stdout = String::from_utf8_lossy(&enrolled.stdout);
    assert!(
        enrolled.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&enrolled.stderr)
    );
    assert!(
        stdout.contains("注册成功") && stdout.contains("首次同步完成"),
        "{stdout}"
    );
    let identity = store::meta::read(&store::open(&by_text).unwrap())
        .unwrap()
        .identity
        .unwrap();
    assert_eq!(identity.server_url, url, "the address from the QR");

    // A photo: a ticket in it is refused, the enrollment QR enrolls.
    let by_photo = dir.path().join("photo.db");
    let ticket_photo = qr_photo(dir.path(), "ticket.png", &ticket_text);
    let refused = cli(
        &by_photo,
        &[
            "enroll",
            "--image",
            ticket_photo.to_str().unwrap(),
            "--name",
            "手机",
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("这是水票二维码"), "{stderr}");
    assert!(!by_photo.exists());
    let photo = qr_photo(dir.path(), "enroll.png", &enroll_text);
    let enrolled = cli(
        &by_photo,
        &[
            "--json",
            "enroll",
            "--image",
            photo.to_str().unwrap(),
            "--name",
            "手机",
        ],
    )
    .await;
    assert!(
        enrolled.status.success(),
        "{}",
        String::from_utf8_lossy(&enrolled.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&enrolled.stdout).unwrap();
    assert_eq!(answer["courier"], "张师傅");
}

/// The Beijing day of [`NOW`].
const TODAY: &str = "2026-09-21";

fn task(order_id: u64, day: &str, slot: DeliverySlot, address: &str) -> DeliveryTask {
    DeliveryTask {
        order_id,
        day: day.to_owned(),
        slot,
        slot_hours: match slot {
            DeliverySlot::Morning => "08:00-12:00".to_owned(),
            DeliverySlot::Afternoon => "13:00-18:00".to_owned(),
        },
        address: address.to_owned(),
        label: String::new(),
        region: "武汉市江汉区".to_owned(),
        contact: "王女士".to_owned(),
        phone: "13800138000".to_owned(),
        product: BUCKET,
        product_name: "18.9L 桶装水".to_owned(),
        bottles: 2,
        payment: DeliveryPayment::Tickets,
        book_id: Some(BookId(102)),
        note: String::new(),
    }
}

/// A day of five feed rows: three pages of at most [`PAGE`].
fn fake_with_deliveries() -> Fake {
    let mut updated = task(7, TODAY, DeliverySlot::Afternoon, "幸福小区 3栋 2单元 501");
    updated.note = "请放门口".to_owned();
    Fake {
        deliveries: Some(vec![
            DeliveryRow::put(
                1,
                DeliveryChange::Assigned,
                task(7, TODAY, DeliverySlot::Afternoon, "幸福小区 3栋 2单元 501"),
            ),
            DeliveryRow::put(
                2,
                DeliveryChange::Assigned,
                task(8, TODAY, DeliverySlot::Morning, "幸福小区 9栋 1单元 101"),
            ),
            DeliveryRow::put(
                4,
                DeliveryChange::Assigned,
                task(9, TODAY, DeliverySlot::Morning, "和平小区 1栋 1单元 202"),
            ),
            DeliveryRow::put(5, DeliveryChange::Updated, updated),
            DeliveryRow::put(
                6,
                DeliveryChange::Assigned,
                task(10, "2026-09-22", DeliverySlot::Morning, "和平小区 2栋"),
            ),
        ]),
        ..fake_with_rows()
    }
}

/// A device enrolled on a fake server, with its sync client, at [`NOW`].
struct Enrolled {
    fake: Shared,
    db: std::path::PathBuf,
    clock: TestClock,
    client: SyncClient,
    _dir: tempfile::TempDir,
}

async fn enrolled(fake: Fake) -> Enrolled {
    let (url, fake) = start(fake).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("courier.db");
    sync::enroll(&url, "ENROLL-1", "张师傅的手机", &db)
        .await
        .unwrap();
    let clock = TestClock::at_secs(NOW);
    let client = SyncClient::open(&db, Arc::new(clock.clone())).unwrap();
    Enrolled {
        fake,
        db,
        clock,
        client,
        _dir: dir,
    }
}

fn order_ids(engine: &Engine, day: Option<&str>) -> Vec<u64> {
    let list = engine.deliveries(day).unwrap();
    list.items.iter().map(|item| item.task.order_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delivery_list_is_pulled_in_pages_and_kept_offline_by_slot_and_address() {
    let device = enrolled(fake_with_deliveries()).await;
    let report = device.client.sync_once().await.unwrap();
    assert_eq!(report.delivery_list, DeliveryListSync::Pulled);
    assert_eq!(report.delivery_rows, 5, "three pages of at most {PAGE}");

    let engine = engine(&device.db, &device.clock);
    let today = engine.deliveries(None).unwrap();
    assert_eq!(
        today.day, TODAY,
        "today is the Beijing day of the device clock"
    );
    assert_eq!(
        today
            .items
            .iter()
            .map(|item| item.task.order_id)
            .collect::<Vec<_>>(),
        [9, 8, 7],
        "morning before afternoon, then by address"
    );
    assert_eq!((today.done, today.left), (0, 3));
    assert!(today.items.iter().all(|item| item.state == TaskState::Open));
    assert_eq!(
        today.items[2].task.note, "请放门口",
        "the update replaced the task"
    );
    assert_eq!(order_ids(&engine, Some("2026-09-22")), [10]);

    // The dispatcher takes order 9 away: the next sync drops it, and nothing else is pulled again.
    device
        .fake
        .lock()
        .unwrap()
        .deliveries
        .as_mut()
        .unwrap()
        .push(DeliveryRow::withdrawn(9, 9));
    let report = device.client.sync_once().await.unwrap();
    assert_eq!(report.delivery_rows, 1);
    assert_eq!(order_ids(&engine, None), [8, 7]);

    // A server that no longer offers the list (rolled back) leaves the phone's as it is.
    drop(device.fake.lock().unwrap().deliveries.take());
    let report = device.client.sync_once().await.unwrap();
    assert_eq!(report.delivery_list, DeliveryListSync::NotOffered);
    assert_eq!(order_ids(&engine, None), [8, 7]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_the_delivery_list_or_a_store_counter_still_syncs() {
    let device = enrolled(fake_with_rows()).await;
    let report = device.client.sync_once().await.unwrap();
    assert_eq!(report.delivery_list, DeliveryListSync::NotOffered);
    assert_eq!(report.pulled_rows, 3, "the statuses came as before");
    assert_eq!(device.client.state().unwrap().last_success, Some(NOW));
    assert!(order_ids(&engine(&device.db, &device.clock), None).is_empty());

    device.fake.lock().unwrap().store_counter = true;
    let report = device.client.sync_once().await.unwrap();
    assert_eq!(report.delivery_list, DeliveryListSync::NotCourier);
    assert_eq!(device.client.state().unwrap().last_error, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_a_day_of_deliveries_with_masked_phones() {
    let (url, _fake) = start(fake_with_deliveries()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    let enrolled = cli(
        &db,
        &[
            "enroll",
            "--server",
            &url,
            "--code",
            "ENROLL-1",
            "--name",
            "张师傅的手机",
        ],
    )
    .await;
    assert!(enrolled.status.success());
    let synced = cli(&db, &["sync"]).await;
    let synced = String::from_utf8(synced.stdout).unwrap();
    assert!(
        synced.contains("配送单更新 0 条"),
        "enrollment pulled the list already: {synced}"
    );

    let listed = cli(&db, &["deliveries", "--date", TODAY]).await;
    assert!(listed.status.success());
    let text = String::from_utf8(listed.stdout).unwrap();
    assert!(
        text.contains("2026-09-21 配送单：共 3 单，已完成 0 单，待送 3 单"),
        "{text}"
    );
    assert!(text.contains("上午 08:00-12:00"), "{text}");
    assert!(text.contains("#7 幸福小区 3栋 2单元 501 王女士 138****8000 18.9L 桶装水 ×2 水票 票册 102 备注：请放门口"), "{text}");
    assert!(!text.contains("13800138000"), "phones are masked: {text}");
    let morning = text.find("#9").unwrap();
    assert!(
        morning < text.find("#8").unwrap() && text.find("#8").unwrap() < text.find("#7").unwrap(),
        "{text}"
    );

    let json = cli(&db, &["--json", "deliveries", "--date", TODAY]).await;
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["left"], 3);
    assert_eq!(json["items"][0]["task"]["phone"], "138****8000");
    assert_eq!(json["items"][0]["state"], "open");

    let refused = cli(&db, &["deliveries", "--date", "9月21日"]).await;
    assert!(!refused.status.success());
    let stderr = String::from_utf8(refused.stderr).unwrap();
    assert!(stderr.contains("日期格式应为 YYYY-MM-DD"), "{stderr}");
}

/// Runs the CLI and returns whether it succeeded, its stdout and its stderr.
async fn cli_text(db: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let output = cli(db, args).await;
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_delivers_at_the_door_and_the_events_reach_the_server() {
    let order = |order_id, payment, book_id| DeliveryTask {
        payment,
        book_id,
        ..task(order_id, TODAY, DeliverySlot::Morning, "幸福小区 1栋")
    };
    let fake = Fake {
        deliveries: Some(vec![
            DeliveryRow::put(
                1,
                DeliveryChange::Assigned,
                order(21, DeliveryPayment::Cash, None),
            ),
            DeliveryRow::put(
                2,
                DeliveryChange::Assigned,
                order(22, DeliveryPayment::Account, None),
            ),
            DeliveryRow::put(
                3,
                DeliveryChange::Assigned,
                order(23, DeliveryPayment::Tickets, Some(BookId(102))),
            ),
            DeliveryRow::put(
                4,
                DeliveryChange::Assigned,
                order(24, DeliveryPayment::Cash, None),
            ),
        ]),
        ..fake_with_rows()
    };
    let (url, fake) = start(fake).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    let (ok, ..) = cli_text(
        &db,
        &[
            "enroll", "--server", &url, "--code", "ENROLL-1", "--name", "手机",
        ],
    )
    .await;
    assert!(ok);

    let (ok, out, err) = cli_text(
        &db,
        &[
            "deliver",
            "21",
            "--cash",
            "--empties",
            "2",
            "--deposits",
            "1",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert!(
        out.contains("订单 21 已送达：2 桶（货到付款），收回空桶 2 只，押桶 1 只"),
        "{out}"
    );

    // Refusals: each in zh-CN, nothing written.
    let own_code = ticket(live_book(102, 10));
    let other_code = ticket(live_book(555, 10));
    for (args, message) in [
        (
            vec!["deliver", "22", "--cash"],
            "该订单为月结，请选择月结送达",
        ),
        (
            vec!["deliver", "23", "--account"],
            "该订单用水票支付，请扫码送达",
        ),
        (
            vec!["deliver", "23", "--scan", &other_code],
            "这张水票不是该订单的水票",
        ),
        (
            vec!["deliver", "21", "--cash"],
            "该订单已送达，不能重复送达",
        ),
        (vec!["deliver", "99", "--cash"], "配送单中没有这个订单"),
        (
            vec!["deliver", "24", "--cash", "--empties", "100"],
            "空桶和押桶数量须在0到99之间",
        ),
        (
            vec!["deliver", "24", "--failed", "路上堵车"],
            "未送达原因应为",
        ),
    ] {
        let (ok, _, err) = cli_text(&db, &args).await;
        assert!(!ok && err.contains(message), "{args:?}: {err}");
    }
    let (ok, _, err) = cli_text(&db, &["deliver", "24"]).await;
    assert!(!ok, "a way of delivering is required: {err}");

    let (ok, out, err) = cli_text(&db, &["deliver", "22", "--account", "--deposits", "3"]).await;
    assert!(ok && out.contains("订单 22 已送达"), "{out} {err}");
    let (ok, out, err) = cli_text(
        &db,
        &[
            "--json",
            "deliver",
            "23",
            "--scan",
            &own_code,
            "--empties",
            "1",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let done: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(done["state"], "delivered");
    assert_eq!(done["scan"]["kind"], "accepted");
    assert_eq!(done["scan"]["units"], 2);
    let redemption = done["scan"]["event_id"].as_str().unwrap().to_owned();
    let (ok, _, err) = cli_text(&db, &["undo", &redemption]).await;
    assert!(
        !ok && err.contains("该核销属于已送达的订单，不能撤销"),
        "{err}"
    );
    let (ok, out, err) = cli_text(&db, &["deliver", "24", "--failed", "无人在家"]).await;
    assert!(
        ok && out.contains("订单 24 未送达：无人在家"),
        "{out} {err}"
    );
    let (ok, _, err) = cli_text(&db, &["deliver", "24", "--failed", "nobody_home"]).await;
    assert!(!ok && err.contains("该订单已登记未送达"), "{err}");

    let (_, out, _) = cli_text(&db, &["deliveries", "--date", TODAY]).await;
    assert!(out.contains("共 4 单，已完成 4 单，待送 0 单"), "{out}");
    assert!(out.contains("#21 ") && out.contains("【已送达】"), "{out}");
    assert!(out.contains("【未送达：无人在家】"), "{out}");

    // The fake verifies each pushed event against the chain: all of them reach it.
    let (ok, out, err) = cli_text(&db, &["sync"]).await;
    assert!(ok && out.contains("已确认 5 条"), "{out} {err}");
    let stored = fake.lock().unwrap().stored.clone();
    let mut kinds: Vec<&str> = stored
        .values()
        .map(|(event, _)| match event.event.body {
            EventBody::Delivery { .. } => "delivery",
            EventBody::Redemption { .. } => "redemption",
            _ => "other",
        })
        .collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        ["delivery", "delivery", "delivery", "delivery", "redemption"]
    );
}
