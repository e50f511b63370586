//! The OpenAPI document, served at `/api/v1/openapi.json`: generated from the handlers'
//! annotations, then made exact where annotations cannot be, from the API's routes (its part
//! of the one route table, which the router joins from the API's and the pages' lists).
//!
//! - Who may call an operation and which errors it can answer come from [`routes`]: each
//!   operation gets its security scheme (a session token, a device token, or the metrics token)
//!   and the error answers its access, parameters and body make possible, all with
//!   [`ErrorBody`]. A handler's own annotation documents only what is particular to it.
//! - Integers get the bounds of their Rust type (utoipa says `int32` for a `u16`), 64-bit ones
//!   the bound of the store's signed 64-bit columns.
//! - A struct that flattens another (`Package` is an id plus a `NewPackage`) becomes one object:
//!   utoipa's `allOf` would inherit the inner struct's "no other properties" and forbid the id.

use std::sync::LazyLock;

use axum::http::Method;
use serde_json::{Map, Value, json};
use shuipiao_shared::sync::{ErrorBody, ErrorCode};
use utoipa::OpenApi;

use crate::api::{ops, routes, v1};
use crate::http::{Access, Surface};

/// The annotations' part of the document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Shuipiao API", description = "电子水票 server API, version 1"),
    components(schemas(ErrorBody, ErrorCode)),
    paths(
        ops::healthz,
        ops::metrics,
        v1::session::login,
        v1::session::logout,
        v1::session::me,
        v1::session::change_password,
        v1::channels::bind,
        v1::channels::unbind,
        v1::devices::enroll,
        v1::devices::create_enrollment_code,
        v1::devices::list,
        v1::devices::disable,
        v1::sync::push,
        v1::sync::pull,
        v1::sync::deliveries,
        v1::sync::snapshot,
        v1::sync::status,
        v1::catalogue::list_products,
        v1::catalogue::create_product,
        v1::catalogue::list_regions,
        v1::catalogue::create_region,
        v1::catalogue::list_outlets,
        v1::catalogue::create_outlet,
        v1::catalogue::list_scopes,
        v1::catalogue::create_scope,
        v1::catalogue::list_packages,
        v1::catalogue::retire_package,
        v1::catalogue::create_package,
        v1::accounts::create_account,
        v1::accounts::members,
        v1::accounts::allocated_books,
        v1::buckets::account_buckets,
        v1::buckets::add_record,
        v1::catalogue::set_deposit,
        v1::accounts::create_user,
        v1::books::issue_order,
        v1::books::my_books,
        v1::books::get_book,
        v1::books::revoke,
        v1::books::reissue,
        v1::ordering::list_addresses,
        v1::ordering::add_address,
        v1::ordering::edit_address,
        v1::ordering::remove_address,
        v1::ordering::default_address,
        v1::ordering::open_slots,
        v1::ordering::list_orders,
        v1::ordering::place_order,
        v1::ordering::repeat_order,
        v1::ordering::get_order,
        v1::ordering::cancel_order,
        v1::ordering::orderable_books,
        v1::ordering::list_recurring,
        v1::ordering::create_recurring,
        v1::ordering::delete_recurring,
        v1::ordering::pause_recurring,
        v1::ordering::resume_recurring,
        v1::dispatch::orders,
        v1::dispatch::couriers,
        v1::dispatch::auto,
        v1::dispatch::assign,
        v1::dispatch::cancel,
        v1::keys::list,
        v1::keys::rotate,
        v1::keys::compromise,
        v1::review::list,
        v1::review::resolve,
        v1::stats::summary,
        v1::audit::list,
    )
)]
pub struct ApiDoc;

/// The served document, built once.
pub fn document() -> &'static Value {
    static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
        let mut document =
            serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serializes");
        bound_integers(&mut document);
        merge_flattened(&mut document);
        secure_and_answer(&mut document);
        document
    });
    &DOCUMENT
}

/// The largest id or count the store holds: its columns are signed 64-bit.
const STORE_MAX: i64 = i64::MAX;

/// Puts each integer format's range on the schema and names it with a standard format.
fn bound_integers(value: &mut Value) {
    match value {
        Value::Object(object) => {
            let bounds = object
                .get("format")
                .and_then(Value::as_str)
                .and_then(|format| {
                    Some(match format {
                        "int8" => ("int32", json!(i8::MIN), json!(i8::MAX)),
                        "uint8" => ("int32", json!(0), json!(u8::MAX)),
                        "int16" => ("int32", json!(i16::MIN), json!(i16::MAX)),
                        "uint16" => ("int32", json!(0), json!(u16::MAX)),
                        "uint32" => ("int64", json!(0), json!(u32::MAX)),
                        "uint64" => ("int64", json!(0), json!(STORE_MAX)),
                        _ => return None,
                    })
                });
            if let Some((format, min, max)) = bounds {
                object.insert("format".into(), json!(format));
                object.entry("minimum").or_insert(min);
                object.entry("maximum").or_insert(max);
            }
            object.values_mut().for_each(bound_integers);
        }
        Value::Array(items) => items.iter_mut().for_each(bound_integers),
        _ => {}
    }
}

/// Replaces every `allOf` of component schemas by one object holding all their properties.
fn merge_flattened(document: &mut Value) {
    let Some(schemas) = document
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .cloned()
    else {
        return;
    };
    let resolve = |part: &Value| -> Value {
        part.get("$ref")
            .and_then(Value::as_str)
            .and_then(|reference| reference.strip_prefix("#/components/schemas/"))
            .and_then(|name| schemas.get(name))
            .cloned()
            .unwrap_or_else(|| part.clone())
    };
    let Some(targets) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for schema in targets.values_mut() {
        let Some(parts) = schema.get("allOf").and_then(Value::as_array).cloned() else {
            continue;
        };
        let mut properties = Map::new();
        let mut required: Vec<Value> = Vec::new();
        for part in parts.iter().map(resolve) {
            if let Some(own) = part.get("properties").and_then(Value::as_object) {
                properties.extend(own.clone());
            }
            for name in part
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if !required.contains(name) {
                    required.push(name.clone());
                }
            }
        }
        let mut merged = Map::new();
        merged.insert("type".into(), json!("object"));
        if let Some(description) = schema.get("description") {
            merged.insert("description".into(), description.clone());
        }
        merged.insert("properties".into(), Value::Object(properties));
        merged.insert("required".into(), Value::Array(required));
        *schema = Value::Object(merged);
    }
}

/// Security schemes, each operation's scheme, and the error answers each operation can give.
fn secure_and_answer(document: &mut Value) {
    document["components"]["securitySchemes"] = json!({
        "session": {
            "type": "http", "scheme": "bearer",
            "description": "The token of POST /api/v1/auth/login (never the session cookie)."
        },
        "device": {
            "type": "http", "scheme": "bearer",
            "description": "The device token of POST /api/v1/devices/enroll."
        },
        "metrics": {
            "type": "http", "scheme": "bearer",
            "description": "The configured metrics_token; without one, only a scraper on the server's host."
        }
    });
    for route in routes() {
        if route.surface != Surface::Api {
            continue;
        }
        let method = route.method.as_str().to_ascii_lowercase();
        let Some(operation) = document
            .pointer_mut(&format!("/paths/{}/{method}", escape(route.path)))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        let security = match route.access {
            Access::Public => None,
            Access::Metrics => Some(json!([{ "metrics": [] }, {}])),
            Access::Device => Some(json!([{ "device": [] }])),
            Access::Roles(_) => Some(json!([{ "session": [] }])),
        };
        if let Some(security) = security {
            operation.insert("security".into(), security);
        }
        let takes_input = operation.contains_key("parameters") || route.path.contains('{');
        let has_body = operation.contains_key("requestBody");
        let writes = route.method != Method::GET;
        let answers: [(bool, &str, &str); 9] = [
            (
                takes_input || has_body,
                "400",
                "请求有误:参数或请求体不合要求",
            ),
            (route.access != Access::Public, "401", "未登录或令牌无效"),
            (
                matches!(route.access, Access::Device | Access::Roles(_)),
                "403",
                "无权访问(角色不符,或设备已停用)",
            ),
            (
                route.path.contains('{') || has_body || route.access == Access::Metrics,
                "404",
                "不存在",
            ),
            (
                writes && route.access != Access::Public,
                "409",
                "与现有数据冲突",
            ),
            (has_body, "413", "请求体太大"),
            (has_body, "415", "请求体须为 application/json"),
            (true, "500", "服务器内部错误(已记录)"),
            (
                route.path != "/healthz",
                "503",
                "数据库繁忙,请按 Retry-After 重试",
            ),
        ];
        let responses = operation
            .entry("responses")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("responses is an object");
        for (applies, status, description) in answers {
            if applies {
                responses
                    .entry(status)
                    .or_insert_with(|| error_answer(description));
            }
        }
        // Annotations that name an error status without a body get the error body.
        for (status, answer) in responses.iter_mut() {
            if status.starts_with(['4', '5']) && answer.get("content").is_none() {
                let description = answer["description"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                *answer = error_answer(&description);
            }
        }
    }
}

/// An error answer: the shared error body.
fn error_answer(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } }
    })
}

/// `path` as one JSON pointer segment.
fn escape(path: &str) -> String {
    path.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_carry_their_types_bounds() {
        let mut schema = json!({ "properties": {
            "units": { "type": "integer", "format": "uint16" },
            "id": { "type": "integer", "format": "uint64" },
            "ttl": { "type": "integer", "format": "uint32", "minimum": 60 }
        }});
        bound_integers(&mut schema);
        assert_eq!(
            schema["properties"]["units"],
            json!({ "type": "integer", "format": "int32", "minimum": 0, "maximum": 65535 })
        );
        assert_eq!(schema["properties"]["id"]["maximum"], json!(i64::MAX));
        assert_eq!(schema["properties"]["ttl"]["minimum"], json!(60));
    }

    #[test]
    fn a_flattened_struct_is_one_object_that_allows_its_own_fields() {
        let mut document = json!({ "components": { "schemas": {
            "NewThing": { "type": "object", "additionalProperties": false,
                          "properties": { "name": { "type": "string" } }, "required": ["name"] },
            "Thing": { "description": "A thing.", "allOf": [
                { "$ref": "#/components/schemas/NewThing" },
                { "type": "object", "properties": { "id": { "type": "integer" } }, "required": ["id"] }
            ]}
        }}});
        merge_flattened(&mut document);
        assert_eq!(
            document["components"]["schemas"]["Thing"],
            json!({ "type": "object", "description": "A thing.",
                    "properties": { "name": { "type": "string" }, "id": { "type": "integer" } },
                    "required": ["name", "id"] })
        );
    }
}
