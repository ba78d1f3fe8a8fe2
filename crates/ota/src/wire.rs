//! The RPC wire form: common parameters, V2 signature, and the signed path and query,
//! exactly as the official core SDK (aliyun-python-sdk-core) puts them on the wire.

use fwdelta_acs_sign::{percent_encode, v2_signature, v2_string_to_sign};

use crate::{Credentials, Format};

/// The IoT Platform API version.
pub const API_VERSION: &str = "2018-01-20";

/// The HTTP method of every call (the SDKs' IoT requests are POSTs with an empty body).
pub const METHOD: &str = "POST";

/// The per-request values the SDK generates: the time stamp and the nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// `YYYY-MM-DDThh:mm:ssZ`, UTC.
    pub timestamp: String,
    /// A value never used before with this AccessKey (32 random hex digits by default).
    pub nonce: String,
}

impl Stamp {
    /// The current UTC time and a fresh random nonce.
    pub fn now() -> Self {
        let now = time::OffsetDateTime::now_utc();
        let timestamp = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        Stamp {
            timestamp,
            nonce: format!("{:032x}", rand::random::<u128>()),
        }
    }
}

/// Builds the signed `/?...` path and query of an RPC call.
///
/// The order is the core SDK's: the action's own parameters in the order given, then
/// `Version`, `Action`, `Format`, `RegionId`, `Timestamp`, `SignatureMethod`,
/// `SignatureType` (empty), `SignatureVersion`, `SignatureNonce`, `AccessKeyId`, and
/// `Signature` last. Every name and value is percent-encoded with
/// [`fwdelta_acs_sign::percent_encode`]; the signature covers every other parameter.
pub fn signed_path_and_query(
    credentials: &Credentials,
    region_id: &str,
    format: Format,
    action: &str,
    params: &[(String, String)],
    stamp: &Stamp,
) -> String {
    let mut all: Vec<(String, String)> = params.to_vec();
    let common = [
        ("Version", API_VERSION),
        ("Action", action),
        ("Format", format.as_param()),
        ("RegionId", region_id),
        ("Timestamp", &stamp.timestamp),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureType", ""),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", &stamp.nonce),
        ("AccessKeyId", credentials.access_key_id()),
    ];
    all.extend(common.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let string_to_sign = v2_string_to_sign(METHOD, &all);
    let signature = v2_signature(credentials.secret(), &string_to_sign);
    all.push(("Signature".into(), signature));
    let mut out = String::from("/?");
    for (i, (k, v)) in all.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&percent_encode(k));
        out.push('=');
        out.push_str(&percent_encode(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_shape() {
        let s = Stamp::now();
        let t = s.timestamp.as_bytes();
        assert_eq!(t.len(), 20, "{}", s.timestamp);
        assert_eq!(
            (t[4], t[7], t[10], t[13], t[16], t[19]),
            (b'-', b'-', b'T', b':', b':', b'Z')
        );
        assert_eq!(s.nonce.len(), 32);
        assert_ne!(s.nonce, Stamp::now().nonce);
    }
}
