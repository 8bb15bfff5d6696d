//! The JSON log line: `timestamp`, `level`, the event's fields (`message` among them), `target`,
//! and `span`, the fields of the span the event happened in plus its `name`; the shape of
//! tracing-subscriber's JSON format with `flatten_event` and `with_current_span`.
//!
//! Why not that format itself: it stores a span's fields as JSON text, and for every line it
//! parses that text back into a map to print it again. The api writes a line per response, so
//! that round trip was a tenth of its CPU per request (issue 14, measured with callgrind). Here
//! the stored text is copied into the line as it is.
//!
//! And why not its `JsonFields` to store that text: it builds a map of `serde_json::Value`s for
//! every new span and prints the map, 7.5 % of the api's instructions per request (the request's
//! span). [`SpanFields`] writes the same JSON object text straight from the fields.
//!
//! Every key and value is escaped straight into the line ([`push_str`], [`Escaped`]): through
//! `serde_json::to_string` each was a `String` of its own, allocated, copied and freed, about
//! twenty per api request (issue 14, callgrind).

use std::fmt::{self, Write as _};

use tracing::{
    field::{Field, Visit},
    Event, Subscriber,
};
use tracing_subscriber::{
    fmt::{format::Writer, FmtContext, FormatEvent, FormatFields, FormattedFields},
    registry::LookupSpan,
};

/// The line formatter; spans' fields must be stored by [`SpanFields`] (`fmt_fields`).
pub struct JsonLine;

/// Stores a span's fields as the text of one JSON object, `{"a":1,"b":"x"}`, in the order they
/// are declared; a field recorded later is added, and one recorded again replaces its value.
pub struct SpanFields;

impl<'writer> FormatFields<'writer> for SpanFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        // Room for a request's span (four fields, ~150 bytes) without growing.
        let mut object = String::with_capacity(256);
        object.push('{');
        let mut visitor = Fields { line: &mut object, result: Ok(()) };
        fields.record(&mut visitor);
        visitor.result?;
        // `object` is `{,"a":1,"b":2` (or `{`): without the first member's comma, closed, and
        // handed over in one write, so the stored text is allocated once, not grown three times.
        if object.len() > 1 {
            object.remove(1);
        }
        object.push('}');
        writer.write_str(&object)
    }

    fn add_fields(&self, current: &mut FormattedFields<Self>, fields: &tracing::span::Record<'_>) -> fmt::Result {
        let mut members = String::new();
        let mut visitor = Fields { line: &mut members, result: Ok(()) };
        fields.record(&mut visitor);
        visitor.result?;
        if members.is_empty() {
            return Ok(());
        }
        // Rare (a span's field recorded after its creation): merged through a map, so a field
        // recorded twice keeps one value, the later.
        let stored = if current.fields.is_empty() { "{}" } else { current.fields.as_str() };
        let mut merged: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(stored).map_err(|_| fmt::Error)?;
        let added: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&format!("{{{}}}", &members[1..])).map_err(|_| fmt::Error)?;
        merged.extend(added);
        current.fields = serde_json::to_string(&merged).map_err(|_| fmt::Error)?;
        Ok(())
    }
}

impl<S> FormatEvent<S, SpanFields> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, SpanFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // Room for an api access line (~350 bytes with its span) without growing.
        let mut line = String::with_capacity(512);
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let meta = event.metadata();
        write!(line, r#"{{"timestamp":"{now}","level":"{}""#, meta.level())?;
        let mut fields = Fields { line: &mut line, result: Ok(()) };
        event.record(&mut fields);
        fields.result?;
        line.push_str(r#","target":"#);
        push_str(&mut line, meta.target());
        if let Some(span) = ctx.lookup_current() {
            line.push_str(r#","span":"#);
            let extensions = span.extensions();
            // `{"a":1,"b":2}` as SpanFields stored it; `{}` (or nothing) when the span has none.
            let stored = extensions.get::<FormattedFields<SpanFields>>().map_or("", |f| f.fields.as_str());
            match stored.trim_end().strip_suffix('}') {
                Some(open) if open.trim() != "{" => line.push_str(open),
                _ => line.push('{'),
            }
            if !line.ends_with('{') {
                line.push(',');
            }
            line.push_str(r#""name":"#);
            push_str(&mut line, span.name());
            line.push('}');
        }
        line.push_str("}\n");
        writer.write_str(&line)
    }
}

/// A JSON string (quoted, escaped as serde_json escapes) appended to `line`.
fn push_str(line: &mut String, value: &str) {
    line.reserve(value.len() + 2);
    line.push('"');
    escape_into(line, value);
    line.push('"');
}

/// `value` escaped for the inside of a JSON string: `"`, `\` and the control characters; the
/// rest is copied as it is, in runs. Up to the first byte to escape (in a log line usually none:
/// the whole value) eight bytes are tested at a time; from there one table lookup per byte, as
/// serde_json does (issue 14: the byte-by-byte scan was 2.4 % of the api's instructions).
fn escape_into(line: &mut String, value: &str) {
    let clean = clean_prefix(value.as_bytes());
    // Every byte escaped is ASCII, so each index cut at is a char boundary.
    line.push_str(&value[..clean]);
    let mut run = clean;
    for (i, &byte) in value.as_bytes().iter().enumerate().skip(clean) {
        let escape = ESCAPE[byte as usize];
        if escape == 0 {
            continue;
        }
        line.push_str(&value[run..i]);
        if escape == b'u' {
            let _ = write!(line, "\\u{byte:04x}");
        } else {
            line.push('\\');
            line.push(escape as char);
        }
        run = i + 1;
    }
    line.push_str(&value[run..]);
}

/// How many leading bytes of `bytes` need no escape: whole words of eight bytes first, each
/// tested at once for a byte below 0x20, a `"` or a `\`; the word holding the first such byte
/// is then searched byte by byte. Each test is exact (no byte of 0x80 and above can pass for
/// one), so the answer is the table's.
fn clean_prefix(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Some byte of `x` is below `n` (exact for n <= 0x80).
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS;
    let mut clean = 0;
    for word in bytes.chunks_exact(8) {
        let x = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        // A byte equal to `c` is a zero byte of `x ^ (c in every byte)`, i.e. one below 1.
        let special = below(x, 0x20) | below(x ^ (ONES * u64::from(b'"')), 1) | below(x ^ (ONES * u64::from(b'\\')), 1);
        if special != 0 {
            break;
        }
        clean += 8;
    }
    clean + bytes[clean..].iter().position(|&b| ESCAPE[b as usize] != 0).unwrap_or(bytes.len() - clean)
}

/// Per byte: 0 (copied as it is), or the letter after the backslash of its escape (`u`: `\u00XX`).
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x0c] = b'f';
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// A `fmt::Write` that escapes what is written to it into a JSON string's inside: a `Debug` or
/// `Display` value goes into the line without a `String` of its own.
struct Escaped<'a>(&'a mut String);

impl fmt::Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape_into(self.0, s);
        Ok(())
    }
}

/// Writes each field of an event as `,"name":value`.
struct Fields<'a> {
    line: &'a mut String,
    /// A `Debug` or `Display` implementation that failed.
    result: fmt::Result,
}

impl Fields<'_> {
    fn key(&mut self, field: &Field) {
        self.line.push(',');
        // Field names are Rust identifiers (or `message`): nothing to escape, but stay correct.
        push_str(self.line, field.name());
        self.line.push(':');
    }

    /// A number or a boolean: its `Display` is its JSON.
    fn plain(&mut self, field: &Field, value: impl fmt::Display) {
        self.key(field);
        let _ = write!(self.line, "{value}");
    }

    /// A string made by `Display` or `Debug` (`args`), quoted and escaped.
    fn text(&mut self, field: &Field, args: fmt::Arguments<'_>) {
        self.key(field);
        self.line.push('"');
        if fmt::write(&mut Escaped(self.line), args).is_err() {
            self.result = Err(fmt::Error);
        }
        self.line.push('"');
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        push_str(self.line, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.plain(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.plain(field, value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity: `null`, as serde_json writes them.
        if value.is_finite() {
            // ryu: a tenth of `Display`'s instructions for a float, and the text serde_json
            // writes (`3.0`, not `3`).
            self.plain(field, ryu::Buffer::new().format_finite(value));
        } else {
            self.plain(field, "null");
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.plain(field, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.text(field, format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.text(field, format_args!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::{json, Value};
    use tracing_subscriber::{fmt::MakeWriter, prelude::*};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    /// The lines `f` logs, each parsed.
    fn lines(f: impl FnOnce()) -> Vec<Value> {
        let text = text(f);
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }

    /// What `f` logs, as written.
    fn text(f: impl FnOnce()) -> String {
        let out = Captured::default();
        let layer =
            tracing_subscriber::fmt::layer().fmt_fields(SpanFields).event_format(JsonLine).with_writer(out.clone());
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn a_line_has_the_events_fields_and_its_spans() {
        let logged = lines(|| {
            let span =
                tracing::info_span!("http", method = "POST", route = "/a/{id}", trace_id = tracing::field::Empty);
            span.record("trace_id", "abc");
            let _in = span.enter();
            tracing::info!(status = 202u16, latency_ms = 1.5, ok = true, delta = -3i64, "response \"quoted\"");
        });
        let line = &logged[0];
        assert_eq!(line["level"], json!("INFO"));
        assert_eq!(line["message"], json!("response \"quoted\""));
        assert_eq!(
            (&line["status"], &line["latency_ms"], &line["ok"], &line["delta"]),
            (&json!(202), &json!(1.5), &json!(true), &json!(-3))
        );
        assert_eq!(line["target"], json!(module_path!()));
        assert_eq!(line["span"], json!({"method": "POST", "route": "/a/{id}", "trace_id": "abc", "name": "http"}));
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn a_span_field_recorded_again_keeps_its_later_value_once() {
        let written = text(|| {
            let span = tracing::info_span!("work", step = "load", note = "a \"quoted\" {brace}", n = 1u64);
            span.record("step", "write");
            span.record("n", 2u64);
            let _in = span.enter();
            tracing::info!("done");
        });
        let line: Value = serde_json::from_str(written.trim_end()).unwrap();
        assert_eq!(line["span"], json!({"step": "write", "note": "a \"quoted\" {brace}", "n": 2, "name": "work"}));
        // As written, not as parsed (a parser keeps the last of two equal keys): each key once.
        assert_eq!(written.matches(r#""step":"#).count(), 1, "{written}");
        assert_eq!(written.matches(r#""n":"#).count(), 1, "{written}");
    }

    #[test]
    fn every_string_is_escaped_as_json_and_reads_back_as_it_was() {
        let tricky = "quote \" backslash \\ newline \n tab \t nul \u{0} bell \u{7} esc \u{1b} del \u{7f} 中文 é 🎟";
        let logged = lines(|| {
            let span = tracing::info_span!("s", text = tricky, shown = %tricky, debugged = ?tricky);
            let _in = span.enter();
            tracing::info!(text = tricky, shown = %tricky, debugged = ?tricky, nan = f64::NAN, inf = f64::INFINITY,
                big = 1e300, small = -0.000125, max = u64::MAX, min = i64::MIN, "{tricky}");
        });
        let line = &logged[0];
        let debugged = format!("{tricky:?}");
        for fields in [line, &line["span"]] {
            assert_eq!((&fields["text"], &fields["shown"]), (&json!(tricky), &json!(tricky)), "{line}");
            assert_eq!(fields["debugged"], json!(debugged), "{line}");
        }
        assert_eq!(line["message"], json!(tricky));
        assert_eq!((&line["nan"], &line["inf"]), (&Value::Null, &Value::Null));
        assert_eq!((line["big"].as_f64(), line["small"].as_f64()), (Some(1e300), Some(-0.000125)));
        assert_eq!((&line["max"], &line["min"]), (&json!(u64::MAX), &json!(i64::MIN)));
    }

    /// The word-at-a-time scan of `clean_prefix` at every offset of two words and a tail: each
    /// character to escape, and characters whose bytes differ from one only in the high bit or
    /// sit just above 0x1f (0x20, 0x7f, `¢` = c2 a2, `ܐ` = dc 90, `中`), escape as serde_json
    /// escapes them, in every position.
    #[test]
    fn escaping_agrees_with_serde_json_at_every_position() {
        for special in ['"', '\\', '\n', '\u{0}', '\u{1f}', ' ', '\u{7f}', '¢', 'ܐ', '中'] {
            for at in 0..20 {
                for len in [at + 1, at + 8, 24] {
                    let mut text: String = "abcdefghijklmnopqrstuvwxyz".chars().cycle().take(len.max(at + 1)).collect();
                    text.replace_range(at..at + 1, &special.to_string());
                    let mut line = String::new();
                    super::escape_into(&mut line, &text);
                    let expected = serde_json::to_string(&text).unwrap();
                    assert_eq!(format!("\"{line}\""), expected, "{special:?} at {at} of {len}");
                }
            }
        }
        assert_eq!(super::clean_prefix(b"0123456789abcdef\"tail"), 16);
        assert_eq!(super::clean_prefix("0123456789abcdef中文".as_bytes()), 22);
    }

    #[test]
    fn a_float_field_is_written_as_serde_json_writes_it() {
        let logged = lines(|| tracing::info!(latency_ms = 3.0f64, ratio = 0.1f64, big = 1e21f64, nan = f64::NAN, "f"));
        let line = &logged[0];
        assert_eq!((line["latency_ms"].as_f64(), line["ratio"].as_f64()), (Some(3.0), Some(0.1)));
        assert_eq!((line["big"].as_f64(), line["nan"].is_null()), (Some(1e21), true));
        let written = text(|| tracing::info!(latency_ms = 3.0f64, "f"));
        assert!(written.contains(r#""latency_ms":3.0,"#), "{written}");
    }

    #[test]
    fn a_span_without_fields_and_an_event_outside_spans() {
        let logged = lines(|| {
            tracing::info!(error = %std::io::Error::other("gone"), "outside");
            let span = tracing::info_span!("bare");
            let _in = span.enter();
            tracing::warn!("inside");
        });
        assert_eq!(logged[0]["error"], json!("gone"));
        assert!(logged[0].get("span").is_none());
        assert_eq!(logged[1]["span"], json!({"name": "bare"}));
        assert_eq!(logged[1]["level"], json!("WARN"));
    }
}
