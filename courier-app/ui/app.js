// The courier app's screens. Everything decided is decided by the engine behind the Tauri
// commands; this file only shows what the commands return and what the events say.
"use strict";

const { invoke } = window.__TAURI__.core;
const { listen } = window.__TAURI__.event;

const $ = (id) => document.getElementById(id);
const state = {
  profile: null,
  settings: null,
  training: false,
  screen: null,
  quantity: 1,
  product: null,
  lastVerdict: null,
  counterKeys: [],
  counterTimer: null,
  // What the camera runs for: "scan" (tickets), "enroll" (the enrollment QR), "deliver" (the
  // ticket of the order on the delivery sheet) or null.
  camera: null,
  // The delivery list shows tomorrow instead of today.
  tomorrow: false,
  // The order on the delivery sheet, and the buckets counted at its door.
  sheet: null,
  empties: 0,
  deposits: 0,
};

// ---------- Sound and vibration ----------

let audio = null;
function beep(pattern) {
  if (!state.settings || !state.settings.sounds) return;
  try {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    let t = audio.currentTime + 0.02;
    for (const [freq, dur, type] of pattern) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = type || "sine";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.5, t + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + dur);
      osc.connect(gain).connect(audio.destination);
      osc.start(t);
      osc.stop(t + dur + 0.02);
      t += dur + 0.05;
    }
  } catch (_) {
    // No audio device: the colours still tell.
  }
}

const SOUNDS = {
  accepted: [[880, 0.12], [1320, 0.22]],
  already_used: [[660, 0.18, "triangle"], [660, 0.18, "triangle"]],
  rejected: [[220, 0.22, "square"], [180, 0.22, "square"], [150, 0.35, "square"]],
};
const VIBRATIONS = { accepted: [80], already_used: [150, 80, 150], rejected: [300, 100, 300, 100, 300] };

function signal(kind) {
  beep(SOUNDS[kind] || []);
  if (state.settings && state.settings.vibration && navigator.vibrate) {
    navigator.vibrate(VIBRATIONS[kind] || []);
  }
}

// ---------- Small helpers ----------

function toast(text, ms = 2600) {
  const el = $("toast");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (el.hidden = true), ms);
}

function errorText(error) {
  return (error && error.message) || String(error);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child != null) node.append(child);
  }
  return node;
}

function productName(code) {
  const found = (state.settings?.products || []).find((p) => p.code === code);
  return found ? found.name : `产品 ${code}`;
}

// ---------- Status bar ----------

function showStatus(bar) {
  const online = $("status-online");
  online.textContent = bar.training ? "练习" : bar.online ? "在线" : "离线";
  online.className = "pill" + (bar.training ? "" : bar.online ? " online" : " offline");
  online.dataset.online = String(bar.online);
  $("status-pending").textContent = bar.pending;
  const age = $("status-age");
  age.textContent = bar.last_sync_text;
  age.classList.toggle("stale", bar.stale);
  age.title = bar.freshness_text;
  const warning = $("status-warning");
  warning.hidden = !bar.warning;
  warning.textContent = bar.warning || "";
  $("training-badge").hidden = !bar.training;
  $("sync-now").hidden = bar.training || !state.profile;
}

// ---------- Screens ----------

const SCREENS = ["enroll", "deliveries", "scan", "counter", "history", "assist", "settings"];

// One live camera and viewfinder, for tickets on the scan screen or for the enrollment QR.
const CAMERAS = {
  scan: { command: "start_camera", slot: "screen-scan", ready: "将水票二维码对准取景框" },
  enroll: { command: "scan_enrollment_qr", slot: "enroll-camera", ready: "将注册二维码对准取景框" },
  deliver: { command: "deliver_scan", slot: "sheet-camera", ready: "将该订单的水票二维码对准取景框" },
};

async function startCamera(purpose, args = {}) {
  const camera = CAMERAS[purpose];
  $(camera.slot).prepend($("viewfinder"));
  $("preview").removeAttribute("src");
  state.camera = purpose;
  setHint(camera.ready, false);
  try {
    await invoke(camera.command, args);
  } catch (e) {
    setHint(errorText(e), true);
  }
}

async function stopCamera() {
  if (!state.camera) return;
  state.camera = null;
  await invoke("stop_camera").catch(() => {});
}

async function show(screen) {
  if (state.screen !== screen) await stopCamera();
  if (state.screen === "enroll" && screen !== "enroll") hideEnrollCamera();
  state.screen = screen;
  for (const name of SCREENS) $("screen-" + name).hidden = name !== screen;
  document.querySelector("main").scrollTop = 0;
  $("nav").hidden = screen === "enroll";
  for (const button of document.querySelectorAll("#nav button")) {
    button.classList.toggle("active", button.dataset.screen === screen);
  }
  if (screen === "deliveries") await loadDeliveries();
  if (screen === "scan") await enterScan();
  if (screen === "counter") await enterCounter();
  if (screen === "history") await loadHistory();
  if (screen === "assist") await loadAssist();
  if (screen === "settings") fillSettings();
}

// ---------- Enroll ----------

const ROLES = { courier: "配送员", store: "门店店员" };

$("enroll-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = $("enroll-submit");
  const error = $("enroll-error");
  error.hidden = true;
  button.disabled = true;
  button.textContent = "正在注册…";
  try {
    const profile = await invoke("enroll", {
      serverUrl: $("enroll-server").value,
      code: $("enroll-code").value,
      name: $("enroll-name").value,
    });
    state.profile = profile;
    showStatus(await invoke("status"));
    $("enroll-courier").textContent = profile.display_name;
    $("enroll-role").textContent = ROLES[profile.role] || profile.role;
    $("enroll-store").textContent = profile.store_name || "—";
    $("enroll-scopes").textContent = profile.scopes.map((s) => s.name).join("、") || "全部区域";
    $("enroll-form").hidden = true;
    $("enroll-training").hidden = true;
    $("enroll-result").hidden = false;
  } catch (e) {
    error.textContent = errorText(e);
    error.hidden = false;
  } finally {
    button.disabled = false;
    button.textContent = "注册";
  }
});

// 扫码注册: the same live camera as the scan screen; the first enrollment QR read fills the
// server address and the code, and the courier only names the phone.
$("enroll-scan").addEventListener("click", async () => {
  $("enroll-error").hidden = true;
  $("enroll-camera").hidden = false;
  $("enroll-scan").hidden = true;
  await startCamera("enroll");
});

function hideEnrollCamera() {
  $("enroll-camera").hidden = true;
  $("enroll-scan").hidden = false;
}

async function closeEnrollCamera() {
  await stopCamera();
  hideEnrollCamera();
}

$("enroll-scan-cancel").addEventListener("click", closeEnrollCamera);

async function enrollQrRead(qr) {
  if (state.camera !== "enroll") return;
  await closeEnrollCamera();
  for (const [id, value] of [["enroll-server", qr.server_url], ["enroll-code", qr.code]]) {
    $(id).value = value;
    $(id).classList.add("filled");
  }
  toast("已读取注册二维码，请填写本机名称后注册");
  $("enroll-name").focus();
}

for (const id of ["enroll-server", "enroll-code"]) {
  $(id).addEventListener("input", () => $(id).classList.remove("filled"));
}

$("enroll-done").addEventListener("click", () => show(startScreen()));
$("enroll-training").addEventListener("click", async () => {
  await setTraining(true);
  show("scan");
});

function startScreen() {
  return state.settings && state.settings.mode === "counter" ? "counter" : "scan";
}

// ---------- Scan ----------

function renderProducts() {
  const box = $("products");
  box.replaceChildren();
  for (const product of state.settings.products) {
    const button = el(
      "button",
      {
        type: "button",
        role: "radio",
        "aria-checked": String(product.code === state.product),
        "data-code": String(product.code),
        onclick: () => choose(product.code, state.quantity),
      },
      product.name,
    );
    box.append(button);
  }
  $("qty-value").textContent = state.quantity;
}

async function choose(product, quantity) {
  state.product = product;
  state.quantity = Math.max(1, Math.min(99, quantity));
  renderProducts();
  try {
    await invoke("set_choice", { product: state.product, quantity: state.quantity });
  } catch (e) {
    toast(errorText(e));
  }
}

$("qty-minus").addEventListener("click", () => choose(state.product, state.quantity - 1));
$("qty-plus").addEventListener("click", () => choose(state.product, state.quantity + 1));

async function enterScan() {
  renderProducts();
  await startCamera("scan");
}

function setHint(text, problem) {
  const hint = $("camera-hint");
  hint.textContent = text;
  hint.classList.toggle("problem", problem);
}

function renderPractice(cards) {
  const box = $("practice-cards");
  box.replaceChildren();
  for (const [index, card] of cards.entries()) {
    const button = el("button", { type: "button", class: "practice-card", onclick: () => practise(index) });
    const qr = el("div");
    qr.innerHTML = card.svg; // SVG generated by the engine from ticket text, not user input.
    button.append(
      qr,
      el("div", { class: "label" }, card.ticket.label),
      el("div", { class: "expect" }, "应显示：" + card.ticket.expect + (card.ticket.hint ? "（" + card.ticket.hint + "）" : "")),
    );
    box.append(button);
  }
  $("practice").hidden = cards.length === 0;
}

async function practise(index) {
  try {
    showVerdict(await invoke("practice_scan", { index }));
  } catch (e) {
    toast(errorText(e));
  }
}

// ---------- 今日配送 ----------

const PAYMENTS = { tickets: "水票", account: "月结", cash: "货到付款" };
const SLOTS = { morning: "上午", afternoon: "下午" };
const STATES = { open: "待送", delivered: "已送达", not_delivered: "未送达" };
const REASONS = { nobody_home: "无人在家", wrong_address: "地址错误", refused: "客户拒收", other: "其他" };

function stateText(item) {
  return STATES[item.state] + (item.reason ? "：" + REASONS[item.reason] : "");
}

async function loadDeliveries() {
  $("day-today").classList.toggle("active", !state.tomorrow);
  $("day-tomorrow").classList.toggle("active", state.tomorrow);
  let list;
  try {
    list = await invoke("deliveries", { tomorrow: state.tomorrow });
  } catch (e) {
    toast(errorText(e));
    return;
  }
  $("deliveries-day").textContent = list.day;
  $("deliveries-done").textContent = list.done;
  $("deliveries-left").textContent = list.left;
  const box = $("deliveries-list");
  box.replaceChildren();
  if (list.items.length === 0) {
    box.append(el("li", { class: "empty" }, "暂无配送单（同步后更新）"));
    return;
  }
  for (const item of list.items) {
    const t = item.task;
    const label = t.label ? `（${t.label}）` : "";
    const call = el("a", { class: "call", href: "#", onclick: (event) => callContact(event, t.order_id) }, "拨打");
    box.append(
      el(
        "li",
        { class: item.state, "data-order": String(t.order_id), onclick: () => openSheet(item) },
        el("span", { class: "title" }, `#${t.order_id} ${SLOTS[t.slot]} ${t.slot_hours}`),
        el("span", { class: "state" }, stateText(item)),
        el("span", { class: "address" }, t.address + label),
        el("span", { class: "meta" }, `${t.contact} ${t.phone}`, call),
        el("span", { class: "meta" }, `${t.product_name} ×${t.bottles} · ${PAYMENTS[t.payment]}${t.book_id != null ? " · 票册 " + t.book_id : ""}`),
        t.note ? el("span", { class: "note" }, "备注：" + t.note) : null,
      ),
    );
  }
}

// The list shows phones masked; the number is fetched only to dial it.
async function callContact(event, orderId) {
  event.preventDefault();
  event.stopPropagation();
  try {
    window.location.href = await invoke("delivery_phone", { orderId });
  } catch (e) {
    toast(errorText(e));
  }
}

for (const [id, tomorrow] of [["day-today", false], ["day-tomorrow", true]]) {
  $(id).addEventListener("click", () => {
    state.tomorrow = tomorrow;
    loadDeliveries();
  });
}

function renderSheetCounts() {
  $("sheet-empties").textContent = state.empties;
  $("sheet-deposits").textContent = state.deposits;
}

function openSheet(item) {
  const t = item.task;
  state.sheet = item;
  state.empties = 0;
  state.deposits = 0;
  renderSheetCounts();
  $("sheet-title").textContent = `#${t.order_id} · ${stateText(item)}`;
  $("sheet-address").textContent = t.address + (t.label ? `（${t.label}）` : "");
  $("sheet-facts").textContent = `${t.contact} ${t.phone} · ${t.product_name} ×${t.bottles} · ${PAYMENTS[t.payment]}`;
  const open = item.state !== "delivered";
  $("sheet-scan").hidden = !(open && t.payment === "tickets");
  $("sheet-cash").hidden = !(open && t.payment === "cash");
  $("sheet-account").hidden = !(open && t.payment === "account");
  $("sheet-missed").hidden = item.state !== "open";
  $("sheet-reasons").hidden = true;
  $("sheet-error").hidden = true;
  $("sheet-camera").hidden = true;
  $("deliver-sheet").hidden = false;
}

async function closeSheet() {
  if (state.camera === "deliver") await stopCamera();
  $("deliver-sheet").hidden = true;
  state.sheet = null;
  if (state.screen === "deliveries") await loadDeliveries();
}

for (const button of document.querySelectorAll("#deliver-sheet .stepper button")) {
  button.addEventListener("click", () => {
    const field = button.dataset.field;
    state[field] = Math.max(0, Math.min(99, state[field] + Number(button.dataset.step)));
    renderSheetCounts();
  });
}

function sheetError(text) {
  $("sheet-error").textContent = text;
  $("sheet-error").hidden = false;
}

async function deliverBy(handover) {
  try {
    const done = await invoke("deliver", { orderId: state.sheet.task.order_id, handover });
    toast(done.message);
    await closeSheet();
  } catch (e) {
    sheetError(errorText(e));
  }
}

$("sheet-cash").addEventListener("click", () =>
  deliverBy({ handover: "cash", empties: state.empties, deposits: state.deposits }),
);
$("sheet-account").addEventListener("click", () =>
  deliverBy({ handover: "account", empties: state.empties, deposits: state.deposits }),
);
$("sheet-missed").addEventListener("click", () => ($("sheet-reasons").hidden = false));
for (const button of document.querySelectorAll("#sheet-reasons button")) {
  button.addEventListener("click", () =>
    deliverBy({ handover: "not_delivered", reason: button.dataset.reason, empties: state.empties }),
  );
}
$("sheet-scan").addEventListener("click", async () => {
  $("sheet-camera").hidden = false;
  $("sheet-error").hidden = true;
  await startCamera("deliver", {
    orderId: state.sheet.task.order_id,
    empties: state.empties,
    deposits: state.deposits,
  });
});
$("sheet-close").addEventListener("click", closeSheet);

// The ticket read at the door: its verdict full screen; delivered, the sheet closes behind it.
async function deliveryScanned(done) {
  if (state.camera !== "deliver") return;
  showVerdict({ outcome: done.scan, warnings: [], training: state.training }, true);
  $("verdict-detail").textContent = done.message;
  if (done.event_id) {
    await stopCamera();
    await closeSheet();
  }
}

// ---------- Verdict ----------

const MARKS = { accepted: "✓", already_used: "!", rejected: "✕" };
const OVERRIDABLE = ["stale_data", "offline_budget_exceeded"];

// `delivery`: the scan delivered an order, whose payment cannot be undone alone.
function showVerdict(verdict, delivery = false) {
  const outcome = verdict.outcome;
  if (outcome.duplicate) {
    toast("同一张水票，已忽略");
    return;
  }
  state.lastVerdict = verdict;
  const box = $("verdict");
  box.dataset.kind = outcome.kind;
  $("verdict-mark").textContent = MARKS[outcome.kind];
  $("verdict-title").textContent = outcome.title;
  $("verdict-detail").textContent = outcome.detail;
  $("verdict-book").textContent = outcome.book_id != null ? `票册 ${outcome.book_id}` : "";
  const warnings = $("verdict-warnings");
  warnings.replaceChildren(...verdict.warnings.map((w) => el("li", {}, w)));
  $("verdict-training").hidden = !verdict.training;
  $("verdict-undo").hidden = delivery || outcome.kind !== "accepted";
  $("verdict-override").hidden = !(outcome.kind === "rejected" && OVERRIDABLE.includes(outcome.reason));
  box.hidden = false;
  signal(outcome.kind);
  if (state.screen === "counter") {
    showCounterLast(verdict);
    clearTimeout(showVerdict.timer);
    showVerdict.timer = setTimeout(closeVerdict, 2500);
  }
}

async function closeVerdict() {
  $("verdict").hidden = true;
  if (state.camera === "scan" || state.camera === "deliver") await invoke("resume_camera").catch(() => {});
  if (state.screen === "counter") {
    $("counter-input").focus();
    loadToday();
  }
}

$("verdict-continue").addEventListener("click", closeVerdict);
$("verdict-undo").addEventListener("click", async () => {
  const id = state.lastVerdict?.outcome?.event_id;
  if (!id) return;
  try {
    const undone = await invoke("undo", { eventId: id });
    toast(`已撤销：票册 ${undone.book_id} 退回 ${undone.units} 张`);
    closeVerdict();
  } catch (e) {
    toast(errorText(e));
  }
});
$("verdict-override").addEventListener("click", () => {
  $("pin-dialog").hidden = false;
  $("pin-dialog-input").value = "";
  $("pin-dialog-input").focus();
});
$("pin-dialog-cancel").addEventListener("click", () => ($("pin-dialog").hidden = true));
$("pin-dialog-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await invoke("arm_override", { pin: $("pin-dialog-input").value });
    $("pin-dialog").hidden = true;
    $("verdict").hidden = true;
    toast("已授权：请再扫一次这张水票", 4000);
  } catch (e) {
    toast(errorText(e));
  }
});

// ---------- Counter mode ----------

async function enterCounter() {
  const input = $("counter-input");
  input.value = "";
  input.focus();
  await loadToday();
}

// The scanner types into this input; focus always comes back to it.
$("counter-input").addEventListener("blur", () => {
  if (state.screen === "counter" && $("pin-dialog").hidden) {
    setTimeout(() => $("counter-input").focus(), 0);
  }
});

$("counter-input").addEventListener("keydown", (event) => {
  const key = event.key;
  if (key === "Enter" || key === "Tab" || key.length === 1) {
    event.preventDefault();
    state.counterKeys.push({ key, at_ms: Math.round(performance.now()) });
    $("counter-input").value = key.length === 1 ? $("counter-input").value + key : "";
    clearTimeout(state.counterTimer);
    if (key === "Enter" || key === "Tab") flushCounter();
    else state.counterTimer = setTimeout(flushCounter, 500);
  }
});

async function flushCounter() {
  const keys = state.counterKeys;
  state.counterKeys = [];
  $("counter-input").value = "";
  if (keys.length === 0) return;
  try {
    const verdicts = await invoke("counter_keys", { keys });
    for (const verdict of verdicts) showVerdict(verdict);
  } catch (e) {
    toast(errorText(e));
  }
}

function showCounterLast(verdict) {
  const box = $("counter-last");
  box.className = "counter-last " + verdict.outcome.kind;
  box.replaceChildren(verdict.outcome.title, el("small", {}, verdict.outcome.detail));
  box.hidden = false;
}

async function loadToday() {
  try {
    const rows = await invoke("today");
    const units = rows.filter((r) => !r.voided).reduce((sum, r) => sum + r.units, 0);
    $("today-total").textContent = `共 ${units} 桶`;
    renderRows($("today-list"), rows, "今天还没有核销");
  } catch (e) {
    toast(errorText(e));
  }
}

// ---------- History ----------

function renderRows(list, rows, emptyText) {
  list.replaceChildren();
  if (rows.length === 0) {
    list.append(el("li", { class: "empty" }, emptyText));
    return;
  }
  for (const row of rows) {
    const classes = [row.kind];
    if (row.voided) classes.push("voided");
    const title = row.kind === "redemption" && row.product != null ? `${row.title} · ${productName(row.product)}` : row.title;
    const item = el(
      "li",
      { class: classes.join(" "), "data-event": row.event_id },
      el("span", { class: "title" }, title),
      el("span", { class: "upload " + (row.uploaded ? "done" : "pending") }, row.upload),
      el("span", { class: "meta" }, `${row.at_text}${row.book_id != null ? " · 票册 " + row.book_id : ""}`),
    );
    if (row.undoable) {
      item.append(el("button", { class: "undo", type: "button", onclick: () => undo(row.event_id) }, "撤销"));
    }
    list.append(item);
  }
}

async function loadHistory() {
  try {
    renderRows($("history-list"), await invoke("history"), "还没有记录");
  } catch (e) {
    toast(errorText(e));
  }
}

async function undo(eventId) {
  try {
    const undone = await invoke("undo", { eventId });
    toast(`已撤销：票册 ${undone.book_id} 退回 ${undone.units} 张`);
  } catch (e) {
    toast(errorText(e));
  }
  if (state.screen === "history") loadHistory();
  if (state.screen === "counter") loadToday();
}

// ---------- 线下协助 ----------

async function loadAssist() {
  try {
    const qr = await invoke("assist_qr");
    $("assist-qr").innerHTML = qr.svg; // Generated by the engine from the enrollment profile.
    $("assist-code").textContent = qr.staff_code;
    $("assist-url").textContent = qr.url;
  } catch (e) {
    $("assist-qr").replaceChildren(el("p", { class: "center" }, errorText(e)));
  }
}

// ---------- Settings ----------

function fillSettings() {
  const s = state.settings;
  const profile = state.profile;
  const card = $("settings-profile");
  card.replaceChildren(
    el("h2", {}, profile ? profile.display_name : "尚未注册"),
    el(
      "p",
      { class: "muted" },
      profile
        ? `${ROLES[profile.role] || profile.role} · 设备 ${profile.device_id} · ${profile.scopes.map((x) => x.name).join("、") || "全部区域"}`
        : "请先注册本机",
    ),
  );
  const camera = $("set-camera");
  camera.replaceChildren();
  const options = ["camera:0", "camera:1", "camera:2"];
  if (!options.includes(s.camera)) options.unshift(s.camera);
  for (const spec of options) {
    const label = spec.startsWith("camera:") ? `摄像头 ${Number(spec.slice(7)) + 1}` : spec;
    camera.append(el("option", { value: spec }, label));
  }
  camera.value = s.camera;
  $("set-sounds").checked = s.sounds;
  $("set-vibration").checked = s.vibration;
  const product = $("set-product");
  product.replaceChildren(...s.products.map((p) => el("option", { value: String(p.code) }, p.name)));
  product.value = String(s.last_product);
  $("set-quantity").value = s.default_quantity;
  $("set-mode").value = s.mode;
  $("training-toggle").textContent = state.training ? "退出练习模式" : "进入练习模式";
}

$("settings-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const settings = {
    ...state.settings,
    camera: $("set-camera").value,
    sounds: $("set-sounds").checked,
    vibration: $("set-vibration").checked,
    last_product: Number($("set-product").value),
    default_quantity: Math.max(1, Number($("set-quantity").value) || 1),
    mode: $("set-mode").value,
  };
  try {
    await invoke("save_settings", { settings });
    state.settings = settings;
    state.product = settings.last_product;
    state.quantity = settings.default_quantity;
    await invoke("set_choice", { product: state.product, quantity: state.quantity });
    $("settings-saved").hidden = false;
    setTimeout(() => ($("settings-saved").hidden = true), 2000);
  } catch (e) {
    toast(errorText(e));
  }
});

$("pin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const note = $("pin-note");
  try {
    await invoke("set_supervisor_pin", { pin: $("pin-new").value });
    note.textContent = "主管密码已设置";
    note.className = "small ok-note";
    $("pin-new").value = "";
  } catch (e) {
    note.textContent = errorText(e);
    note.className = "small form-error";
  }
  note.hidden = false;
});

async function setTraining(on) {
  try {
    const cards = await invoke("set_training", { on });
    state.training = on;
    renderPractice(cards);
    showStatus(await invoke("status"));
  } catch (e) {
    toast(errorText(e));
  }
}

$("training-toggle").addEventListener("click", async () => {
  await setTraining(!state.training);
  if (!state.training && !state.profile) return show("enroll");
  show("scan");
});

$("logout").addEventListener("click", async () => {
  const pending = Number($("status-pending").textContent) || 0;
  const warning = pending > 0 ? `还有 ${pending} 条记录未上传，注销后将丢失！\n` : "";
  if (!window.confirm(`${warning}确定注销本机并清除全部数据吗？`)) return;
  try {
    await invoke("logout");
    state.profile = null;
    state.training = false;
    renderPractice([]);
    show("enroll");
  } catch (e) {
    toast(errorText(e));
  }
});

$("sync-now").addEventListener("click", async () => {
  const button = $("sync-now");
  button.disabled = true;
  button.textContent = "同步中…";
  try {
    const report = await invoke("sync_now");
    toast(`同步完成：上传 ${report.acknowledged} 条`);
  } catch (e) {
    toast(errorText(e));
  } finally {
    button.disabled = false;
    button.textContent = "立即同步";
    showStatus(await invoke("status"));
  }
});

for (const button of document.querySelectorAll("#nav button")) {
  button.addEventListener("click", () => show(button.dataset.screen));
}

// ---------- Events and start ----------

listen("status", (event) => showStatus(event.payload));
listen("preview", (event) => {
  if (state.camera) $("preview").src = event.payload.data_url;
});
listen("verdict", (event) => showVerdict(event.payload));
listen("enroll_qr", (event) => enrollQrRead(event.payload));
listen("delivery", (event) => deliveryScanned(event.payload));
listen("camera", (event) => {
  const { kind, message } = event.payload;
  if (kind === "duplicate") toast(message, 1500);
  else setHint(message, kind !== "unreadable");
});

async function start() {
  const overview = await invoke("overview");
  state.profile = overview.profile;
  state.settings = overview.settings;
  state.training = overview.training;
  state.product = overview.settings.last_product;
  state.quantity = overview.settings.default_quantity;
  await invoke("set_choice", { product: state.product, quantity: state.quantity }).catch(() => {});
  showStatus(overview.status);
  await show(state.profile ? startScreen() : "enroll");
}

start().catch((e) => toast(errorText(e), 10000));
