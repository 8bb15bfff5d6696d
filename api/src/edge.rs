//! The layer every request passes first: its request id, its trace context, its span and
//! access-log line, its metrics and the check of its announced body size.
//!
//! One tower service with a future of its own. These were five layers (tower-http's request-id
//! pair and trace layer, and three `from_fn` middlewares): every `from_fn` boxed a clone of the
//! service inside it and its own future per request, and each layer's future wrapped the next, so
//! the request's future was moved through all of them. Together they cost 16 % of an accepted
//! event's instructions (`scripts/callgrind-ingress` without them: 120,488 → 100,898; issue 14).
//!
//! What a request gets, in order:
//! - `x-request-id`: the client's, or a new UUID v4 put on the request (so that handlers and the
//!   published message see it); answered on the response unless the handler set its own;
//! - a W3C trace context ([`TraceContext::from_header`]): scoped to the request's task
//!   ([`crate::trace::current`], which the publish copies into the message) and answered in the
//!   response's `traceparent`;
//! - the `http` span (method, matched route, request id, trace id), entered while the request is
//!   served, and one INFO line `response` in it (ERROR for a 5xx) with the status and the latency;
//! - a refusal (413) before the body is read when its `Content-Length` is over the route's limit:
//!   `MAX_BODY_BYTES`, or `IMPORT_MAX_BYTES` for the CSV import (a body without a length is cut
//!   at the same limit as it is read: axum's `DefaultBodyLimit`, the import's counting reader);
//! - the request counter and latency histogram of its route ([`crate::routes::ops::record`]).

use std::{
    future::Future,
    pin::Pin,
    task::{ready, Context, Poll},
    time::{Duration, Instant},
};

use axum::{
    body::HttpBody,
    extract::{MatchedPath, Request},
    http::{HeaderValue, Method},
    response::{IntoResponse, Response},
};
use pin_project_lite::pin_project;
use schemas::trace::TraceContext;
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};
use tracing::Span;

use crate::{
    error::ApiError,
    routes,
    trace::{self, TRACEPARENT, X_REQUEST_ID},
};

/// The body-size limits a request is checked against before its body is read.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// `MAX_BODY_BYTES`: every route but the CSV import.
    pub body: u64,
    /// `IMPORT_MAX_BYTES`: the CSV import.
    pub import: u64,
}

impl BodyLimits {
    /// The 413 for a body announced over its route's limit.
    fn refuse(&self, req: &Request, route: Option<&MatchedPath>) -> Option<ApiError> {
        let import = route.is_some_and(|p| p.as_str() == routes::cards::stock::IMPORT_ROUTE);
        let (limit, name) = if import { (self.import, "IMPORT_MAX_BYTES") } else { (self.body, "MAX_BODY_BYTES") };
        let announced = req.body().size_hint().lower();
        (announced > limit).then(|| {
            ApiError::PayloadTooLarge(format!("the body is {announced} bytes; the limit is {limit} bytes ({name})"))
        })
    }
}

/// Wraps a router's routes in [`Edge`].
#[derive(Debug, Clone, Copy)]
pub struct EdgeLayer {
    pub limits: BodyLimits,
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge { inner, limits: self.limits }
    }
}

#[derive(Debug, Clone)]
pub struct Edge<S> {
    inner: S,
    limits: BodyLimits,
}

impl<S, E> Service<Request> for Edge<S>
where
    S: Service<Request, Response = Response, Error = E>,
{
    type Response = Response;
    type Error = E;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let started = Instant::now();
        let request_id = match req.headers().get(X_REQUEST_ID) {
            Some(id) => id.clone(),
            None => {
                let id = trace::new_request_id();
                req.headers_mut().insert(X_REQUEST_ID, id.clone());
                id
            }
        };
        let context = TraceContext::from_header(
            req.headers().get(TRACEPARENT).and_then(|v| v.to_str().ok()),
            request_id.to_str().ok().map(str::to_string),
        );
        let route = req.extensions().get::<MatchedPath>().cloned();
        let span = tracing::info_span!(
            "http",
            method = %req.method(),
            route = route.as_ref().map_or(req.uri().path(), |m| m.as_str()),
            request_id = request_id.to_str().unwrap_or(""),
            trace_id = context.trace_id(),
        );
        platform::telemetry::adopt_parent(&span, Some(&context.traceparent));
        let traceparent = HeaderValue::from_str(&context.traceparent).ok();
        let method = req.method().clone();
        let serve = match self.limits.refuse(&req, route.as_ref()) {
            // Made inside the span, like any handler's answer.
            Some(refusal) => Serve::Refused { response: Some(span.in_scope(|| refusal.into_response())) },
            None => {
                tracing::debug!(parent: &span, "started processing request");
                Serve::Inner { future: trace::scope(context, self.inner.call(req)) }
            }
        };
        EdgeFuture { serve, span, started, route, method, request_id, traceparent }
    }
}

pin_project! {
    /// The request being served, and what its answer gets when it is ready.
    pub struct EdgeFuture<F> {
        #[pin]
        serve: Serve<F>,
        span: Span,
        started: Instant,
        route: Option<MatchedPath>,
        method: Method,
        request_id: HeaderValue,
        traceparent: Option<HeaderValue>,
    }
}

pin_project! {
    #[project = ServeProj]
    enum Serve<F> {
        Inner { #[pin] future: TaskLocalFuture<TraceContext, F> },
        Refused { response: Option<Response> },
    }
}

impl<F, E> Future for EdgeFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let mut response = match this.serve.project() {
            ServeProj::Inner { future } => ready!(future.poll(cx))?,
            ServeProj::Refused { response } => response.take().expect("an EdgeFuture is not polled after it completed"),
        };
        let headers = response.headers_mut();
        if !headers.contains_key(X_REQUEST_ID) {
            headers.insert(X_REQUEST_ID, this.request_id.clone());
        }
        if let Some(traceparent) = this.traceparent.take() {
            headers.insert(TRACEPARENT, traceparent);
        }
        let latency = this.started.elapsed();
        let route = this.route.as_ref().map_or("unmatched", |m| m.as_str());
        routes::ops::record(route, this.method, response.status().as_u16(), latency);
        log_response(&response, latency);
        Poll::Ready(Ok(response))
    }
}

/// One line per response, at INFO, in the request's span, which names the method, the route
/// and the request id; a 5xx is an ERROR line.
fn log_response(response: &Response, latency: Duration) {
    let status = response.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    if response.status().is_server_error() {
        tracing::error!(status, latency_ms, "response");
    } else {
        tracing::info!(status, latency_ms, "response");
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use axum::{body::Body, http::StatusCode};
    use tower::{service_fn, ServiceExt};
    use uuid::Uuid;

    use super::*;

    const LIMITS: BodyLimits = BodyLimits { body: 16, import: 1024 };

    /// What the inner service saw of the request: its `x-request-id` and its trace context.
    fn seen(response: &Response) -> (String, String) {
        let header = |name: &str| response.headers()[name].to_str().expect("ascii").to_string();
        (header("seen-request-id"), header("seen-traceparent"))
    }

    async fn serve(req: Request, handler_sets_id: bool) -> Response {
        let inner = service_fn(move |req: Request| async move {
            let context = trace::current().expect("the request's trace context is in scope");
            let mut response = Response::new(Body::empty());
            let headers = response.headers_mut();
            headers.insert("seen-request-id", req.headers()[X_REQUEST_ID].clone());
            headers.insert("seen-traceparent", HeaderValue::from_str(&context.traceparent).expect("ascii"));
            assert_eq!(context.request_id.as_deref(), req.headers()[X_REQUEST_ID].to_str().ok());
            if handler_sets_id {
                headers.insert(X_REQUEST_ID, HeaderValue::from_static("the-handler's"));
            }
            Ok::<_, Infallible>(response)
        });
        EdgeLayer { limits: LIMITS }.layer(inner).oneshot(req).await.expect("infallible")
    }

    #[tokio::test]
    async fn a_request_without_an_id_gets_a_new_one_and_a_trace_both_answered_and_seen_by_the_handler() {
        let response = serve(Request::new(Body::empty()), false).await;
        let (id, traceparent) = seen(&response);
        let uuid = Uuid::parse_str(&id).expect("a uuid");
        assert_eq!(uuid.get_version_num(), 4);
        assert_eq!(response.headers()[X_REQUEST_ID], id.as_str());
        assert!(schemas::trace::valid_traceparent(&traceparent), "{traceparent}");
        assert_eq!(response.headers()[TRACEPARENT], traceparent.as_str());
    }

    #[tokio::test]
    async fn the_clients_id_and_valid_traceparent_are_kept_and_a_handlers_own_id_is_not_overwritten() {
        let given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let request = || {
            Request::builder()
                .header(X_REQUEST_ID, "client-7")
                .header(TRACEPARENT, given)
                .body(Body::empty())
                .expect("request")
        };
        let response = serve(request(), false).await;
        assert_eq!(seen(&response), ("client-7".to_string(), given.to_string()));
        assert_eq!(response.headers()[X_REQUEST_ID], "client-7");
        assert_eq!(response.headers()[TRACEPARENT], given);

        let response = serve(request(), true).await;
        assert_eq!(response.headers()[X_REQUEST_ID], "the-handler's");
    }

    #[tokio::test]
    async fn a_body_announced_over_the_limit_is_refused_with_413_before_the_handler_runs() {
        let request = |bytes: usize| Request::new(Body::from(vec![b'x'; bytes]));
        let response = serve(request(16), false).await;
        assert_eq!(response.status(), StatusCode::OK, "at the limit: served");

        let response = serve(request(17), false).await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(!response.headers().contains_key("seen-request-id"), "the handler did not run");
        assert!(response.headers().contains_key(X_REQUEST_ID) && response.headers().contains_key(TRACEPARENT));
        let body = axum::body::to_bytes(response.into_body(), 1024).await.expect("body");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(body["code"], 41300, "{body}");
        assert_eq!(body["msg"], "the body is 17 bytes; the limit is 16 bytes (MAX_BODY_BYTES)", "{body}");
    }
}
