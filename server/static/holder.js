// The holder-bound rotating QR code of a ticket book (docs/protocol.md, v2 credential).
//
// The browser makes an Ed25519 key pair whose private half cannot be exported, keeps it in
// IndexedDB, and registers the public half once: the server then reissues the book bound to it.
// Every 30 seconds the page signs "SPH2" | book_id u64 | window u32 and shows the QR code the
// server draws for that proof. The server never sees the private key, so a screenshot or a copy
// of the page stops working after 90 seconds.
(function () {
  "use strict";

  var box = document.getElementById("rotating-qr");
  if (!box) {
    return;
  }
  var status = document.getElementById("rotating-status");
  var image = box.querySelector("img");
  var bookId = box.dataset.book;
  var WINDOW_SECONDS = 30;
  var ALGORITHM = { name: "Ed25519" };

  function say(text) {
    status.textContent = text;
  }

  function hex(bytes) {
    return Array.from(bytes, function (b) {
      return b.toString(16).padStart(2, "0");
    }).join("");
  }

  function request(r) {
    return new Promise(function (resolve, reject) {
      r.onsuccess = function () { resolve(r.result); };
      r.onerror = function () { reject(r.error); };
    });
  }

  function openKeys() {
    var r = indexedDB.open("shuipiao-holder-keys", 1);
    r.onupgradeneeded = function () {
      r.result.createObjectStore("keys");
    };
    return request(r);
  }

  function keys(db, mode) {
    return db.transaction("keys", mode).objectStore("keys");
  }

  // Makes a key, registers it and opens the page of the book the server bound to it.
  async function bind(db) {
    say("正在为本机启用动态二维码…");
    var pair = await crypto.subtle.generateKey(ALGORITHM, false, ["sign", "verify"]);
    var raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    var body = new URLSearchParams({ csrf: box.dataset.csrf, public_key: hex(raw) });
    var response = await fetch("/wallet/books/" + bookId + "/holder-key", {
      method: "POST",
      body: body,
      credentials: "same-origin",
    });
    if (!response.ok) {
      throw new Error("启用失败(" + response.status + "),请刷新页面重试");
    }
    var bound = await response.json();
    await request(keys(db, "readwrite").put(pair, String(bound.book_id)));
    location.replace("/wallet/books/" + bound.book_id);
  }

  function proofMessage(windowIndex) {
    var message = new Uint8Array(16);
    message.set([0x53, 0x50, 0x48, 0x32]); // "SPH2"
    var view = new DataView(message.buffer);
    view.setBigUint64(4, BigInt(bookId));
    view.setUint32(12, windowIndex);
    return message;
  }

  // Signs the current window, shows its code, and comes back when the next window starts.
  async function rotate(pair) {
    var now = Date.now();
    var windowIndex = Math.floor(now / 1000 / WINDOW_SECONDS);
    var proof = new Uint8Array(
      await crypto.subtle.sign(ALGORITHM, pair.privateKey, proofMessage(windowIndex))
    );
    image.src = "/wallet/books/" + bookId + "/qr.svg?window=" + windowIndex + "&proof=" + hex(proof);
    var next = (windowIndex + 1) * WINDOW_SECONDS * 1000;
    setTimeout(function () {
      rotate(pair).catch(fail);
    }, next - now + 50);
  }

  function fail(error) {
    image.hidden = true;
    say(error && error.message ? error.message : "动态二维码生成失败,请刷新页面");
  }

  function offerRebind(db) {
    say("本机没有此水票的密钥(可能在其他手机上启用过)。");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "primary";
    button.textContent = "在本机启用(其他手机上的二维码将失效)";
    button.addEventListener("click", function () {
      button.disabled = true;
      bind(db).catch(fail);
    });
    box.appendChild(button);
  }

  image.addEventListener("load", function () {
    image.hidden = false;
    say("动态二维码 · 每30秒自动刷新");
  });
  image.addEventListener("error", function () {
    image.hidden = true;
    say("二维码加载失败:请检查网络和手机时间后刷新页面");
  });

  async function start() {
    if (!window.crypto || !crypto.subtle || !window.indexedDB) {
      throw new Error("此浏览器不支持动态二维码,请换用新版浏览器");
    }
    var db = await openKeys();
    if (box.dataset.mode === "bind") {
      return bind(db);
    }
    var pair = await request(keys(db, "readonly").get(bookId));
    if (!pair) {
      return offerRebind(db);
    }
    return rotate(pair);
  }

  start().catch(fail);
})();
