//! The comparison end to end on tiny generated pairs, with the Rust anchors (built into this
//! binary) and a fwdelta that is not there (reported missing, not dropped).
use std::path::PathBuf;
use std::time::Duration;

use fwdelta_bench::compare::{compare, CompareOptions, Report, Status};
use fwdelta_bench::corpus::write_generated;
use fwdelta_bench::tools::{Tool, ToolEnv, ANCHORS_PY};

#[test]
fn compare_writes_table_json_and_charts() {
    let dir = tempfile::tempdir().unwrap();
    let pairs = write_generated(
        &dir.path().join("gen"),
        &["gen-firmware8m".into(), "gen-zero16m".into()],
        256 << 10,
    )
    .unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("anchors.py"), ANCHORS_PY).unwrap();
    let opts = CompareOptions {
        pairs,
        tools: vec![Tool::Fwdelta, Tool::Qbsdiff, Tool::Bidiff],
        runs: 2,
        runs_large: 1,
        large_bytes: 200 << 10,
        timeout: Duration::from_secs(120),
        timeout_generated: Duration::from_secs(120),
        out_dir: out.clone(),
        env: ToolEnv {
            fwdelta: PathBuf::from("/nonexistent/fwdelta"),
            python: PathBuf::from("/nonexistent/python"),
            bench_exe: PathBuf::from(env!("CARGO_BIN_EXE_fwdelta-bench")),
            anchors_py: out.join("anchors.py"),
            fwdelta_threads: None,
        },
        resume: false,
        rerun: vec![],
        keep_patches: false,
        note: Some("test".into()),
        command_line: "test".into(),
    };
    let mut lines = Vec::new();
    let report = compare(&opts, &mut |l| lines.push(l.to_string())).unwrap();
    assert_eq!(report.cells.len(), 6);
    for c in &report.cells {
        if c.tool == "fwdelta" {
            assert_eq!(c.status, Status::Missing);
            assert!(c.message.as_deref().unwrap_or("").contains("not found"));
        } else {
            assert_eq!(c.status, Status::Ok, "{c:?}");
            assert_eq!(c.round_trip_exact, Some(true));
            // The 256 KiB zero pair counts as large here: one run.
            let runs = if c.pair == "gen-zero16m" { 1 } else { 2 };
            assert_eq!(c.diff_runs.len(), runs);
            assert_eq!(c.apply_runs.len(), runs);
            assert!(
                c.patch_bytes.unwrap() > 0 && c.ratio.unwrap() < 0.5,
                "{c:?}"
            );
            assert!(c.diff_secs.unwrap() > 0.0);
        }
    }
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert!(md.contains("**missing**"), "missing tools are reported");
    assert!(md.contains("| qbsdiff |"));
    assert!(md.contains("## Totals: generated pairs"));
    for svg in ["chart.svg", "chart-pairs.svg"] {
        let s = std::fs::read_to_string(out.join(svg)).unwrap();
        assert!(s.starts_with("<svg") && s.contains("qbsdiff"), "{svg}");
    }
    let json: Report =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    // (Floats may differ in the last bit through JSON.)
    assert_eq!(json.pairs, report.pairs);
    let view = |r: &Report| -> Vec<_> {
        r.cells
            .iter()
            .map(|c| (c.pair.clone(), c.tool.clone(), c.status, c.patch_bytes))
            .collect()
    };
    assert_eq!(view(&json), view(&report));
    // Patches are cleaned up unless asked to keep them.
    assert!(!out.join("work/gen-zero16m/qbsdiff/patch").exists());

    // Resume reuses finished cells.
    let again = compare(
        &CompareOptions {
            resume: true,
            ..opts
        },
        &mut |_| {},
    )
    .unwrap();
    let q = |r: &Report| r.cell("gen-zero16m", "qbsdiff").unwrap().diff_runs[0].max_rss_kib;
    assert_eq!(q(&again), q(&report));
    assert!(!lines.is_empty());
}
