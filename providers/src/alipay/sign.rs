//! Alipay RSA2 signatures of parameter sets and of answers.
//!
//! 生成待签名字符串 / 自行实现签名 (<https://opendocs.alipay.com/common/02kf5q>): every parameter but
//! `sign`, with a non-empty value, sorted by name in byte order, joined as `k=v` with `&`, no
//! URL encoding; signed SHA256withRSA (`sign_type=RSA2`) and base64 encoded.
//!
//! 异步通知验签 (<https://docs.open.alipay.com/200/106120>): the same string but without
//! `sign_type` either, checked with the Alipay public key.
//!
//! 同步验签 (<https://docs.open.alipay.com/200/106120>): an answer
//! `{"<method>_response": {...}, "sign": "..."}` is signed over the exact JSON text of the
//! `<method>_response` value as it appears in the body, so that text is cut out of the body
//! byte for byte rather than re-serialised.

use std::collections::BTreeMap;

use crate::keys::{PrivateKey, PublicKey};

/// The string an RSA2 signature covers. `BTreeMap` keeps the keys in byte order.
pub fn sign_content(params: &BTreeMap<String, String>, exclude_sign_type: bool) -> String {
    params
        .iter()
        .filter(|(k, v)| {
            !v.is_empty()
                && k.as_str() != "sign"
                && !(exclude_sign_type && k.as_str() == "sign_type")
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Signs a request's parameters (`sign_type` included, as requests send it).
pub fn sign_params(key: &PrivateKey, params: &BTreeMap<String, String>) -> String {
    key.sign_base64(sign_content(params, false).as_bytes())
}

/// Whether an async notification's `sign` checks out (`sign` and `sign_type` excluded).
pub fn verify_notification_params(key: &PublicKey, params: &BTreeMap<String, String>) -> bool {
    params
        .get("sign")
        .is_some_and(|sign| key.verify_base64(sign_content(params, true).as_bytes(), sign))
}

/// Whether a request's `sign` checks out (`sign_type` included): how the simulator checks the
/// merchant.
pub fn verify_request_params(key: &PublicKey, params: &BTreeMap<String, String>) -> bool {
    params
        .get("sign")
        .is_some_and(|sign| key.verify_base64(sign_content(params, false).as_bytes(), sign))
}

/// Cuts the exact JSON text of the value of the top-level member `name` out of `body`.
///
/// Hand-written because serde_json hands out raw text only with its `raw_value` feature, which
/// would rebuild every crate of the workspace that uses serde_json; a JSON object is scanned
/// here only far enough to match brackets outside strings.
pub fn raw_member<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let bytes = body.as_bytes();
    let mut i = skip_ws(bytes, 0);
    if bytes.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        i = skip_ws(bytes, i);
        let (key_end, key) = string_at(body, i)?;
        i = skip_ws(bytes, key_end);
        if bytes.get(i) != Some(&b':') {
            return None;
        }
        let start = skip_ws(bytes, i + 1);
        let end = value_end(bytes, start)?;
        if serde_json::from_str::<String>(key).ok()? == name {
            return Some(&body[start..end]);
        }
        i = skip_ws(bytes, end);
        match bytes.get(i) {
            Some(b',') => i += 1,
            _ => return None,
        }
    }
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).is_some_and(|b| b" \t\r\n".contains(b)) {
        i += 1;
    }
    i
}

/// A JSON string starting at `i`: (index after it, its text with quotes).
fn string_at(body: &str, i: usize) -> Option<(usize, &str)> {
    let bytes = body.as_bytes();
    if bytes.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    loop {
        match bytes.get(j)? {
            b'\\' => j += 2,
            b'"' => return Some((j + 1, &body[i..=j])),
            _ => j += 1,
        }
    }
}

/// The end of the JSON value starting at `i` (object, array, string or scalar).
fn value_end(bytes: &[u8], i: usize) -> Option<usize> {
    match bytes.get(i)? {
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match bytes.get(j)? {
                    b'"' => {
                        j += 1;
                        while *bytes.get(j)? != b'"' {
                            j += if bytes[j] == b'\\' { 2 } else { 1 };
                        }
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        b'"' => {
            let mut j = i + 1;
            while *bytes.get(j)? != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            Some(j + 1)
        }
        _ => {
            let mut j = i;
            while bytes.get(j).is_some_and(|b| !b",} \t\r\n]".contains(b)) {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_content_sorts_skips_empty_values_and_sign() {
        let p = params(&[
            ("method", "alipay.trade.query"),
            ("app_id", "2014"),
            ("sign", "x"),
            ("sign_type", "RSA2"),
            ("empty", ""),
            ("biz_content", "{\"a\":\"b c\"}"),
        ]);
        assert_eq!(
            sign_content(&p, false),
            "app_id=2014&biz_content={\"a\":\"b c\"}&method=alipay.trade.query&sign_type=RSA2"
        );
        assert_eq!(
            sign_content(&p, true),
            "app_id=2014&biz_content={\"a\":\"b c\"}&method=alipay.trade.query"
        );
    }

    #[test]
    fn the_raw_member_is_the_exact_text() {
        let body = r#" {"alipay_trade_query_response" : {"code":"10000","msg":"Success","x":"a}\"b","y":[1,{"z":2}]} ,"sign":"abc"}"#;
        assert_eq!(
            raw_member(body, "alipay_trade_query_response"),
            Some(r#"{"code":"10000","msg":"Success","x":"a}\"b","y":[1,{"z":2}]}"#)
        );
        assert_eq!(raw_member(body, "sign"), Some("\"abc\""));
        assert_eq!(raw_member(body, "absent"), None);
        assert_eq!(raw_member("[]", "sign"), None);
        assert_eq!(raw_member("{\"a\":", "a"), None);
    }

    proptest! {
        #[test]
        fn signed_params_verify_and_any_changed_value_fails(
            values in proptest::collection::btree_map("[a-z_]{1,12}", "[ -~]{1,20}", 1..8),
            pick in any::<proptest::sample::Index>(),
        ) {
            let key = PrivateKey::from_pem(include_str!("../../test-keys/alipay-platform.key.pem")).unwrap();
            let public = PublicKey::from(&key);
            let mut p = values.clone();
            p.remove("sign");
            p.remove("sign_type");
            prop_assume!(!p.is_empty());
            let sign = key.sign_base64(sign_content(&p, true).as_bytes());
            p.insert("sign".into(), sign);
            p.insert("sign_type".into(), "RSA2".into());
            prop_assert!(verify_notification_params(&public, &p));
            let names: Vec<String> = p.keys().filter(|k| *k != "sign" && *k != "sign_type").cloned().collect();
            let name = &names[pick.index(names.len())];
            p.get_mut(name).unwrap().push('x');
            prop_assert!(!verify_notification_params(&public, &p));
        }

        #[test]
        fn raw_member_never_panics(body in "[{}\\[\\]\",:a-z0-9 \\\\]{0,40}") {
            let _ = raw_member(&body, "a");
        }
    }
}
