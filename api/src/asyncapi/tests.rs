//! The broker contract is AsyncAPI 3.0.0-shaped, complete, and self-contained.

use serde_json::Value;

use super::document;

/// Every `$ref` in `v`, with where it sits.
fn refs(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if k == "$ref" {
                    out.push((at.to_string(), child.as_str().expect("a $ref is a string").to_string()));
                } else {
                    refs(child, &format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                refs(child, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_document_is_asyncapi_3() {
    let doc = document();
    assert_eq!(doc["asyncapi"], "3.0.0");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string(), "{}", doc["info"]);
    for part in ["channels", "operations"] {
        assert!(!doc[part].as_object().unwrap_or_else(|| panic!("{part}")).is_empty(), "{part}");
    }
    assert!(doc["components"]["messages"].is_object());
    assert!(doc["components"]["schemas"].is_object());
    assert_eq!(doc["channels"]["events"]["address"], "{namespace}.events");
    assert_eq!(doc["channels"]["analytics"]["address"], "{namespace}.analytics");
    assert_eq!(doc["channels"]["points.dlq"]["address"], "{namespace}.points.dlq");
    for (name, op) in doc["operations"].as_object().unwrap() {
        assert!(["send", "receive"].contains(&op["action"].as_str().unwrap_or_default()), "{name}: {op}");
        // AsyncAPI 3: an operation's messages are messages of its channel.
        let channel = op["channel"]["$ref"].as_str().unwrap();
        for m in op["messages"].as_array().unwrap() {
            assert!(m["$ref"].as_str().unwrap().starts_with(&format!("{channel}/messages/")), "{name}: {m}");
        }
    }
}

#[test]
fn the_document_names_every_command_and_analytics_kind() {
    let doc = document();
    let messages = doc["components"]["messages"].as_object().unwrap();
    for kind in schemas::MessageKind::ALL {
        let m = &messages[kind.as_str()];
        assert_eq!(m["name"], kind.as_str(), "{kind:?}");
        assert_eq!(m["x-amqp-properties"]["type"], kind.as_str());
        assert_eq!(m["x-amqp-properties"]["delivery_mode"], 2);
        assert!(doc["operations"][kind.as_str()].is_object(), "{kind:?}");
    }
    let routing = doc["operations"]["points.earn"]["bindings"]["amqp"]["cc"][0].as_str().unwrap();
    assert_eq!(routing, "points.earn.{action_scene}");
    let analytics = doc["components"]["schemas"]["AnalyticsEvent"].to_string();
    for kind in schemas::AnalyticsEvent::KINDS {
        assert!(analytics.contains(&format!("\"{kind}\"")), "{kind}");
    }
    let parked = messages["parked"]["headers"]["required"].to_string();
    assert!(parked.contains("x-park-reason") && parked.contains("x-park-class"), "{parked}");
    assert_eq!(messages["analytics"]["headers"]["required"][0], "x-event-count");
}

#[test]
fn every_ref_resolves_inside_the_document() {
    let doc = document();
    let mut found = Vec::new();
    refs(&doc, "#", &mut found);
    assert!(found.len() > 30, "{found:?}");
    for (at, target) in found {
        let pointer = target.strip_prefix('#').unwrap_or_else(|| panic!("{at}: {target} is not local"));
        // JSON pointer escapes: `~1` is `/`, `~0` is `~`.
        let resolved = doc.pointer(pointer);
        assert!(resolved.is_some_and(|v| !v.is_null()), "{at}: {target} does not resolve");
    }
}
