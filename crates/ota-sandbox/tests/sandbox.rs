//! Integration tests over real HTTP: persistence across a restart, rate limiting,
//! concurrent creates, error shapes, the OSS policy checks, fault injection, V3.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use fwdelta_ota_sandbox::{Fault, RateLimits};
use serde_json::Value;

mod common;
use common::Client;

fn no_limits() -> RateLimits {
    RateLimits {
        enabled: true,
        default_qps: 100_000,
        query_ota_firmware_qps: 100_000,
    }
}

fn md5_hex(b: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(b))
}

#[test]
fn persistence_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let content = b"firmware delta bytes that must survive a restart".repeat(100);
    let (id, old_url) = {
        let h = common::start(dir.path(), |_| {});
        let c = Client::new(&h);
        let up = c.upload(&content);
        let url = up["FirmwareUrl"].as_str().unwrap().to_string();
        let a = c.create(
            "fw-persist",
            &url,
            &[("Type", "1"), ("SrcVersion", "1.0.0")],
        );
        assert!(a.success(), "{a:?}");
        h.shutdown();
        (
            a.body["Data"]["FirmwareId"].as_str().unwrap().to_string(),
            url,
        )
    };
    let h = common::start(dir.path(), |_| {});
    let c = Client::new(&h);
    let q = c.call("QueryOTAFirmware", &[("FirmwareId", &id)]);
    assert!(q.success(), "{q:?}");
    let info = &q.body["FirmwareInfo"];
    assert_eq!(info["FirmwareName"], "fw-persist");
    assert_eq!(info["FirmwareSign"], md5_hex(&content));
    assert_eq!(info["FirmwareSize"], content.len() as u64);
    // The object survived too: download it through the new pre-signed URL.
    let (status, body) = c.get(info["FirmwareUrl"].as_str().unwrap());
    assert_eq!(status, 200);
    assert_eq!(body, content);
    // The name is still taken, and the object uploaded before the restart (under the
    // old port) can still back a new package.
    let dup = c.create("fw-persist", &old_url, &[]);
    assert_eq!(dup.code(), "iot.ota.FirmwareNameExisted", "{dup:?}");
    let again = c.create("fw-persist-2", &old_url, &[]);
    assert!(again.success(), "{again:?}");
    let l = c.call(
        "ListOTAFirmware",
        &[("CurrentPage", "1"), ("PageSize", "10")],
    );
    assert_eq!(l.body["Total"], 2);
}

/// One burst against a fresh account: 15 ListOTAFirmware, 1 GenerateOTAUploadURL and
/// 22 QueryOTAFirmware. `None` if the burst took too long to say anything about a
/// one-second window (a loaded machine); the caller then tries another account.
fn burst(
    c: &Client,
) -> Option<(
    Vec<common::Answer>,
    common::Answer,
    Vec<common::Answer>,
    Instant,
)> {
    let start = Instant::now();
    let list: Vec<_> = (0..15)
        .map(|_| {
            c.call(
                "ListOTAFirmware",
                &[("CurrentPage", "1"), ("PageSize", "5")],
            )
        })
        .collect();
    let generate = c.call("GenerateOTAUploadURL", &[]);
    let query: Vec<_> = (0..22)
        .map(|_| c.call("QueryOTAFirmware", &[("FirmwareId", "nope")]))
        .collect();
    (start.elapsed() < Duration::from_millis(800)).then_some((list, generate, query, start))
}

#[test]
fn throttling_at_10_qps() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<_> = (0..3)
        .map(|i| fwdelta_ota_sandbox::AccessKey::new(&format!("acct{i}"), "s"))
        .collect();
    let h = common::start(dir.path(), |c| c.access_keys = keys.clone());
    let (c, (list, generate, query, start)) = keys
        .iter()
        .find_map(|k| {
            let c = Client::with_key(&h, &k.id, &k.secret);
            burst(&c).map(|b| (c, b))
        })
        .expect("three bursts of 38 requests each took longer than 800 ms");
    assert_eq!(list.iter().filter(|a| a.success()).count(), 10, "{list:?}");
    for a in list.iter().filter(|a| !a.success()) {
        assert_eq!(a.status, 400);
        assert_eq!(a.code(), "Throttling.User");
        assert_eq!(
            a.body["Message"],
            "Request was denied due to user flow control."
        );
    }
    // Another API has its own budget; QueryOTAFirmware allows 20.
    assert!(generate.success(), "{generate:?}");
    let business = query
        .iter()
        .filter(|a| a.code() == "iot.ota.FirmwareNotFound")
        .count();
    let throttled = query
        .iter()
        .filter(|a| a.code() == "Throttling.User")
        .count();
    assert_eq!((business, throttled), (20, 2));
    // A second later the window has moved on.
    std::thread::sleep(Duration::from_millis(1050).saturating_sub(start.elapsed()));
    let a = c.call(
        "ListOTAFirmware",
        &[("CurrentPage", "1"), ("PageSize", "5")],
    );
    assert!(a.success(), "{a:?}");
    assert!(h.stats().throttled >= 7);
}

#[test]
fn concurrent_creates_with_the_same_name() {
    let dir = tempfile::tempdir().unwrap();
    let h = common::start(dir.path(), |c| c.rate_limits = no_limits());
    let c = Client::new(&h);
    let url = c.upload(b"same-name race")["FirmwareUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let threads = 12;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let c = c.clone();
            let url = url.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let dest = format!("1.{i}.0");
                c.create("fw-race", &url, &[("DestVersion", dest.as_str())])
            })
        })
        .collect();
    let answers: Vec<_> = handles.into_iter().map(|t| t.join().unwrap()).collect();
    let winners = answers.iter().filter(|a| a.success()).count();
    assert_eq!(winners, 1, "{answers:?}");
    for a in answers.iter().filter(|a| !a.success()) {
        assert_eq!(a.code(), "iot.ota.FirmwareNameExisted", "{a:?}");
    }
    let l = c.call(
        "ListOTAFirmware",
        &[("CurrentPage", "1"), ("PageSize", "100")],
    );
    assert_eq!(l.body["Total"], 1);
}

#[test]
fn concurrent_creates_respect_the_quota() {
    let dir = tempfile::tempdir().unwrap();
    let h = common::start(dir.path(), |c| {
        c.rate_limits = no_limits();
        c.package_quota = 5;
    });
    let c = Client::new(&h);
    let url = c.upload(b"quota race")["FirmwareUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let handles: Vec<_> = (0..10)
        .map(|i| {
            let c = c.clone();
            let url = url.clone();
            std::thread::spawn(move || c.create(&format!("fw-q{i}"), &url, &[]))
        })
        .collect();
    let answers: Vec<_> = handles.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(answers.iter().filter(|a| a.success()).count(), 5);
    for a in answers.iter().filter(|a| !a.success()) {
        assert_eq!(a.code(), "iot.ota.FirmwareCountExceedLimit", "{a:?}");
        assert!(a.body["ErrorMessage"].as_str().unwrap().contains('5'));
    }
}

#[test]
fn gateway_errors_have_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let h = common::start(dir.path(), |c| c.rate_limits = no_limits());
    let c = Client::new(&h);

    // XML is the default; errors have root <Error>, successes <ActionResponse>.
    let (status, xml) = c.call_raw(
        "ListOTAFirmware",
        &[("CurrentPage", "1"), ("PageSize", "1")],
        "XML",
    );
    assert_eq!(status, 200);
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListOTAFirmwareResponse>"),
        "{xml}"
    );
    assert!(xml.contains("<Success>true</Success>"));
    let (status, xml) = c.call_raw("NoSuchAction", &[], "xml");
    assert_eq!(status, 404);
    assert!(
        xml.contains("<Error><RequestId>") && xml.contains("<Code>InvalidAction.NotFound</Code>"),
        "{xml}"
    );

    let bad = Client::with_key(&h, "testid", "wrong");
    let a = bad.call(
        "ListOTAFirmware",
        &[("CurrentPage", "1"), ("PageSize", "1")],
    );
    assert_eq!((a.status, a.code()), (400, "SignatureDoesNotMatch"));
    let msg = a.body["Message"].as_str().unwrap();
    let sts = msg.split_once("server string to sign is:").unwrap().1;
    assert!(
        sts.starts_with("POST&%2F&AccessKeyId%3Dtestid%26Action%3DListOTAFirmware"),
        "{sts}"
    );
    for field in ["RequestId", "HostId", "Recommend"] {
        assert!(a.body[field].is_string(), "{field} in {:?}", a.body);
    }

    let unknown = Client::with_key(&h, "ghost", "x");
    let a = unknown.call("ListOTAFirmware", &[]);
    assert_eq!((a.status, a.code()), (404, "InvalidAccessKeyId.NotFound"));

    // Missing parameters, by name.
    let a = c.call("QueryOTAFirmware", &[]);
    assert_eq!((a.status, a.code()), (400, "MissingParameter"));
    assert!(a.body["Message"]
        .as_str()
        .unwrap()
        .contains("\"FirmwareId\""));
    let a = c.call(
        "CreateOTAFirmware",
        &[("FirmwareName", "x"), ("DestVersion", "1"), ("Type", "one")],
    );
    assert_eq!((a.status, a.code()), (400, "InvalidParameter"), "{a:?}");
}

/// Sends a hand-built V2 request with the given Timestamp and nonce.
fn raw_v2(c: &Client, timestamp: &str, nonce: &str) -> (u16, Value) {
    let mut params: Vec<(String, String)> = [
        ("Action", "ListOTAFirmware"),
        ("Version", "2018-01-20"),
        ("Format", "JSON"),
        ("AccessKeyId", "testid"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", nonce),
        ("Timestamp", timestamp),
        ("CurrentPage", "1"),
        ("PageSize", "1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    // A GET this time, with the parameters in a form body: both are allowed.
    let sts = fwdelta_acs_sign::v2_string_to_sign("POST", &params);
    params.push((
        "Signature".into(),
        fwdelta_acs_sign::v2_signature(&c.secret, &sts),
    ));
    let body = params
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                fwdelta_acs_sign::percent_encode(k),
                fwdelta_acs_sign::percent_encode(v)
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let resp = ureq::post(&format!("{}/", c.base))
        .set("Content-Type", "application/x-www-form-urlencoded")
        .send_string(&body);
    let resp = match resp {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    (
        resp.status(),
        serde_json::from_reader(resp.into_reader()).unwrap(),
    )
}

#[test]
fn timestamps_and_nonces() {
    let dir = tempfile::tempdir().unwrap();
    let h = common::start(dir.path(), |c| c.rate_limits = no_limits());
    let c = Client::new(&h);
    let now = common::utc_now();
    let (s, b) = raw_v2(&c, &now, "nonce-1");
    assert_eq!(s, 200, "{b}");
    let (s, b) = raw_v2(&c, &now, "nonce-1");
    assert_eq!(
        (s, b["Code"].as_str().unwrap()),
        (400, "SignatureNonceUsed")
    );
    let (s, b) = raw_v2(&c, "2020-01-01T00:00:00Z", "nonce-2");
    assert_eq!(
        (s, b["Code"].as_str().unwrap()),
        (400, "InvalidTimeStamp.Expired")
    );
    let (s, b) = raw_v2(&c, "yesterday", "nonce-3");
    assert_eq!(
        (s, b["Code"].as_str().unwrap()),
        (400, "InvalidTimeStamp.Format")
    );
}

#[test]
fn oss_post_object_checks_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let h = common::start(dir.path(), |c| {
        c.rate_limits = no_limits();
        c.max_upload_bytes = 64;
    });
    let c = Client::new(&h);
    let d = c
        .call("GenerateOTAUploadURL", &[("FileSuffix", "tar.gz")])
        .body["Data"]
        .clone();
    let s = |k: &str| d[k].as_str().unwrap().to_string();
    let host = s("Host");
    let fields = |key: &str, sig: &str, status: &str| {
        vec![
            ("key".to_string(), key.to_string()),
            ("policy".to_string(), s("Policy")),
            ("OSSAccessKeyId".to_string(), s("OSSAccessKeyId")),
            ("signature".to_string(), sig.to_string()),
            ("success_action_status".to_string(), status.to_string()),
        ]
    };
    let post = |f: Vec<(String, String)>, content: &[u8]| {
        let f: Vec<(&str, &str)> = f.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let (status, body) = c.post_form(&host, &f, content);
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    let key = s("Key");
    assert!(key.ends_with(".tar.gz"));
    let (st, body) = post(fields(&key, &s("Signature"), "201"), b"small");
    assert_eq!(st, 201, "{body}");
    assert!(
        body.contains("<PostResponse>") && body.contains(&format!("<Key>{key}</Key>")),
        "{body}"
    );
    let (st, _) = post(fields(&key, &s("Signature"), ""), b"small");
    assert_eq!(st, 204);
    let (st, body) = post(fields(&key, &s("Signature"), "200"), &[0u8; 65]);
    assert_eq!(st, 400);
    assert!(body.contains("<Code>EntityTooLarge</Code>"), "{body}");
    let (st, body) = post(fields("elsewhere/x.bin", &s("Signature"), "200"), b"x");
    assert_eq!(st, 403);
    assert!(
        body.contains("<Code>AccessDenied</Code>") && body.contains("Invalid according to Policy"),
        "{body}"
    );
    let (st, body) = post(fields(&key, "AAAA", "200"), b"x");
    assert_eq!(st, 403);
    assert!(
        body.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{body}"
    );
    let mut partial = fields(&key, &s("Signature"), "200");
    partial.retain(|(k, _)| k != "policy");
    let (st, body) = post(partial, b"x");
    assert_eq!(st, 400);
    assert!(body.contains("<Code>InvalidArgument</Code>"), "{body}");
    let (st, body) = post(vec![("key".into(), key.clone())], b"x");
    assert_eq!(st, 403, "{body}");
    assert_eq!(h.stats().uploads, 2);
}

#[test]
fn expired_upload_policy_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let h = common::start(dir.path(), |c| {
        c.upload_policy_ttl = Duration::from_millis(200)
    });
    let c = Client::new(&h);
    let d = c.call("GenerateOTAUploadURL", &[]).body["Data"].clone();
    std::thread::sleep(Duration::from_millis(400));
    let s = |k: &str| d[k].as_str().unwrap();
    let (st, body) = c.post_form(
        s("Host"),
        &[
            ("key", s("Key")),
            ("policy", s("Policy")),
            ("OSSAccessKeyId", s("OSSAccessKeyId")),
            ("Signature", s("Signature")),
        ],
        b"late",
    );
    let body = String::from_utf8_lossy(&body);
    assert_eq!(st, 403, "{body}");
    assert!(body.contains("Policy expired"), "{body}");
}

#[test]
fn create_rules_and_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let h = common::start(dir.path(), |c| {
        c.rate_limits = no_limits();
        c.access_keys.push(fwdelta_ota_sandbox::AccessKey::new(
            "otherid",
            "othersecret",
        ));
    });
    let c = Client::new(&h);
    let content = b"sha256 please";
    let url = c.upload(content)["FirmwareUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let a = c.create(
        "fw-sha",
        &url,
        &[("SignMethod", "sha256"), ("NeedToVerify", "true")],
    );
    assert!(a.success(), "{a:?}");
    let id = a.body["Data"]["FirmwareId"].as_str().unwrap().to_string();
    let q = c.call("QueryOTAFirmware", &[("FirmwareId", &id)]);
    let info = &q.body["FirmwareInfo"];
    assert_eq!(info["SignMethod"], "SHA256");
    assert_eq!(info["FirmwareSign"], fwdelta_acs_sign::sha256_hex(content));
    assert_eq!(info["Status"], 0);
    assert_eq!(info["ModuleName"], "default");
    assert_eq!(info["Type"], 0);
    assert!(info.get("SrcVersion").is_none());
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        (
            "fw-1",
            &[("DestVersion", "1.0 beta")],
            "iot.ota.InvalidDestVersion",
        ),
        ("fw-2", &[("Type", "2")], "iot.ota.InvalidFirmwareType"),
        (
            "fw-3",
            &[("SignMethod", "CRC32")],
            "iot.ota.InvalidSignMethod",
        ),
        (
            "fw-4",
            &[("FirmwareSign", "xyz")],
            "iot.ota.InvalidFirmwareSign",
        ),
        (
            "fw-5",
            &[("FirmwareSize", "-1")],
            "iot.ota.InvalidFirmwareSize",
        ),
        (
            "fw-6",
            &[("FirmwareDesc", &"d".repeat(101))],
            "iot.ota.InvalidFirmwareDesc",
        ),
        (
            "fw-7",
            &[("ModuleName", "a b")],
            "iot.ota.InvalidModuleName",
        ),
        (
            "fw-8",
            &[("Type", "1"), ("SrcVersion", "1.0/0")],
            "iot.ota.InvalidSrcVersion",
        ),
        ("(bad)", &[], "iot.ota.InvalidFirmwareName"),
    ];
    for (name, extra, code) in cases {
        let a = c.create(name, &url, extra);
        assert_eq!((a.status, a.code()), (200, *code), "{name}: {a:?}");
        assert_eq!(a.body["Success"], false);
    }
    // 100 Chinese characters are 100 characters, not 300 bytes.
    let a = c.create("固件-测试", &url, &[("FirmwareDesc", &"中".repeat(100))]);
    assert!(a.success(), "{a:?}");
    // Multi-file packages.
    let url2 = c.upload(b"second file")["FirmwareUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let a = c.call(
        "CreateOTAFirmware",
        &[
            ("FirmwareName", "fw-multi"),
            ("DestVersion", "2.0"),
            ("MultiFiles.1.Name", "app"),
            ("MultiFiles.1.Url", &url),
            ("MultiFiles.2.Name", "cfg"),
            ("MultiFiles.2.Url", &url2),
        ],
    );
    assert!(a.success(), "{a:?}");
    let q = c.call(
        "QueryOTAFirmware",
        &[("FirmwareId", a.body["Data"]["FirmwareId"].as_str().unwrap())],
    );
    let files = q.body["FirmwareInfo"]["MultiFiles"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(files.len(), 2);
    assert_eq!(files[1]["FileMd5"], md5_hex(b"second file"));
    // An object of another account is not "uploaded here" for this one.
    let other = Client::with_key(&h, "otherid", "othersecret");
    let a = other.create("fw-theirs", &url, &[]);
    assert_eq!(a.code(), "iot.ota.InvalidFirmwareUrl", "{a:?}");
    // ...and its names and quota are its own.
    let own = other.upload(b"other account");
    let a = other.create("fw-sha", own["FirmwareUrl"].as_str().unwrap(), &[]);
    assert!(a.success(), "{a:?}");
}

#[test]
fn injected_faults() {
    let dir = tempfile::tempdir().unwrap();
    let h = common::start(dir.path(), |c| c.rate_limits = no_limits());
    let c = Client::new(&h);
    let list = [("CurrentPage", "1"), ("PageSize", "1")];
    h.push_faults([Fault::Http503, Fault::Http500, Fault::Throttle]);
    let a = c.call("ListOTAFirmware", &list);
    assert_eq!((a.status, a.code()), (503, "ServiceUnavailable"));
    let a = c.call("ListOTAFirmware", &list);
    assert_eq!((a.status, a.code()), (500, "InternalError"));
    let a = c.call("ListOTAFirmware", &list);
    assert_eq!((a.status, a.code()), (400, "Throttling.User"));
    assert!(c.call("ListOTAFirmware", &list).success());

    h.push_faults([Fault::Slow(Duration::from_millis(300))]);
    let t = Instant::now();
    assert!(c.call("ListOTAFirmware", &list).success());
    assert!(t.elapsed() >= Duration::from_millis(300));

    // A dropped connection: the client sees the socket close with no answer.
    h.push_faults([Fault::DropConnection]);
    let before = h.request_count();
    let query = c.signed_query("ListOTAFirmware", &list, "JSON");
    let mut s = TcpStream::connect(h.addr()).unwrap();
    write!(
        s,
        "POST /?{query} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(buf.is_empty(), "{}", String::from_utf8_lossy(&buf));
    assert_eq!(h.request_count(), before + 1);

    // A lost response: the create happened, the client never heard.
    let url = c.upload(b"lost response")["FirmwareUrl"]
        .as_str()
        .unwrap()
        .to_string();
    h.push_faults([Fault::DropResponse]);
    let query = c.signed_query(
        "CreateOTAFirmware",
        &[
            ("FirmwareName", "fw-lost"),
            ("DestVersion", "1.0"),
            ("FirmwareUrl", &url),
        ],
        "JSON",
    );
    let mut s = TcpStream::connect(h.addr()).unwrap();
    write!(
        s,
        "POST /?{query} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(buf.is_empty());
    let l = c.call(
        "ListOTAFirmware",
        &[("CurrentPage", "1"), ("PageSize", "10")],
    );
    assert_eq!(
        l.body["FirmwareInfo"]["SimpleFirmwareInfo"][0]["FirmwareName"],
        "fw-lost"
    );

    // Random shares, seeded: everything fails while http_503 = 1.
    h.set_faults(fwdelta_ota_sandbox::FaultConfig {
        http_503: 1.0,
        seed: Some(7),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(c.call("ListOTAFirmware", &list).status, 503);
    h.clear_faults();
    assert!(c.call("ListOTAFirmware", &list).success());
    assert!(h.stats().faults_injected >= 7);

    // The admin endpoint does the same over HTTP.
    let r = ureq::post(&format!("{}/_sandbox/faults", h.base_url()))
        .send_string(r#"{"next":["500"]}"#)
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(c.call("ListOTAFirmware", &list).status, 500);
    let stats = ureq::get(&format!("{}/_sandbox/stats", h.base_url()))
        .call()
        .unwrap()
        .into_reader();
    let stats: Value = serde_json::from_reader(stats).unwrap();
    assert!(stats["requests"].as_u64().unwrap() >= 10, "{stats}");
}

#[test]
fn v3_signatures() {
    use fwdelta_acs_sign as sign;
    let dir = tempfile::tempdir().unwrap();
    let h = common::start(dir.path(), |c| c.rate_limits = no_limits());
    let send = |secret: &str, tamper: bool| -> (u16, Value) {
        let query = vec![
            ("CurrentPage".to_string(), "1".to_string()),
            ("PageSize".to_string(), "2".to_string()),
        ];
        let host = h.endpoint();
        let nonce = format!("v3-{}", rand::random::<u64>());
        let headers = vec![
            ("host".to_string(), host.clone()),
            ("x-acs-action".to_string(), "ListOTAFirmware".to_string()),
            ("x-acs-version".to_string(), "2018-01-20".to_string()),
            ("x-acs-date".to_string(), common::utc_now()),
            ("x-acs-signature-nonce".to_string(), nonce),
            (
                "x-acs-content-sha256".to_string(),
                sign::EMPTY_PAYLOAD_SHA256.to_string(),
            ),
            ("accept".to_string(), "application/json".to_string()),
        ];
        let signed: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
        let canonical = sign::v3_canonical_request(
            "POST",
            "/",
            &query,
            &headers,
            &signed,
            sign::EMPTY_PAYLOAD_SHA256,
        );
        let sig = sign::v3_signature(secret, &sign::v3_string_to_sign(&canonical));
        let auth = sign::v3_authorization("testid", &signed, &sig);
        let page = if tamper { "3" } else { "2" };
        let mut req = ureq::post(&format!("http://{host}/?CurrentPage=1&PageSize={page}"));
        for (k, v) in headers.iter().filter(|(k, _)| k != "host") {
            req = req.set(k, v);
        }
        let resp = match req.set("Authorization", &auth).send_bytes(&[]) {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{e}"),
        };
        (
            resp.status(),
            serde_json::from_reader(resp.into_reader()).unwrap(),
        )
    };
    let (s, b) = send("testsecret", false);
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["PageSize"], 2);
    let (s, b) = send("testsecret", true);
    assert_eq!(
        (s, b["Code"].as_str().unwrap()),
        (400, "SignatureDoesNotMatch")
    );
    let (s, b) = send("wrong", false);
    assert_eq!(
        (s, b["Code"].as_str().unwrap()),
        (400, "SignatureDoesNotMatch")
    );
}

#[test]
fn malformed_http_never_hurts_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let h = common::start(dir.path(), |_| {});
    for junk in [
        &b"\x00\x01\x02garbage\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST / HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 10\r\n\r\n--b\r\nxx",
        b"GET /?A=%zz HTTP/1.1\r\n\r\n",
    ] {
        let mut s = TcpStream::connect(h.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(junk).unwrap();
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf);
        assert!(text.is_empty() || text.starts_with("HTTP/1.1 4") || text.starts_with("HTTP/1.1 5"), "{text}");
    }
    // Still serving.
    let c = Client::new(&h);
    assert!(c.call("GenerateOTAUploadURL", &[]).success());
}

#[test]
fn verification_flow() {
    let dir = tempfile::tempdir().unwrap();
    let h = common::start(dir.path(), |c| c.rate_limits = no_limits());
    let c = Client::new(&h);
    let url = c.upload(b"verify me")["FirmwareUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let a = c.create("fw-v", &url, &[("ProductKey", "pk1")]);
    let id = a.body["Data"]["FirmwareId"].as_str().unwrap().to_string();
    let status = |c: &Client| {
        c.call("QueryOTAFirmware", &[("FirmwareId", &id)]).body["FirmwareInfo"]["Status"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(status(&c), 0);
    let eleven: Vec<(String, String)> = (1..=11)
        .map(|i| (format!("TargetDeviceName.{i}"), format!("dev{i}")))
        .collect();
    let mut p: Vec<(&str, &str)> = vec![("FirmwareId", &id), ("ProductKey", "pk1")];
    p.extend(eleven.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let a = c.call("CreateOTAVerifyJob", &p);
    assert_eq!(a.code(), "iot.ota.InvalidVerifyJobParams", "{a:?}");
    let job = [
        ("FirmwareId", id.as_str()),
        ("ProductKey", "pk1"),
        ("TargetDeviceName.1", "dev1"),
        ("Tag.1.Key", "env"),
        ("Tag.1.Value", "test"),
    ];
    let a = c.call(
        "CreateOTAVerifyJob",
        &[("ProductKey", "other"), job[0], job[2]],
    );
    assert_eq!(a.code(), "iot.ota.InvalidVerifyJobParams", "{a:?}");
    let a = c.call("CreateOTAVerifyJob", &job);
    assert!(a.success(), "{a:?}");
    assert_eq!(status(&c), 2);
    let a = c.call("CreateOTAVerifyJob", &job);
    assert_eq!(a.code(), "iot.ota.VerifyJobNotAllowed", "{a:?}");
    assert!(h.finish_verification(&id, true).unwrap());
    assert_eq!(status(&c), 1);
    // The admin endpoint does the same.
    let r = ureq::post(&format!(
        "{}/_sandbox/verify?FirmwareId={id}&Result=failure",
        h.base_url()
    ))
    .call()
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(status(&c), 3);
    assert!(!h.finish_verification("nope", true).unwrap());
}

#[test]
fn get_requests_are_signed_with_get() {
    let dir = tempfile::tempdir().unwrap();
    let h = common::start(dir.path(), |_| {});
    let mut params: Vec<(String, String)> = [
        ("Action", "GenerateOTAUploadURL"),
        ("Version", "2018-01-20"),
        ("Format", "json"),
        ("AccessKeyId", "testid"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", "get-nonce-1"),
        ("Timestamp", &common::utc_now()),
        ("FileSuffix", "zip"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let sts = fwdelta_acs_sign::v2_string_to_sign("GET", &params);
    params.push((
        "Signature".into(),
        fwdelta_acs_sign::v2_signature("testsecret", &sts),
    ));
    let query = params
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                fwdelta_acs_sign::percent_encode(k),
                fwdelta_acs_sign::percent_encode(v)
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let r = ureq::get(&format!("{}/?{query}", h.base_url()))
        .call()
        .unwrap();
    assert_eq!(
        r.header("Content-Type"),
        Some("application/json;charset=utf-8")
    );
    let v: Value = serde_json::from_reader(r.into_reader()).unwrap();
    assert_eq!(v["Success"], true);
    assert!(v["Data"]["Key"].as_str().unwrap().ends_with(".zip"));
    // Any other method is refused by the gateway.
    let r = ureq::request("PUT", &format!("{}/?{query}", h.base_url())).call();
    assert!(matches!(r, Err(ureq::Error::Status(403, _))));
}
