//! `python_sink`: Runs a Python function on every frame (read-only numpy array on the frame memory). Everything is in `daqflow-python` (plugins/python, with the
//! README); this library only exports it (one plugin per library).

daqflow_sdk::export_plugin!(
    sink daqflow_python::PythonSink,
    name = "python_sink",
    description = "Runs a Python function on every frame (read-only numpy array on the frame memory)"
);
