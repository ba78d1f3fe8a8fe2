//! Response parsing: JSON and XML, successes and every kind of error.

use fwdelta_ota::{
    parse_oss_error, parse_response, CreatedFirmware, Document, FirmwarePage, Format, OtaError,
    QueriedFirmware, UploadUrl, MAX_RESPONSE_BYTES,
};

#[test]
fn create_json_success_doc_sample() {
    let body = br#"{"Data":{"FirmwareId":"s8SSHiKjpBfrM3BSN0z803****","UtcCreate":"2019-11-04T06:21:54.607Z"},
        "RequestId":"291438BA-6E10-4C4C-B761-243B9A0D324F","Success":true}"#;
    let c: CreatedFirmware = parse_response(Format::Json, 200, body).unwrap();
    assert_eq!(c.firmware_id, "s8SSHiKjpBfrM3BSN0z803****");
    assert_eq!(c.utc_create.as_deref(), Some("2019-11-04T06:21:54.607Z"));
    assert_eq!(
        c.request_id.as_deref(),
        Some("291438BA-6E10-4C4C-B761-243B9A0D324F")
    );
}

#[test]
fn create_xml_success_doc_sample() {
    let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<CreateOTAFirmwareResponse>
  <Data>
    <FirmwareId>s8SSHiKjpBfrM3BSN0z803****</FirmwareId>
    <UtcCreate>2019-11-04T06:21:54.607Z</UtcCreate>
  </Data>
  <RequestId>E4BD5A12-7C1D-4712-A7D5-B2432331165E</RequestId>
  <Success>true</Success>
</CreateOTAFirmwareResponse>"#;
    let c: CreatedFirmware = parse_response(Format::Xml, 200, body).unwrap();
    assert_eq!(c.firmware_id, "s8SSHiKjpBfrM3BSN0z803****");
    assert_eq!(
        c.request_id.as_deref(),
        Some("E4BD5A12-7C1D-4712-A7D5-B2432331165E")
    );
}

fn service(e: OtaError) -> fwdelta_ota::ServiceError {
    match e {
        OtaError::Service(s) => *s,
        other => panic!("expected a service error, got {other:?}"),
    }
}

#[test]
fn business_error_json_at_200() {
    let body = br#"{"RequestId":"R1","Success":false,"Code":"iot.ota.FirmwareNotFound",
        "ErrorMessage":"The specified firmware does not exist."}"#;
    let s = service(parse_response::<QueriedFirmware>(Format::Json, 200, body).unwrap_err());
    assert_eq!(s.code, "iot.ota.FirmwareNotFound");
    assert_eq!(s.message, "The specified firmware does not exist.");
    assert_eq!(s.request_id.as_deref(), Some("R1"));
    assert_eq!(s.http_status, 200);
    assert_eq!(s.action, "QueryOTAFirmware");
    assert!(!s.is_throttling() && !s.is_server_error());
    let text = s.to_string();
    assert!(
        text.contains("iot.ota.FirmwareNotFound") && text.contains("R1"),
        "{text}"
    );
}

#[test]
fn business_error_xml_at_200() {
    let body = b"<CreateOTAFirmwareResponse><RequestId>R2</RequestId><Success>false</Success>\
        <Code>iot.system.SystemException</Code><ErrorMessage>sys</ErrorMessage></CreateOTAFirmwareResponse>";
    let s = service(parse_response::<CreatedFirmware>(Format::Xml, 200, body).unwrap_err());
    assert_eq!(
        (s.code.as_str(), s.message.as_str()),
        ("iot.system.SystemException", "sys")
    );
    assert_eq!(s.request_id.as_deref(), Some("R2"));
}

#[test]
fn gateway_error_json_keeps_message_and_recommend() {
    let body = br#"{"RequestId":"R3","HostId":"iot.cn-shanghai.aliyuncs.com","Code":"SignatureDoesNotMatch",
        "Message":"Specified signature is not matched with our calculation. server string to sign is:POST&%2F&x",
        "Recommend":"https://api.aliyun.com/troubleshoot?q=SignatureDoesNotMatch"}"#;
    let s = service(parse_response::<CreatedFirmware>(Format::Json, 400, body).unwrap_err());
    assert_eq!(s.code, "SignatureDoesNotMatch");
    assert!(s.message.starts_with("Specified signature"));
    assert_eq!(s.host_id.as_deref(), Some("iot.cn-shanghai.aliyuncs.com"));
    assert!(s.recommend.is_some());
    assert_eq!(s.http_status, 400);
}

#[test]
fn gateway_error_xml() {
    let body = br#"<?xml version="1.0" encoding="UTF-8"?><Error><RequestId>R4</RequestId>
        <HostId>iot.cn-shanghai.aliyuncs.com</HostId><Code>Throttling.User</Code>
        <Message>Request was denied due to user flow control.</Message></Error>"#;
    // Asked for JSON, got XML: the body's own format wins.
    let e = parse_response::<UploadUrl>(Format::Json, 400, body).unwrap_err();
    assert!(e.is_transient() && e.is_throttling());
    let s = service(e);
    assert_eq!(s.code, "Throttling.User");
    assert_eq!(s.request_id.as_deref(), Some("R4"));
}

#[test]
fn server_errors_are_transient_whatever_the_body() {
    let e = parse_response::<Document>(Format::Json, 503, b"<html>busy</html").unwrap_err();
    assert!(matches!(e, OtaError::Http { status: 503, .. }), "{e:?}");
    assert!(e.is_transient() && !e.is_throttling());
    let e = parse_response::<Document>(
        Format::Json,
        500,
        br#"{"Code":"InternalError","Message":"x","RequestId":"R"}"#,
    )
    .unwrap_err();
    assert!(e.is_transient());
    let e = parse_response::<Document>(Format::Json, 404, b"not found").unwrap_err();
    assert!(matches!(e, OtaError::Http { status: 404, .. }) && !e.is_transient());
}

#[test]
fn malformed_success_answers() {
    for body in [
        &br#"{"Success":true}"#[..],         // no Data
        br#"{"Success":true,"Data":{}}"#,    // no FirmwareId
        br#"{"Success":"maybe","Data":{}}"#, // bad flag
        br#"{"RequestId":"x"}"#,             // no Success, no Code
        br#"[1,2]"#,
        b"{\"Success\":tru",
        b"",
        b"\xff\xfe",
    ] {
        let e = parse_response::<CreatedFirmware>(Format::Json, 200, body).unwrap_err();
        assert!(
            matches!(e, OtaError::MalformedResponse { .. }),
            "{e:?} for {body:?}"
        );
    }
    let big = vec![b' '; MAX_RESPONSE_BYTES + 1];
    assert!(matches!(
        parse_response::<Document>(Format::Json, 200, &big),
        Err(OtaError::ResponseTooLarge { .. })
    ));
}

#[test]
fn upload_url_json() {
    let body = br#"{"RequestId":"R","Success":true,"Data":{
        "Key":"ota/65dfcda0473be29836dfde585472****/ck2nfzljo00023g7kysg0****.bin",
        "Host":"https://iotx-ota.oss-cn-shanghai.aliyuncs.com","Policy":"eyJ4IjoxfQ==",
        "OSSAccessKeyId":"LTAI****","Signature":"sig=","ObjectStorage":"OSS",
        "UtcCreate":"2019-11-04T06:21:54.607Z",
        "FirmwareUrl":"https://iotx-ota.oss-cn-shanghai.aliyuncs.com/ota/65dfcda0473be29836dfde585472****/ck2nfzljo00023g7kysg0****.bin"}}"#;
    let u: UploadUrl = parse_response(Format::Json, 200, body).unwrap();
    assert_eq!(u.oss_access_key_id, "LTAI****");
    assert_eq!(u.firmware_url, format!("{}/{}", u.host, u.key));
    // Debug does not show the policy signature.
    assert!(!format!("{u:?}").contains("sig="));
    let bad = br#"{"Success":true,"Data":{"Key":"k","Host":"javascript:x","Policy":"p",
        "OSSAccessKeyId":"a","Signature":"s","FirmwareUrl":"https://h/k"}}"#;
    assert!(parse_response::<UploadUrl>(Format::Json, 200, bad).is_err());
}

#[test]
fn query_json_and_xml() {
    let json = br#"{"RequestId":"R","Success":true,"FirmwareInfo":{"FirmwareId":"F1",
        "FirmwareName":"n","Type":1,"SrcVersion":"1.0.0","DestVersion":"1.1.0",
        "FirmwareSign":"0cc175b9c0f1b6a831c399e269772661","SignMethod":"MD5","FirmwareSize":1234,
        "Status":0,"VerifyProgress":0,"ProductKey":"pk","MultiFiles":[]}}"#;
    let q: QueriedFirmware = parse_response(Format::Json, 200, json).unwrap();
    assert_eq!(q.firmware.type_, Some(1));
    assert_eq!(q.firmware.firmware_size, Some(1234));
    let xml = b"<QueryOTAFirmwareResponse><RequestId>R</RequestId><Success>true</Success>\
        <FirmwareInfo><FirmwareId>F1</FirmwareId><Type>1</Type><SrcVersion>1.0.0</SrcVersion>\
        <DestVersion>1.1.0</DestVersion><FirmwareSize>1234</FirmwareSize><Status>-1</Status>\
        </FirmwareInfo></QueryOTAFirmwareResponse>";
    let q2: QueriedFirmware = parse_response(Format::Xml, 200, xml).unwrap();
    assert_eq!(q2.firmware.type_, Some(1));
    assert_eq!(q2.firmware.status, Some(-1));
    assert_eq!(q2.firmware.src_version.as_deref(), Some("1.0.0"));
    let bad = br#"{"Success":true,"FirmwareInfo":{"FirmwareId":"F","FirmwareSize":-5}}"#;
    assert!(parse_response::<QueriedFirmware>(Format::Json, 200, bad).is_err());
}

#[test]
fn list_json_and_xml_one_and_many() {
    let json = br#"{"Success":true,"Total":2,"PageSize":100,"PageCount":1,"CurrentPage":1,
        "FirmwareInfo":{"SimpleFirmwareInfo":[{"FirmwareId":"A","FirmwareName":"a","SrcVersion":null},
        {"FirmwareId":"B","FirmwareName":"b","Type":1}]}}"#;
    let p: FirmwarePage = parse_response(Format::Json, 200, json).unwrap();
    assert_eq!(p.total, 2);
    assert_eq!(p.firmwares.len(), 2);
    assert_eq!(p.firmwares[0].src_version, None);
    let one =
        b"<ListOTAFirmwareResponse><Success>true</Success><Total>1</Total><PageCount>1</PageCount>\
        <FirmwareInfo><SimpleFirmwareInfo><FirmwareId>A</FirmwareId><FirmwareName>a</FirmwareName>\
        </SimpleFirmwareInfo></FirmwareInfo></ListOTAFirmwareResponse>";
    let p: FirmwarePage = parse_response(Format::Xml, 200, one).unwrap();
    assert_eq!(p.firmwares.len(), 1);
    assert_eq!(p.firmwares[0].firmware_name.as_deref(), Some("a"));
    let many = b"<ListOTAFirmwareResponse><Success>true</Success><Total>2</Total>\
        <FirmwareInfo><SimpleFirmwareInfo><FirmwareId>A</FirmwareId></SimpleFirmwareInfo>\
        <SimpleFirmwareInfo><FirmwareId>B</FirmwareId></SimpleFirmwareInfo></FirmwareInfo></ListOTAFirmwareResponse>";
    let p: FirmwarePage = parse_response(Format::Xml, 200, many).unwrap();
    assert_eq!(p.firmwares.len(), 2);
    let empty = b"<ListOTAFirmwareResponse><Success>true</Success><Total>0</Total><FirmwareInfo/></ListOTAFirmwareResponse>";
    let p: FirmwarePage = parse_response(Format::Xml, 200, empty).unwrap();
    assert!(p.firmwares.is_empty());
}

#[test]
fn oss_errors() {
    let body = br#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>
        <Message>Invalid according to Policy: Policy expired.</Message><RequestId>OSSR</RequestId>
        <HostId>iotx-ota.oss-cn-shanghai.aliyuncs.com</HostId></Error>"#;
    let e = parse_oss_error(403, body);
    assert!(
        matches!(&e, OtaError::Upload { code, request_id: Some(r), .. } if code == "AccessDenied" && r == "OSSR")
    );
    assert!(
        e.is_transient(),
        "an expired policy is fixed by a fresh one"
    );
    let e = parse_oss_error(
        400,
        b"<Error><Code>EntityTooLarge</Code><Message>m</Message></Error>",
    );
    assert!(!e.is_transient());
    assert!(matches!(
        parse_oss_error(502, b"bad gateway"),
        OtaError::Http { status: 502, .. }
    ));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn all_parsers(status: u16, body: &[u8]) {
        for f in [Format::Json, Format::Xml] {
            let _ = parse_response::<Document>(f, status, body);
            let _ = parse_response::<CreatedFirmware>(f, status, body);
            let _ = parse_response::<UploadUrl>(f, status, body);
            let _ = parse_response::<QueriedFirmware>(f, status, body);
            let _ = parse_response::<FirmwarePage>(f, status, body);
        }
        let _ = parse_oss_error(status, body);
    }

    proptest! {
        #[test]
        fn parsers_never_panic_on_bytes(status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..300)) {
            all_parsers(status, &body);
        }

        #[test]
        fn parsers_never_panic_on_near_valid_text(
            status in prop_oneof![Just(200u16), Just(400), Just(503)],
            body in r#"[<>{}\[\]":,/ a-zA-Z0-9&;!-]{0,200}"#,
        ) {
            all_parsers(status, body.as_bytes());
            let wrapped = format!("<R><Success>true</Success><Data>{body}</Data></R>");
            all_parsers(status, wrapped.as_bytes());
            let wrapped = format!(r#"{{"Success":true,"Data":{body}}}"#);
            all_parsers(status, wrapped.as_bytes());
        }
    }
}
