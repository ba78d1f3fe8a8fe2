//! AccessKey credentials: from the environment or a profile file, never printed.

use std::fmt;
use std::path::{Path, PathBuf};

/// Environment variable holding the AccessKey ID (the official SDKs' name).
pub const ENV_ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
/// Environment variable holding the AccessKey secret (the official SDKs' name).
pub const ENV_ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
/// Environment variable naming the INI credentials file (the official SDKs' name).
pub const ENV_CREDENTIALS_FILE: &str = "ALIBABA_CLOUD_CREDENTIALS_FILE";
/// Environment variable naming the profile to use (the official SDKs' name).
pub const ENV_PROFILE: &str = "ALIBABA_CLOUD_PROFILE";

/// Profile files larger than this are refused.
const MAX_PROFILE_FILE_BYTES: u64 = 1 << 20;

/// An AccessKey pair.
///
/// Its `Debug` output shows the AccessKey ID and redacts the secret; it has no `Display`
/// and no serialisation, so it cannot end up in logs or in a release record by accident.
/// The secret is only read by this crate's request signing.
#[derive(Clone)]
pub struct Credentials {
    access_key_id: String,
    access_key_secret: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .finish()
    }
}

/// Why credentials could not be loaded. No variant contains the secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// No credentials in the environment and no usable profile file.
    #[error(
        "no Alibaba Cloud credentials: set {ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET}, \
         or provide a profile file ({ENV_CREDENTIALS_FILE}, ~/.alibabacloud/credentials.ini \
         or ~/.aliyun/config.json)"
    )]
    NotFound,
    /// Only one of the two environment variables is set.
    #[error("{missing} is not set although {present} is")]
    Incomplete {
        /// The variable that is missing.
        missing: &'static str,
        /// The variable that is set.
        present: &'static str,
    },
    /// A value is empty or contains whitespace or control characters.
    #[error("the {what} is invalid: {reason}")]
    Invalid {
        /// `AccessKey ID` or `AccessKey secret`.
        what: &'static str,
        /// Why (never the value).
        reason: &'static str,
    },
    /// The profile file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The profile file is not in a known format.
    #[error("{path}: not a credentials file: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The profile is not in the file.
    #[error("{path}: no profile named {profile:?}")]
    ProfileNotFound {
        /// The file.
        path: PathBuf,
        /// The profile looked for.
        profile: String,
    },
    /// The profile exists but is not a plain AccessKey profile.
    #[error(
        "{path}: profile {profile:?} is of type {kind:?}; fwdelta supports AccessKey profiles \
         only (type = access_key, or mode AK)"
    )]
    UnsupportedProfile {
        /// The file.
        path: PathBuf,
        /// The profile.
        profile: String,
        /// Its type or mode.
        kind: String,
    },
}

impl Credentials {
    /// Makes credentials from an AccessKey ID and secret. Both must be non-empty and free of
    /// whitespace and control characters.
    pub fn new(
        access_key_id: impl Into<String>,
        access_key_secret: impl Into<String>,
    ) -> Result<Self, CredentialsError> {
        let access_key_id = access_key_id.into();
        let access_key_secret = access_key_secret.into();
        check_part("AccessKey ID", &access_key_id)?;
        check_part("AccessKey secret", &access_key_secret)?;
        Ok(Credentials {
            access_key_id,
            access_key_secret,
        })
    }

    /// The AccessKey ID (not a secret: it is sent with every request).
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The secret, for this crate's signing code only.
    pub(crate) fn secret(&self) -> &str {
        &self.access_key_secret
    }

    /// Reads [`ENV_ACCESS_KEY_ID`] and [`ENV_ACCESS_KEY_SECRET`] from the process environment.
    /// Returns `Ok(None)` when neither is set.
    pub fn from_env() -> Result<Option<Self>, CredentialsError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `get` (for tests and for
    /// callers with their own environment).
    pub fn from_vars(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, CredentialsError> {
        let id = get(ENV_ACCESS_KEY_ID).filter(|s| !s.is_empty());
        let secret = get(ENV_ACCESS_KEY_SECRET).filter(|s| !s.is_empty());
        match (id, secret) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(CredentialsError::Incomplete {
                missing: ENV_ACCESS_KEY_SECRET,
                present: ENV_ACCESS_KEY_ID,
            }),
            (None, Some(_)) => Err(CredentialsError::Incomplete {
                missing: ENV_ACCESS_KEY_ID,
                present: ENV_ACCESS_KEY_SECRET,
            }),
            (Some(id), Some(secret)) => Self::new(id, secret).map(Some),
        }
    }

    /// Reads an AccessKey profile from a file in either format the official tools write:
    ///
    /// - the SDKs' INI credentials file (`~/.alibabacloud/credentials.ini`): a `[profile]`
    ///   section with `type = access_key`, `access_key_id`, `access_key_secret`;
    /// - the `aliyun` CLI's `~/.aliyun/config.json`: `profiles[]` entries with `name`,
    ///   `mode: "AK"`, `access_key_id`, `access_key_secret`.
    ///
    /// `profile` defaults to [`ENV_PROFILE`] when set, else to `current` (JSON) or
    /// `default` (INI).
    pub fn from_profile_file(path: &Path, profile: Option<&str>) -> Result<Self, CredentialsError> {
        let env_profile = std::env::var(ENV_PROFILE).ok().filter(|s| !s.is_empty());
        let profile = profile.map(str::to_owned).or(env_profile);
        let text = read_small(path)?;
        if text.trim_start().starts_with('{') {
            parse_cli_config(path, &text, profile.as_deref())
        } else {
            parse_ini(path, &text, profile.as_deref().unwrap_or("default"))
        }
    }

    /// Loads credentials the way the official SDKs look for them: the environment first,
    /// then the INI file named by [`ENV_CREDENTIALS_FILE`] (or
    /// `~/.alibabacloud/credentials.ini`), then `~/.aliyun/config.json`.
    pub fn load(profile: Option<&str>) -> Result<Self, CredentialsError> {
        if let Some(c) = Self::from_env()? {
            return Ok(c);
        }
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let mut candidates = Vec::new();
        if let Some(f) = std::env::var_os(ENV_CREDENTIALS_FILE).filter(|f| !f.is_empty()) {
            // An explicitly named file must work.
            return Self::from_profile_file(Path::new(&f), profile);
        }
        if let Some(h) = &home {
            candidates.push(h.join(".alibabacloud").join("credentials.ini"));
            candidates.push(h.join(".aliyun").join("config.json"));
        }
        for c in candidates {
            if c.is_file() {
                return Self::from_profile_file(&c, profile);
            }
        }
        Err(CredentialsError::NotFound)
    }
}

fn check_part(what: &'static str, value: &str) -> Result<(), CredentialsError> {
    if value.is_empty() {
        return Err(CredentialsError::Invalid {
            what,
            reason: "it is empty",
        });
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(CredentialsError::Invalid {
            what,
            reason: "it contains whitespace or control characters",
        });
    }
    Ok(())
}

fn read_small(path: &Path) -> Result<String, CredentialsError> {
    let io = |source| CredentialsError::Io {
        path: path.to_owned(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_PROFILE_FILE_BYTES {
        return Err(CredentialsError::Parse {
            path: path.to_owned(),
            reason: format!("{len} bytes is too large"),
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    String::from_utf8(bytes).map_err(|_| CredentialsError::Parse {
        path: path.to_owned(),
        reason: "not UTF-8".into(),
    })
}

fn parse_ini(path: &Path, text: &str, profile: &str) -> Result<Credentials, CredentialsError> {
    let mut in_section = false;
    let mut found = false;
    let (mut kind, mut id, mut secret) = (None, None, None);
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest
                .strip_suffix(']')
                .ok_or_else(|| CredentialsError::Parse {
                    path: path.to_owned(),
                    reason: format!("line {}: unterminated section header", n + 1),
                })?;
            in_section = name.trim() == profile;
            found |= in_section;
            continue;
        }
        let Some((k, v)) = line.split_once('=').or_else(|| line.split_once(':')) else {
            return Err(CredentialsError::Parse {
                path: path.to_owned(),
                reason: format!("line {}: expected key = value", n + 1),
            });
        };
        if !in_section {
            continue;
        }
        // As the SDKs do: a '#' starts a comment inside a value.
        let v = v.split('#').next().unwrap_or("").trim().to_owned();
        match k.trim().to_ascii_lowercase().as_str() {
            "type" => kind = Some(v),
            "access_key_id" => id = Some(v),
            "access_key_secret" => secret = Some(v),
            _ => {}
        }
    }
    if !found {
        return Err(CredentialsError::ProfileNotFound {
            path: path.to_owned(),
            profile: profile.to_owned(),
        });
    }
    let kind = kind.unwrap_or_else(|| "access_key".into());
    if kind != "access_key" {
        return Err(CredentialsError::UnsupportedProfile {
            path: path.to_owned(),
            profile: profile.to_owned(),
            kind,
        });
    }
    Credentials::new(id.unwrap_or_default(), secret.unwrap_or_default())
}

fn parse_cli_config(
    path: &Path,
    text: &str,
    profile: Option<&str>,
) -> Result<Credentials, CredentialsError> {
    let parse_err = |reason: String| CredentialsError::Parse {
        path: path.to_owned(),
        reason,
    };
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|e| parse_err(e.to_string()))?;
    let name = match profile {
        Some(p) => p.to_owned(),
        None => doc
            .get("current")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .unwrap_or("default")
            .to_owned(),
    };
    let profiles = doc
        .get("profiles")
        .and_then(|p| p.as_array())
        .ok_or_else(|| parse_err("no \"profiles\" array".into()))?;
    let entry = profiles
        .iter()
        .find(|p| p.get("name").and_then(|n| n.as_str()) == Some(name.as_str()))
        .ok_or_else(|| CredentialsError::ProfileNotFound {
            path: path.to_owned(),
            profile: name.clone(),
        })?;
    let field = |k: &str| {
        entry
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned()
    };
    let mode = field("mode");
    if mode != "AK" {
        return Err(CredentialsError::UnsupportedProfile {
            path: path.to_owned(),
            profile: name,
            kind: mode,
        });
    }
    Credentials::new(field("access_key_id"), field("access_key_secret"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_secret() {
        let c = Credentials::new("LTAIexample", "s3cr3t-value").unwrap();
        let d = format!("{c:?}");
        assert!(d.contains("LTAIexample"));
        assert!(!d.contains("s3cr3t-value"), "{d}");
        assert!(d.contains("<redacted>"));
        assert_eq!(format!("{:#?}", c).matches("s3cr3t").count(), 0);
    }

    #[test]
    fn env_variables() {
        let vars = |id: Option<&str>, sk: Option<&str>| {
            let (id, sk) = (id.map(str::to_owned), sk.map(str::to_owned));
            move |k: &str| match k {
                ENV_ACCESS_KEY_ID => id.clone(),
                ENV_ACCESS_KEY_SECRET => sk.clone(),
                _ => None,
            }
        };
        assert!(Credentials::from_vars(vars(None, None)).unwrap().is_none());
        let c = Credentials::from_vars(vars(Some("id"), Some("sk")))
            .unwrap()
            .unwrap();
        assert_eq!(c.access_key_id(), "id");
        assert_eq!(c.secret(), "sk");
        assert!(matches!(
            Credentials::from_vars(vars(Some("id"), None)),
            Err(CredentialsError::Incomplete {
                missing: ENV_ACCESS_KEY_SECRET,
                ..
            })
        ));
        let err = Credentials::from_vars(vars(Some("id"), Some("a b"))).unwrap_err();
        assert!(!err.to_string().contains("a b"));
    }

    #[test]
    fn ini_profile_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("credentials.ini");
        std::fs::write(
            &p,
            "# comment\n[default]\ntype = access_key\naccess_key_id = foo   # inline\n\
             access_key_secret = bar\n\n[other]\ntype = ecs_ram_role\nrole_name = r\n",
        )
        .unwrap();
        let c = Credentials::from_profile_file(&p, Some("default")).unwrap();
        assert_eq!((c.access_key_id(), c.secret()), ("foo", "bar"));
        assert!(matches!(
            Credentials::from_profile_file(&p, Some("other")),
            Err(CredentialsError::UnsupportedProfile { kind, .. }) if kind == "ecs_ram_role"
        ));
        assert!(matches!(
            Credentials::from_profile_file(&p, Some("nope")),
            Err(CredentialsError::ProfileNotFound { .. })
        ));
    }

    #[test]
    fn cli_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        std::fs::write(
            &p,
            r#"{"current":"work","profiles":[
                {"name":"default","mode":"AK","access_key_id":"a","access_key_secret":"b"},
                {"name":"work","mode":"AK","access_key_id":"c","access_key_secret":"d"},
                {"name":"sts","mode":"StsToken","access_key_id":"e","access_key_secret":"f"}]}"#,
        )
        .unwrap();
        let c = Credentials::from_profile_file(&p, Some("default")).unwrap();
        assert_eq!((c.access_key_id(), c.secret()), ("a", "b"));
        let c = Credentials::from_profile_file(&p, Some("work")).unwrap();
        assert_eq!(c.access_key_id(), "c");
        assert!(matches!(
            Credentials::from_profile_file(&p, Some("sts")),
            Err(CredentialsError::UnsupportedProfile { .. })
        ));
        std::fs::write(&p, "{not json").unwrap();
        let err = Credentials::from_profile_file(&p, Some("work")).unwrap_err();
        assert!(matches!(err, CredentialsError::Parse { .. }), "{err}");
    }
}
