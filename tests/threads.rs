//! An in-process run joins every thread it started. Alone in its own test binary: other
//! tests running in parallel in the same process would change the thread count.

use daqflow_tests::target_dir;

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn in_process_run_leaves_no_thread_behind() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.toml");
    std::fs::write(
        &file,
        "[pipeline]\nstop_after_frames = 200\n\n[sources.det]\nplugin = \"sim_detector\"\nrate_hz = 0\nwidth = 64\nheight = 64\n\n\
         [filters.thr]\nplugin = \"threshold\"\ninputs = [\"det\"]\nlevel = 5\n\n\
         [sinks.a]\nplugin = \"discard\"\ninputs = [\"thr\"]\n\n[sinks.b]\nplugin = \"discard\"\ninputs = [\"det\"]\nqueue = \"latest\"\n",
    )
    .unwrap();
    let v = daqflow::validate(&file, &[target_dir()]).expect("valid");
    let before = thread_count();
    for _ in 0..3 {
        let report = daqflow::run(
            &v,
            &daqflow::RunControl::new(),
            &daqflow::RunOptions {
                status: daqflow::StatusMode::Off,
                drain_timeout: None,
            },
        );
        assert_eq!(report.outcome, daqflow::Outcome::Ok, "{}", report.to_text());
        assert_eq!(report.nodes[2].frames_in, 200);
        assert_eq!(thread_count(), before, "node threads left behind");
    }
}
