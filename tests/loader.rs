//! The loader on real libraries: a non-plugin file, a shared library without the entry
//! symbol, a descriptor with bad magic, a plugin of another ABI major — each refused with
//! its own message naming the file; and `daqflow plugins` listing what it finds.

use std::time::Duration;

use daqflow_tests::{daqflow, run_cmd, target_dir, test_plugin, toml_path, validate_text};

fn validate_with_plugin(lib: &std::path::Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    let o = validate_text(
        dir.path(),
        &format!(
            "[sources.det]\nplugin = {}\n\n[sinks.out]\nplugin = \"discard\"\ninputs = [\"det\"]\n",
            toml_path(lib)
        ),
    );
    assert_eq!(o.code(), 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("pipeline.toml:2: node `det`:"),
        "{}",
        o.stderr
    );
    o.stderr
}

#[test]
fn refuses_a_file_that_is_not_a_shared_library() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libdaqflow_plugin_fake.so");
    std::fs::write(&fake, "this is not an ELF file\n").unwrap();
    let err = validate_with_plugin(&fake);
    assert!(err.contains("cannot load as a shared library"), "{err}");
    assert!(err.contains("libdaqflow_plugin_fake.so"), "{err}");
    // dlerror()'s detail is kept.
    assert!(
        err.contains("invalid ELF header") || err.contains("file too short"),
        "{err}"
    );
}

#[test]
fn refuses_a_library_without_the_entry_symbol() {
    let err = validate_with_plugin(&test_plugin("no_entry"));
    assert!(err.contains("libdaqflow_testplugin_no_entry.so: not a daqflow plugin: it does not export `daqflow_plugin_entry`"), "{err}");
}

#[test]
fn refuses_a_descriptor_with_bad_magic() {
    let err = validate_with_plugin(&test_plugin("bad_magic"));
    assert!(err.contains("libdaqflow_testplugin_bad_magic.so: `daqflow_plugin_entry` does not return a daqflow plugin descriptor (bad magic"), "{err}");
}

#[test]
fn refuses_another_abi_major_naming_both_versions() {
    // The bad_abi library aborts the process if any of its functions is called: this also
    // proves the versions are checked before calling into the plugin.
    let err = validate_with_plugin(&test_plugin("bad_abi"));
    assert!(
        err.contains("libdaqflow_testplugin_bad_abi.so: plugin ABI 99.3 is not supported by this daqflow (ABI 1.2); rebuild the plugin against daqflow-sdk"),
        "{err}"
    );
}

#[test]
fn plugins_lists_the_search_path_and_reports_broken_candidates() {
    let dir = tempfile::tempdir().unwrap();
    // Candidates by name: a broken one and a wrong-ABI one.
    std::fs::write(dir.path().join("libdaqflow_plugin_broken.so"), "junk").unwrap();
    std::fs::copy(
        test_plugin("bad_abi"),
        dir.path().join("libdaqflow_plugin_future.so"),
    )
    .unwrap();
    let mut c = daqflow();
    c.arg("plugins").arg("--plugin-path").arg(dir.path());
    let o = run_cmd(c, Duration::from_secs(60));
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let out = &o.stdout;
    assert!(
        out.contains(&format!("{} (--plugin-path)", dir.path().display())),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{} (next to the daqflow executable)",
            target_dir().display()
        )),
        "{out}"
    );
    for needle in [
        "sim_detector — source v0.1.0 (ABI 1.2",
        "threshold — filter",
        "discard — sink",
        "    width                  integer (uint32) (default 512)",
        "        Frame width in pixels.",
        "    level                  number (double) (required)",
        "not loaded: ",
        "libdaqflow_plugin_broken.so: cannot load as a shared library",
        "libdaqflow_plugin_future.so: plugin ABI 99.3 is not supported",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    // Test-only libraries are not plugin candidates by name.
    assert!(!out.contains("testplugin"), "{out}");
}

#[test]
fn plugins_json_and_single_plugin() {
    let mut c = daqflow();
    c.args(["plugins", "--json", "sim_detector"]);
    let o = run_cmd(c, Duration::from_secs(60));
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v[0]["name"], "sim_detector");
    assert_eq!(v[0]["kind"], "source");
    assert_eq!(v[0]["abi"], "1.2");
    let settings = v[0]["settings"].as_array().unwrap();
    let rate = settings.iter().find(|s| s["name"] == "rate_hz").unwrap();
    assert_eq!(rate["default"], "100.0");
    assert!(rate["doc"].as_str().unwrap().contains("0 = as fast as"));

    let mut c = daqflow();
    c.args(["plugins", "nope"]);
    let o = run_cmd(c, Duration::from_secs(60));
    assert_eq!(o.code(), 2);
    assert!(o.stderr.contains("no plugin named `nope`"), "{}", o.stderr);
}

#[test]
fn env_and_pipeline_plugin_paths_are_searched() {
    let dir = tempfile::tempdir().unwrap();
    let plugdir = dir.path().join("myplugins");
    std::fs::create_dir(&plugdir).unwrap();
    // The counter test source, installed under a plugin-candidate name.
    std::fs::copy(
        test_plugin("counter"),
        plugdir.join("libdaqflow_plugin_counter.so"),
    )
    .unwrap();
    let pipeline = "[pipeline]\nplugin_path = \"myplugins\"\n\n[sources.c]\nplugin = \"counter\"\n\n[sinks.o]\nplugin = \"discard\"\ninputs = [\"c\"]\n";
    let o = validate_text(dir.path(), pipeline);
    assert_eq!(o.code(), 0, "{}", o.stderr);

    let mut c = daqflow();
    c.arg("plugins").env("DAQFLOW_PLUGIN_PATH", &plugdir);
    let o = run_cmd(c, Duration::from_secs(60));
    assert!(o.stdout.contains("counter — source"), "{}", o.stdout);
    assert!(o.stdout.contains("(DAQFLOW_PLUGIN_PATH)"), "{}", o.stdout);
}

#[test]
fn loads_and_runs_a_plugin_built_before_frame_formats() {
    // An ABI 1.1 descriptor ends before the 1.2 vtable entries: the core reads nothing past
    // it, takes the filter's output format as unknown, and runs it as before.
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[pipeline]\nstop_after_frames = 5\n\n[sources.det]\nplugin = \"sim_detector\"\nwidth = 16\nheight = 8\nrate_hz = 0\n\n\
         [filters.old]\nplugin = {}\ninputs = [\"det\"]\n\n[sinks.out]\nplugin = \"discard\"\ninputs = [\"old\"]\n",
        toml_path(&test_plugin("abi11"))
    );
    let o = validate_text(dir.path(), &toml);
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let o = daqflow_tests::run_pipeline(dir.path(), &toml, Duration::from_secs(60));
    assert_eq!(o.code(), 0, "{}", o.stderr);
    assert_eq!(o.node("out")["frames_in"], 5, "{}", o.stderr);
}
