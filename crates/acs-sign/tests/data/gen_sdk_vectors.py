"""Regenerates sdk-vectors.txt with the official Alibaba Cloud Python SDKs.

Run (from the repository root):
    python3 -m venv .venv
    .venv/bin/pip install aliyun-python-sdk-core==2.16.1 aliyun-python-sdk-iot==8.59.0 alibabacloud-tea-openapi==0.4.6
    .venv/bin/python crates/acs-sign/tests/data/gen_sdk_vectors.py > crates/acs-sign/tests/data/sdk-vectors.txt

Every value is produced by the SDKs' own signing code; the timestamp and nonce are pinned
by replacing the SDK helpers that generate them. Nothing here is used at test run time:
the Rust tests read only the text file this script prints.
"""
import json

from aliyunsdkcore.utils import parameter_helper
from aliyunsdkiot.request.v20180120.CreateOTAFirmwareRequest import CreateOTAFirmwareRequest
from alibabacloud_tea_openapi.utils import Utils

TIMESTAMP = "2024-01-02T03:04:05Z"
NONCE = "c0ffee00-0000-4000-8000-000000000001"
parameter_helper.get_iso_8061_date = lambda: TIMESTAMP
parameter_helper.get_uuid = lambda: NONCE


def v2_vector(name, fields):
    req = CreateOTAFirmwareRequest()
    req.set_accept_format("JSON")
    for setter, value in fields:
        getattr(req, "set_" + setter)(value)
    url = req.get_url("cn-shanghai", "testid", "testsecret")
    sts = req.string_to_sign
    print("== " + name)
    print("HTTP method  : " + req.get_method())
    print("StringToSign : " + sts)
    print("Signed path+query: " + url)
    print()


# V3b: Vector 3 of signature-vectors.txt with a Chinese FirmwareName and FirmwareDesc.
v2_vector(
    "Vector 3b: CreateOTAFirmware Type=1, Chinese FirmwareName and FirmwareDesc",
    [
        ("ProductKey", "a1BcDeFgHiJ"),
        ("FirmwareName", "差分固件(测试)"),
        ("SrcVersion", "1.0.0"),
        ("DestVersion", "1.1.0"),
        ("Type", 1),
        ("FirmwareUrl", "https://iotx-ota.oss-cn-shanghai.aliyuncs.com/ota/abc123/diff.bin"),
        ("FirmwareSign", "0cc175b9c0f1b6a831c399e269772661"),
        ("SignMethod", "MD5"),
        ("FirmwareSize", 1234),
        ("FirmwareDesc", "差分包 1.0.0->1.1.0，修复：温度*传感器~"),
        ("ModuleName", "default"),
        ("NeedToVerify", False),
    ],
)


class _Req:
    """The attributes Utils.get_authorization reads from a Tea request."""

    def __init__(self, method, pathname, query, headers):
        self.method = method
        self.pathname = pathname
        self.query = query
        self.headers = headers


def v3_vector(name, query, headers, body=b""):
    payload = Utils.hex_encode(Utils.hash(body, "ACS3-HMAC-SHA256"))
    headers = dict(headers)
    headers["x-acs-content-sha256"] = payload
    req = _Req("POST", "/", query, headers)
    auth = Utils.get_authorization(req, "ACS3-HMAC-SHA256", payload, "testid", "testsecret")
    print("== " + name)
    print("HTTP method  : POST")
    print("Path         : /")
    print("Query        : " + json.dumps(query, ensure_ascii=False, sort_keys=True))
    print("Headers      : " + json.dumps(headers, ensure_ascii=False, sort_keys=True))
    print("Payload hash : " + payload)
    print("Authorization: " + auth)
    print()


V3_HEADERS = {
    "host": "iot.cn-shanghai.aliyuncs.com",
    "x-acs-version": "2018-01-20",
    "x-acs-action": "CreateOTAFirmware",
    "user-agent": "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
    "x-acs-date": TIMESTAMP,
    "x-acs-signature-nonce": NONCE,
    "accept": "application/json",
    "x-acs-credentials-provider": "static_ak",
}

# V5: ACS3-HMAC-SHA256 (the Tea SDK's default), the Vector 3 parameters in the query.
v3_vector(
    "Vector 5: ACS3-HMAC-SHA256 CreateOTAFirmware Type=1 (Tea SDK Utils.get_authorization)",
    {
        "DestVersion": "1.1.0",
        "FirmwareDesc": "delta 1.0.0->1.1.0 a*b~c d/e+f",
        "FirmwareName": "fw-diff_1.0.0-to-1.1.0(test)",
        "FirmwareSign": "0cc175b9c0f1b6a831c399e269772661",
        "FirmwareSize": "1234",
        "FirmwareUrl": "https://iotx-ota.oss-cn-shanghai.aliyuncs.com/ota/abc123/diff.bin",
        "ModuleName": "default",
        "NeedToVerify": "False",
        "ProductKey": "a1BcDeFgHiJ",
        "SignMethod": "MD5",
        "SrcVersion": "1.0.0",
        "Type": "1",
    },
    V3_HEADERS,
)

# V5b: the same with Chinese text and a non-empty body.
v3_vector(
    "Vector 5b: ACS3-HMAC-SHA256 with Chinese values and a body",
    {"FirmwareName": "差分固件(测试)", "FirmwareDesc": "修复：温度*传感器~ a b", "Type": "1"},
    V3_HEADERS,
    body="CurrentPage=1&PageSize=10".encode("utf-8"),
)
