//! Writes the committed seed corpora, `seeds/<target>/*`: small, valid inputs in each
//! target's layout (real patches, records, answers and requests), so that a campaign starts
//! from the interesting parts of the input space. Deterministic; run from `fuzz/`:
//!
//! ```sh
//! cargo run --example seeds
//! ```
//!
//! Every seed is also run through its target before it is written.

use std::fs;
use std::path::Path;

use fwdelta_diff::{diff, DiffOptions};
use fwdelta_fuzz::input::{Input, Output};
use fwdelta_fuzz::targets;
use fwdelta_patch::{encode, EncodeOptions, Format};

/// A firmware-like source: code-ish bytes, a pointer table, erased flash.
fn image(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed;
    let mut v: Vec<u8> = (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        })
        .collect();
    for i in (0..n).step_by(64) {
        if i + 5 <= n {
            v[i] = 0xE8;
        }
    }
    let pad = n / 4;
    for b in &mut v[n - pad..] {
        *b = 0xFF;
    }
    v
}

fn edited(src: &[u8]) -> Vec<u8> {
    let mut d = src.to_vec();
    d.splice(40..40, b"new code".iter().copied());
    if d.len() > 200 {
        d[150] ^= 0x10;
        d[151] = d[151].wrapping_add(1);
    }
    d.truncate(d.len() - 3);
    d.extend_from_slice(&[0xFF; 7]);
    d
}

fn patch(f: Format, src: &[u8], dst: &[u8], grouping: bool) -> Vec<u8> {
    patch_with(f, src, dst, grouping, true)
}

fn patch_with(f: Format, src: &[u8], dst: &[u8], grouping: bool, zero_runs: bool) -> Vec<u8> {
    let controls = diff(src, dst, &DiffOptions::default()).expect("diff");
    let mut eo = EncodeOptions::default();
    eo.zero_runs = zero_runs;
    eo.zstd_level = 3;
    eo.window_log = 16;
    eo.block_size = 4096;
    eo.context_grouping = grouping;
    eo.bzip2_level = 1;
    let mut p = Vec::new();
    encode(f, src, dst, &controls, &eo, &mut p).expect("encode");
    p
}

struct Writer<'a> {
    root: &'a Path,
    count: usize,
}

impl Writer<'_> {
    fn put(&mut self, target: &str, name: &str, data: &[u8]) {
        assert!(targets::run(target, data), "unknown target {target}");
        let dir = self.root.join(target);
        fs::create_dir_all(&dir).expect("mkdir");
        fs::write(dir.join(name), data).expect("write seed");
        self.count += 1;
    }
}

fn apply_input(mode: u8, src: &[u8], rest: &[u8]) -> Vec<u8> {
    Output::new()
        .u8(mode)
        .u8(0)
        .u16(0)
        .u16(src.len() as u16)
        .bytes(src)
        .bytes(rest)
        .finish()
}

fn main() {
    let root = Path::new("seeds");
    if root.exists() {
        fs::remove_dir_all(root).expect("clear seeds/");
    }
    let mut w = Writer { root, count: 0 };

    let small = image(300, 1);
    let small2 = edited(&small);
    let big = image(9000, 2);
    let mut big2 = big.clone();
    // Shift the code by 3 bytes and bump every call displacement: grouped adds pay off.
    big2.splice(100..100, [1, 2, 3]);
    for i in 0..big2.len().saturating_sub(5) {
        if big2[i] == 0xE8 {
            big2[i + 1] = big2[i + 1].wrapping_add(3);
        }
    }

    // apply_fwdelta: real v1 patches, as is and in the header-fixing mode; structured ones.
    let v1_small = patch(Format::Fwdelta, &small, &small2, true);
    let v1_big = patch(Format::Fwdelta, &big, &big2, true);
    let v1_empty = patch(Format::Fwdelta, &small, &[], true);
    w.put(
        "apply_fwdelta",
        "v1-small",
        &apply_input(0, &small, &v1_small),
    );
    w.put(
        "apply_fwdelta",
        "v1-small-fixup",
        &apply_input(1, &small, &v1_small),
    );
    let v1_plain = patch_with(Format::Fwdelta, &big, &big2, true, false);
    w.put(
        "apply_fwdelta",
        "v1-three-streams-fixup",
        &apply_input(1, &big, &v1_plain),
    );
    w.put(
        "apply_fwdelta",
        "v1-grouped-fixup",
        &apply_input(1, &big, &v1_big),
    );
    w.put(
        "apply_fwdelta",
        "v1-empty-dst",
        &apply_input(1, &small, &v1_empty),
    );
    // Structured: 1 block, order plain, two controls (copy 16 with a delta, 4 literals;
    // then 8 more after a seek of -4), then the same with grouped adds.
    // The same again with a zero-run body (block byte bit 2, then an `rflags` byte).
    for (order, zero_runs) in [(0u8, false), (1, false), (0, true), (1, true)] {
        let mut o = Output::new();
        o.u8(2).u8(0).u16(0).u16(small.len() as u16).bytes(&small);
        // hflags, window 10, block 4096 (bit 2: zero runs), one block
        o.u8(0).u8(0).u8(if zero_runs { 4 } else { 0 }).u8(1);
        o.u8(order).u8(2);
        o.u8(0x40).u8(16).u8(4).u8(0xFC);
        o.u8(0x40).u8(8).u8(0).u8(0);
        o.bytes(&[0; 20]).bytes(&[7; 4]).bytes(b"tail");
        if zero_runs {
            o.u8(0);
        }
        let name = match (order, zero_runs) {
            (0, false) => "structured-plain",
            (_, false) => "structured-grouped",
            (0, true) => "structured-zero-runs",
            _ => "structured-grouped-zero-runs",
        };
        w.put("apply_fwdelta", name, &o.finish());
    }

    // apply_bsdiff40: a real BSDIFF40 patch, a raw stream, structured forms.
    let bs = patch(Format::Bsdiff40, &small, &small2, false);
    let raw = patch(Format::Raw, &small, &small2, false);
    w.put(
        "apply_bsdiff40",
        "bsdiff40-small",
        &apply_input(0, &small, &bs),
    );
    w.put("apply_bsdiff40", "raw-small", &apply_input(1, &small, &raw));
    {
        let mut o = Output::new();
        o.u8(2).u8(0).u16(0).u16(small.len() as u16).bytes(&small);
        o.u8(2).u8(0); // two records, no flags
        o.u8(0x08).u8(10).u8(3); // add 10, extra 3, seek 0
        o.u8(0x00).u8(5).u8(0).u8(2); // add 5, extra 0, seek +2
        o.bytes(&[1; 15]).bytes(b"xyz");
        w.put("apply_bsdiff40", "structured-bsdiff40", &o.finish());
        let mut o = Output::new();
        o.u8(3).u8(0).u16(0).u16(small.len() as u16).bytes(&small);
        o.u8(2);
        o.u8(0x08).u8(10).u8(3).bytes(&[0; 13]);
        o.u8(0x00).u8(5).u8(0).u8(2).bytes(&[9; 5]);
        w.put("apply_bsdiff40", "structured-raw", &o.finish());
    }

    // patch_info.
    w.put("patch_info", "v1", &[&[0u8][..], &v1_small].concat());
    w.put("patch_info", "v1-fixup", &[&[1u8][..], &v1_big].concat());
    w.put("patch_info", "bsdiff40", &[&[0u8][..], &bs].concat());
    w.put("patch_info", "raw", &[&[0u8][..], &raw].concat());

    // roundtrip: pairs split from one buffer; a script-mode input.
    for (i, (opts, a, b)) in [
        (0u8, &small[..], &small2[..]),
        (3, &small[..], &small2[..]),
        (0x80 | 0x20, &big[..], &big2[..]),
        (1, &b"hello world"[..], &b"hello, world!"[..]),
    ]
    .into_iter()
    .enumerate()
    {
        let mut o = Output::new();
        o.u8(opts).u8(1).u16(a.len() as u16).bytes(a).bytes(b);
        w.put("roundtrip", &format!("pair-{i}"), &o.finish());
    }
    {
        let mut o = Output::new();
        o.u8(4 | 3).u8(0).u16(0);
        o.u16(32).u16(24).bytes(&[5; 32]).bytes(&[6; 24]);
        o.u8(0x40).u8(10).u8(4).u8(2); // add 10, extra 4, seek +2
        o.u8(0x40).u8(6).u8(4).u8(0);
        w.put("roundtrip", "script", &o.finish());
    }

    // roundtrip_firmware: generator bytes.
    for (i, opts) in [0u8, 3, 4, 0x18 | 0x20].into_iter().enumerate() {
        let g: Vec<u8> = image(700 + 300 * i, 10 + i as u32);
        w.put(
            "roundtrip_firmware",
            &format!("gen-{i}"),
            &[&[opts][..], &g].concat(),
        );
    }

    // sufsort.
    w.put("sufsort", "banana", b"\x00\x01\x02\x03\x04banana");
    w.put(
        "sufsort",
        "runs",
        &[&[3u8, 9, 9, 9, 9][..], &[0xF0, 0xF1, 0x12, 0xF0, 0x33]].concat(),
    );
    w.put(
        "sufsort",
        "binary",
        &[&[1u8 | 4, 1, 2, 3, 4][..], &image(200, 5)].concat(),
    );
    w.put(
        "sufsort",
        "bytes",
        &[&[0u8, 0, 0, 0, 0][..], &image(1500, 6)].concat(),
    );

    // record_json: the documented example, a failed verification, a BSDIFF40 one.
    let rec = |verdict: &str, rebuilt: &str, fmt: &str| {
        format!(
            r#"{{"schema_version":1,"tool":{{"name":"fwdelta","version":"0.1.0"}},"created_utc":"2026-11-27T12:00:00Z","source":{{"path":"v1.bin","size":10,"md5":"00112233445566778899aabbccddeeff"}},"destination":{{"path":null,"size":12,"md5":"00112233445566778899aabbccddeef0"}},"patch":{{"path":"v1-v2.fwd","size":5,"md5":"0123456789abcdef0123456789abcdef","format":"{fmt}","params":{{"zstd_level":19,"window_log":23}}}},"ratio":0.41666,"timings":{{"diff":0.5,"verify":1e-3}},"verification":{{"verdict":"{verdict}",{rebuilt}}},"warnings":["big"],"ota":{{"Type":1,"FirmwareSign":"0123456789ABCDEF0123456789abcdef","FirmwareSize":5,"SignMethod":"MD5","SrcVersion":"1.0.0","DestVersion":"1.1.0"}}}}"#
        )
    };
    w.put(
        "record_json",
        "pass",
        rec(
            "pass",
            r#""rebuilt_size":12,"rebuilt_md5":"00112233445566778899aabbccddeef0""#,
            "fwdelta-v1",
        )
        .as_bytes(),
    );
    w.put(
        "record_json",
        "fail",
        rec(
            "fail",
            r#""rebuilt_size":11,"rebuilt_md5":null,"reason":"MD5 differs""#,
            "bsdiff40",
        )
        .as_bytes(),
    );
    w.put(
        "record_json",
        "skipped",
        rec(
            "skipped",
            r#""rebuilt_size":null,"rebuilt_md5":null"#,
            "raw",
        )
        .as_bytes(),
    );

    // ota_response: answers of every action in both formats, errors, generator seeds.
    let answers: [(u8, u16, &str); 10] = [
        (
            1,
            200,
            r#"{"RequestId":"r1","Success":true,"Data":{"Key":"ota/a/b.bin","Host":"https://iotx-ota.oss-cn-shanghai.aliyuncs.com","Policy":"eyJ9","OSSAccessKeyId":"LTAI","Signature":"c2ln","ObjectStorage":"OSS","UtcCreate":"2026-01-01T00:00:00.000Z","FirmwareUrl":"https://iotx-ota.oss-cn-shanghai.aliyuncs.com/ota/a/b.bin"}}"#,
        ),
        (
            1 | 8,
            200,
            r#"<?xml version="1.0" encoding="UTF-8"?><GenerateOTAUploadURLResponse><RequestId>r1</RequestId><Success>true</Success><Data><Key>ota/a/b.bin</Key><Host>https://h.example</Host><Policy>eyJ9</Policy><OSSAccessKeyId>LTAI</OSSAccessKeyId><Signature>c2ln</Signature><FirmwareUrl>https://h.example/ota/a/b.bin</FirmwareUrl></Data></GenerateOTAUploadURLResponse>"#,
        ),
        (
            2,
            200,
            r#"{"RequestId":"r2","Success":true,"Data":{"FirmwareId":"fw-123","UtcCreate":"2026-01-01T00:00:00.000Z"}}"#,
        ),
        (
            3,
            200,
            r#"{"RequestId":"r3","Success":true,"FirmwareInfo":{"FirmwareId":"fw-123","FirmwareName":"n","Type":1,"FirmwareSize":"1234","Status":-1,"VerifyProgress":100,"SrcVersion":"1.0","DestVersion":"1.1"}}"#,
        ),
        (
            4,
            200,
            r#"{"RequestId":"r4","Success":true,"Total":2,"PageSize":10,"PageCount":1,"CurrentPage":1,"FirmwareInfo":{"SimpleFirmwareInfo":[{"FirmwareId":"a","Type":1},{"FirmwareId":"b","FirmwareSize":5}]}}"#,
        ),
        (
            4 | 8,
            200,
            r#"<R><RequestId>r4</RequestId><Success>true</Success><Total>1</Total><FirmwareInfo><SimpleFirmwareInfo><FirmwareId>a</FirmwareId><Type>1</Type></SimpleFirmwareInfo></FirmwareInfo></R>"#,
        ),
        (
            2,
            400,
            r#"{"RequestId":"r5","Success":false,"Code":"iot.ota.FirmwareNameExisted","ErrorMessage":"exists"}"#,
        ),
        (
            0,
            503,
            r#"{"RequestId":"r6","Code":"Throttling.User","Message":"slow down","HostId":"h","Recommend":"https://r"}"#,
        ),
        (
            5,
            403,
            r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Policy expired.</Message><RequestId>r7</RequestId><HostId>h</HostId></Error>"#,
        ),
        (0, 502, "<html>Bad gateway</html>"),
    ];
    for (i, (sel, status, body)) in answers.into_iter().enumerate() {
        let mut o = Output::new();
        o.u8(sel).u16(status - 100).bytes(body.as_bytes());
        w.put("ota_response", &format!("answer-{i}"), &o.finish());
    }
    for (i, g) in [
        &[0xC0u8, 0, 0, 0xFF, 0xFF, 0, 0][..],
        &[0xC0, 0, 0, 0x83, 0x01, 0, 0, 0x80, 0, 0xFF, 0xFF, 0x0F, 0][..],
        &[
            0xE0, 0, 0, 0x00, 0x01, 0, 0, 0x01, 0x02, 0xFF, 0xFF, 0x03, 0, 0x80, 0x00,
        ][..],
    ]
    .into_iter()
    .enumerate()
    {
        w.put("ota_response", &format!("generated-{i}"), g);
    }

    // sandbox_request: requests as a client sends them; round-trip seeds.
    let policy = "eyJleHBpcmF0aW9uIjoiMjAzMC0wMS0wMVQwMDowMDowMC4wMDBaIiwiY29uZGl0aW9ucyI6W1siY29udGVudC1sZW5ndGgtcmFuZ2UiLDAsMTA0ODU3NjAwXSx7ImJ1Y2tldCI6ImlvdHgtb3RhIn0sWyJzdGFydHMtd2l0aCIsIiRrZXkiLCJvdGEvIl1dfQ==";
    let form = format!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nota/a.bin\r\n--XyZ\r\nContent-Disposition: form-data; name=\"OSSAccessKeyId\"\r\n\r\nLTAI\r\n--XyZ\r\nContent-Disposition: form-data; name=\"policy\"\r\n\r\n{policy}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"Signature\"\r\n\r\nc2ln\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\nFIRMWARE\x00\x7f\r\n--XyZ--\r\n"
    );
    let requests = [
        "GET /?Action=QueryOTAFirmware&FirmwareId=fw%2D1&Format=JSON&Version=2018-01-20&SignatureMethod=HMAC-SHA1&Signature=abc%3D HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_string(),
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 27\r\n\r\nAction=ListOTAFirmware&a=b+c".to_string(),
        format!("POST / HTTP/1.1\r\nHost: h\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n{form}", form.len()),
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n5\r\nA=b&c\r\n3;ext=1\r\n=d&\r\n0\r\nTrailer: x\r\n\r\nGET /ota/a.bin HTTP/1.0\r\nRange: bytes=2-5\r\n\r\n".to_string(),
        "GET /_sandbox/stats HTTP/1.1\r\nAuthorization: ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host;x-acs-date,Signature=abcd\r\nConnection: close\r\n\r\n".to_string(),
    ];
    for (i, r) in requests.iter().enumerate() {
        w.put(
            "sandbox_request",
            &format!("http-{i}"),
            &[&[0x04u8 * (i as u8 % 8)][..], r.as_bytes()].concat(),
        );
    }
    w.put(
        "sandbox_request",
        "params-query",
        &[
            1u8, 2, 3, b'a', b'b', b'c', 2, b'x', b'y', 1, b'&', 3, b'=', b' ', b'%',
        ][..],
    );
    w.put(
        "sandbox_request",
        "params-form",
        &[0x1D, 1, 3, b'k', b'e', b'y', 4, b'v', 0xC3, 0xA9, b'+'][..],
    );
    {
        let mut o = Output::new();
        o.u8(2).u8(3).bytes(b"abcd");
        o.u8(2)
            .u8(2)
            .bytes(b"ke")
            .chunk(b"value\r\n--not")
            .u8(1)
            .bytes(b"y")
            .chunk(b"\x00\x01");
        o.u8(1).u8(3).bytes(b"a\"b").chunk(b"content\r\n");
        w.put("sandbox_request", "multipart", &o.finish());
    }

    let _ = Input::new(&[]);
    println!("wrote {} seeds under {}", w.count, root.display());
}
