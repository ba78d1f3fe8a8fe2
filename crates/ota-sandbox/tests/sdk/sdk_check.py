"""Drives the fwdelta OTA sandbox with Alibaba Cloud's official Python SDKs.

Usage: sdk_check.py ENDPOINT ACCESS_KEY_ID ACCESS_KEY_SECRET
  ENDPOINT is host:port of a sandbox started with the default package quota (500)
  and a rate limit high enough for 500 creates in a few seconds.

Required: aliyun-python-sdk-core, aliyun-python-sdk-iot (the old "core" SDK, V2
signatures). Optional: alibabacloud-iot20180120 (the Tea SDK): when it is
importable, the V3 (ACS3-HMAC-SHA256) checks run too; otherwise they are reported
as skipped.

Every check prints one line; the last line is "N passed, M failed". The exit status
is 0 only if nothing failed.
"""

import hashlib
import json
import os
import sys
import traceback
import xml.etree.ElementTree as ET

# Loopback must never go through a proxy.
for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(var, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

try:
    import requests  # noqa: E402
except ImportError:  # aliyun-python-sdk-core ships its own copy
    from aliyunsdkcore.vendored import requests  # noqa: E402
from aliyunsdkcore.acs_exception.exceptions import ServerException  # noqa: E402
from aliyunsdkcore.client import AcsClient  # noqa: E402
from aliyunsdkiot.request.v20180120 import (  # noqa: E402
    CreateOTAFirmwareRequest,
    CreateOTAVerifyJobRequest,
    DeleteOTAFirmwareRequest,
    GenerateOTAUploadURLRequest,
    ListOTAFirmwareRequest,
    QueryOTAFirmwareRequest,
)

ENDPOINT, AK, SK = sys.argv[1], sys.argv[2], sys.argv[3]
HOST, PORT = ENDPOINT.rsplit(":", 1)
PORT = int(PORT)
QUOTA = 500

RESULTS = {"passed": 0, "failed": 0, "skipped": 0}


class Skip(Exception):
    """A check that cannot run here (an optional package is missing)."""
SESSION = requests.Session()
SESSION.trust_env = False  # no proxies, no netrc


def check(name, fn):
    try:
        fn()
    except Skip as why:
        RESULTS["skipped"] += 1
        print("skip", name, "-", why)
        return False
    except Exception:  # noqa: BLE001  (report every failure, keep going)
        RESULTS["failed"] += 1
        print("FAIL", name)
        traceback.print_exc()
        return False
    RESULTS["passed"] += 1
    print("ok  ", name)
    return True


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def client(secret=SK):
        return AcsClient(AK, secret, "cn-shanghai", port=PORT, timeout=30, connect_timeout=10)


CLIENT = client()


def call(req, acs=None):
    req.set_endpoint(HOST)
    req.set_protocol_type("http")
    body = (acs or CLIENT).do_action_with_exception(req)
    return json.loads(body)


def admin(path, payload=None):
    r = SESSION.post("http://%s/_sandbox/%s" % (ENDPOINT, path), data=json.dumps(payload or {}))
    r.raise_for_status()


def upload(content, suffix="bin"):
    """GenerateOTAUploadURL, then the PostObject form in the documented order."""
    req = GenerateOTAUploadURLRequest.GenerateOTAUploadURLRequest()
    req.set_FileSuffix(suffix)
    out = call(req)
    expect(out["Success"] is True, out)
    d = out["Data"]
    for field in ("Key", "Host", "Policy", "OSSAccessKeyId", "Signature", "FirmwareUrl", "UtcCreate"):
        expect(d.get(field), "missing Data.%s in %s" % (field, out))
    expect(d["ObjectStorage"] == "OSS", d)
    expect(d["FirmwareUrl"] == d["Host"] + "/" + d["Key"], d)
    expect(d["Key"].endswith("." + suffix), d)
    form = [
        ("key", (None, d["Key"])),
        ("policy", (None, d["Policy"])),
        ("OSSAccessKeyId", (None, d["OSSAccessKeyId"])),
        ("signature", (None, d["Signature"])),
        ("success_action_status", (None, "200")),
        ("file", ("diff.bin", content, "application/octet-stream")),
    ]
    r = SESSION.post(d["Host"], files=form)
    expect(r.status_code == 200, "upload answered %s: %s" % (r.status_code, r.text))
    expect(r.headers.get("ETag", "").strip('"').lower() == hashlib.md5(content).hexdigest(), r.headers)
    return d


def create(name, url, **kw):
    req = CreateOTAFirmwareRequest.CreateOTAFirmwareRequest()
    req.set_FirmwareName(name)
    req.set_DestVersion(kw.pop("dest", "1.1.0"))
    if url is not None:
        req.set_FirmwareUrl(url)
    for k, v in kw.items():
        getattr(req, "set_" + k)(v)
    return call(req)


CONTENT = bytes((i * 7 + 3) % 256 for i in range(70_000))
STATE = {}


def t_upload():
    STATE["upload"] = upload(CONTENT)


def t_create_type1():
    out = create(
        "fw-diff_1_0_0-to-1_1_0(sdk)",
        STATE["upload"]["FirmwareUrl"],
        SrcVersion="1.0.0",
        Type=1,
        ProductKey="a1BcDeFgHiJ",
        FirmwareDesc="delta 1.0.0->1.1.0 a*b~c d/e+f",
        NeedToVerify=False,
        SignMethod="MD5",
    )
    expect(out["Success"] is True, out)
    expect(len(out["Data"]["FirmwareId"]) > 0, out)
    utc = out["Data"]["UtcCreate"]
    expect(len(utc) == 24 and utc.endswith("Z") and utc[19] == ".", utc)
    STATE["id"] = out["Data"]["FirmwareId"]


def t_query():
    req = QueryOTAFirmwareRequest.QueryOTAFirmwareRequest()
    req.set_FirmwareId(STATE["id"])
    out = call(req)
    expect(out["Success"] is True, out)
    info = out["FirmwareInfo"]
    expect(info["FirmwareId"] == STATE["id"], info)
    expect(info["FirmwareName"] == "fw-diff_1_0_0-to-1_1_0(sdk)", info)
    expect(info["Type"] == 1, info)
    expect(info["SrcVersion"] == "1.0.0" and info["DestVersion"] == "1.1.0", info)
    # FirmwareSign and FirmwareSize were omitted: the stored object's MD5 and size.
    expect(info["FirmwareSign"] == hashlib.md5(CONTENT).hexdigest(), info)
    expect(info["FirmwareSize"] == len(CONTENT), info)
    expect(info["SignMethod"] == "MD5", info)
    expect(info["Status"] == -1, info)  # NeedToVerify=False
    expect(info["FirmwareDesc"] == "delta 1.0.0->1.1.0 a*b~c d/e+f", info)
    STATE["download_url"] = info["FirmwareUrl"]


def t_download():
    url = STATE["download_url"]
    expect("Expires=" in url and "Signature=" in url, url)
    r = SESSION.get(url)
    expect(r.status_code == 200, (r.status_code, r.text))
    expect(r.content == CONTENT, "downloaded content differs")
    r = SESSION.get(url, headers={"Range": "bytes=10-19"})
    expect(r.status_code == 206 and r.content == CONTENT[10:20], (r.status_code, r.headers))
    # Without the signature the private bucket refuses.
    r = SESSION.get(url.split("?")[0])
    expect(r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text, (r.status_code, r.text))


def t_list():
    req = ListOTAFirmwareRequest.ListOTAFirmwareRequest()
    req.set_CurrentPage(1)
    req.set_PageSize(10)
    out = call(req)
    expect(out["Success"] is True, out)
    items = out["FirmwareInfo"]["SimpleFirmwareInfo"]
    expect(any(i["FirmwareId"] == STATE["id"] for i in items), out)
    expect(out["Total"] >= 1 and out["CurrentPage"] == 1 and out["PageSize"] == 10, out)
    req = ListOTAFirmwareRequest.ListOTAFirmwareRequest()
    req.set_CurrentPage(1)
    req.set_PageSize(101)
    out = call(req)
    expect(out["Success"] is False and out["Code"] == "iot.common.InvalidPageParams", out)


def t_wrong_secret():
    # The core SDK turns a 400 SignatureDoesNotMatch whose "server string to sign"
    # equals its own into InvalidAccessKeySecret: seeing that code proves both the
    # error and the server's string to sign.
    req = QueryOTAFirmwareRequest.QueryOTAFirmwareRequest()
    req.set_FirmwareId(STATE["id"])
    try:
        call(req, client("not-the-secret"))
    except ServerException as e:
        expect(e.get_http_status() == 400, e)
        expect(e.get_error_code() == "InvalidAccessKeySecret", e)
    else:
        raise AssertionError("a wrong secret was accepted")
    # The raw answer, for a request signed by the SDK's own signer.
    req = QueryOTAFirmwareRequest.QueryOTAFirmwareRequest()
    req.set_FirmwareId(STATE["id"])
    req.set_accept_format("JSON")
    url = req.get_url("cn-shanghai", AK, "not-the-secret")
    r = SESSION.post("http://%s%s" % (ENDPOINT, url))
    body = r.json()
    expect(r.status_code == 400 and body["Code"] == "SignatureDoesNotMatch", (r.status_code, body))
    expect(body["Message"].split("server string to sign is:", 1)[1] == req.string_to_sign, body)
    for field in ("RequestId", "HostId", "Recommend"):
        expect(field in body, body)


def t_unknown_key():
    acs = AcsClient("no-such-key", SK, "cn-shanghai", port=PORT)
    req = QueryOTAFirmwareRequest.QueryOTAFirmwareRequest()
    req.set_FirmwareId(STATE["id"])
    try:
        call(req, acs)
    except ServerException as e:
        expect(e.get_error_code() == "InvalidAccessKeyId.NotFound", e)
        expect(e.get_http_status() == 404, e)
    else:
        raise AssertionError("an unknown key was accepted")


def t_bad_name():
    out = create("bad name!", STATE["upload"]["FirmwareUrl"])
    expect(out["Success"] is False and out["Code"] == "iot.ota.InvalidFirmwareName", out)
    expect(out.get("ErrorMessage") and out.get("RequestId"), out)
    out = create("x" * 41, STATE["upload"]["FirmwareUrl"])
    expect(out["Success"] is False and out["Code"] == "iot.ota.InvalidFirmwareName", out)


def t_type1_without_src():
    out = create("fw-no-src", STATE["upload"]["FirmwareUrl"], Type=1)
    expect(out["Success"] is False and out["Code"] == "iot.ota.SrcVersionRequired", out)
    out = create("fw-same", STATE["upload"]["FirmwareUrl"], Type=1, SrcVersion="1.1.0")
    expect(out["Success"] is False and out["Code"] == "iot.ota.SrcVersionEqualsDestVersion", out)


def t_duplicate_name():
    out = create("fw-diff_1_0_0-to-1_1_0(sdk)", STATE["upload"]["FirmwareUrl"])
    expect(out["Success"] is False and out["Code"] == "iot.ota.FirmwareNameExisted", out)


def t_unknown_url():
    url = STATE["upload"]["Host"] + "/" + STATE["upload"]["Key"] + ".missing"
    out = create("fw-missing-object", url)
    expect(out["Success"] is False and out["Code"] == "iot.ota.InvalidFirmwareUrl", out)


def t_missing_parameter():
    req = CreateOTAFirmwareRequest.CreateOTAFirmwareRequest()
    req.set_FirmwareName("fw-no-dest")
    req.set_FirmwareUrl(STATE["upload"]["FirmwareUrl"])
    try:
        call(req)
    except ServerException as e:
        expect(e.get_error_code() == "MissingParameter" and e.get_http_status() == 400, e)
        expect('"DestVersion"' in e.get_error_msg(), e)
    else:
        raise AssertionError("a create without DestVersion was accepted")


def t_verify_job_and_delete():
    out = create("fw-verify", STATE["upload"]["FirmwareUrl"], ProductKey="a1BcDeFgHiJ")
    expect(out["Success"] is True, out)
    fid = out["Data"]["FirmwareId"]
    req = CreateOTAVerifyJobRequest.CreateOTAVerifyJobRequest()
    req.set_FirmwareId(fid)
    req.set_ProductKey("a1BcDeFgHiJ")
    req.set_TargetDeviceNames(["dev-1", "dev-2"])
    req.set_TimeoutInMinutes(60)
    out = call(req)
    expect(out["Success"] is True and out["Data"]["JobId"], out)
    q = QueryOTAFirmwareRequest.QueryOTAFirmwareRequest()
    q.set_FirmwareId(fid)
    expect(call(q)["FirmwareInfo"]["Status"] == 2, "status after the verify job")
    d = DeleteOTAFirmwareRequest.DeleteOTAFirmwareRequest()
    d.set_FirmwareId(fid)
    out = call(d)
    expect(out["Success"] is True, out)
    out = call(q)
    expect(out["Success"] is False and out["Code"] == "iot.ota.FirmwareNotFound", out)
    expect(out["ErrorMessage"] == "The specified firmware does not exist.", out)


def t_xml():
    req = QueryOTAFirmwareRequest.QueryOTAFirmwareRequest()
    req.set_FirmwareId(STATE["id"])
    req.set_accept_format("XML")
    url = req.get_url("cn-shanghai", AK, SK)
    r = SESSION.post("http://%s%s" % (ENDPOINT, url))
    expect(r.status_code == 200, r.text)
    root = ET.fromstring(r.content)
    expect(root.tag == "QueryOTAFirmwareResponse", root.tag)
    expect(root.findtext("Success") == "true", r.text)
    expect(root.findtext("FirmwareInfo/FirmwareId") == STATE["id"], r.text)


def t_faults():
    # Injected faults surface as the SDK reports real ones. The core SDK does not retry
    # Iot calls (no Iot API is in its retry configuration), so a 503 reaches the caller.
    req = QueryOTAFirmwareRequest.QueryOTAFirmwareRequest()
    req.set_FirmwareId(STATE["id"])
    for fault, code, status in (("throttle", "Throttling.User", 400),
                                ("503", "ServiceUnavailable", 503),
                                ("500", "InternalError", 500)):
        admin("faults", {"next": [fault]})
        try:
            call(req)
        except ServerException as e:
            expect(e.get_error_code() == code and e.get_http_status() == status, e)
        else:
            raise AssertionError("the injected %s did not surface" % fault)
    out = call(req)
    expect(out["Success"] is True, out)
    admin("faults/clear")


def t_quota():
    url = STATE["upload"]["FirmwareUrl"]
    req = ListOTAFirmwareRequest.ListOTAFirmwareRequest()
    req.set_CurrentPage(1)
    req.set_PageSize(1)
    have = call(req)["Total"]
    for i in range(have, QUOTA):
        out = create("fw-quota-%03d" % i, url, dest="2.0.%d" % i)
        expect(out["Success"] is True, out)
    out = create("fw-quota-one-too-many", url, dest="3.0.0")
    expect(out["Success"] is False and out["Code"] == "iot.ota.FirmwareCountExceedLimit", out)
    expect(call(req)["Total"] == QUOTA, "total after the refused create")


def t_tea_v3():
    try:
        from alibabacloud_iot20180120 import models as iot_models
        from alibabacloud_iot20180120.client import Client as IotClient
        from alibabacloud_tea_openapi import models as open_api_models
    except ImportError:
        raise Skip("alibabacloud-iot20180120 is not installed")
    for algorithm in (None, "v2"):
        cfg = open_api_models.Config(
            access_key_id=AK,
            access_key_secret=SK,
            endpoint=ENDPOINT,
            protocol="HTTP",
            region_id="cn-shanghai",
        )
        if algorithm:
            cfg.signature_algorithm = algorithm
        tea = IotClient(cfg)
        resp = tea.query_otafirmware(iot_models.QueryOTAFirmwareRequest(firmware_id=STATE["id"]))
        expect(resp.body.success is True, resp.body)
        expect(resp.body.firmware_info.firmware_sign == hashlib.md5(CONTENT).hexdigest(), resp.body)
        lst = tea.list_otafirmware(iot_models.ListOTAFirmwareRequest(current_page=1, page_size=5))
        expect(lst.body.success is True and lst.body.total >= 1, lst.body)
        up = tea.generate_otaupload_url(iot_models.GenerateOTAUploadURLRequest(file_suffix="zip"))
        expect(up.body.success is True and up.body.data.key.endswith(".zip"), up.body)
    bad = IotClient(
        open_api_models.Config(
            access_key_id=AK,
            access_key_secret="not-the-secret",
            endpoint=ENDPOINT,
            protocol="HTTP",
            region_id="cn-shanghai",
        )
    )
    try:
        bad.query_otafirmware(iot_models.QueryOTAFirmwareRequest(firmware_id=STATE["id"]))
    except Exception as e:  # noqa: BLE001  (Tea raises its own exception types)
        expect(getattr(e, "code", None) == "SignatureDoesNotMatch", repr(e))
        expect(getattr(e, "statusCode", None) == 400 or "400" in str(e), repr(e))
    else:
        raise AssertionError("V3 with a wrong secret was accepted")


def summary():
    print("%d passed, %d failed, %d skipped" % (RESULTS["passed"], RESULTS["failed"], RESULTS["skipped"]))


def main():
    if not check("upload through GenerateOTAUploadURL + PostObject", t_upload):
        summary()
        return 1
    if check("CreateOTAFirmware Type=1", t_create_type1):
        check("QueryOTAFirmware (sign and size default to the object's)", t_query)
        check("download through the pre-signed URL", t_download)
        check("ListOTAFirmware", t_list)
        check("wrong secret gets SignatureDoesNotMatch", t_wrong_secret)
        check("unknown AccessKeyId", t_unknown_key)
        check("XML response", t_xml)
        check("injected throttling and 503", t_faults)
        check("Tea SDK V3 (ACS3-HMAC-SHA256) and V2", t_tea_v3)
    check("bad FirmwareName is refused", t_bad_name)
    check("Type=1 without SrcVersion is refused", t_type1_without_src)
    check("duplicate FirmwareName is refused", t_duplicate_name)
    check("FirmwareUrl of no uploaded object is refused", t_unknown_url)
    check("missing DestVersion is MissingParameter", t_missing_parameter)
    check("CreateOTAVerifyJob, DeleteOTAFirmware, FirmwareNotFound", t_verify_job_and_delete)
    check("the 501st package is refused", t_quota)
    summary()
    return 0 if RESULTS["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
