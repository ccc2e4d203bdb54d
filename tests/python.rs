//! The `python` filter and `python_sink` through the real core: numpy scripts between
//! `sim_detector` and `hdf5` checked with h5py, exceptions (fail and skip), frames Python
//! keeps, a virtualenv, `validate`'s static check of the script, and Ctrl-C. Each loading
//! pitfall has its regression test here (numpy's extension modules in a library loaded
//! with local symbols; the virtualenv really selected and version-checked).

use std::path::Path;
use std::time::Duration;

use daqflow_tests::{daqflow, run_cmd, run_pipeline, run_python, toml_path, validate_text};

fn write(dir: &Path, name: &str, code: &str) {
    std::fs::write(dir.join(name), code).unwrap();
}

/// Fails with the output when a run did not succeed.
fn assert_ok(o: &daqflow_tests::Outcome) {
    assert_eq!(o.code(), 0, "stdout:\n{}\nstderr:\n{}", o.stdout, o.stderr);
}

#[test]
fn numpy_filters_between_sim_detector_and_hdf5_match_numpy() {
    // Also the regression test for numpy's extension modules in a plugin the core loads
    // with local symbols (`undefined symbol: PyObject_SelfIter` without the fix).
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "clip.py",
        "def setup(args):\n    global level\n    level = args['level']\n    print('clip level', level)\n\n\
         def process(frame, meta):\n    frame[frame < level] = 0\n",
    );
    write(
        d,
        "double.py",
        "import numpy as np\nimport logging\nlog = logging.getLogger('double')\n\n\
         def process(frame, meta):\n    if meta['frame_number'] == 0:\n        log.info('first frame %s', frame.shape)\n\
         \x20   meta['scale'] = 2.0\n    return frame.astype(np.float32) * 2\n",
    );
    // A sink from the other Python library: its output is tagged with its own node too.
    write(
        d,
        "count.py",
        "n = 0\n\ndef process(frame, meta):\n    global n\n    n += 1\n\n\
         def done():\n    print('sink saw', n, 'frames')\n",
    );
    let raw = d.join("raw.h5");
    let processed = d.join("processed.h5");
    // Scripts are named relative to the pipeline file, and the run starts elsewhere.
    let toml = format!(
        "[pipeline]\nstop_after_frames = 12\n\n\
         [sources.det]\nplugin = \"sim_detector\"\nwidth = 96\nheight = 64\ndtype = \"u16\"\nrate_hz = 0\nseed = 3\n\n\
         [filters.clip]\nplugin = \"python\"\ninputs = [\"det\"]\nscript = \"clip.py\"\nsetup = \"setup\"\nargs = {{ level = 300 }}\n\n\
         [filters.double]\nplugin = \"python\"\ninputs = [\"clip\"]\nscript = \"double.py\"\n\n\
         [sinks.processed]\nplugin = \"hdf5\"\ninputs = [\"double\"]\npath = {}\n\n\
         [sinks.counter]\nplugin = \"python_sink\"\ninputs = [\"double\"]\nscript = \"count.py\"\nteardown = \"done\"\n\n\
         [sinks.raw]\nplugin = \"hdf5\"\ninputs = [\"det\"]\npath = {}\n",
        toml_path(&processed),
        toml_path(&raw)
    );
    let o = run_pipeline(d, &toml, Duration::from_secs(120));
    assert_ok(&o);
    // `double` is the only consumer of `clip`'s frames: edited in place, never copied.
    // (`clip` copies the frames it still shares with `raw`; how many depends on timing,
    // so the raw file's content is what is checked.)
    assert_eq!(o.node("double")["copies"], 0, "{:#?}", o.report);
    // print and logging reach daqflow's log, tagged with the node.
    let line = |needle: &str, node: &str| {
        o.stderr
            .lines()
            .any(|l| l.contains(needle) && l.contains(node))
    };
    assert!(line("clip level 300", "clip"), "{}", o.stderr);
    assert!(
        line("double: first frame (64, 96)", "double"),
        "{}",
        o.stderr
    );
    let out = run_python(
        r#"
raw = h5py.File(sys.argv[1], "r")["/entry/instrument/detector"]
out = h5py.File(sys.argv[2], "r")["/entry/instrument/detector"]
frames = raw["data"][()]
assert frames.shape == (12, 64, 96) and frames.dtype == np.uint16, frames.shape
assert (frames < 300).any() and (frames >= 300).any(), "the test needs both sides of the level"
want = np.where(frames < 300, 0, frames).astype(np.float32) * 2
data = out["data"][()]
assert data.dtype == np.float32, data.dtype
assert np.array_equal(data, want), "processed pixels differ"
assert np.array_equal(out["frame_number"][()], raw["frame_number"][()])
assert list(out["frame_metadata"]["scale"][()]) == [2.0] * 12
print("ok", data.shape)
"#,
        &[raw.to_str().unwrap(), processed.to_str().unwrap()],
    );
    assert!(out.contains("ok (12, 64, 96)"), "{out}");
}

fn raising_pipeline(d: &Path, on_error: &str) -> daqflow_tests::Outcome {
    write(
        d,
        "boom.py",
        "def check(n):\n    if n == 5:\n        raise RuntimeError('detector glitch on frame %d' % n)\n\n\
         def process(frame, meta):\n    check(meta['frame_number'])\n",
    );
    let toml = format!(
        "[pipeline]\nstop_after_frames = 10\n\n\
         [sources.det]\nplugin = \"sim_detector\"\nwidth = 32\nheight = 16\nrate_hz = 0\n\n\
         [filters.boom]\nplugin = \"python\"\ninputs = [\"det\"]\nscript = \"boom.py\"\non_error = \"{on_error}\"\n\n\
         [sinks.file]\nplugin = \"hdf5\"\ninputs = [\"boom\"]\npath = {}\n",
        toml_path(&d.join("out.h5"))
    );
    run_pipeline(d, &toml, Duration::from_secs(120))
}

#[test]
fn an_exception_fails_the_run_with_its_traceback_and_a_readable_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = raising_pipeline(d, "fail");
    assert_ne!(o.code(), 0, "{}", o.stderr);
    let err = o.node("boom")["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for needle in [
        "Python raised in `process` on frame 5",
        "boom.py\", line 6, in process",
        "boom.py\", line 3, in check",
        "RuntimeError: detector glitch on frame 5",
    ] {
        assert!(err.contains(needle), "report error lacks {needle:?}: {err}");
        assert!(
            o.stderr.contains(needle),
            "log lacks {needle:?}: {}",
            o.stderr
        );
    }
    let out = run_python(
        r#"
d = h5py.File(sys.argv[1], "r")["/entry/instrument/detector"]
print("frames", d["frame_number"][()].tolist(), d["data"].shape)
"#,
        &[d.join("out.h5").to_str().unwrap()],
    );
    assert!(out.contains("frames [0, 1, 2, 3, 4] (5, 16, 32)"), "{out}");
}

#[test]
fn on_error_skip_counts_the_frame_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = raising_pipeline(d, "skip");
    assert_ok(&o);
    assert_eq!(o.node("boom")["counters"]["frames_skipped"], 1);
    assert_eq!(o.node("boom")["frames_out"], 9);
    assert!(
        o.stderr
            .contains("RuntimeError: detector glitch on frame 5"),
        "{}",
        o.stderr
    );
    let out = run_python(
        r#"
d = h5py.File(sys.argv[1], "r")["/entry/instrument/detector"]
print("frames", d["frame_number"][()].tolist())
"#,
        &[d.join("out.h5").to_str().unwrap()],
    );
    assert!(out.contains("frames [0, 1, 2, 3, 4, 6, 7, 8, 9]"), "{out}");
}

#[test]
fn frames_python_keeps_stay_with_it_and_downstream_is_unaffected() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "keep.py",
        "kept = []\n\ndef process(frame, meta):\n    if len(kept) < 10:\n        kept.append(frame)\n\
         \x20   for k in kept:\n        k[:] = 12345\n",
    );
    let (raw, processed) = (d.join("raw.h5"), d.join("processed.h5"));
    let toml = format!(
        "[pipeline]\nstop_after_frames = 30\n\n\
         [sources.det]\nplugin = \"sim_detector\"\nwidth = 64\nheight = 32\nrate_hz = 0\nseed = 9\n\n\
         [filters.keep]\nplugin = \"python\"\ninputs = [\"det\"]\nscript = \"keep.py\"\n\n\
         [sinks.processed]\nplugin = \"hdf5\"\ninputs = [\"keep\"]\npath = {}\n\n\
         [sinks.raw]\nplugin = \"hdf5\"\ninputs = [\"det\"]\npath = {}\n",
        toml_path(&processed),
        toml_path(&raw)
    );
    let o = run_pipeline(d, &toml, Duration::from_secs(120));
    assert_ok(&o);
    assert_eq!(o.node("keep")["counters"]["frames_kept_by_python"], 10);
    let out = run_python(
        r#"
raw = h5py.File(sys.argv[1], "r")["/entry/instrument/detector"]["data"][()]
out = h5py.File(sys.argv[2], "r")["/entry/instrument/detector"]["data"][()]
assert raw.shape == out.shape == (30, 32, 64)
assert not (raw == 12345).all(axis=(1, 2)).any(), "raw frames were changed"
# Frames 0-9 were kept: each went downstream as the function left it (all 12345);
# later writes to the kept arrays changed nothing downstream: frames 10-29 are raw.
assert (out[:10] == 12345).all()
assert np.array_equal(out[10:], raw[10:])
print("ok")
"#,
        &[raw.to_str().unwrap(), processed.to_str().unwrap()],
    );
    assert!(out.contains("ok"), "{out}");
}

#[test]
fn venv_selects_its_interpreter_prefix_and_a_wrong_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let venv = d.join("env");
    let made = std::process::Command::new("/usr/bin/python3.11")
        .args(["-m", "venv", "--system-site-packages", "--without-pip"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(made.success(), "python3.11 -m venv failed");
    let report = d.join("prefix.txt");
    write(
        d,
        "where.py",
        "import sys\n\ndef setup(args):\n    open(args['out'], 'w').write(sys.prefix)\n\n\
         def process(frame, meta):\n    pass\n",
    );
    let toml = format!(
        "[pipeline]\nstop_after_frames = 2\n\n\
         [sources.det]\nplugin = \"sim_detector\"\nwidth = 8\nheight = 8\nrate_hz = 0\n\n\
         [sinks.py]\nplugin = \"python_sink\"\ninputs = [\"det\"]\nscript = \"where.py\"\nsetup = \"setup\"\nvenv = \"env\"\nargs = {{ out = {} }}\n",
        toml_path(&report)
    );
    let o = run_pipeline(d, &toml, Duration::from_secs(120));
    assert_ok(&o);
    let prefix = std::fs::read_to_string(&report).unwrap();
    assert_eq!(
        Path::new(&prefix).canonicalize().unwrap(),
        venv.canonicalize().unwrap()
    );

    // A virtualenv of another Python version is refused at validate, with the fix.
    let old = d.join("old");
    std::fs::create_dir_all(old.join("bin")).unwrap();
    std::fs::write(
        old.join("pyvenv.cfg"),
        "home = /opt/py39/bin\nversion = 3.9.18\n",
    )
    .unwrap();
    let o = validate_text(d, &toml.replace("venv = \"env\"", "venv = \"old\""));
    assert_eq!(o.code(), 2, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("pipeline.toml:15: node `py`: setting `venv`")
            && o.stderr
                .contains("is for Python 3.9.18, but this plugin runs libpython 3.11")
            && o.stderr.contains("-m venv"),
        "{}",
        o.stderr
    );
}

#[test]
fn validate_finds_syntax_errors_and_missing_functions_without_running_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let marker = d.join("module-ran");
    let side = format!("open({:?}, 'w').close()\n", marker.display().to_string());
    write(
        d,
        "broken.py",
        &format!("{side}\ndef process(frame, meta):\n    x = [1, 2\n    return x\n"),
    );
    write(
        d,
        "misnamed.py",
        &format!("{side}\ndef proces(frame, meta):\n    pass\n"),
    );
    let toml = "[sources.det]\nplugin = \"sim_detector\"\n\n\
                [filters.a]\nplugin = \"python\"\ninputs = [\"det\"]\nscript = \"broken.py\"\n\n\
                [sinks.b]\nplugin = \"python_sink\"\ninputs = [\"a\"]\nscript = \"misnamed.py\"\n";
    let o = validate_text(d, toml);
    assert_eq!(o.code(), 2, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("pipeline.toml:7: node `a`: setting `script`")
            && o.stderr.contains("broken.py:4:")
            && o.stderr.contains("SyntaxError"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("node `b`: setting `function`")
            && o.stderr
                .contains("misnamed.py defines no top-level `process`")
            && o.stderr.contains("Did you mean `proces`?"),
        "{}",
        o.stderr
    );
    assert!(!marker.exists(), "validate ran the script's module code");
}

#[test]
fn ctrl_c_stays_with_daqflow_and_stops_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "slow.py",
        "import time\n\ndef process(frame, meta):\n    if meta['frame_number'] == 3:\n        print('python-is-running')\n\
         \x20   time.sleep(0.01)\n",
    );
    let out = d.join("out.h5");
    let toml = format!(
        "[sources.det]\nplugin = \"sim_detector\"\nwidth = 32\nheight = 32\nrate_hz = 200\n\n\
         [filters.slow]\nplugin = \"python\"\ninputs = [\"det\"]\nscript = \"slow.py\"\n\n\
         [sinks.file]\nplugin = \"hdf5\"\ninputs = [\"slow\"]\npath = {}\n",
        toml_path(&out)
    );
    let file = d.join("pipeline.toml");
    std::fs::write(&file, toml).unwrap();
    let report = d.join("report.json");
    let mut cmd = daqflow();
    cmd.arg("run")
        .arg("--quiet")
        .arg("--report")
        .arg(&report)
        .arg(&file);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // Wait until Python runs frames, then Ctrl-C.
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(stderr).lines();
        let mut log = Vec::new();
        for l in lines.by_ref() {
            let Ok(l) = l else { break };
            let hit = l.contains("python-is-running");
            log.push(l);
            if hit {
                break;
            }
        }
        (lines, log)
    });
    let (lines, mut log) = reader.join().unwrap();
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = daqflow_tests::wait_or_kill(&mut child, Duration::from_secs(60), "daqflow");
    log.extend(lines.map_while(Result::ok));
    assert_eq!(status.code(), Some(0), "{}", log.join("\n"));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let nodes = r["nodes"].as_array().unwrap();
    let get = |n: &str| nodes.iter().find(|x| x["name"] == n).unwrap().clone();
    let written = get("file")["frames_in"].as_u64().unwrap();
    assert!(written >= 4, "{r:#}");
    assert_eq!(get("slow")["frames_out"], written, "{r:#}");
    assert!(
        !log.iter().any(|l| l.contains("KeyboardInterrupt")),
        "{}",
        log.join("\n")
    );
    let out = run_python(
        "d = h5py.File(sys.argv[1], 'r')['/entry/instrument/detector']\nprint('n', d['data'].shape[0])\n",
        &[out.to_str().unwrap()],
    );
    assert!(out.contains(&format!("n {written}")), "{out} vs {written}");
}

#[test]
fn daqflow_plugins_shows_both_python_plugins_settings() {
    for name in ["python", "python_sink"] {
        let mut c = daqflow();
        c.arg("plugins").arg(name);
        let o = run_cmd(c, Duration::from_secs(60));
        assert_eq!(o.code(), 0, "{}", o.stderr);
        for s in ["script", "function", "venv", "on_error", "readonly"] {
            assert!(o.stdout.contains(s), "{name}: {s} missing:\n{}", o.stdout);
        }
    }
}
