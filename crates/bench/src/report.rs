//! Totals, goal checks and the Markdown rendering of a [`Report`].

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::compare::{Cell, Report, Status};
use crate::corpus::PairKind;
use crate::measure::Outcome;

/// Sources smaller than this are left out of the worst RSS-per-source-byte figure: below it a
/// process's fixed footprint (interpreter, libraries) dominates the quotient.
pub const RSS_PER_BYTE_MIN_SRC: u64 = 1 << 20;

/// One tool's totals over a set of pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct Totals {
    /// The tool.
    pub tool: String,
    /// Pairs of the set the tool finished exactly.
    pub pairs_ok: usize,
    /// Sum of patch bytes.
    pub patch_bytes: u64,
    /// Geometric mean of patch/destination ratios.
    pub geomean_ratio: f64,
    /// Sum of median diff seconds.
    pub diff_secs: f64,
    /// Sum of median apply seconds.
    pub apply_secs: f64,
    /// Worst diff peak RSS per source byte, over sources of at least
    /// [`RSS_PER_BYTE_MIN_SRC`] bytes.
    pub worst_diff_rss_per_src_byte: Option<f64>,
    /// Worst diff peak RSS, minus the destination size, per source byte (the goal's measure).
    pub worst_diff_rss_less_dst_per_src_byte: Option<f64>,
    /// Largest apply peak RSS, KiB.
    pub max_apply_rss_kib: Option<u64>,
    /// Smallest apply peak RSS, KiB.
    pub min_apply_rss_kib: Option<u64>,
}

/// The pairs of `kind` on which every tool that finished at least one pair of that kind
/// finished exactly, and for each pair left out, why.
pub fn common_pairs(report: &Report, kind: PairKind) -> (Vec<String>, Vec<(String, String)>) {
    let pairs: Vec<&str> = report
        .pairs
        .iter()
        .filter(|p| p.kind == kind)
        .map(|p| p.name.as_str())
        .collect();
    let active: BTreeSet<&str> = report
        .cells
        .iter()
        .filter(|c| c.status == Status::Ok && pairs.contains(&c.pair.as_str()))
        .map(|c| c.tool.as_str())
        .collect();
    let mut common = Vec::new();
    let mut excluded = Vec::new();
    for p in pairs {
        if !report.cells.iter().any(|c| c.pair == p) {
            excluded.push((p.to_string(), "not measured".to_string()));
            continue;
        }
        let bad: Vec<String> = report
            .tools
            .iter()
            .filter(|t| active.contains(t.name.as_str()))
            .filter_map(|t| match report.cell(p, &t.name) {
                Some(c) if c.status == Status::Ok => None,
                Some(c) => Some(format!("{} {}", t.name, status_text(c))),
                None => Some(format!("{} not run", t.name)),
            })
            .collect();
        if active.is_empty() {
            excluded.push((p.to_string(), "no tool finished it".to_string()));
        } else if bad.is_empty() {
            common.push(p.to_string());
        } else {
            excluded.push((p.to_string(), bad.join(", ")));
        }
    }
    (common, excluded)
}

/// The pairs of `kind` that both `a` and `b` finished exactly.
pub fn pairs_both_finished(report: &Report, kind: PairKind, a: &str, b: &str) -> Vec<String> {
    let ok = |p: &str, t: &str| report.cell(p, t).is_some_and(|c| c.status == Status::Ok);
    report
        .pairs
        .iter()
        .filter(|p| p.kind == kind && ok(&p.name, a) && ok(&p.name, b))
        .map(|p| p.name.clone())
        .collect()
}

/// The pairs of `kind` that `tool` finished exactly.
pub fn pairs_finished(report: &Report, kind: PairKind, tool: &str) -> Vec<String> {
    report
        .pairs
        .iter()
        .filter(|p| p.kind == kind)
        .filter(|p| {
            report
                .cell(&p.name, tool)
                .is_some_and(|c| c.status == Status::Ok)
        })
        .map(|p| p.name.clone())
        .collect()
}

/// The totals of every tool over `pairs` (cells that are not [`Status::Ok`] are skipped).
pub fn totals(report: &Report, pairs: &[String]) -> Vec<Totals> {
    report
        .tools
        .iter()
        .map(|t| {
            let cells: Vec<&Cell> = pairs
                .iter()
                .filter_map(|p| report.cell(p, &t.name))
                .filter(|c| c.status == Status::Ok)
                .collect();
            let size_of = |c: &Cell, src: bool| {
                report
                    .pairs
                    .iter()
                    .find(|p| p.name == c.pair)
                    .map_or(0, |p| if src { p.src_size } else { p.dst_size })
            };
            let logs: Vec<f64> = cells.iter().filter_map(|c| c.ratio).map(f64::ln).collect();
            let big: Vec<&&Cell> = cells
                .iter()
                .filter(|c| size_of(c, true) >= RSS_PER_BYTE_MIN_SRC)
                .collect();
            let per_byte = |less_dst: bool| {
                big.iter()
                    .filter_map(|c| {
                        let rss = c.diff_rss_kib? as f64 * 1024.0;
                        let rss = if less_dst {
                            rss - size_of(c, false) as f64
                        } else {
                            rss
                        };
                        Some(rss / size_of(c, true) as f64)
                    })
                    .max_by(f64::total_cmp)
            };
            Totals {
                tool: t.name.clone(),
                pairs_ok: cells.len(),
                patch_bytes: cells.iter().filter_map(|c| c.patch_bytes).sum(),
                geomean_ratio: if logs.is_empty() {
                    f64::NAN
                } else {
                    (logs.iter().sum::<f64>() / logs.len() as f64).exp()
                },
                diff_secs: cells.iter().filter_map(|c| c.diff_secs).sum(),
                apply_secs: cells.iter().filter_map(|c| c.apply_secs).sum(),
                worst_diff_rss_per_src_byte: per_byte(false),
                worst_diff_rss_less_dst_per_src_byte: per_byte(true),
                max_apply_rss_kib: cells.iter().filter_map(|c| c.apply_rss_kib).max(),
                min_apply_rss_kib: cells.iter().filter_map(|c| c.apply_rss_kib).min(),
            }
        })
        .collect()
}

/// Bytes with thousands separators.
pub fn bytes(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn secs(s: f64) -> String {
    if s < 0.1 {
        format!("{:.3}", s)
    } else if s < 10.0 {
        format!("{:.2}", s)
    } else {
        format!("{:.1}", s)
    }
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map_or_else(|| "–".to_string(), f)
}

fn status_text(c: &Cell) -> String {
    let after = c
        .diff_runs
        .iter()
        .chain(&c.apply_runs)
        .find_map(|m| match m.outcome {
            Outcome::Timeout { after_secs } => Some(after_secs),
            _ => None,
        });
    match (c.status, after) {
        (Status::Timeout | Status::ApplyTimeout, Some(t)) => {
            format!("{} (> {t} s)", c.status.label())
        }
        (s, _) => s.label().to_string(),
    }
}

fn find_totals<'a>(t: &'a [Totals], name: &str) -> Option<&'a Totals> {
    t.iter().find(|x| x.tool == name && x.pairs_ok > 0)
}

fn escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Totals of `tool` and `anchor` over the firmware pairs both finished.
fn head_to_head(
    report: &Report,
    tool: &str,
    anchor: &str,
) -> Option<(Totals, Totals, Vec<String>)> {
    let pairs = pairs_both_finished(report, PairKind::Firmware, tool, anchor);
    if pairs.is_empty() {
        return None;
    }
    let t = totals(report, &pairs);
    let get = |n: &str| t.iter().find(|x| x.tool == n).cloned();
    Some((get(tool)?, get(anchor)?, pairs))
}

/// The goal lines of the issue, measured: where fwdelta stands. Each comparison is over the
/// firmware pairs that both tools finished.
pub fn goals(report: &Report) -> Vec<String> {
    let mut out = Vec::new();
    let fw_pairs = pairs_finished(report, PairKind::Firmware, "fwdelta");
    if fw_pairs.is_empty() {
        out.push(
            "fwdelta has no finished firmware pair in this run: no goal can be checked.".into(),
        );
        return out;
    }
    let verdict = |ok: bool| if ok { "met" } else { "**not met**" };
    let n_fw = report
        .pairs
        .iter()
        .filter(|p| p.kind == PairKind::Firmware)
        .count();
    for (anchor, label, goal) in [
        ("bsdiff-4.3", "bsdiff 4.3", 0.85),
        ("hdiffpatch-lzma2", "HDiffPatch lzma2", 1.0),
    ] {
        match head_to_head(report, "fwdelta", anchor) {
            Some((f, a, pairs)) => {
                let r = f.patch_bytes as f64 / a.patch_bytes as f64;
                out.push(format!(
                    "Patch size vs {label} (goal ≤ {goal}×): {r:.3}× ({} vs {} bytes over the {} of {n_fw} firmware pairs both finished) — {}",
                    bytes(f.patch_bytes),
                    bytes(a.patch_bytes),
                    pairs.len(),
                    verdict(r <= goal)
                ));
            }
            None => out.push(format!(
                "Patch size vs {label}: no firmware pair both finished."
            )),
        }
    }
    // Smaller than every anchor on every firmware pair.
    let mut losses = Vec::new();
    let mut unmeasured = Vec::new();
    for p in report.pairs.iter().filter(|p| p.kind == PairKind::Firmware) {
        let Some(f) = report
            .cell(&p.name, "fwdelta")
            .filter(|c| c.status == Status::Ok)
            .and_then(|c| c.patch_bytes)
        else {
            unmeasured.push(p.name.clone());
            continue;
        };
        let beaten: Vec<String> = report
            .cells
            .iter()
            .filter(|c| c.pair == p.name && c.status == Status::Ok)
            .filter(|c| !c.tool.starts_with("fwdelta"))
            .filter(|c| c.patch_bytes.is_some_and(|b| b <= f))
            .map(|c| format!("{} {}", c.tool, bytes(c.patch_bytes.unwrap_or(0))))
            .collect();
        if !beaten.is_empty() {
            losses.push(format!(
                "{} (fwdelta {}): {}",
                p.name,
                bytes(f),
                beaten.join(", ")
            ));
        }
    }
    let unmeasured = if unmeasured.is_empty() {
        String::new()
    } else {
        format!(" (fwdelta not measured on {})", unmeasured.join(", "))
    };
    out.push(if losses.is_empty() {
        format!("Smaller than every anchor on every firmware pair — met{unmeasured}")
    } else {
        format!(
            "Smaller than every anchor on every firmware pair — **not met**{unmeasured}; anchors at or below fwdelta: {}",
            losses.join("; ")
        )
    });
    for (anchor, label, goal) in [
        ("bsdiff-4.3", "bsdiff 4.3", 0.2),
        ("hdiffpatch-lzma2", "HDiffPatch lzma2", 1.0),
    ] {
        match head_to_head(report, "fwdelta", anchor) {
            Some((f, a, pairs)) if a.diff_secs > 0.0 => {
                let r = f.diff_secs / a.diff_secs;
                let nv = head_to_head(report, "fwdelta-noverify", anchor)
                    .filter(|(_, a2, p2)| p2 == &pairs && a2.diff_secs > 0.0)
                    .map(|(n, a2, _)| format!("; `--no-verify` {:.3}×", n.diff_secs / a2.diff_secs))
                    .unwrap_or_default();
                out.push(format!(
                    "Diff time vs {label} (goal ≤ {goal}×): {r:.3}× ({} s vs {} s over {} pairs{nv}) — {}",
                    secs(f.diff_secs),
                    secs(a.diff_secs),
                    pairs.len(),
                    verdict(r <= goal)
                ));
            }
            _ => out.push(format!(
                "Diff time vs {label}: no firmware pair both finished."
            )),
        }
    }
    let all = totals(report, &fw_pairs);
    let fw = all.iter().find(|t| t.tool == "fwdelta");
    match fw.and_then(|f| f.worst_diff_rss_less_dst_per_src_byte) {
        Some(b) => out.push(format!(
            "Diff memory (goal ≤ 6 bytes per source byte plus the destination): worst (peak RSS − destination size) / source size = {b:.2} over sources ≥ 1 MiB — {}",
            verdict(b <= 6.0)
        )),
        None => out.push("Diff memory: no finished pair with a source of at least 1 MiB.".into()),
    }
    if let Some((lo, hi)) = fw.and_then(|f| f.min_apply_rss_kib.zip(f.max_apply_rss_kib)) {
        let sizes: Vec<u64> = fw_pairs
            .iter()
            .filter_map(|p| report.pairs.iter().find(|x| &x.name == p))
            .map(|p| p.dst_size)
            .collect();
        out.push(format!(
            "Apply memory (goal: independent of image size): {} to {} peak RSS for destinations of {} to {} bytes",
            mib(lo),
            mib(hi),
            bytes(sizes.iter().copied().min().unwrap_or(0)),
            bytes(sizes.iter().copied().max().unwrap_or(0))
        ));
    }
    match head_to_head(report, "fwdelta", "bsdiff-4.3") {
        Some((f, b, pairs)) if b.apply_secs > 0.0 => {
            let r = f.apply_secs / b.apply_secs;
            out.push(format!(
                "Apply time vs bspatch (goal ≤ 1×): {r:.3}× ({} s vs {} s over {} pairs) — {}",
                secs(f.apply_secs),
                secs(b.apply_secs),
                pairs.len(),
                verdict(r <= 1.0)
            ));
        }
        _ => out.push("Apply time vs bspatch: no firmware pair both finished.".into()),
    }
    out
}

/// A totals table; `compare_to_bsdiff` adds each row's size relative to bsdiff 4.3's (only
/// meaningful when every row covers the same pairs).
fn totals_table(
    s: &mut String,
    report: &Report,
    kind: PairKind,
    t: &[Totals],
    compare_to_bsdiff: bool,
) {
    let bs_total = find_totals(t, "bsdiff-4.3")
        .map(|b| b.patch_bytes)
        .filter(|_| compare_to_bsdiff);
    let _ = writeln!(
        s,
        "\n| tool | pairs | patch bytes | vs bsdiff 4.3 | geomean ratio | diff s | worst diff RSS / src byte | apply s | apply peak RSS |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for x in t {
        if x.pairs_ok == 0 {
            let of_kind = |pair: &str| {
                report
                    .pairs
                    .iter()
                    .any(|p| p.name == pair && p.kind == kind)
            };
            let statuses: BTreeSet<String> = report
                .cells
                .iter()
                .filter(|c| c.tool == x.tool && of_kind(&c.pair))
                .map(|c| c.status.label().to_string())
                .collect();
            let what = if statuses.is_empty() {
                "not run".to_string()
            } else {
                statuses.into_iter().collect::<Vec<_>>().join(", ")
            };
            let _ = writeln!(s, "| {} | 0 | {what} | | | | | | |", x.tool);
            continue;
        }
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.4} | {} | {} | {} | {} |",
            x.tool,
            x.pairs_ok,
            bytes(x.patch_bytes),
            opt(bs_total, |b| format!(
                "{:.3}×",
                x.patch_bytes as f64 / b as f64
            )),
            x.geomean_ratio,
            secs(x.diff_secs),
            opt(x.worst_diff_rss_per_src_byte, |b| format!("{b:.2}")),
            secs(x.apply_secs),
            match (x.min_apply_rss_kib, x.max_apply_rss_kib) {
                (Some(a), Some(b)) if a != b => format!("{}–{}", mib(a), mib(b)),
                (_, Some(b)) => mib(b),
                _ => "–".into(),
            }
        );
    }
}

/// The Markdown report: tools, totals, goals, the patch-size matrix and one table per pair.
pub fn markdown(report: &Report) -> String {
    let mut s = String::new();
    let m = &report.machine;
    let _ = writeln!(s, "# fwdelta-bench comparison\n");
    let _ = writeln!(
        s,
        "- Machine: {} ({} logical CPUs, {} RAM), Linux {}",
        m.cpu,
        m.cores,
        mib(m.mem_total_kib),
        m.kernel
    );
    let _ = writeln!(
        s,
        "- Load average at start: {}; at end: {}",
        m.load_before,
        m.load_after.as_deref().unwrap_or("(run not finished)")
    );
    let large = match (report.runs_large, report.large_bytes) {
        (Some(r), Some(b)) if r != report.runs => {
            format!(" ({r} for sources of {} bytes or more)", bytes(b))
        }
        _ => String::new(),
    };
    let gen_timeout = match report.timeout_generated_secs {
        Some(t) if t != report.timeout_secs => format!(" ({t} s on generated pairs)"),
        _ => String::new(),
    };
    let _ = writeln!(
        s,
        "- {} run(s) per tool and pair{large}, the median quoted; every process capped at {} s{gen_timeout}; peak RSS: {}",
        report.runs, report.timeout_secs, m.rss_source
    );
    if let Some(n) = &report.note {
        let _ = writeln!(s, "- Note: {n}");
    }
    if report.finished_unix.is_none() {
        let _ = writeln!(
            s,
            "- **Partial**: the run had not finished when this was written."
        );
    }
    let _ = writeln!(s, "- Command: `{}`\n", report.command_line);

    let _ = writeln!(s, "## Tools\n");
    let _ = writeln!(s, "| tool | version | settings | diff | apply |");
    let _ = writeln!(s, "|---|---|---|---|---|");
    for t in &report.tools {
        let version = match (&t.missing_reason, &t.version) {
            (Some(why), _) => format!("**missing**: {}", escape(why)),
            (None, Some(v)) => escape(v.lines().next().unwrap_or("")),
            (None, None) => "".into(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | `{}` | `{}` |",
            t.name,
            version,
            escape(&t.settings),
            escape(&t.diff_command),
            escape(&t.apply_command)
        );
    }

    for (kind, title) in [
        (PairKind::Firmware, "firmware corpus"),
        (PairKind::Generated, "generated pairs"),
    ] {
        if !report.pairs.iter().any(|p| p.kind == kind) {
            continue;
        }
        let (common, excluded) = common_pairs(report, kind);
        let t = totals(report, &common);
        let _ = writeln!(s, "\n## Totals: {title}\n");
        if !report.cells.iter().any(|c| {
            report
                .pairs
                .iter()
                .any(|p| p.name == c.pair && p.kind == kind)
        }) {
            let _ = writeln!(s, "Not measured in this run.");
            continue;
        }
        let _ = writeln!(
            s,
            "Over the {} pair(s) every tool with a result finished exactly: {}.",
            common.len(),
            if common.is_empty() {
                "none".into()
            } else {
                common.join(", ")
            }
        );
        for (p, why) in &excluded {
            let _ = writeln!(s, "Left out: {p} ({why}).");
        }
        totals_table(&mut s, report, kind, &t, true);
        if kind == PairKind::Firmware {
            let _ = writeln!(
                s,
                "\nEach tool over every firmware pair it finished (the pair counts differ, so compare rows with care):\n"
            );
            let mut own: Vec<Totals> = Vec::new();
            for tool in &report.tools {
                let pairs = pairs_finished(report, kind, &tool.name);
                let t = totals(report, &pairs);
                if let Some(x) = t.into_iter().find(|x| x.tool == tool.name) {
                    own.push(x);
                }
            }
            totals_table(&mut s, report, kind, &own, false);
        }
        if kind == PairKind::Firmware {
            let _ = writeln!(s, "\n### Goals (firmware corpus)\n");
            for g in goals(report) {
                let _ = writeln!(s, "- {g}");
            }
        }
    }

    let _ = writeln!(s, "\n## Patch bytes by pair\n");
    let _ = writeln!(
        s,
        "Smallest per pair in bold; a status instead of a number when the tool did not finish.\n"
    );
    let _ = write!(s, "| pair | dst bytes |");
    for t in &report.tools {
        let _ = write!(s, " {} |", t.name);
    }
    let _ = write!(s, "\n|---|---:|");
    for _ in &report.tools {
        let _ = write!(s, "---:|");
    }
    let _ = writeln!(s);
    for p in &report.pairs {
        let best = report
            .cells
            .iter()
            .filter(|c| c.pair == p.name && c.status == Status::Ok)
            .filter_map(|c| c.patch_bytes)
            .min();
        let _ = write!(s, "| {} | {} |", p.name, bytes(p.dst_size));
        for t in &report.tools {
            let cell = match report.cell(&p.name, &t.name) {
                Some(c) if c.status == Status::Ok => {
                    let b = c.patch_bytes.unwrap_or(0);
                    if Some(b) == best {
                        format!("**{}**", bytes(b))
                    } else {
                        bytes(b)
                    }
                }
                Some(c) => status_text(c),
                None => "".into(),
            };
            let _ = write!(s, " {cell} |");
        }
        let _ = writeln!(s);
    }

    let _ = writeln!(s, "\n## Each pair\n");
    for p in &report.pairs {
        let _ = writeln!(
            s,
            "### {} ({:?}: {} → {} bytes)\n",
            p.name,
            p.kind,
            bytes(p.src_size),
            bytes(p.dst_size)
        );
        let _ = writeln!(
            s,
            "| tool | patch bytes | ratio | diff s | diff peak RSS | apply s | apply peak RSS | round trip |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---|");
        for t in &report.tools {
            let Some(c) = report.cell(&p.name, &t.name) else {
                continue;
            };
            let trip = match (c.status, c.round_trip_exact) {
                (Status::Ok, Some(true)) => "exact".to_string(),
                _ => status_text(c),
            };
            let varied = if c.patch_bytes_varied {
                " (varied)"
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "| {} | {}{} | {} | {} | {} | {} | {} | {} |",
                t.name,
                opt(c.patch_bytes, bytes),
                varied,
                opt(c.ratio, |r| format!("{r:.4}")),
                opt(c.diff_secs, secs),
                opt(c.diff_rss_kib, mib),
                opt(c.apply_secs, secs),
                opt(c.apply_rss_kib, mib),
                trip
            );
        }
        let notes: Vec<&Cell> = report
            .cells
            .iter()
            .filter(|c| c.pair == p.name && c.message.is_some() && c.status != Status::Missing)
            .collect();
        for c in notes {
            let msg = c.message.as_deref().unwrap_or("");
            let msg: String = msg.chars().take(300).collect();
            let _ = writeln!(s, "\n{}: {}", c.tool, escape(&msg));
        }
        let _ = writeln!(s);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands() {
        assert_eq!(bytes(0), "0");
        assert_eq!(bytes(999), "999");
        assert_eq!(bytes(1000), "1,000");
        assert_eq!(bytes(1234567), "1,234,567");
    }
}
