//! `ExportTraceServiceRequest` (OTLP protobuf) written straight from the SDK's
//! [`SpanData`]: the same message opentelemetry-proto builds (its
//! `group_spans_by_resource_and_scope` plus prost), without first copying every
//! name, key and value into owned proto structs. The test at the bottom decodes both and
//! compares them.
//!
//! Field numbers: opentelemetry-proto's `trace/v1/trace.proto`, `common/v1/common.proto`,
//! `resource/v1/resource.proto`, `collector/trace/v1/trace_service.proto`.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::{
    Array, InstrumentationScope, KeyValue, Value,
    trace::{Event, Link, SpanContext, SpanId, SpanKind, Status},
};
use opentelemetry_sdk::{Resource, trace::SpanData};

use super::fixed::{self, FixedAttributes};

/// OTLP's `SpanFlags`: whether the parent's remoteness is known, and whether it is remote.
const CONTEXT_HAS_IS_REMOTE: u32 = 0x100;
const CONTEXT_IS_REMOTE: u32 = 0x200;

/// Appends one `ExportTraceServiceRequest` from parts already encoded: the resource's
/// fields ([`resource`]) and, per instrumentation scope, its spans ([`scope_span`]).
/// Scopes without spans are left out. (The batch's usual case, one scope, is framed
/// without this copy: [`frame_in_place`].)
pub fn export_request_encoded(
    resource: &[u8],
    scopes: &[(&InstrumentationScope, &[u8])],
    out: &mut Vec<u8>,
) {
    let scopes: Vec<&(&InstrumentationScope, &[u8])> = scopes
        .iter()
        .filter(|(_, spans)| !spans.is_empty())
        .collect();
    let heads: Vec<(Vec<u8>, usize)> = scopes
        .iter()
        .map(|(scope, spans)| (scope_head(scope), spans.len()))
        .collect();
    // All of it at once, a batch being hundreds of kilobytes: each length takes at most
    // 10 bytes, its tag 1.
    out.reserve(
        11 + resource.len()
            + heads
                .iter()
                .map(|(head, len)| 11 + head.len() + len)
                .sum::<usize>(),
    );
    frame(out, resource, &heads, |out, at| {
        out.extend_from_slice(scopes[at].1);
    });
}

/// A request's framing, what both [`export_request_encoded`] and [`frame_in_place`]
/// write: the `ResourceSpans` (1) holding the resource, then per scope its `ScopeSpans`
/// (2): the scope's own fields (`head`), then its spans (`len` bytes), which
/// `spans(out, at)` writes for the scope at `at`. Each length is known before its
/// message is written, so nothing is moved.
fn frame(
    out: &mut Vec<u8>,
    resource: &[u8],
    scopes: &[(Vec<u8>, usize)],
    mut spans: impl FnMut(&mut Vec<u8>, usize),
) {
    let scope_len = |(head, len): &(Vec<u8>, usize)| head.len() + len;
    let total = resource.len()
        + scopes
            .iter()
            .map(|s| 1 + varint_len(scope_len(s) as u64) + scope_len(s))
            .sum::<usize>();
    // resource_spans = 1
    tag(out, 1, LEN);
    varint(out, total as u64);
    out.extend_from_slice(resource);
    for (at, scope) in scopes.iter().enumerate() {
        // scope_spans = 2
        tag(out, 2, LEN);
        varint(out, scope_len(scope) as u64);
        out.extend_from_slice(&scope.0);
        spans(out, at);
    }
}

/// A `ScopeSpans`' own fields: the scope (1) and its schema URL (3), beside its spans.
fn scope_head(scope: &InstrumentationScope) -> Vec<u8> {
    let mut head = Vec::new();
    message(&mut head, 1, |out| {
        string(out, 1, scope.name());
        string(out, 2, scope.version().unwrap_or_default());
        for kv in scope.attributes() {
            key_value(out, 3, kv.key.as_str(), &kv.value);
        }
    });
    string(&mut head, 3, scope.schema_url().unwrap_or_default());
    head
}

/// The bytes to leave free before one scope's spans so that [`frame_in_place`] can make
/// them a whole request: the resource, the scope's own fields, two tags and two lengths.
pub fn head_room(resource: &[u8], scope: &InstrumentationScope) -> usize {
    2 * (1 + 10) + resource.len() + scope_head(scope).len()
}

/// One scope's spans made a whole `ExportTraceServiceRequest` where they lie, without
/// copying them: `buffer` holds `room` free bytes, then the spans ([`scope_span`]). The
/// request's head ([`frame`] without the spans) goes at the end of the free bytes; the
/// request is `buffer[start..]`, `start` returned. `None` when the head does not fit
/// (the resource changed after the room was left).
pub fn frame_in_place(
    resource: &[u8],
    scope: &InstrumentationScope,
    buffer: &mut [u8],
    room: usize,
) -> Option<usize> {
    let spans = buffer.len().checked_sub(room)?;
    let mut framing = Vec::with_capacity(room);
    // The spans are already in place after the room: nothing to write for them.
    frame(
        &mut framing,
        resource,
        &[(scope_head(scope), spans)],
        |_, _| {},
    );
    let start = room.checked_sub(framing.len())?;
    buffer[start..room].copy_from_slice(&framing);
    Some(start)
}

/// A `ResourceSpans`' own fields: the resource (1) and its schema URL (3).
pub fn resource(out: &mut Vec<u8>, resource: &Resource) {
    message(out, 1, |out| {
        for (key, value) in resource.iter() {
            key_value(out, 1, key.as_str(), value);
        }
    });
    string(out, 3, resource.schema_url().unwrap_or_default());
}

/// What is encoded of an ended span, borrowed: from the SDK's [`SpanData`], or from a
/// span of our own ([`super::direct`]) without building one.
#[derive(Debug, Clone, Copy)]
pub struct SpanParts<'a> {
    pub span_context: &'a SpanContext,
    pub parent_span_id: SpanId,
    pub parent_span_is_remote: bool,
    pub span_kind: &'a SpanKind,
    pub name: &'a str,
    pub start_time: SystemTime,
    pub end_time: SystemTime,
    /// The call site's attributes ([`fixed`]), before the span's own.
    pub fixed: &'a FixedAttributes,
    pub attributes: &'a [KeyValue],
    pub dropped_attributes_count: u32,
    pub events: &'a [Event],
    pub dropped_events_count: u32,
    pub links: &'a [Link],
    pub dropped_links_count: u32,
    pub status: &'a Status,
}

impl<'a> From<&'a SpanData> for SpanParts<'a> {
    fn from(span: &'a SpanData) -> Self {
        Self {
            span_context: &span.span_context,
            parent_span_id: span.parent_span_id,
            parent_span_is_remote: span.parent_span_is_remote,
            span_kind: &span.span_kind,
            name: &span.name,
            start_time: span.start_time,
            end_time: span.end_time,
            fixed: &fixed::NONE,
            attributes: &span.attributes,
            dropped_attributes_count: span.dropped_attributes_count,
            events: &span.events.events,
            dropped_events_count: span.events.dropped_count,
            links: &span.links.links,
            dropped_links_count: span.links.dropped_count,
            status: &span.status,
        }
    }
}

impl SpanParts<'_> {
    /// All its attributes: the fixed ones, then its own.
    pub fn all_attributes(&self) -> impl Iterator<Item = &KeyValue> {
        self.fixed.attributes().iter().chain(self.attributes)
    }
}

/// One span as a `ScopeSpans.spans` field (2), to be framed by [`export_request_encoded`].
pub fn scope_span(out: &mut Vec<u8>, span: &SpanParts<'_>) {
    message_reserving(out, 2, 2, |out| encode_span(out, span));
}

fn encode_span(out: &mut Vec<u8>, span: &SpanParts<'_>) {
    let sc = span.span_context;
    let head = ids_and_times(span);
    if span.parent_span_id == SpanId::INVALID {
        // A root: no parent field (empty is how OTLP says root).
        out.extend_from_slice(&head[..ROOT_HEAD]);
    } else {
        out.extend_from_slice(&head);
    }
    trace_state(out, 3, sc);
    string(out, 5, span.name);
    uint(out, 6, kind(span.span_kind));
    out.extend_from_slice(span.fixed.encoded());
    attributes(out, span.attributes);
    uint(out, 10, u64::from(span.dropped_attributes_count));
    if !span.events.is_empty() {
        events(out, span.events);
    }
    uint(out, 12, u64::from(span.dropped_events_count));
    if !span.links.is_empty() {
        links(out, span.links);
    }
    uint(out, 14, u64::from(span.dropped_links_count));
    status(out, span.status);
    fixed32(out, 16, flags(span.parent_span_is_remote, sc));
}

/// The fields of fixed width every span has, as one array written at once (one bound
/// check, no call per field): trace id (1), span id (2), start (7) and end (8), then
/// the parent's span id (4), which a root leaves out (its first [`ROOT_HEAD`] bytes).
/// Protobuf fields may come in any order.
fn ids_and_times(span: &SpanParts<'_>) -> [u8; SPAN_HEAD] {
    let sc = span.span_context;
    let mut head = [0; SPAN_HEAD];
    head[0] = 1 << 3 | LEN;
    head[1] = 16;
    head[2..18].copy_from_slice(&sc.trace_id().to_bytes());
    head[18] = 2 << 3 | LEN;
    head[19] = 8;
    head[20..28].copy_from_slice(&sc.span_id().to_bytes());
    head[28] = 7 << 3 | FIXED64;
    head[29..37].copy_from_slice(&nanos(span.start_time).to_le_bytes());
    head[37] = 8 << 3 | FIXED64;
    head[38..46].copy_from_slice(&nanos(span.end_time).to_le_bytes());
    head[46] = 4 << 3 | LEN;
    head[47] = 8;
    head[48..56].copy_from_slice(&span.parent_span_id.to_bytes());
    head
}

const SPAN_HEAD: usize = 56;
const ROOT_HEAD: usize = 46;

/// Each of `attributes` as a `Span.attributes` field (9).
pub(super) fn attributes(out: &mut Vec<u8>, attributes: &[KeyValue]) {
    for kv in attributes {
        key_value(out, 9, kv.key.as_str(), &kv.value);
    }
}

// Events, links and a status other than unset are rarer than attributes: out of line,
// so that the common span's code stays a few cache lines (instruction-cache misses,
// not instructions, are most of what encoding costs: README, benchmarks).
#[inline(never)]
fn events(out: &mut Vec<u8>, events: &[Event]) {
    for event in events {
        message(out, 11, |out| {
            fixed64(out, 1, nanos(event.timestamp));
            string(out, 2, &event.name);
            for kv in &event.attributes {
                key_value(out, 3, kv.key.as_str(), &kv.value);
            }
            uint(out, 4, u64::from(event.dropped_attributes_count));
        });
    }
}

#[inline(never)]
fn links(out: &mut Vec<u8>, links: &[Link]) {
    for link in links {
        message(out, 13, |out| {
            let lc = &link.span_context;
            bytes(out, 1, &lc.trace_id().to_bytes());
            bytes(out, 2, &lc.span_id().to_bytes());
            trace_state(out, 3, lc);
            for kv in &link.attributes {
                key_value(out, 4, kv.key.as_str(), &kv.value);
            }
            uint(out, 5, u64::from(link.dropped_attributes_count));
            fixed32(out, 6, flags(lc.is_remote(), lc));
        });
    }
}

fn status(out: &mut Vec<u8>, status: &Status) {
    match status {
        // An empty message: its tag and a zero length.
        Status::Unset => out.extend_from_slice(&[15 << 3 | LEN, 0]),
        Status::Ok => out.extend_from_slice(&[15 << 3 | LEN, 2, 3 << 3 | VARINT, 1]),
        Status::Error { description } => error_status(out, description),
    }
}

#[inline(never)]
fn error_status(out: &mut Vec<u8>, description: &str) {
    message(out, 15, |out| {
        string(out, 2, description);
        uint(out, 3, 2);
    });
}

fn flags(parent_is_remote: bool, sc: &SpanContext) -> u32 {
    let mut flags = u32::from(sc.trace_flags().to_u8()) | CONTEXT_HAS_IS_REMOTE;
    if parent_is_remote {
        flags |= CONTEXT_IS_REMOTE;
    }
    flags
}

fn trace_state(out: &mut Vec<u8>, field: u32, sc: &SpanContext) {
    let state = sc.trace_state();
    if *state != opentelemetry::trace::TraceState::NONE {
        string(out, field, &state.header());
    }
}

fn kind(kind: &SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// A time as OTLP writes it: nanoseconds since the Unix epoch (0 before it).
pub(crate) fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A `KeyValue` message as field `field`. A scalar value's length is known before it is
/// written, so nothing is moved afterwards (a long `db.query.text` would be, twice).
fn key_value(out: &mut Vec<u8>, field: u32, key: &str, value: &Value) {
    let Some(value_len) = scalar_len(value) else {
        message(out, field, |out| {
            string(out, 1, key);
            message(out, 2, |out| any_value(out, value));
        });
        return;
    };
    let key_len = if key.is_empty() {
        0
    } else {
        1 + varint_len(key.len() as u64) + key.len()
    };
    let len = key_len + 1 + varint_len(value_len as u64) + value_len;
    tag(out, field, LEN);
    varint(out, len as u64);
    string(out, 1, key);
    tag(out, 2, LEN);
    varint(out, value_len as u64);
    any_value(out, value);
}

/// The encoded length of a scalar `AnyValue` (its one field), `None` for an array.
fn scalar_len(value: &Value) -> Option<usize> {
    Some(match value {
        Value::String(s) => 1 + varint_len(s.as_str().len() as u64) + s.as_str().len(),
        Value::Bool(_) => 2,
        Value::I64(i) => 1 + varint_len(*i as u64),
        Value::F64(_) => 9,
        _ => return None,
    })
}

/// The `AnyValue` oneof: its member is written even when it holds a default value.
fn any_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::String(s) => string_always(out, 1, s.as_str()),
        Value::Bool(b) => {
            tag(out, 2, VARINT);
            varint(out, u64::from(*b));
        }
        Value::I64(i) => {
            tag(out, 3, VARINT);
            varint(out, *i as u64);
        }
        Value::F64(f) => {
            tag(out, 4, FIXED64);
            out.extend_from_slice(&f.to_le_bytes());
        }
        Value::Array(array) => message(out, 5, |out| match array {
            Array::Bool(values) => values.iter().for_each(|v| {
                message(out, 1, |out| any_value(out, &Value::Bool(*v)));
            }),
            Array::I64(values) => values.iter().for_each(|v| {
                message(out, 1, |out| any_value(out, &Value::I64(*v)));
            }),
            Array::F64(values) => values.iter().for_each(|v| {
                message(out, 1, |out| any_value(out, &Value::F64(*v)));
            }),
            Array::String(values) => values.iter().for_each(|v| {
                message(out, 1, |out| string_always(out, 1, v.as_str()));
            }),
            // A kind of array newer than this encoder: an empty array, not a lost span.
            _ => {}
        }),
        // A kind of value newer than this encoder: an empty AnyValue.
        _ => {}
    }
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

fn tag(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, u64::from(field << 3 | u32::from(wire)));
}

/// One byte inline (tags, most lengths), the rest out of line.
#[inline(always)]
fn varint(out: &mut Vec<u8>, v: u64) {
    if v < 0x80 {
        out.push(v as u8);
    } else {
        varint_long(out, v);
    }
}

#[inline(never)]
fn varint_long(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A varint's width (a negative `i64`, as a `u64`, takes 10 bytes).
fn varint_len(v: u64) -> usize {
    // 7 bits per byte.
    (u64::BITS - (v | 1).leading_zeros()).div_ceil(7) as usize
}

/// A scalar field: proto3 leaves out a field holding its default (0).
fn uint(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        tag(out, field, VARINT);
        varint(out, v);
    }
}

fn fixed64(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        tag(out, field, FIXED64);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn fixed32(out: &mut Vec<u8>, field: u32, v: u32) {
    if v != 0 {
        tag(out, field, FIXED32);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn string(out: &mut Vec<u8>, field: u32, s: &str) {
    bytes(out, field, s.as_bytes());
}

/// A string written even when empty (a oneof member).
fn string_always(out: &mut Vec<u8>, field: u32, s: &str) {
    bytes_always(out, field, s.as_bytes());
}

/// A length-delimited field, left out when empty (proto3's default).
fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    if !b.is_empty() {
        bytes_always(out, field, b);
    }
}

#[inline(never)]
fn bytes_always(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    tag(out, field, LEN);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A nested message as field `field`, written by `body`. Its length goes before it, and
/// is known only after: one byte is reserved (enough below 128 bytes, most messages
/// here), and the body moves when the length needs another width.
fn message(out: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    message_reserving(out, field, 1, body);
}

/// [`message`] reserving `guess` bytes for the length: 2 for a span (128 bytes to 16 KB).
fn message_reserving(out: &mut Vec<u8>, field: u32, guess: usize, body: impl FnOnce(&mut Vec<u8>)) {
    tag(out, field, LEN);
    let at = out.len();
    out.resize(at + guess, 0);
    body(out);
    write_length(out, at, guess);
}

/// Writes the length of what follows the `guess` bytes reserved at `at`, moving it if
/// the length takes another width (one copy of this code, not one per message).
#[inline(never)]
fn write_length(out: &mut Vec<u8>, at: usize, guess: usize) {
    let len = out.len() - at - guess;
    let width = varint_len(len as u64);
    if width != guess {
        let end = out.len();
        if width > guess {
            out.resize(end + width - guess, 0);
        }
        out.copy_within(at + guess..end, at + width);
        out.truncate(at + width + len);
    }
    let mut v = len;
    for byte in &mut out[at..at + width] {
        *byte = if v >= 0x80 { v as u8 | 0x80 } else { v as u8 };
        v >>= 7;
    }
}

#[cfg(test)]
mod tests {
    use std::{borrow::Cow, time::Duration};

    use opentelemetry::{
        InstrumentationScope, KeyValue, StringValue,
        trace::{
            Event, Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
        },
    };
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_sdk::{
        Resource,
        trace::{SpanData, SpanEvents, SpanLinks},
    };
    use prost::Message;

    use super::*;

    fn every_value() -> Vec<KeyValue> {
        vec![
            KeyValue::new("s", "text"),
            KeyValue::new("empty", ""),
            KeyValue::new("", "no key"),
            KeyValue::new("long", "SELECT 1 ".repeat(40)),
            KeyValue::new("min", i64::MIN),
            KeyValue::new("t", true),
            KeyValue::new("f", false),
            KeyValue::new("zero", 0_i64),
            KeyValue::new("neg", -42_i64),
            KeyValue::new("big", i64::MAX),
            KeyValue::new("pi", 3.25_f64),
            KeyValue::new("fzero", 0.0_f64),
            KeyValue::new("bools", Value::Array(Array::Bool(vec![true, false]))),
            KeyValue::new("ints", Value::Array(Array::I64(vec![1, -1, 0]))),
            KeyValue::new("floats", Value::Array(Array::F64(vec![0.5]))),
            KeyValue::new(
                "strings",
                Value::Array(Array::String(vec![StringValue::from("a"), "".into()])),
            ),
            KeyValue::new("long", "x".repeat(300)),
        ]
    }

    fn span(scope: &InstrumentationScope, n: u64, remote_parent: bool) -> SpanData {
        let start = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789 + n);
        let state = TraceState::from_key_value([("vendor", "value")]).expect("valid state");
        let mut events = SpanEvents::default();
        events.events = vec![Event::new(
            "exception",
            start + Duration::from_micros(3),
            vec![KeyValue::new("exception.message", "boom")],
            1,
        )];
        events.dropped_count = 2;
        let mut links = SpanLinks::default();
        links.links = vec![Link::new(
            SpanContext::new(
                TraceId::from(7_u128),
                SpanId::from(8_u64),
                TraceFlags::default(),
                true,
                state.clone(),
            ),
            vec![KeyValue::new("why", "redrive")],
            3,
        )];
        links.dropped_count = 4;
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(0x0af7651916cd43dd8448eb211c80319c_u128 + u128::from(n)),
                SpanId::from(0xb7ad6b7169203331_u64 + n),
                TraceFlags::SAMPLED,
                false,
                if n.is_multiple_of(2) {
                    state
                } else {
                    TraceState::NONE
                },
            ),
            parent_span_id: if n == 0 {
                SpanId::INVALID
            } else {
                SpanId::from(n)
            },
            parent_span_is_remote: remote_parent,
            span_kind: [
                SpanKind::Server,
                SpanKind::Client,
                SpanKind::Producer,
                SpanKind::Consumer,
                SpanKind::Internal,
            ][n as usize % 5]
                .clone(),
            name: Cow::Owned(format!("GET /todos/{{id}} {n}")),
            start_time: start,
            end_time: start + Duration::from_micros(1500),
            attributes: if n == 1 { vec![] } else { every_value() },
            dropped_attributes_count: n as u32,
            events,
            links,
            status: match n % 3 {
                0 => Status::Unset,
                1 => Status::Ok,
                _ => Status::error("HTTP 500 Internal Server Error"),
            },
            instrumentation_scope: scope.clone(),
        }
    }

    /// What opentelemetry-otlp would have sent for the same spans.
    /// One `ExportTraceServiceRequest` holding `spans`, grouped by instrumentation scope
    /// in order of first appearance, from the pieces the batch processor uses.
    fn export_request(resource: &Resource, spans: &[SpanData], out: &mut Vec<u8>) {
        let mut scopes: Vec<(InstrumentationScope, Vec<u8>)> = Vec::new();
        for span in spans {
            let scope = &span.instrumentation_scope;
            let at = match scopes.iter().position(|(s, _)| s == scope) {
                Some(at) => at,
                None => {
                    scopes.push((scope.clone(), Vec::new()));
                    scopes.len() - 1
                }
            };
            scope_span(&mut scopes[at].1, &SpanParts::from(span));
        }
        let mut fields = Vec::new();
        super::resource(&mut fields, resource);
        let scopes: Vec<_> = scopes.iter().map(|(s, b)| (s, b.as_slice())).collect();
        export_request_encoded(&fields, &scopes, out);
    }

    fn reference(resource: &Resource, spans: Vec<SpanData>) -> ExportTraceServiceRequest {
        use opentelemetry_proto::transform::{
            common::tonic::ResourceAttributesWithSchema,
            trace::tonic::group_spans_by_resource_and_scope,
        };
        ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(
                spans,
                &ResourceAttributesWithSchema::from(resource),
            ),
        }
    }

    #[test]
    fn the_same_message_as_opentelemetry_proto() {
        let resource = Resource::builder()
            .with_service_name("web")
            .with_attribute(KeyValue::new("deployment.environment.name", "test"))
            .with_schema_url([], "https://opentelemetry.io/schemas/1.36.0")
            .build();
        let web = InstrumentationScope::builder("web")
            .with_version("0.1.0")
            .with_attributes([KeyValue::new("scope.attr", 1_i64)])
            .with_schema_url("https://opentelemetry.io/schemas/1.30.0")
            .build();
        let bare = InstrumentationScope::builder("bare").build();
        let spans: Vec<SpanData> = (0..7)
            .map(|n| span(if n % 3 == 2 { &bare } else { &web }, n, n % 2 == 1))
            .collect();

        let mut ours = Vec::new();
        export_request(&resource, &spans, &mut ours);
        let decoded = ExportTraceServiceRequest::decode(ours.as_slice()).expect("valid protobuf");
        let expected = reference(&resource, spans);
        assert_eq!(decoded, expected);
        assert_eq!(decoded.resource_spans[0].scope_spans.len(), 2);
        // Field by field the same; byte for byte too (prost writes fields in the same order).
        assert_eq!(ours.len(), expected.encoded_len());
    }

    #[test]
    fn fixed_attributes_encode_as_the_first_of_the_spans_own() {
        let scope = InstrumentationScope::builder("web").build();
        let mut data = span(&scope, 2, false);
        let all = data.attributes.clone();
        let (first, rest) = all.split_at(5);
        let fixed = FixedAttributes::interned([usize::MAX; 4], || first.to_vec());
        data.attributes = rest.to_vec();
        let parts = SpanParts {
            fixed,
            ..SpanParts::from(&data)
        };
        assert!(parts.all_attributes().eq(all.iter()));
        let mut ours = Vec::new();
        scope_span(&mut ours, &parts);
        data.attributes = all;
        let mut reference = Vec::new();
        scope_span(&mut reference, &SpanParts::from(&data));
        assert_eq!(ours, reference);
    }

    #[test]
    fn one_scope_framed_in_place_is_the_same_request() {
        let resource = Resource::builder()
            .with_service_name("web")
            .with_attribute(KeyValue::new("deployment.environment.name", "test"))
            .build();
        let mut fields = Vec::new();
        super::resource(&mut fields, &resource);
        let scope = InstrumentationScope::builder("web")
            .with_version("0.1.0")
            .with_attributes([KeyValue::new("scope.attr", 1_i64)])
            .with_schema_url("https://opentelemetry.io/schemas/1.30.0")
            .build();
        // Enough spans that the lengths take more than one byte.
        let spans: Vec<SpanData> = (0..40).map(|n| span(&scope, n, n % 2 == 1)).collect();
        let mut copied = Vec::new();
        export_request(&resource, &spans, &mut copied);

        let room = head_room(&fields, &scope);
        let mut buffer = vec![0; room];
        for span in &spans {
            scope_span(&mut buffer, &SpanParts::from(span));
        }
        let start = frame_in_place(&fields, &scope, &mut buffer, room).expect("the head fits");
        assert!(start > 0, "the room is a bound, not the head's exact size");
        assert_eq!(&buffer[start..], copied.as_slice());

        // A resource grown after the room was left: the head no longer fits.
        let mut larger = fields.clone();
        larger.extend(std::iter::repeat_n(0, room));
        assert_eq!(frame_in_place(&larger, &scope, &mut buffer, room), None);
    }

    #[test]
    fn an_empty_batch_is_an_empty_resource() {
        let resource = Resource::builder_empty().build();
        let mut ours = Vec::new();
        export_request(&resource, &[], &mut ours);
        let decoded = ExportTraceServiceRequest::decode(ours.as_slice()).expect("valid protobuf");
        assert_eq!(decoded, reference(&resource, vec![]));
    }

    #[test]
    fn lengths_take_as_many_bytes_as_they_need() {
        for guess in [1, 2] {
            for len in [0, 1, 127, 128, 16_383, 16_384, 2_097_152] {
                let mut out = vec![0xff];
                message_reserving(&mut out, 1, guess, |out| out.resize(out.len() + len, 7));
                let mut expected = vec![0xff, 0x0a];
                varint(&mut expected, len as u64);
                expected.resize(expected.len() + len, 7);
                assert_eq!(out, expected, "length {len}, {guess} byte(s) reserved");
            }
        }
    }
}
