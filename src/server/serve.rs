//! The serve loop: accepts connections (at most `Limits::connections_max` open at once; more
//! wait in the kernel's backlog), speaks HTTP/1.1 with a header-read timeout (a connection
//! that sends no request head within it, its first or its next, is closed: a silent or idle
//! connection cannot hold a file descriptor for ever), and shuts down in bounded time: stop
//! accepting, start draining (event streams end and tell their clients to reconnect,
//! `/readyz` fails), let in-flight requests finish for up to `Limits::shutdown_grace_ms`,
//! then close what is left.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::app::App;

/// The server's own limits. `Limits::default()` is production's; tests shorten them.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A request is answered within this (from its head to the answer's head): past it,
    /// 408 `request_timeout`, or 503 `outcome_unknown` for a write with an Idempotency-Key.
    pub request_timeout_ms: u64,
    /// A connection sends a request head within this of connecting, or of its previous
    /// answer (an idle keep-alive connection), or is closed.
    pub header_read_timeout_ms: u64,
    /// Connections open at once at most (each holds a file descriptor; the service's
    /// `LimitNOFILE` must be above this plus the database pools).
    pub connections_max: usize,
    /// How long shutdown lets in-flight requests finish before closing their connections.
    pub shutdown_grace_ms: u64,
    /// `GET /metrics` on this listener (false when it is served on its own address).
    pub metrics_here: bool,
}

/// A request's time limit.
pub const REQUEST_TIMEOUT_MS: u64 = 30_000;
/// Time to send a request head, on a new or an idle connection.
pub const HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// Connections open at once at most.
pub const CONNECTIONS_MAX: usize = 10_000;
/// Grace for in-flight requests at shutdown.
pub const SHUTDOWN_GRACE_MS: u64 = 10_000;
/// Pause after a failed accept (out of file descriptors: do not spin).
const ACCEPT_BACKOFF_MS: u64 = 50;

impl Default for Limits {
    fn default() -> Self {
        Self {
            request_timeout_ms: REQUEST_TIMEOUT_MS,
            header_read_timeout_ms: HEADER_READ_TIMEOUT_MS,
            connections_max: CONNECTIONS_MAX,
            shutdown_grace_ms: SHUTDOWN_GRACE_MS,
            metrics_here: true,
        }
    }
}

/// Serves until `shutdown` resolves, then drains (see the module) with the default limits.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, Limits::default(), shutdown).await
}

/// Serves with `limits` until `shutdown` resolves, then drains (see the module).
pub async fn serve_with(
    listener: TcpListener,
    app: App,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Passkeys speak as the configured public URL, else as this address on `localhost`.
    app.relying_party.configure_default(listener.local_addr()?);
    let router = super::router_with(app.clone(), limits);
    let slots = Arc::new(Semaphore::new(limits.connections_max));
    let (stop, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(ACCEPT_BACKOFF_MS)).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        connections.spawn(connection(
            stream,
            peer,
            router.clone(),
            limits,
            stopped.clone(),
            permit,
        ));
    }
    drop(listener);
    tracing::info!(
        open = connections.len(),
        "stopped accepting; draining open connections"
    );
    app.draining.start();
    let _ = stop.send(true);
    let grace = Duration::from_millis(limits.shutdown_grace_ms);
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open after the grace period; closing them"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// One connection: HTTP/1.1 with the header-read timeout, ended gracefully (the request in
/// flight is answered, then the connection closes) once `stopped` turns true.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    mut stopped: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let service = router.map_request(move |mut req: axum::http::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        req
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms));
    let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
    tokio::pin!(conn);
    tokio::select! {
        served = conn.as_mut() => {
            if let Err(e) = served {
                tracing::debug!(error = %e, %peer, "connection ended");
            }
            return;
        }
        _ = stopped.wait_for(|stop| *stop) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// `serve` for as long as the writer task runs: if it ends first (it panicked, or its loop
/// stopped), the server stops and the error says so, so the process exits non-zero and a
/// supervisor restarts it instead of a server answering 503 forever.
pub async fn serve_with_writer(
    listener: TcpListener,
    app: App,
    limits: Limits,
    writer: &mut tokio::task::JoinHandle<()>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    tokio::select! {
        served = serve_with(listener, app, limits, shutdown) => served.map_err(|e| e.to_string()),
        ended = writer => Err(match ended {
            Ok(()) => "the writer stopped unexpectedly; stopping the server".to_owned(),
            Err(e) => format!("the writer died ({e}); stopping the server"),
        }),
    }
}
