//! `python`: Runs a Python function on every frame (numpy array on the frame memory); its result goes downstream. Everything is in `daqflow-python` (plugins/python, with the
//! README); this library only exports it (one plugin per library).

daqflow_sdk::export_plugin!(
    filter daqflow_python::PythonFilter,
    name = "python",
    description = "Runs a Python function on every frame (numpy array on the frame memory); its result goes downstream"
);

#[cfg(test)]
mod tests {
    use daqflow_sdk::ndarray::arr2;
    use daqflow_sdk::serde_json::{Value, json};
    use daqflow_sdk::testing::{Harness, check_compliance};

    use super::daqflow_plugin_entry;

    /// Writes `code` as a script in a fresh directory; returns the directory (kept alive
    /// by the caller) and the settings with `script` set.
    fn script(code: &str, mut settings: Value) -> (tempfile::TempDir, Value) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.py");
        std::fs::write(&path, code).unwrap();
        settings["script"] = json!(path.display().to_string());
        (dir, settings)
    }

    fn harness(code: &str, settings: Value) -> (tempfile::TempDir, Harness) {
        let (dir, s) = script(code, settings);
        let mut h = Harness::new(daqflow_plugin_entry, s).unwrap();
        h.start().unwrap();
        (dir, h)
    }

    #[test]
    fn compliance() {
        check_compliance(daqflow_plugin_entry);
    }

    #[test]
    fn embedded_python_is_the_build_python() {
        // Regression: the interpreter built against must be the one that runs (a pyenv
        // `python3` first on PATH once gave another stdlib than the linked libpython).
        let (_d, h) = harness(
            "import sys\ndef process(frame, meta):\n    meta['v'] = '%d.%d' % sys.version_info[:2]\n    meta['base'] = sys.base_prefix\n",
            json!({}),
        );
        let mut h = h;
        h.push(h.frame_from(&arr2(&[[1u8]]).view(), 0)).unwrap();
        let out = h.take_emitted();
        let v = out[0].meta("v").unwrap();
        assert_eq!(
            v,
            daqflow_sdk::MetaValue::Str(daqflow_python::interp::BUILD_VERSION.into())
        );
        assert_eq!(
            daqflow_python::interp::linked_version(),
            daqflow_python::interp::BUILD_VERSION
        );
        let base = std::process::Command::new(daqflow_python::interp::BUILD_PYTHON)
            .args(["-c", "import sys; print(sys.base_prefix)"])
            .output()
            .unwrap();
        let base = String::from_utf8(base.stdout).unwrap();
        assert_eq!(
            out[0].meta("base").unwrap(),
            daqflow_sdk::MetaValue::Str(base.trim().into())
        );
    }

    #[test]
    fn in_place_when_unique_copy_on_write_when_shared() {
        let (_d, mut h) = harness(
            "def process(frame, meta):\n    frame[frame < 300] = 0\n",
            json!({}),
        );
        let input = h.frame_from(&arr2(&[[100u16, 300], [301, 299]]).view(), 4);
        let ptr = input.data_ptr();
        h.push(input).unwrap();
        let out = h.take_emitted();
        assert_eq!(
            out[0].view::<u16>().unwrap(),
            arr2(&[[0u16, 300], [301, 0]])
        );
        assert_eq!(out[0].data_ptr(), ptr, "unique frame edited in place");
        assert_eq!(out[0].frame_number(), 4);
        assert_eq!(h.copies(), 0);

        let input = h.frame_from(&arr2(&[[100u16, 400]]).view(), 5);
        let other = input.clone();
        h.push(input).unwrap();
        let out = h.take_emitted();
        assert_eq!(out[0].view::<u16>().unwrap(), arr2(&[[0u16, 400]]));
        assert_eq!(other.view::<u16>().unwrap(), arr2(&[[100u16, 400]]));
        assert_eq!(h.copies(), 1);
        assert_eq!(h.counter("frames_kept_by_python"), None);
    }

    #[test]
    fn readonly_frames_are_not_copied_and_refuse_writes() {
        let (_d, mut h) = harness(
            "def process(frame, meta):\n    if meta['frame_number'] == 1:\n        frame[0, 0] = 1\n",
            json!({"readonly": true}),
        );
        let input = h.frame_from(&arr2(&[[9.5f32, 2.0]]).view(), 0);
        let other = input.clone();
        h.push(input).unwrap();
        let out = h.take_emitted();
        assert_eq!(out[0].data_ptr(), other.data_ptr(), "no copy");
        assert_eq!(h.copies(), 0);
        let err = h
            .push(h.frame_from(&arr2(&[[9.5f32, 2.0]]).view(), 1))
            .unwrap_err();
        assert!(err.contains("read-only"), "{err}");
        assert!(err.contains("f.py\", line 3, in process"), "{err}");
    }

    #[test]
    fn returned_arrays_become_frames_false_drops() {
        let (_d, mut h) = harness(
            "import numpy as np\n\
             def process(frame, meta):\n\
             \x20   n = meta['frame_number']\n\
             \x20   if n == 0: return frame.astype(np.float32) * 2\n\
             \x20   if n == 1: return False\n\
             \x20   if n == 2: return frame.T[::2]\n\
             \x20   if n == 3: return frame.astype(np.float64)\n\
             \x20   if n == 4: return [1]\n\
             \x20   if n == 5: return np.zeros((2, 2, 2), np.uint8)\n",
            json!({}),
        );
        let px = arr2(&[[1u16, 2, 3], [4, 5, 6]]);
        h.push(h.frame_from(&px.view(), 0)).unwrap();
        h.push(h.frame_from(&px.view(), 1)).unwrap();
        h.push(h.frame_from(&px.view(), 2)).unwrap();
        let out = h.take_emitted();
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0].view::<f32>().unwrap(),
            arr2(&[[2.0f32, 4.0, 6.0], [8.0, 10.0, 12.0]])
        );
        assert_eq!(out[0].frame_number(), 0);
        assert_eq!(out[1].view::<u16>().unwrap(), arr2(&[[1u16, 4], [3, 6]]));
        assert_eq!(out[1].frame_number(), 2);
        assert_eq!(h.counter("frames_dropped_by_script"), Some(1));
        let e = h.push(h.frame_from(&px.view(), 3)).unwrap_err();
        assert!(
            e.contains("dtype float64") && e.contains("astype(np.float32)"),
            "{e}"
        );
        let e = h.push(h.frame_from(&px.view(), 4)).unwrap_err();
        assert!(e.contains("returned a list"), "{e}");
        let e = h.push(h.frame_from(&px.view(), 5)).unwrap_err();
        assert!(e.contains("3-D array of shape [2, 2, 2]"), "{e}");
    }

    #[test]
    fn meta_round_trip_and_errors_named() {
        let (_d, mut h) = harness(
            "import numpy as np\n\
             def process(frame, meta):\n\
             \x20   n = meta['frame_number']\n\
             \x20   if n == 0:\n\
             \x20       meta['gain'] = meta['gain'] * 2\n\
             \x20       meta['mean'] = np.float32(frame.mean())\n\
             \x20       meta['ok'] = True\n\
             \x20       meta['frame_number'] = 100\n\
             \x20   if n == 1: meta['bad'] = [1, 2]\n\
             \x20   if n == 2: meta['long'] = 'x' * 60\n\
             \x20   if n == 3: del meta['gain']\n",
            json!({}),
        );
        let mk = |h: &Harness, n| {
            let mut f = h.alloc::<u16>(2, 1);
            f.view_mut::<u16>().unwrap().assign(&arr2(&[[2u16, 4]]));
            f.set_frame_number(n);
            f.set_meta("gain", daqflow_sdk::MetaValue::I64(21)).unwrap();
            f.into_frame()
        };
        h.push(mk(&h, 0)).unwrap();
        let out = h.take_emitted();
        assert_eq!(out[0].meta("gain"), Some(daqflow_sdk::MetaValue::I64(42)));
        assert_eq!(out[0].meta("mean"), Some(daqflow_sdk::MetaValue::F64(3.0)));
        assert_eq!(out[0].meta("ok"), Some(daqflow_sdk::MetaValue::Bool(true)));
        assert_eq!(out[0].frame_number(), 100);
        let e = h.push(mk(&h, 1)).unwrap_err();
        assert!(
            e.contains("meta[\"bad\"] = [1, 2]: a list cannot be frame metadata"),
            "{e}"
        );
        let e = h.push(mk(&h, 2)).unwrap_err();
        assert!(
            e.contains("meta[\"long\"]") && e.contains("at most 47"),
            "{e}"
        );
        let e = h.push(mk(&h, 3)).unwrap_err();
        assert!(e.contains("meta[\"gain\"] was deleted"), "{e}");
    }

    #[test]
    fn exceptions_fail_with_traceback_or_skip_and_count() {
        let code = "def helper(x):\n    raise ValueError('bad frame %d' % x)\n\ndef process(frame, meta):\n    if meta['frame_number'] == 2:\n        helper(2)\n";
        let (_d, mut h) = harness(code, json!({}));
        let px = arr2(&[[1u8]]);
        h.push(h.frame_from(&px.view(), 1)).unwrap();
        let e = h.push(h.frame_from(&px.view(), 2)).unwrap_err();
        assert!(e.contains("Python raised in `process` on frame 2"), "{e}");
        assert!(e.contains("f.py\", line 6, in process"), "{e}");
        assert!(e.contains("f.py\", line 2, in helper"), "{e}");
        assert!(e.contains("ValueError: bad frame 2"), "{e}");

        let (_d, mut h) = harness(code, json!({"on_error": "skip"}));
        for n in 0..4 {
            h.push(h.frame_from(&px.view(), n)).unwrap();
        }
        assert_eq!(h.take_emitted().len(), 3);
        assert_eq!(h.counter("frames_skipped"), Some(1));
        h.stop().unwrap();
    }

    #[test]
    fn kept_arrays_keep_their_frame_and_downstream_gets_a_copy() {
        let (_d, mut h) = harness(
            "kept = []\n\
             def process(frame, meta):\n\
             \x20   if len(kept) < 2: kept.append(frame)\n\
             \x20   for k in kept: k[:] = 7\n",
            json!({}),
        );
        let px = arr2(&[[1u16, 2]]);
        let mut out = Vec::new();
        for n in 0..4 {
            h.push(h.frame_from(&px.view(), n)).unwrap();
            out.extend(h.take_emitted());
        }
        // Frames 0 and 1 were copied out when Python kept them; later writes to the kept
        // arrays (frames 2, 3) never reach what went downstream.
        assert_eq!(out[0].view::<u16>().unwrap(), arr2(&[[7u16, 7]]));
        assert_eq!(out[1].view::<u16>().unwrap(), arr2(&[[7u16, 7]]));
        assert_eq!(out[2].view::<u16>().unwrap(), arr2(&[[1u16, 2]]));
        assert_eq!(out[3].view::<u16>().unwrap(), arr2(&[[1u16, 2]]));
        assert_eq!(h.counter("frames_kept_by_python"), Some(2));
    }

    #[test]
    fn validate_finds_syntax_errors_and_missing_functions_without_running() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let side = format!("open({:?}, 'w').close()\n", marker.display().to_string());
        let (_d, s) = script(
            &format!("{side}def process(frame, meta):\n    return (\n"),
            json!({}),
        );
        let e = Harness::validate(daqflow_plugin_entry, s).unwrap_err();
        let text = format!("{e:?}");
        assert!(
            text.contains("f.py:3") && text.contains("SyntaxError"),
            "{text}"
        );
        let (_d, s) = script(
            &format!("{side}def proces(frame, meta):\n    pass\ndef setup(a, b):\n    pass\n"),
            json!({"setup": "setup", "teardown": "bye"}),
        );
        let e = Harness::validate(daqflow_plugin_entry, s).unwrap_err();
        let text = format!("{e:?}");
        assert!(text.contains("defines no top-level `process`"), "{text}");
        assert!(text.contains("Did you mean `proces`?"), "{text}");
        assert!(
            text.contains("f.py:4: `def setup(a, b)` cannot be called as setup(args)"),
            "{text}"
        );
        assert!(text.contains("defines no top-level `bye`"), "{text}");
        assert!(!marker.exists(), "validate ran the module's code");
    }

    #[test]
    fn setup_gets_args_and_print_goes_to_the_log() {
        let (_d, mut h) = harness(
            "level = None\n\
             def setup(args):\n\
             \x20   global level\n\
             \x20   level = args['level']\n\
             \x20   print('level is', level)\n\
             def process(frame, meta):\n\
             \x20   frame[frame < level] = 0\n",
            json!({"setup": "setup", "args": {"level": 300}}),
        );
        h.push(h.frame_from(&arr2(&[[299u16, 300]]).view(), 0))
            .unwrap();
        assert_eq!(
            h.take_emitted()[0].view::<u16>().unwrap(),
            arr2(&[[0u16, 300]])
        );
        let logs = h.logs();
        assert!(
            logs.iter().any(|(_, l)| l.contains("level is 300")),
            "{logs:?}"
        );
    }

    #[test]
    fn kept_readonly_frames_go_on_without_a_copy() {
        let (_d, mut h) = harness(
            "kept = []\ndef process(frame, meta):\n    kept.append(frame[:1])\n",
            json!({"readonly": true}),
        );
        let input = h.frame_from(&arr2(&[[1u16, 2], [3, 4]]).view(), 0);
        let ptr = input.data_ptr();
        h.push(input).unwrap();
        let out = h.take_emitted();
        assert_eq!(
            out[0].data_ptr(),
            ptr,
            "the kept read-only frame itself went on"
        );
        assert_eq!(out[0].view::<u16>().unwrap(), arr2(&[[1u16, 2], [3, 4]]));
        assert_eq!(h.counter("frames_kept_by_python"), Some(1));
    }
}
