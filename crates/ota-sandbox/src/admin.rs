//! The `/_sandbox/` control endpoints (loopback peers only):
//!
//! | request | effect |
//! |---|---|
//! | `GET /_sandbox/health` | `ok` |
//! | `GET /_sandbox/stats` | request counters as JSON ([`crate::Stats`]) |
//! | `POST /_sandbox/stats/reset` | zero the counters |
//! | `POST /_sandbox/faults` | JSON `{"throttle":0.1,"http_500":0,"http_503":0,"slow":0,"slow_delay_ms":2000,"drop_connection":0,"drop_response":0,"seed":1,"next":["503","drop"]}`: replace the random shares (absent = 0) and queue `next` faults for the next requests |
//! | `POST /_sandbox/faults/clear` | no faults, empty queue |
//! | `POST /_sandbox/verify?FirmwareId=ID&Result=success` | finish a verification (`success` → Status 1, `failure` → Status 3) |

use std::time::Duration;

use serde_json::Value;

use crate::config::{Fault, FaultConfig};
use crate::http::Response;
use crate::request::ParsedRequest;
use crate::server::Shared;

fn json(status: u16, v: &Value) -> Response {
    Response::new(status, Some("application/json"), v.to_string().into_bytes())
}

fn bad(msg: &str) -> Response {
    json(400, &serde_json::json!({ "error": msg }))
}

/// Parses the body of `POST /_sandbox/faults`.
pub fn parse_faults(body: &[u8]) -> Result<(FaultConfig, Vec<Fault>), String> {
    let v: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?
    };
    let obj = v.as_object().ok_or("expected a JSON object")?;
    let mut cfg = FaultConfig::default();
    for (k, val) in obj {
        let share = || val.as_f64().ok_or(format!("{k} must be a number"));
        match k.as_str() {
            "throttle" => cfg.throttle = share()?,
            "http_500" => cfg.http_500 = share()?,
            "http_503" => cfg.http_503 = share()?,
            "slow" => cfg.slow = share()?,
            "drop_connection" => cfg.drop_connection = share()?,
            "drop_response" => cfg.drop_response = share()?,
            "slow_delay_ms" => {
                cfg.slow_delay = Duration::from_millis(
                    val.as_u64()
                        .ok_or("slow_delay_ms must be a non-negative integer")?,
                )
            }
            "seed" => cfg.seed = Some(val.as_u64().ok_or("seed must be a non-negative integer")?),
            "next" => {}
            other => return Err(format!("unknown field {other:?}")),
        }
    }
    cfg.validate().map_err(|e| e.to_string())?;
    let mut next = Vec::new();
    if let Some(list) = obj.get("next") {
        let list = list.as_array().ok_or("next must be a list")?;
        if list.len() > 10_000 {
            return Err("next holds at most 10000 faults".into());
        }
        for item in list {
            let s = item.as_str().ok_or("next must hold strings")?;
            let mut f: Fault = s.parse().map_err(|e: crate::SandboxError| e.to_string())?;
            if let (Fault::Slow(_), "slow") = (f, s.trim()) {
                f = Fault::Slow(cfg.slow_delay);
            }
            next.push(f);
        }
    }
    Ok((cfg, next))
}

pub(crate) fn handle(shared: &Shared, req: &ParsedRequest, body: &[u8]) -> Response {
    let path = match &req.kind {
        crate::request::RequestKind::Admin { path } => path.as_str(),
        _ => "",
    };
    match (req.method.as_str(), path) {
        ("GET", "health") => Response::new(200, Some("text/plain"), b"ok\n".to_vec()),
        ("GET", "stats") => match serde_json::to_value(shared.stats()) {
            Ok(v) => json(200, &v),
            Err(e) => bad(&e.to_string()),
        },
        ("POST", "stats/reset") => {
            shared.reset_stats();
            json(200, &serde_json::json!({ "ok": true }))
        }
        ("POST", "faults") => match parse_faults(body) {
            Ok((cfg, next)) => {
                shared.set_faults(cfg);
                shared.push_faults(next);
                json(200, &serde_json::json!({ "ok": true }))
            }
            Err(e) => bad(&e),
        },
        ("POST", "faults/clear") => {
            shared.clear_faults();
            json(200, &serde_json::json!({ "ok": true }))
        }
        ("POST", "verify") => {
            let Some(id) = req.param("FirmwareId") else {
                return bad("FirmwareId is required");
            };
            let status = match req.param("Result").unwrap_or("success") {
                "success" => 1,
                "failure" => 3,
                _ => return bad("Result must be success or failure"),
            };
            match shared
                .store
                .set_verify_status(id, status, 100, crate::server::now_ms())
            {
                Ok(true) => json(200, &serde_json::json!({ "ok": true, "Status": status })),
                Ok(false) => json(404, &serde_json::json!({ "error": "no such firmware" })),
                Err(e) => json(500, &serde_json::json!({ "error": e.to_string() })),
            }
        }
        _ => json(
            404,
            &serde_json::json!({ "error": "unknown admin endpoint" }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fault_bodies() {
        let (cfg, next) =
            parse_faults(br#"{"http_503":0.5,"slow_delay_ms":10,"next":["drop","slow","500"]}"#)
                .unwrap();
        assert_eq!(cfg.http_503, 0.5);
        assert_eq!(
            next,
            vec![
                Fault::DropConnection,
                Fault::Slow(Duration::from_millis(10)),
                Fault::Http500
            ]
        );
        assert!(parse_faults(b"").unwrap().1.is_empty());
        assert!(parse_faults(br#"{"http_503":2}"#).is_err());
        assert!(parse_faults(br#"{"bogus":1}"#).is_err());
        assert!(parse_faults(br#"{"next":["nope"]}"#).is_err());
        assert!(parse_faults(b"[").is_err());
    }
}
