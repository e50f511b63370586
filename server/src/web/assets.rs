//! Static assets compiled into the binary, so the server needs no files beside it and pages
//! load nothing from the internet. Behaviour lives in a script file, never inline, because the
//! Content-Security-Policy allows only this server's own scripts.

use axum::http::header;
use axum::response::IntoResponse;

const STYLESHEET: &str = include_str!("../../static/shuipiao.css");
const SCRIPT: &str = include_str!("../../static/shuipiao.js");
const HOLDER_SCRIPT: &str = include_str!("../../static/holder.js");

/// `GET /static/shuipiao.css`.
pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
}

/// `GET /static/shuipiao.js`: confirmations before destructive forms, the print button.
pub async fn script() -> impl IntoResponse {
    javascript(SCRIPT)
}

/// `GET /static/holder.js`: the holder key and the rotating QR code of a bound book.
pub async fn holder_script() -> impl IntoResponse {
    javascript(HOLDER_SCRIPT)
}

fn javascript(source: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        source,
    )
}
