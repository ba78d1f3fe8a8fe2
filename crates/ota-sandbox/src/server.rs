//! The listener, the connection threads, and request dispatch.
//!
//! Threading: one acceptor thread, and one thread per open connection up to
//! `max_connections` (further connections wait in the kernel's accept queue until
//! one closes). Idle keep-alive connections close after `idle_timeout`. This is a
//! bounded worker pool whose workers each own a connection, which keeps the HTTP
//! handling synchronous and simple.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::OffsetDateTime;

use crate::api::{self, ApiError, Ctx, OssKey, Params};
use crate::auth;
use crate::codes::{ErrorCode, Layer};
use crate::config::{Fault, FaultConfig, SandboxConfig};
use crate::http::{self, BodyReader, HttpError, RequestHead, Response};
use crate::oss::{self, OssCtx};
use crate::request::{parse_request, ParsedRequest, RequestKind};
use crate::response::{self, Format, Node};
use crate::store::Store;
use crate::{ids, timefmt, Stats};

/// How long a started request may stall between reads of its body.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest admin request body.
const MAX_ADMIN_BODY: u64 = 64 * 1024;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Per-account, per-action sliding one-second windows.
#[derive(Debug, Default)]
struct RateLimiter {
    windows: Mutex<HashMap<(String, String), VecDeque<Instant>>>,
}

impl RateLimiter {
    fn try_acquire(&self, account: &str, action: &str, limit: u32, now: Instant) -> bool {
        let mut windows = lock(&self.windows);
        let window = windows
            .entry((account.to_string(), action.to_string()))
            .or_default();
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            window.pop_front();
        }
        if window.len() >= limit as usize {
            return false;
        }
        window.push_back(now);
        true
    }
}

#[derive(Debug)]
struct FaultState {
    config: FaultConfig,
    queue: VecDeque<Fault>,
    rng: StdRng,
}

impl FaultState {
    fn new(config: FaultConfig) -> FaultState {
        let rng = match config.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_entropy(),
        };
        FaultState {
            config,
            queue: VecDeque::new(),
            rng,
        }
    }

    fn draw(&mut self) -> Option<Fault> {
        if let Some(f) = self.queue.pop_front() {
            return Some(f);
        }
        if !self.config.is_active() {
            return None;
        }
        let x: f64 = self.rng.gen();
        self.config.pick(x)
    }
}

/// State shared by every thread of one sandbox.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: SandboxConfig,
    pub(crate) store: Store,
    pub(crate) oss: OssKey,
    pub(crate) public_host: String,
    limiter: RateLimiter,
    faults: Mutex<FaultState>,
    stats: Mutex<Stats>,
    pub(crate) shutting_down: AtomicBool,
    connections: Mutex<HashMap<u64, TcpStream>>,
    next_conn: AtomicU64,
    active: Mutex<usize>,
    active_changed: Condvar,
}

impl Shared {
    pub(crate) fn new(
        config: SandboxConfig,
        store: Store,
        oss: OssKey,
        public_host: String,
    ) -> Shared {
        let faults = FaultState::new(config.faults.clone());
        Shared {
            config,
            store,
            oss,
            public_host,
            limiter: RateLimiter::default(),
            faults: Mutex::new(faults),
            stats: Mutex::new(Stats::default()),
            shutting_down: AtomicBool::new(false),
            connections: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            active: Mutex::new(0),
            active_changed: Condvar::new(),
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        lock(&self.stats).clone()
    }

    pub(crate) fn reset_stats(&self) {
        *lock(&self.stats) = Stats::default();
    }

    pub(crate) fn set_faults(&self, config: FaultConfig) {
        let mut state = lock(&self.faults);
        let queue = std::mem::take(&mut state.queue);
        *state = FaultState::new(config);
        state.queue = queue;
    }

    pub(crate) fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        lock(&self.faults).queue.extend(faults);
    }

    pub(crate) fn clear_faults(&self) {
        *lock(&self.faults) = FaultState::new(FaultConfig::default());
    }

    fn draw_fault(&self) -> Option<Fault> {
        let fault = lock(&self.faults).draw();
        if fault.is_some() {
            lock(&self.stats).faults_injected += 1;
        }
        fault
    }

    fn host_id(&self) -> String {
        format!("iot.{}.aliyuncs.com", self.config.region_id)
    }

    fn oss_ctx(&self, now: OffsetDateTime) -> OssCtx<'_> {
        OssCtx {
            store: &self.store,
            oss: &self.oss,
            bucket: &self.config.bucket,
            public_host: &self.public_host,
            region_id: &self.config.region_id,
            now,
        }
    }

    /// Shuts every open connection down (their threads then exit).
    pub(crate) fn close_all_connections(&self) {
        for stream in lock(&self.connections).values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Waits until no connection thread is left, at most `timeout`.
    pub(crate) fn wait_idle(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut active = lock(&self.active);
        while *active > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            active = self
                .active_changed
                .wait_timeout(active, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// The acceptor loop; returns when the sandbox shuts down.
pub(crate) fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    for stream in listener.incoming() {
        if shared.shutting_down.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            // Transient accept errors (e.g. too many open files): back off briefly.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        {
            let mut active = lock(&shared.active);
            while *active >= shared.config.max_connections
                && !shared.shutting_down.load(Ordering::SeqCst)
            {
                active = shared
                    .active_changed
                    .wait_timeout(active, Duration::from_millis(100))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            *active += 1;
        }
        let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.connections).insert(id, clone);
        }
        let worker = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name(format!("sandbox-conn-{id}"))
            .spawn(move || {
                serve_connection(&worker, stream);
                lock(&worker.connections).remove(&id);
                *lock(&worker.active) -= 1;
                worker.active_changed.notify_all();
            });
        if spawned.is_err() {
            lock(&shared.connections).remove(&id);
            *lock(&shared.active) -= 1;
            shared.active_changed.notify_all();
        }
    }
}

/// What to do with the connection after a request.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    KeepAlive,
    Close,
}

fn serve_connection(shared: &Shared, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().ok();
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::with_capacity(64 * 1024, read_half);
    let mut writer = stream;
    loop {
        if shared.shutting_down.load(Ordering::SeqCst) {
            break;
        }
        let _ = writer.set_read_timeout(Some(shared.config.idle_timeout));
        let head_bytes = match http::read_request_head(&mut reader) {
            Ok(Some(h)) => h,
            Ok(None) => break,
            Err(HttpError::Io(_)) | Err(HttpError::UnexpectedEof) => break,
            Err(e) => {
                let _ = write_plain_error(&mut writer, &e);
                break;
            }
        };
        let _ = writer.set_read_timeout(Some(BODY_READ_TIMEOUT));
        let head = match http::parse_request_head(&head_bytes) {
            Ok(h) => h,
            Err(e) => {
                let _ = write_plain_error(&mut writer, &e);
                break;
            }
        };
        match handle_request(shared, &head, &mut reader, &mut writer, peer) {
            Next::KeepAlive => continue,
            Next::Close => break,
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

fn write_plain_error(writer: &mut TcpStream, e: &HttpError) -> std::io::Result<()> {
    let status = match e {
        HttpError::HeadTooLarge { .. } | HttpError::TooManyHeaders { .. } => 431,
        HttpError::UnsupportedVersion { .. } => 505,
        HttpError::UnsupportedTransferEncoding { .. } => 501,
        HttpError::BodyTooLarge { .. } => 413,
        _ => 400,
    };
    let body = format!("{e}\n").into_bytes();
    http::write_response(
        writer,
        Response::new(status, Some("text/plain; charset=utf-8"), body),
        false,
        false,
    )
}

/// The response format an RPC request asks for: `Format` (any case), else an Accept
/// header naming JSON or XML, else XML (the IoT default).
pub fn response_format(req: &ParsedRequest) -> Format {
    if let Some(f) = req.param("Format").and_then(Format::parse) {
        return f;
    }
    let accept = req.header("accept").unwrap_or("").to_ascii_lowercase();
    if accept.contains("json") {
        Format::Json
    } else {
        Format::Xml
    }
}

/// The `Format` a request asks for, read leniently from the raw target: used when the
/// request cannot be parsed, so that even that error comes in the requested format.
pub fn sniff_format(target: &str) -> Format {
    let query = target.split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "Format")
        .and_then(|(_, v)| Format::parse(v))
        .unwrap_or(Format::Xml)
}

/// Renders an API error in `format` for `action`.
pub fn api_error_response(
    shared_host_id: &str,
    format: Format,
    action: &str,
    err: &ApiError,
) -> Response {
    let spec = err.code.spec();
    let message = spec.render(&err.detail);
    let request_id = ids::request_id();
    let (status, body) = match spec.layer {
        Layer::Business => {
            let node = response::business_error_node(&spec, &message, &request_id);
            (200, response::render(format, action, &node))
        }
        Layer::Gateway | Layer::Oss => (
            spec.status,
            response::gateway_error_body(format, &spec, &message, &request_id, shared_host_id),
        ),
    };
    Response::new(status, Some(format.content_type()), body)
        .with_header("x-acs-request-id", &request_id)
}

fn handle_request(
    shared: &Shared,
    head: &RequestHead,
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
    peer: Option<SocketAddr>,
) -> Next {
    let keep_alive = head.keep_alive();
    let framing = match head.body_framing() {
        Ok(f) => f,
        Err(e) => {
            let _ = write_plain_error(writer, &e);
            return Next::Close;
        }
    };
    // Route on the head alone; the RPC form body is parsed once read.
    let routed = parse_request(&head.method, &head.target, &head.headers, b"");
    let req = match routed {
        Ok(r) => r,
        Err(e) => {
            shared_count_request(shared, None);
            let err = ApiError::new(ErrorCode::MalformedRequest, &e.to_string());
            let resp = api_error_response(&shared.host_id(), sniff_format(&head.target), "", &err);
            let _ = http::write_response(writer, resp, head.method == "HEAD", false);
            return Next::Close;
        }
    };
    let is_admin = matches!(req.kind, RequestKind::Admin { .. });
    if is_admin && shared.config.admin_endpoint {
        let mut body = match BodyReader::new(reader, framing, MAX_ADMIN_BODY) {
            Ok(b) => b,
            Err(e) => {
                let _ = write_plain_error(writer, &e);
                return Next::Close;
            }
        };
        let bytes = match body.read_all() {
            Ok(b) => b,
            Err(e) => {
                let _ = write_plain_error(writer, &e);
                return Next::Close;
            }
        };
        let local = peer.is_some_and(|p| p.ip().is_loopback());
        let resp = if local {
            crate::admin::handle(shared, &req, &bytes)
        } else {
            Response::new(
                403,
                Some("text/plain"),
                b"admin endpoint is loopback-only\n".to_vec(),
            )
        };
        let ok = http::write_response(writer, resp, false, keep_alive).is_ok();
        return if ok && keep_alive {
            Next::KeepAlive
        } else {
            Next::Close
        };
    }

    shared_count_request(shared, Some(&req));
    let now = OffsetDateTime::now_utc();
    let mut drop_response = false;
    let is_oss = !matches!(req.kind, RequestKind::Rpc);
    match shared.draw_fault() {
        None => {}
        Some(Fault::DropConnection) => return Next::Close,
        Some(Fault::DropResponse) => drop_response = true,
        Some(Fault::Slow(d)) => std::thread::sleep(d),
        Some(f @ (Fault::Throttle | Fault::Http500 | Fault::Http503)) => {
            let resp = if is_oss {
                let code = if f == Fault::Http500 {
                    ErrorCode::OssInternalError
                } else {
                    ErrorCode::ServiceUnavailable
                };
                if code == ErrorCode::ServiceUnavailable {
                    // OSS has no 503 entry of its own; answer with the gateway's shape.
                    api_error_response(&shared.host_id(), Format::Xml, "", &ApiError::new(code, ""))
                } else {
                    shared.oss_ctx(now).error(code, "")
                }
            } else {
                let code = match f {
                    Fault::Throttle => ErrorCode::ThrottlingUser,
                    Fault::Http500 => ErrorCode::InternalError,
                    _ => ErrorCode::ServiceUnavailable,
                };
                let action = auth::requested_action(&req).unwrap_or_default();
                api_error_response(
                    &shared.host_id(),
                    response_format(&req),
                    &action,
                    &ApiError::new(code, ""),
                )
            };
            // Skip a small body so the connection can be reused.
            let reusable = match BodyReader::new(reader, framing, 1024 * 1024) {
                Ok(mut b) => b.drain(1024 * 1024),
                Err(_) => false,
            };
            let keep = keep_alive && reusable;
            let ok = http::write_response(writer, resp, head.method == "HEAD", keep).is_ok();
            return if ok && keep {
                Next::KeepAlive
            } else {
                Next::Close
            };
        }
    }

    let (resp, body_done) = match &req.kind {
        RequestKind::PostObject { boundary } => {
            let ctx = shared.oss_ctx(now);
            let mut body = match BodyReader::new(reader, framing, oss::OSS_MAX_OBJECT + 1024 * 1024)
            {
                Ok(b) => b,
                Err(_) => {
                    let resp = ctx.error(ErrorCode::OssEntityTooLarge, "");
                    let _ = http::write_response(writer, resp, false, false);
                    return Next::Close;
                }
            };
            if head.expects_continue() {
                let _ = writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            let resp = oss::post_object(&ctx, boundary, &mut body);
            if resp.status < 300 {
                lock(&shared.stats).uploads += 1;
            }
            // Drain a little of what an early error left unread, so small forms keep
            // the connection usable.
            let done = body.is_finished() || body.drain(64 * 1024);
            (resp, done)
        }
        RequestKind::GetObject { key } => {
            let resp = oss::get_object(&shared.oss_ctx(now), &req, key);
            if resp.status < 300 {
                lock(&shared.stats).downloads += 1;
            }
            let done = match BodyReader::new(reader, framing, 64 * 1024) {
                Ok(mut b) => b.drain(64 * 1024),
                Err(_) => false,
            };
            (resp, done)
        }
        RequestKind::Other | RequestKind::Admin { .. } => {
            let resp = shared
                .oss_ctx(now)
                .error(ErrorCode::OssMethodNotAllowed, "");
            let done = match BodyReader::new(reader, framing, 64 * 1024) {
                Ok(mut b) => b.drain(64 * 1024),
                Err(_) => false,
            };
            (resp, done)
        }
        RequestKind::Rpc => {
            let limit = shared.config.max_rpc_body_bytes as u64;
            let body = BodyReader::new(reader, framing, limit).and_then(|mut b| {
                if head.expects_continue() {
                    let _ = writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
                }
                b.read_all()
            });
            match body {
                Ok(bytes) => (rpc(shared, head, &bytes, now), true),
                Err(e) => {
                    let err = ApiError::new(ErrorCode::MalformedRequest, &e.to_string());
                    let action = auth::requested_action(&req).unwrap_or_default();
                    (
                        api_error_response(&shared.host_id(), response_format(&req), &action, &err),
                        false,
                    )
                }
            }
        }
    };
    if drop_response {
        return Next::Close;
    }
    let keep = keep_alive && body_done;
    let ok = http::write_response(writer, resp, head.method == "HEAD", keep).is_ok();
    if ok && keep {
        Next::KeepAlive
    } else {
        Next::Close
    }
}

fn shared_count_request(shared: &Shared, req: Option<&ParsedRequest>) {
    let mut stats = lock(&shared.stats);
    stats.requests += 1;
    if let Some(req) = req {
        if matches!(req.kind, RequestKind::Rpc) {
            stats.rpc_requests += 1;
            // Only the emulated actions get their own counter, so that junk action
            // names cannot grow the map without bound.
            let action = auth::requested_action(req)
                .filter(|a| api::SUPPORTED_ACTIONS.contains(&a.as_str()))
                .unwrap_or_else(|| "(other)".to_string());
            *stats.actions.entry(action).or_insert(0) += 1;
        }
    }
}

/// Handles one RPC request whose body has been read.
fn rpc(shared: &Shared, head: &RequestHead, body: &[u8], now: OffsetDateTime) -> Response {
    let req = match parse_request(&head.method, &head.target, &head.headers, body) {
        Ok(r) => r,
        Err(e) => {
            let err = ApiError::new(ErrorCode::MalformedRequest, &e.to_string());
            return api_error_response(&shared.host_id(), sniff_format(&head.target), "", &err);
        }
    };
    let format = response_format(&req);
    let action = auth::requested_action(&req).unwrap_or_default();
    let host_id = shared.host_id();
    let caller = match auth::authenticate(
        &shared.config.access_keys,
        shared.config.timestamp_window,
        &shared.store,
        &req,
        body,
        now,
    ) {
        Ok(c) => c,
        Err(e) => {
            lock(&shared.stats).rejected += 1;
            return api_error_response(&host_id, format, &action, &e);
        }
    };
    if let Some(limit) = shared.config.rate_limits.limit_for(&caller.action) {
        if !shared
            .limiter
            .try_acquire(&caller.key.account, &caller.action, limit, Instant::now())
        {
            lock(&shared.stats).throttled += 1;
            return api_error_response(
                &host_id,
                format,
                &caller.action,
                &ApiError::new(ErrorCode::ThrottlingUser, ""),
            );
        }
    }
    let params: Params = req.all_params().cloned().collect::<BTreeMap<_, _>>();
    let ctx = Ctx {
        store: &shared.store,
        package_quota: shared.config.package_quota,
        public_host: &shared.public_host,
        oss: &shared.oss,
        bucket: &shared.config.bucket,
        upload_policy_ttl: shared.config.upload_policy_ttl,
        max_upload_bytes: shared.config.max_upload_bytes,
        download_url_ttl: shared.config.download_url_ttl,
        now,
    };
    match api::handle(&ctx, &caller.key.account, &caller.action, &params) {
        Ok(node) => {
            let request_id = ids::request_id();
            let node = node
                .with_str("RequestId", &request_id)
                .with("Success", Node::Bool(true));
            Response::new(
                200,
                Some(format.content_type()),
                response::render(format, &caller.action, &node),
            )
            .with_header("x-acs-request-id", &request_id)
        }
        Err(e) => {
            if e.code.spec().layer == Layer::Business {
                lock(&shared.stats).business_errors += 1;
            } else {
                lock(&shared.stats).rejected += 1;
            }
            api_error_response(&host_id, format, &caller.action, &e)
        }
    }
}

/// The current time as the sandbox sees it, in milliseconds (for the admin API).
pub(crate) fn now_ms() -> i64 {
    timefmt::unix_millis(OffsetDateTime::now_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limiter_window() {
        let l = RateLimiter::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.try_acquire("a", "X", 3, t0));
        }
        assert!(!l.try_acquire("a", "X", 3, t0));
        assert!(l.try_acquire("a", "Y", 3, t0));
        assert!(l.try_acquire("b", "X", 3, t0));
        assert!(l.try_acquire("a", "X", 3, t0 + Duration::from_millis(1000)));
    }

    #[test]
    fn scripted_faults_come_first() {
        let mut s = FaultState::new(FaultConfig {
            http_500: 1.0,
            seed: Some(1),
            ..FaultConfig::default()
        });
        s.queue.push_back(Fault::DropConnection);
        assert_eq!(s.draw(), Some(Fault::DropConnection));
        assert_eq!(s.draw(), Some(Fault::Http500));
        let mut s = FaultState::new(FaultConfig::default());
        assert_eq!(s.draw(), None);
    }
}
