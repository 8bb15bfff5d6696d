//! What every operation answers on the wire, applied to the whole document once: each response
//! body wrapped in the `{code, msg, data}` envelope, and the error statuses every route shares.
//!
//! The handlers' `#[utoipa::path]` attributes name what is particular to them (the `data` of a
//! success, a refusal's stored outcome, a 404); the answers the extractors, the auth layer and
//! the dependencies give any route (400, 401, 403, 413, 415, 422, 429, 503) are added here, from the
//! one table in [`COMMON_ERRORS`], so no route can forget one.

use serde_json::{json, Map, Value};

/// (status, when, applies to operations with a JSON body only)
const COMMON_ERRORS: &[(&str, &str, bool)] = &[
    ("400", "the body is not JSON, or not the JSON of this operation; a text value holds a NUL character", false),
    ("401", "no API key, or an unknown one", false),
    ("403", "the key is another tenant's (or a tenant's key on an admin route)", false),
    ("404", "the tenant, or what the request names, does not exist", false),
    ("413", "the body is larger than the limit", true),
    ("415", "the body is not sent as `Content-Type: application/json`", true),
    ("422", "a field is missing, ill-typed or out of range: `data.field` names it", false),
    ("429", "the tenant is over its rate limit (tenant routes): `Retry-After`, `RateLimit` and `RateLimit-Policy` say when to retry", false),
    ("503", "a dependency (database, broker) is down: retry with the same key", false),
];

const OUTCOME: &str = "#/components/schemas/EventStatus";
const REFUSED_409: &str = "refused: the request conflicts with the current state (`data` = the stored outcome)";
const REFUSED_422: &str =
    "a field is invalid (`data.field`), or refused: it can never succeed as asked (`data` = the stored outcome)";

/// The envelope around `data`; `data` absent when there is nothing to say.
fn envelope(data: Option<Value>, success: bool) -> Value {
    let code = if success {
        json!({ "type": "integer", "description": "0: success (202: accepted, outcome not known yet)" })
    } else {
        json!({ "type": "integer", "description": "non-zero: the error's code (see the table of refusals)" })
    };
    let mut properties = Map::new();
    properties.insert("code".into(), code);
    properties.insert("msg".into(), json!({ "type": "string" }));
    if let Some(data) = data {
        properties.insert("data".into(), data);
    }
    json!({ "type": "object", "required": ["code", "msg"], "properties": properties })
}

/// An error's `data`: the field a client got wrong, or (a refusal) the stored outcome the
/// handler documents, or nothing.
fn error_data(documented: Option<Value>) -> Value {
    let field = json!({ "type": "object", "required": ["field"], "properties": { "field": { "type": "string" } } });
    match documented {
        Some(outcome) => json!({ "anyOf": [field, outcome] }),
        None => field,
    }
}

/// Rewrites the document's responses. Run once over the serialized document.
pub fn apply(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for operation in item.values_mut() {
            if path.starts_with(COMPAT_PREFIX) {
                apply_to_compat_operation(operation);
            } else if path.starts_with(ACTIVITY_PREFIX) {
                apply_to_activity_operation(operation);
            } else if path.ends_with(SEED_004_QUERY) {
                apply_to_seed_004_query(operation);
            } else {
                apply_to_operation(operation);
            }
        }
    }
}

/// Seed 002's compatibility API: bare answers (no envelope) and its own error shape.
const COMPAT_PREFIX: &str = "/loyalty/v1/";

/// (status, when) of the errors every compatibility operation may answer.
const COMPAT_ERRORS: &[(&str, &str)] = &[
    ("400", "a field is missing (400005), invalid (400001, the message names it), or the body is not JSON"),
    ("401", "no access_token (nor Bearer key), or an unknown one"),
    ("404", "the member (or level, attribute) does not exist in the key's tenant"),
    ("409", "the mobile or membershipCode is another member's, a priority or code is taken, 409224/409225"),
    ("503", "the database is down: retry"),
];

const COMPAT_ERROR: &str = "#/components/schemas/CompatError";

fn apply_to_compat_operation(operation: &mut Value) {
    let responses = operation
        .as_object_mut()
        .expect("an operation is an object")
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("responses is an object");
    for (status, when) in COMPAT_ERRORS {
        let response = responses.entry(status.to_string()).or_insert_with(|| json!({ "description": when }));
        response["content"] = json!({ "application/json": { "schema": { "$ref": COMPAT_ERROR } } });
    }
}

/// Seed 001's activities: answers already in its `{errcode, errmsg, data}` envelope (the handlers
/// document them whole); its errors in the same envelope, with the native API's codes.
const ACTIVITY_PREFIX: &str = "/points-consumption/";

const ACTIVITY_ERRORS: &[(&str, &str)] = &[
    ("400", "the body is not JSON, or not the JSON of this operation"),
    ("401", "no access_token (nor Bearer key), or an unknown one"),
    ("404", "no such activity (or goods link) in the shop"),
    ("409", "the SKU is already linked to the activity"),
    ("413", "the body is larger than the limit"),
    ("415", "the body is not sent as `Content-Type: application/json`"),
    ("422", "a field is missing or invalid: `errmsg` and `data.field` name it"),
    ("503", "the database is down: retry"),
];

fn apply_to_activity_operation(operation: &mut Value) {
    let responses = operation
        .as_object_mut()
        .expect("an operation is an object")
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("responses is an object");
    let schema = json!({
        "type": "object", "required": ["errcode", "errmsg", "data"],
        "properties": {
            "errcode": { "type": "integer", "description": "non-zero: the error's code" },
            "errmsg": { "type": "string" },
            "data": { "anyOf": [
                { "type": "null" },
                { "type": "object", "required": ["field"], "properties": { "field": { "type": "string" } } }
            ] }
        }
    });
    for (status, when) in ACTIVITY_ERRORS {
        let response = responses.entry(status.to_string()).or_insert_with(|| json!({ "description": when }));
        response["content"] = json!({ "application/json": { "schema": schema.clone() } });
    }
}

/// Seed 004's query answers in its own shapes: `{"result": …}`, and bad input as
/// `{"error_response": …}` (HTTP 400); the rest (auth, limits, dependencies) as every native route.
const SEED_004_QUERY: &str = "/level_rules/get";

fn apply_to_seed_004_query(operation: &mut Value) {
    let responses = operation
        .as_object_mut()
        .expect("an operation is an object")
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("responses is an object");
    let error_response = json!({
        "type": "object", "required": ["error_response"],
        "properties": { "error_response": { "$ref": "#/components/schemas/ErrorResponse" } }
    });
    responses.insert(
        "400".into(),
        json!({ "description": "bad input: the seed's error_response (sub_msg names the field)",
                "content": { "application/json": { "schema": error_response } } }),
    );
    for (status, when, _) in COMMON_ERRORS {
        if *status == "400" || *status == "422" {
            continue;
        }
        responses.entry(status.to_string()).or_insert_with(|| {
            json!({ "description": when, "content": { "application/json": { "schema": envelope(Some(error_data(None)), false) } } })
        });
    }
}

fn apply_to_operation(operation: &mut Value) {
    let has_json_body = operation
        .pointer("/requestBody/content")
        .and_then(Value::as_object)
        .is_some_and(|content| content.contains_key("application/json"));
    // The commands are the operations that take `wait_ms`.
    let is_command = operation
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|params| params.iter().any(|p| p["name"] == "wait_ms"));
    let responses = operation
        .as_object_mut()
        .expect("an operation is an object")
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("responses is an object");
    for (status, when, body_only) in COMMON_ERRORS {
        if *body_only && !has_json_body {
            continue;
        }
        responses.entry(status.to_string()).or_insert_with(|| json!({ "description": when }));
    }
    if is_command {
        // A refusal known within `wait_ms` is an error whose `data` is the stored outcome.
        for (status, when) in [("409", REFUSED_409), ("422", REFUSED_422)] {
            let response = responses.entry(status).or_insert_with(|| json!({ "description": when }));
            response["content"] = json!({ "application/json": { "schema": { "$ref": OUTCOME } } });
        }
    }
    for (status, response) in responses.iter_mut() {
        let success = status.starts_with('2');
        // A success that is not JSON (the analytics export's `text/csv`) is answered as documented.
        let not_json = response
            .get("content")
            .and_then(Value::as_object)
            .is_some_and(|content| !content.is_empty() && !content.contains_key("application/json"));
        if success && not_json {
            continue;
        }
        let documented = response.pointer("/content/application~1json/schema").cloned();
        let data = if success { documented } else { Some(error_data(documented)) };
        let response = response.as_object_mut().expect("a response is an object");
        response.insert("content".into(), json!({ "application/json": { "schema": envelope(data, success) } }));
    }
}
