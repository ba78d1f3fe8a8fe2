//! Release plans: the TOML file that lists every (field version → new version) delta of a
//! release, for one or more products; expanded into a sorted list of deltas that shards
//! (`--shard K/N`) split deterministically.
//!
//! ```toml
//! out_dir = "release-2.0.0"                # relative to the plan; default "<plan stem>-out"
//! name = "{product}-{src}-to-{dest}"        # FirmwareName template (the default)
//! desc = "fwdelta {src} -> {dest}"          # FirmwareDesc template (default: none)
//! need_to_verify = true                     # NeedToVerify (default true)
//! format = "fwdelta"                        # fwdelta | bsdiff40 | raw (default fwdelta)
//! level = 19                                # zstd level of the fwdelta format
//! max_window = 23                           # largest zstd window (log2 bytes)
//! file_suffix = "bin"                       # FileSuffix of the uploads (default bin)
//!
//! [[product]]
//! key = "a1BcDeFgHiJ"                       # ProductKey
//! dest_version = "2.0.0"                    # DestVersion
//! dest = "images/a-2.0.0.bin"               # the new image (relative to the plan)
//! # module = "mcu"  name = "..."  desc = "..."  udi = "..."   (optional, per product)
//!
//! [[product.source]]                        # one per field version
//! version = "1.0.0"
//! image = "images/a-1.0.0.bin"
//! # name = "..."                            (optional: this delta's FirmwareName)
//! ```
//!
//! Templates know `{product}`, `{module}` (`default` when none), `{src}` and `{dest}`. In
//! names, characters a FirmwareName may not hold (the dots of versions) become `_`.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use fwdelta_ota::validate;
use serde::Deserialize;

use super::diff::FormatArg;

/// The largest plan file read, in bytes.
pub const MAX_PLAN_BYTES: u64 = 4 << 20;

/// The most deltas one plan may hold (the service allows 500 packages per account).
pub const MAX_DELTAS: usize = 100_000;

/// The default FirmwareName template of plans.
pub const DEFAULT_NAME_TEMPLATE: &str = "{product}-{src}-to-{dest}";

/// Why a plan was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The file could not be read.
    #[error("cannot read plan {path}: {source}")]
    Io {
        /// The plan.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_PLAN_BYTES`].
    #[error("plan {path} is larger than {limit} bytes")]
    TooLarge {
        /// The plan.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// Not TOML of the plan's shape.
    #[error("plan {path} is not valid: {message}")]
    Syntax {
        /// The plan.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A value breaks a rule.
    #[error("plan {path}: {what}: {reason}")]
    Invalid {
        /// The plan.
        path: PathBuf,
        /// Where in the plan (`product a1B… source 1.0.0`, `format`, ...).
        what: String,
        /// Why.
        reason: String,
    },
}

/// A shard of a plan: `K/N`, the K-th of N (1 ≤ K ≤ N).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// K, from 1.
    pub index: u32,
    /// N.
    pub count: u32,
}

impl Shard {
    /// Whether the delta at `position` of the plan's sorted list belongs to this shard:
    /// positions are dealt round-robin, so shards differ in size by at most one delta and
    /// N shards cover the plan exactly once.
    pub fn owns(&self, position: usize) -> bool {
        position % self.count as usize == (self.index - 1) as usize
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not K/N (for example 2/8)"))?;
        let k: u32 = k
            .trim()
            .parse()
            .map_err(|_| format!("{k:?} is not a shard number"))?;
        let n: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("{n:?} is not a shard count"))?;
        if n == 0 || n > 100_000 {
            return Err(format!("the shard count must be 1 to 100000, not {n}"));
        }
        if k == 0 || k > n {
            return Err(format!(
                "the shard number must be 1 to {n} (shards are numbered from 1), not {k}"
            ));
        }
        Ok(Shard { index: k, count: n })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    out_dir: Option<PathBuf>,
    name: Option<String>,
    desc: Option<String>,
    need_to_verify: Option<bool>,
    format: Option<String>,
    level: Option<i32>,
    max_window: Option<u32>,
    file_suffix: Option<String>,
    #[serde(default, rename = "product")]
    products: Vec<ProductFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductFile {
    key: String,
    dest_version: String,
    dest: PathBuf,
    module: Option<String>,
    name: Option<String>,
    desc: Option<String>,
    udi: Option<String>,
    #[serde(default, rename = "source")]
    sources: Vec<SourceFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceFile {
    version: String,
    image: PathBuf,
    name: Option<String>,
}

/// How every patch of a plan is built.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildSettings {
    /// Patch format.
    pub format: FormatArg,
    /// zstd level (fwdelta format).
    pub level: i32,
    /// Largest zstd window, log2 bytes (`None`: the encoder's default).
    pub max_window: Option<u32>,
}

impl BuildSettings {
    /// The extension of patch files.
    pub fn extension(&self) -> &'static str {
        match self.format {
            FormatArg::Fwdelta => "fwd",
            FormatArg::Bsdiff40 => "bsdiff40",
            FormatArg::Raw => "raw",
        }
    }
}

/// One delta package of a release.
#[derive(Debug, Clone, PartialEq)]
pub struct Delta {
    /// Position in the plan's sorted list (from 0).
    pub index: usize,
    /// `ProductKey[/module]:src->dest`, unique in the plan.
    pub id: String,
    /// ProductKey.
    pub product_key: String,
    /// ModuleName.
    pub module: Option<String>,
    /// SrcVersion.
    pub src_version: String,
    /// DestVersion.
    pub dest_version: String,
    /// The image in the field.
    pub src: PathBuf,
    /// The new image.
    pub dest: PathBuf,
    /// FirmwareName.
    pub name: String,
    /// FirmwareDesc.
    pub desc: Option<String>,
    /// Udi.
    pub udi: Option<String>,
}

/// A plan, expanded and checked.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The plan file (`None` for a one-delta release from the command line).
    pub path: Option<PathBuf>,
    /// MD5 of the plan file's bytes: shards of one release must have read the same plan.
    pub md5: Option<String>,
    /// Where patches, records, state and summaries go.
    pub out_dir: PathBuf,
    /// How patches are built.
    pub build: BuildSettings,
    /// NeedToVerify.
    pub need_to_verify: bool,
    /// FileSuffix.
    pub file_suffix: String,
    /// Every delta, sorted by product, module, destination and source version.
    pub deltas: Vec<Delta>,
}

fn invalid(path: &Path, what: impl Into<String>, reason: impl Into<String>) -> PlanError {
    PlanError::Invalid {
        path: path.to_path_buf(),
        what: what.into(),
        reason: reason.into(),
    }
}

/// Fills a template's `{product}`, `{module}`, `{src}` and `{dest}`; `for_name` replaces the
/// characters a FirmwareName may not hold with `_` in the values.
pub fn render(template: &str, values: &[(&str, &str)], for_name: bool) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed '{{' in template {template:?}"))?;
        let key = &after[..close];
        let value = values
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                format!(
                    "unknown placeholder {{{key}}} in template {template:?} \
                     (known: {{product}}, {{module}}, {{src}}, {{dest}})"
                )
            })?;
        if for_name {
            out.extend(value.chars().map(|c| {
                if c.is_ascii_alphanumeric() || "-_()".contains(c) {
                    c
                } else {
                    '_'
                }
            }));
        } else {
            out.push_str(value);
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn ota_check(
    path: &Path,
    what: &str,
    r: Result<(), fwdelta_ota::OtaError>,
) -> Result<(), PlanError> {
    r.map_err(|e| invalid(path, what, e.to_string()))
}

impl Plan {
    /// Reads, expands and checks a plan file. Relative paths in it are relative to its
    /// directory. Checks every rule the service has for names, versions and descriptions, and
    /// that delta ids and names are unique; makes no network call and reads no image.
    pub fn load(path: &Path) -> Result<Plan, PlanError> {
        let io = |source| PlanError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut bytes = Vec::new();
        file.take(MAX_PLAN_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > MAX_PLAN_BYTES {
            return Err(PlanError::TooLarge {
                path: path.to_path_buf(),
                limit: MAX_PLAN_BYTES,
            });
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| PlanError::Syntax {
            path: path.to_path_buf(),
            message: "not UTF-8".into(),
        })?;
        let file: PlanFile = toml::from_str(text).map_err(|e| PlanError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let base = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let md5 = fwdelta_patch::md5_hex(&fwdelta_patch::md5_of(&bytes));
        Self::expand(path, &base, file, md5)
    }

    fn expand(path: &Path, base: &Path, file: PlanFile, md5: String) -> Result<Plan, PlanError> {
        let format = match &file.format {
            None => FormatArg::Fwdelta,
            Some(f) => FormatArg::from_str(f, true).map_err(|_| {
                invalid(
                    path,
                    "format",
                    format!("{f:?} is not fwdelta, bsdiff40 or raw"),
                )
            })?,
        };
        let defaults = fwdelta_patch::EncodeOptions::default();
        let mut enc = defaults.clone();
        if let Some(l) = file.level {
            enc.zstd_level = l;
        }
        if let Some(w) = file.max_window {
            enc.window_log = w;
        }
        enc.validate()
            .map_err(|e| invalid(path, "level / max_window", e.to_string()))?;
        let file_suffix = file.file_suffix.clone().unwrap_or_else(|| "bin".into());
        ota_check(path, "file_suffix", validate::file_suffix(&file_suffix))?;
        if file.products.is_empty() {
            return Err(invalid(
                path,
                "product",
                "the plan has no [[product]] (nothing to release)",
            ));
        }
        let join = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let mut deltas = Vec::new();
        for (pi, product) in file.products.iter().enumerate() {
            let here = format!("product #{} ({})", pi + 1, product.key);
            ota_check(
                path,
                &here,
                validate::identifier("ProductKey", &product.key),
            )?;
            ota_check(
                path,
                &here,
                validate::version("DestVersion", &product.dest_version),
            )?;
            if let Some(m) = &product.module {
                ota_check(path, &here, validate::module_name(m))?;
            }
            if let Some(u) = &product.udi {
                ota_check(path, &here, validate::udi(u))?;
            }
            if product.sources.is_empty() {
                return Err(invalid(path, here, "has no [[product.source]]"));
            }
            for source in &product.sources {
                let here = format!("product {} source {}", product.key, source.version);
                ota_check(
                    path,
                    &here,
                    validate::type_and_versions(1, Some(&source.version), &product.dest_version),
                )?;
                let module = product.module.as_deref().unwrap_or("default");
                let values = [
                    ("product", product.key.as_str()),
                    ("module", module),
                    ("src", source.version.as_str()),
                    ("dest", product.dest_version.as_str()),
                ];
                let name = match (&source.name, &product.name, &file.name) {
                    (Some(literal), _, _) => literal.clone(),
                    (None, Some(t), _) | (None, None, Some(t)) => {
                        render(t, &values, true).map_err(|e| invalid(path, &here, e))?
                    }
                    (None, None, None) => render(DEFAULT_NAME_TEMPLATE, &values, true)
                        .map_err(|e| invalid(path, &here, e))?,
                };
                validate::firmware_name(&name).map_err(|e| {
                    invalid(
                        path,
                        &here,
                        format!("{e} (set a shorter `name` template or a literal name)"),
                    )
                })?;
                let desc = match product.desc.as_ref().or(file.desc.as_ref()) {
                    Some(t) => {
                        Some(render(t, &values, false).map_err(|e| invalid(path, &here, e))?)
                    }
                    None => None,
                };
                if let Some(d) = &desc {
                    ota_check(path, &here, validate::firmware_desc(d))?;
                }
                let id = match &product.module {
                    Some(m) => format!(
                        "{}/{}:{}->{}",
                        product.key, m, source.version, product.dest_version
                    ),
                    None => format!(
                        "{}:{}->{}",
                        product.key, source.version, product.dest_version
                    ),
                };
                deltas.push(Delta {
                    index: 0,
                    id,
                    product_key: product.key.clone(),
                    module: product.module.clone(),
                    src_version: source.version.clone(),
                    dest_version: product.dest_version.clone(),
                    src: join(&source.image),
                    dest: join(&product.dest),
                    name,
                    desc,
                    udi: product.udi.clone(),
                });
                if deltas.len() > MAX_DELTAS {
                    return Err(invalid(
                        path,
                        "product",
                        format!("more than {MAX_DELTAS} deltas"),
                    ));
                }
            }
        }
        deltas.sort_by(|a, b| {
            (&a.product_key, &a.module, &a.dest_version, &a.src_version).cmp(&(
                &b.product_key,
                &b.module,
                &b.dest_version,
                &b.src_version,
            ))
        });
        let mut ids = BTreeSet::new();
        let mut names: BTreeMap<&str, &str> = BTreeMap::new();
        for d in &deltas {
            if !ids.insert(d.id.as_str()) {
                return Err(invalid(
                    path,
                    &d.id,
                    "this delta is listed twice (same product, module and versions)",
                ));
            }
            if let Some(other) = names.insert(d.name.as_str(), d.id.as_str()) {
                return Err(invalid(
                    path,
                    &d.id,
                    format!(
                        "FirmwareName {:?} is also the name of {other}; names must be unique in \
                         the account (use {{product}}, {{module}}, {{src}} and {{dest}} in the \
                         `name` template)",
                        d.name
                    ),
                ));
            }
        }
        for (i, d) in deltas.iter_mut().enumerate() {
            d.index = i;
        }
        let out_dir = match &file.out_dir {
            Some(d) => join(d),
            None => {
                let stem = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "plan".into());
                base.join(format!("{stem}-out"))
            }
        };
        Ok(Plan {
            path: Some(path.to_path_buf()),
            md5: Some(md5),
            out_dir,
            build: BuildSettings {
                format,
                level: enc.zstd_level,
                max_window: file.max_window,
            },
            need_to_verify: file.need_to_verify.unwrap_or(true),
            file_suffix,
            deltas,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Plan, PlanError> {
        let file: PlanFile = toml::from_str(text).map_err(|e| PlanError::Syntax {
            path: "p.toml".into(),
            message: e.to_string(),
        })?;
        Plan::expand(
            Path::new("p.toml"),
            Path::new("/base"),
            file,
            "0".repeat(32),
        )
    }

    const TWO: &str = r#"
        [[product]]
        key = "pkB"
        dest_version = "2.0.0"
        dest = "b-2.bin"
        [[product.source]]
        version = "1.1.0"
        image = "b-1.1.bin"
        [[product.source]]
        version = "1.0.0"
        image = "/abs/b-1.0.bin"

        [[product]]
        key = "pkA"
        dest_version = "2.0.0"
        dest = "a-2.bin"
        [[product.source]]
        version = "1.0.0"
        image = "a-1.bin"
    "#;

    #[test]
    fn expands_sorted_with_default_names_and_paths() {
        let plan = parse(TWO).unwrap();
        let ids: Vec<&str> = plan.deltas.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(
            ids,
            ["pkA:1.0.0->2.0.0", "pkB:1.0.0->2.0.0", "pkB:1.1.0->2.0.0"]
        );
        assert_eq!(plan.deltas[0].name, "pkA-1_0_0-to-2_0_0");
        assert_eq!(plan.deltas[1].src, PathBuf::from("/abs/b-1.0.bin"));
        assert_eq!(plan.deltas[2].src, PathBuf::from("/base/b-1.1.bin"));
        assert_eq!(plan.out_dir, PathBuf::from("/base/p-out"));
        assert!(plan.need_to_verify);
        assert_eq!(plan.build.format, FormatArg::Fwdelta);
        assert_eq!(
            plan.deltas.iter().map(|d| d.index).collect::<Vec<_>>(),
            [0, 1, 2]
        );
    }

    #[test]
    fn shards_cover_the_plan_exactly_once() {
        for n in 1..=7u32 {
            for len in 0..20usize {
                let mut seen = vec![0; len];
                for k in 1..=n {
                    let shard: Shard = format!("{k}/{n}").parse().unwrap();
                    for (i, s) in seen.iter_mut().enumerate() {
                        if shard.owns(i) {
                            *s += 1;
                        }
                    }
                }
                assert!(seen.iter().all(|&c| c == 1), "n={n} len={len}");
            }
        }
        for bad in ["0/3", "4/3", "1/0", "x/2", "3", "1/2/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn templates() {
        let v = [("product", "pk"), ("src", "1.0.0"), ("dest", "1.1.0")];
        assert_eq!(
            render("{product}-{src}-to-{dest}", &v, true).unwrap(),
            "pk-1_0_0-to-1_1_0"
        );
        assert_eq!(
            render("{src} -> {dest}", &v, false).unwrap(),
            "1.0.0 -> 1.1.0"
        );
        assert!(render("{nope}", &v, true).is_err());
        assert!(render("{src", &v, true).is_err());
    }

    #[test]
    fn refusals() {
        let cases = [
            // A dot is not allowed in a FirmwareName.
            (
                TWO.replace("key = \"pkA\"", "key = \"pkA\"\nname = \"fw.{src}\""),
                "FirmwareName",
            ),
            // Same source and destination version.
            (
                TWO.replace("version = \"1.1.0\"", "version = \"2.0.0\""),
                "SrcVersion",
            ),
            // The same delta twice.
            (
                TWO.replace("version = \"1.1.0\"", "version = \"1.0.0\""),
                "listed twice",
            ),
            // Names that collide.
            (format!("name = \"fw-{{src}}\"\n{TWO}"), "also the name"),
            // Unknown keys are typos, not ignored.
            (format!("nmae = \"x\"\n{TWO}"), "nmae"),
            (format!("format = \"zip\"\n{TWO}"), "format"),
            (format!("level = 99\n{TWO}"), "level"),
            (
                format!("desc = \"{}\"\n{TWO}", "x".repeat(101)),
                "FirmwareDesc",
            ),
            ("out_dir = \"x\"".to_string(), "no [[product]]"),
        ];
        for (text, needle) in cases {
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.contains(needle), "expected {needle:?} in: {err}");
        }
    }
}
