//! The HTTP front: one place for limits, request ids, signature checks, logging and shutdown.
//! Everything EC2-specific happens in `api`; everything here is the same for every action.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::api::{self, Action, ApiError, Principal};
use crate::auth::cache::{AsStoredKey, KeyCache, StoredKey};
use crate::auth::sigv4::{self, AuthError, Expected, SignedRequest};
use crate::engine::accounts::{AccessKey, KeyStatus};
use crate::engine::{cause_chain, Engine};
use crate::metrics::{Format, OK_CODE, UNKNOWN_ACTION};
use crate::protocol::query::{self, Plus};
use crate::protocol::xml;

/// How long in-flight requests may take to finish once shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What every request needs; shared by all connections.
pub struct Gateway {
    pub engine: Engine,
    pub max_body_bytes: usize,
    /// Signing keys read lately, so that a request needs no database read (see auth::cache).
    keys: KeyCache,
}

impl Gateway {
    pub fn new(engine: Engine, max_body_bytes: usize) -> Gateway {
        Gateway {
            engine,
            max_body_bytes,
            keys: KeyCache::default(),
        }
    }
}

/// What a request was, for the log line and the metrics, as far as it got.
struct Trace {
    /// The served action it names, or UNKNOWN_ACTION: a label from a closed set.
    action: &'static str,
    account: Option<String>,
}

/// Serves connections until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    accept_until(listener, "API", shutdown, move |peer| {
        let gateway = gateway.clone();
        service_fn(move |req| handle(gateway.clone(), peer, req))
    })
    .await
}

/// Serves Prometheus' scrapes of `GET /metrics` until `shutdown` completes: on its own
/// listener, so that the metrics can be kept off the network the API is served on.
pub async fn serve_metrics(
    listener: TcpListener,
    engine: Engine,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    accept_until(listener, "metrics", shutdown, move |_| {
        let engine = engine.clone();
        service_fn(move |req| scrape(engine.clone(), req))
    })
    .await
}

/// Accepts connections, each served by `service(peer)`, until `shutdown` completes; then
/// lets in-flight requests finish.
async fn accept_until<S>(
    listener: TcpListener,
    what: &str,
    shutdown: impl Future<Output = ()>,
    service: impl Fn(SocketAddr) -> S,
) -> std::io::Result<()>
where
    S: hyper::service::Service<
            Request<Incoming>,
            Response = Response<Full<Bytes>>,
            Error = Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
{
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin or die.
                    tracing::warn!(listener = what, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = service(peer);
        let connection = http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!(
        listener = what,
        "shutting down: waiting for in-flight requests"
    );
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            listener = what,
            "in-flight requests did not finish in {DRAIN_TIMEOUT:?}"
        );
    }
    Ok(())
}

async fn handle(
    gateway: Arc<Gateway>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let request_id = uuid::Uuid::new_v4().to_string();
    // Everything logged while the request is served (engine, store, hypervisor) carries its id
    // and, once read, its action.
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        action = tracing::field::Empty
    );
    Ok(answer(&gateway, peer, req, request_id)
        .instrument(span)
        .await)
}

async fn answer(
    gateway: &Gateway,
    peer: SocketAddr,
    req: Request<Incoming>,
    request_id: String,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let mut trace = Trace {
        action: UNKNOWN_ACTION,
        account: None,
    };
    let mut body_left_unread = false;
    let (status, body, code) = match process(gateway, req, &request_id, &mut trace).await {
        Ok(xml) => (StatusCode::OK, xml, None),
        Err(e) => {
            body_left_unread = matches!(
                e,
                ApiError::RequestTooLarge(_) | ApiError::MethodNotAllowed(_)
            );
            let status =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            // A 5xx is the gateway's fault: what really failed (the database, libvirt, a
            // file) goes to the operator with every cause, which the client's message lacks.
            if status.is_server_error() {
                tracing::error!(code = e.code(), error = %cause_chain(&e), "request failed");
            }
            (
                status,
                xml::render_error(e.code(), &e.message(), &request_id),
                Some(e.code()),
            )
        }
    };
    let took = started.elapsed();
    gateway
        .engine
        .metrics()
        .request(trace.action, code.unwrap_or(OK_CODE), status.as_u16(), took);
    tracing::info!(
        %peer,
        account = trace.account.as_deref().unwrap_or("-"),
        status = status.as_u16(),
        code = code.unwrap_or("-"),
        latency_us = took.as_micros() as u64,
        "request"
    );
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    headers.insert(http::header::SERVER, HeaderValue::from_static("ec2gw"));
    if body_left_unread {
        // hyper drops a connection whose request body was not read. Saying so keeps a
        // client's pool from sending its next request down that closing socket.
        headers.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

async fn process(
    gateway: &Gateway,
    req: Request<Incoming>,
    request_id: &str,
    trace: &mut Trace,
) -> Result<String, ApiError> {
    let (parts, body) = req.into_parts();
    if parts.method != Method::GET && parts.method != Method::POST {
        return Err(ApiError::MethodNotAllowed(parts.method.to_string()));
    }
    let limit = gateway.max_body_bytes;
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::RequestTooLarge(limit));
    }
    let body = Limited::new(body, limit)
        .collect()
        .await
        .map_err(|_| ApiError::RequestTooLarge(limit))?
        .to_bytes();

    let raw_query = parts.uri.query().unwrap_or("");
    let mut pairs = query::parse_pairs(raw_query.as_bytes(), Plus::Literal)
        .map_err(|e| ApiError::MalformedQueryString(e.to_string()))?;
    if parts.method == Method::POST {
        pairs.extend(
            query::parse_pairs(&body, Plus::Space)
                .map_err(|e| ApiError::MalformedQueryString(e.to_string()))?,
        );
    }
    if let Some((_, name)) = pairs.iter().find(|(k, _)| k == "Action") {
        tracing::Span::current().record("action", name.as_str());
        if let Some(known) = api::generated::actions::ACTION_NAMES
            .iter()
            .copied()
            .find(|n| *n == name.as_str())
        {
            trace.action = known;
        }
    }

    let signed = SignedRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: raw_query,
        headers: &parts.headers,
        body: &body,
    };
    let principal = authenticate(gateway, &signed).await?;
    trace.account = Some(principal.account_id.clone());

    let action = Action::parse(pairs)?;
    api::handle(&gateway.engine, &principal, action, request_id).await
}

impl AsStoredKey for AccessKey {
    fn as_stored_key(&self) -> StoredKey<'_> {
        StoredKey {
            secret: self.secret.expose(),
            account_id: &self.account_id,
        }
    }
}

async fn authenticate(
    gateway: &Gateway,
    signed: &SignedRequest<'_>,
) -> Result<Principal, ApiError> {
    let engine = &gateway.engine;
    let expected = Expected {
        region: &engine.settings().region,
        service: "ec2",
    };
    let claim = sigv4::parse(signed, expected, chrono::Utc::now())?;
    let signing = gateway
        .keys
        .signing_key(&claim, || async {
            let key = engine.find_access_key(claim.access_key_id()).await?;
            Ok::<_, ApiError>(key.filter(|k| k.status == KeyStatus::Active))
        })
        .await?
        .ok_or(AuthError::UnknownAccessKey)?;
    sigv4::verify_with_key(signed, &claim, &signing.key)?;
    Ok(Principal {
        account_id: signing.account_id,
        access_key_id: claim.access_key_id().to_owned(),
    })
}

/// One scrape: the instance counts read now, then every metric in the format asked for.
async fn scrape(
    engine: Engine,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let text = |status: StatusCode, body: &'static str| {
        let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *response.status_mut() = status;
        response
    };
    if req.uri().path() != "/metrics" {
        return Ok(text(
            StatusCode::NOT_FOUND,
            "only /metrics is served here\n",
        ));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "GET /metrics\n"));
    }
    match engine.instance_counts().await {
        Ok(counts) => engine.metrics().set_instances(&counts),
        // The rest is still worth having; the instance gauges keep their last values.
        Err(e) => tracing::warn!(error = %cause_chain(&e), "metrics: counting instances failed"),
    }
    let format = Format::from_accept(
        req.headers()
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok()),
    );
    match engine.metrics().encode(format) {
        Ok(body) => {
            let mut response = Response::new(Full::new(Bytes::from(body)));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            Ok(response)
        }
        Err(e) => {
            tracing::error!(error = %e, "metrics: encoding failed");
            Ok(text(StatusCode::INTERNAL_SERVER_ERROR, "encoding failed\n"))
        }
    }
}
