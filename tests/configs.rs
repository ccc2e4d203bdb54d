//! Golden pipeline files: every `tests/configs/valid-*.toml` validates; every
//! `invalid-*.toml` fails with exit code 2 and prints each line of its `.expected` file
//! (substring match, in any order) — all problems at once. And every example in
//! `configs/` validates. `@TARGET@` in a file stands for the build directory.

use std::path::{Path, PathBuf};

use daqflow_tests::{daqflow, run_cmd, target_dir};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn golden(prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(workspace().join("tests/configs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(prefix) && n.ends_with(".toml")
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no {prefix}*.toml golden files");
    v
}

/// Copies a golden file into `dir` with `@TARGET@` replaced.
fn instantiate(src: &Path, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(src).unwrap();
    let text = text.replace("@TARGET@", &target_dir().display().to_string());
    let dst = dir.join(src.file_name().unwrap());
    std::fs::write(&dst, text).unwrap();
    dst
}

fn validate(file: &Path) -> daqflow_tests::Outcome {
    let mut c = daqflow();
    c.arg("validate").arg(file);
    run_cmd(c, std::time::Duration::from_secs(60))
}

#[test]
fn valid_golden_files_validate() {
    let dir = tempfile::tempdir().unwrap();
    for src in golden("valid-") {
        let o = validate(&instantiate(&src, dir.path()));
        assert_eq!(o.code(), 0, "{}: {}", src.display(), o.stderr);
        assert!(o.stdout.contains(": OK"), "{}", o.stdout);
    }
}

#[test]
fn invalid_golden_files_report_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for src in golden("invalid-") {
        let expected_path = src.with_extension("expected");
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{} has no .expected file", src.display()));
        let o = validate(&instantiate(&src, dir.path()));
        if o.code() != 2 {
            failures.push(format!(
                "{}: exit {} (want 2)\n{}",
                src.display(),
                o.code(),
                o.stderr
            ));
            continue;
        }
        for line in expected.lines().filter(|l| !l.trim().is_empty()) {
            if !o.stderr.contains(line) {
                failures.push(format!(
                    "{}: missing `{line}` in:\n{}",
                    src.file_name().unwrap().to_string_lossy(),
                    o.stderr
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_example_in_configs_validates() {
    // configs/replay.toml replays the file configs/record-sample.toml records (no data file
    // is kept in git): record it first, as a user would.
    std::fs::create_dir_all(workspace().join("out")).unwrap();
    let mut rec = daqflow();
    rec.arg("run")
        .arg("configs/record-sample.toml")
        .current_dir(workspace());
    let o = run_cmd(rec, std::time::Duration::from_secs(120));
    assert_eq!(o.code(), 0, "configs/record-sample.toml:\n{}", o.stderr);
    let mut n = 0;
    for e in std::fs::read_dir(workspace().join("configs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            // Relative paths in the examples (`out/…`) start at the
            // repository root, where the examples are run from.
            let mut c = daqflow();
            c.arg("validate").arg(&p).current_dir(workspace());
            let o = run_cmd(c, std::time::Duration::from_secs(60));
            assert_eq!(o.code(), 0, "{}:\n{}", p.display(), o.stderr);
            n += 1;
        }
    }
    assert!(n > 0, "configs/ has no examples");
}

#[test]
fn missing_file_is_a_clear_error() {
    let o = validate(Path::new("/nonexistent/pipeline.toml"));
    assert_eq!(o.code(), 2);
    assert!(
        o.stderr
            .contains("/nonexistent/pipeline.toml: cannot read the pipeline file"),
        "{}",
        o.stderr
    );
}

#[test]
fn graph_prints_text_and_dot() {
    let dir = tempfile::tempdir().unwrap();
    let file = instantiate(
        &workspace().join("tests/configs/valid-fanout-and-queues.toml"),
        dir.path(),
    );
    let mut c = daqflow();
    c.arg("graph").arg(&file);
    let o = run_cmd(c, std::time::Duration::from_secs(60));
    assert_eq!(o.code(), 0, "{}", o.stderr);
    for needle in [
        "pipeline \"fan-out\" (6 nodes, 5 lanes)",
        "source   det              plugin=sim_detector",
        "filter   thr              plugin=threshold  <- det [block(16); 256×128 f32]",
        "sink     newest           plugin=discard  <- det [latest; 256×128 f32]",
        "sink     lossy            plugin=discard  <- det [drop_newest(4); 256×128 f32]",
        "sink     lossless         plugin=discard  <- thr [block(64); 256×128 f32]",
    ] {
        assert!(
            o.stdout.contains(needle),
            "missing {needle:?} in:\n{}",
            o.stdout
        );
    }
    let mut c = daqflow();
    c.arg("graph").arg("--dot").arg(&file);
    let o = run_cmd(c, std::time::Duration::from_secs(60));
    assert_eq!(o.code(), 0, "{}", o.stderr);
    assert!(
        o.stdout.starts_with("digraph \"fan-out\" {"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout
            .contains("\"det\" -> \"newest\" [label=\"latest\\n256×128 f32\", style=dashed];"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout
            .contains("\"thr\" -> \"lossless\" [label=\"block(64)\\n256×128 f32\", style=solid];"),
        "{}",
        o.stdout
    );
}
