//! A minimal HTTP/1.1 client over a plain TCP stream (one request per connection), so the tests
//! need no HTTP client crate and stay independent of TLS features other crates switch on.

use axum::http::{Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response, with the body as text and, when it parses, as JSON.
pub struct Response {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub text: String,
    pub json: Value,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// The request body: bytes to send, or only a `Content-Length` to announce (for limit tests).
pub enum Body<'a> {
    Bytes(&'a [u8]),
    AnnouncedOnly(usize),
}

pub async fn send(
    addr: &str,
    method: &Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Body<'_>,
) -> Response {
    let (bytes, length): (&[u8], usize) = match body {
        Body::Bytes(bytes) => (bytes, bytes.len()),
        Body::AnnouncedOnly(length) => (&[], length),
    };
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {length}\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    parse(&raw)
}

fn parse(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete HTTP response head");
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let code: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("transfer-encoding") && value.contains("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    let text = String::from_utf8(body).unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Response {
        status: StatusCode::from_u16(code).unwrap(),
        headers,
        text,
        json,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = std::str::from_utf8(&data[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        let start = line_end + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
}
