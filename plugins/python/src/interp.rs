//! The one CPython interpreter of the process: started once (by whichever Python plugin
//! library gets there first), with the right virtualenv, without signal handlers, with
//! libpython's symbols made global so numpy's extension modules load; node threads
//! attached once for their life; `print` and `logging` sent to daqflow's log.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule};

/// The interpreter the plugin was built against (see build.rs).
pub const BUILD_PYTHON: &str = env!("DAQFLOW_PYTHON_EXE");
/// Its `major.minor`.
pub const BUILD_VERSION: &str = env!("DAQFLOW_PYTHON_VERSION");

/// Python helpers used by every node, loaded once as module `_daqflow_support`.
const SUPPORT: &CStr = cr#"
import ast, importlib.util, logging, os, sys, traceback

def format_exception(e, tb):
    return "".join(traceback.format_exception(type(e), e, tb)).rstrip()

class Stream:
    """sys.stdout / sys.stderr: whole lines go to daqflow's log."""
    def __init__(self, emit, level, name):
        self._emit, self._level, self.name = emit, level, name
        self._parts = {}
    def write(self, s):
        import threading
        key = threading.get_ident()
        buf = self._parts.get(key, "") + s
        *lines, rest = buf.split("\n")
        self._parts[key] = rest
        for line in lines:
            self._emit(self._level, line)
        return len(s)
    def flush(self):
        pass
    def isatty(self):
        return False
    def writable(self):
        return True
    @property
    def encoding(self):
        return "utf-8"

class Handler(logging.Handler):
    def __init__(self, emit):
        super().__init__()
        self._emit = emit
    def emit(self, record):
        try:
            level = 1 if record.levelno >= 40 else 2 if record.levelno >= 30 else 3 if record.levelno >= 20 else 4 if record.levelno >= 10 else 5
            self._emit(level, self.format(record))
        except Exception:
            self.handleError(record)

def install(emit, level):
    sys.stdout = Stream(emit, 3, "<daqflow log (stdout)>")
    sys.stderr = Stream(emit, 2, "<daqflow log (stderr)>")
    root = logging.getLogger()
    h = Handler(emit)
    h.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root.addHandler(h)
    root.setLevel(level)

def _bindings(body, out):
    """Top-level names of a module: defs, classes, assignments, imports (also inside
    top-level if/try/with blocks)."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.setdefault(node.name, node)
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    out.setdefault(t.id, node)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
            out.setdefault(node.target.id, node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                out.setdefault((a.asname or a.name).split(".")[0], node)
        elif isinstance(node, ast.If):
            _bindings(node.body, out); _bindings(node.orelse, out)
        elif isinstance(node, ast.Try):
            _bindings(node.body, out); _bindings(node.orelse, out); _bindings(node.finalbody, out)
            for h in node.handlers:
                _bindings(h.body, out)
        elif isinstance(node, ast.With):
            _bindings(node.body, out)
    return out

def check(path, source, wanted):
    """Compiles the script (running none of it) and finds the wanted functions.
    `wanted`: [(field, name, n_args, call)]. Returns [(field, message)]."""
    try:
        compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as e:
        where = "%s:%s" % (e.filename or path, e.lineno or "?")
        if e.offset:
            where += ":%d" % e.offset
        text = (e.text or "").rstrip("\n")
        caret = ("\n    " + text.strip() if text.strip() else "")
        return [("script", "%s: %s: %s%s" % (where, type(e).__name__, e.msg, caret))]
    except (ValueError, UnicodeError) as e:
        return [("script", "%s: cannot compile: %s" % (path, e))]
    tree = ast.parse(source, path)
    names = _bindings(tree.body, {})
    funcs = sorted((n, d.lineno) for n, d in names.items() if isinstance(d, (ast.FunctionDef, ast.AsyncFunctionDef)))
    errors = []
    for field, name, nargs, call in wanted:
        node = names.get(name)
        if node is None:
            listed = ", ".join("%s (line %d)" % f for f in funcs) or "none"
            close = [f for f, _ in funcs if f.lower() == name.lower() or f.startswith(name[:3])]
            hint = (" Did you mean `%s`?" % close[0]) if close else ""
            errors.append((field, "%s defines no top-level `%s`; daqflow calls %s. Functions defined: %s.%s"
                           % (path, name, call, listed, hint)))
            continue
        if isinstance(node, ast.AsyncFunctionDef):
            errors.append((field, "%s:%d: `%s` is `async def`; daqflow calls a plain function: %s"
                           % (path, node.lineno, name, call)))
            continue
        if not isinstance(node, ast.FunctionDef):
            continue
        a = node.args
        positional = len(a.posonlyargs) + len(a.args)
        required = positional - len(a.defaults)
        required_kw = [k.arg for k, d in zip(a.kwonlyargs, a.kw_defaults) if d is None]
        if required > nargs or (positional < nargs and a.vararg is None) or required_kw:
            sig = ast.unparse(a)
            errors.append((field, "%s:%d: `def %s(%s)` cannot be called as %s"
                           % (path, node.lineno, name, sig, call)))
    return errors

def load(path, name):
    d = os.path.dirname(path)
    if d not in sys.path:
        sys.path.insert(0, d)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod
"#;

/// Serialises starting the interpreter within this library (the core validates and
/// creates nodes on one thread; the other Python library checks `Py_IsInitialized`).
static START: Mutex<()> = Mutex::new(());

/// `major.minor` of the libpython actually loaded (from `Py_GetVersion`, callable before
/// the interpreter starts).
pub fn linked_version() -> String {
    // SAFETY: Py_GetVersion returns a static NUL-terminated string, valid before init.
    let v = unsafe { CStr::from_ptr(ffi::Py_GetVersion()) }.to_string_lossy();
    let num = v.split_whitespace().next().unwrap_or_default();
    num.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// Checks that `venv` is a virtualenv of the linked Python's version (its `pyvenv.cfg`).
pub fn check_venv(venv: &Path) -> Result<(), String> {
    let cfg = venv.join("pyvenv.cfg");
    let text = std::fs::read_to_string(&cfg).map_err(|e| {
        format!(
            "{} is not a virtualenv: cannot read {}: {e}; make one with `{BUILD_PYTHON} -m venv {}`",
            venv.display(),
            cfg.display(),
            venv.display()
        )
    })?;
    let version = text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        matches!(k.trim(), "version" | "version_info").then(|| v.trim().to_string())
    });
    let Some(version) = version else {
        return Err(format!(
            "{} names no Python version; recreate the virtualenv with `{BUILD_PYTHON} -m venv {}`",
            cfg.display(),
            venv.display()
        ));
    };
    let mm: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
    let linked = linked_version();
    if mm != linked {
        return Err(format!(
            "virtualenv {} is for Python {version}, but this plugin runs libpython {linked} \
             (built against {BUILD_PYTHON}); packages compiled for {mm} would not load. Recreate \
             it with `{BUILD_PYTHON} -m venv {}` and reinstall its packages",
            venv.display(),
            venv.display()
        ));
    }
    if !venv.join("bin/python").exists() {
        return Err(format!(
            "virtualenv {} has no bin/python; recreate it with `{BUILD_PYTHON} -m venv {}`",
            venv.display(),
            venv.display()
        ));
    }
    Ok(())
}

/// Makes libpython's symbols global: the core loads plugins with local symbols, and
/// numpy's extension modules (loaded by Python with `dlopen`) need `PyObject_*` symbols
/// resolved from libpython (else `undefined symbol: PyObject_SelfIter`).
fn promote_libpython() -> Result<(), String> {
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    let sym = ffi::Py_IsInitialized as *const c_void;
    // SAFETY: dladdr reads the address of a function in a loaded library and fills `info`.
    let found = unsafe { libc::dladdr(sym, info.as_mut_ptr()) };
    // SAFETY: zero-initialised, and filled by dladdr when it returns nonzero.
    let info = unsafe { info.assume_init() };
    if found == 0 || info.dli_fname.is_null() {
        return Err("cannot find which libpython is loaded (dladdr failed)".into());
    }
    // SAFETY: dli_fname is a NUL-terminated path owned by the loader.
    let path = unsafe { CStr::from_ptr(info.dli_fname) };
    // SAFETY: RTLD_NOLOAD only re-opens the already loaded library with global symbols;
    // the handle is kept for the life of the process (never dlclosed).
    let h = unsafe {
        libc::dlopen(
            path.as_ptr(),
            libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_GLOBAL,
        )
    };
    if h.is_null() {
        // SAFETY: dlerror returns a thread-local message or NULL.
        let e = unsafe { libc::dlerror() };
        let msg = if e.is_null() {
            String::new()
        } else {
            // SAFETY: non-NULL dlerror text is NUL-terminated.
            unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
        };
        return Err(format!(
            "cannot make {} global: {msg}",
            path.to_string_lossy()
        ));
    }
    Ok(())
}

/// The program name the interpreter starts with: it decides `sys.prefix`, hence which
/// site-packages are used (a virtualenv is selected only this way; `VIRTUAL_ENV` alone is
/// ignored by an embedded interpreter).
fn program_for(venv: Option<&Path>) -> PathBuf {
    match venv {
        Some(v) => v.join("bin/python"),
        None => PathBuf::from(BUILD_PYTHON),
    }
}

/// Starts the interpreter if no Python plugin has, or checks that the running one uses
/// `venv`. Leaves the calling thread detached.
pub fn ensure(venv: Option<&Path>) -> Result<(), String> {
    let _one = START.lock().unwrap_or_else(|p| p.into_inner());
    promote_libpython()?;
    // SAFETY: Py_IsInitialized may be called at any time.
    if unsafe { ffi::Py_IsInitialized() } == 0 {
        start(venv)?;
        Python::attach(|py| install_support(py).map_err(|e| format_err(py, &e)))?;
    }
    Python::attach(|py| check_prefix(py, venv))
}

fn start(venv: Option<&Path>) -> Result<(), String> {
    let program = program_for(venv);
    let program_c = CString::new(program.as_os_str().as_bytes())
        .map_err(|_| format!("path {} contains a NUL byte", program.display()))?;
    let mut config = std::mem::MaybeUninit::<ffi::PyConfig>::zeroed();
    // SAFETY: PyConfig_InitPythonConfig initialises the whole struct; the string fields
    // are set through PyConfig_SetBytesString (which copies), and the config is cleared
    // after Py_InitializeFromConfig copied it.
    unsafe {
        let cfg = config.as_mut_ptr();
        ffi::PyConfig_InitPythonConfig(cfg);
        // Ctrl-C stays with daqflow: Python installs no SIGINT handler.
        (*cfg).install_signal_handlers = 0;
        let status =
            ffi::PyConfig_SetBytesString(cfg, &raw mut (*cfg).program_name, program_c.as_ptr());
        if ffi::PyStatus_Exception(status) != 0 {
            ffi::PyConfig_Clear(cfg);
            return Err(status_text("set the program name", &status));
        }
        let status = ffi::Py_InitializeFromConfig(cfg);
        ffi::PyConfig_Clear(cfg);
        if ffi::PyStatus_Exception(status) != 0 {
            return Err(status_text(
                &format!("start Python as {}", program.display()),
                &status,
            ));
        }
        // The starting thread holds the interpreter lock: release it, as pyo3 expects.
        ffi::PyEval_SaveThread();
    }
    Ok(())
}

fn status_text(what: &str, s: &ffi::PyStatus) -> String {
    let msg = if s.err_msg.is_null() {
        "unknown error".to_string()
    } else {
        // SAFETY: a set err_msg is a static NUL-terminated string.
        unsafe { CStr::from_ptr(s.err_msg) }
            .to_string_lossy()
            .into_owned()
    };
    format!("cannot {what}: {msg}")
}

/// The interpreter runs with `venv` (or with none when `venv` is `None`).
fn check_prefix(py: Python<'_>, venv: Option<&Path>) -> Result<(), String> {
    let sys = py.import("sys").map_err(|e| format_err(py, &e))?;
    let get = |name: &str| -> Result<String, String> {
        sys.getattr(name)
            .and_then(|v| v.extract::<String>())
            .map_err(|e| format_err(py, &e))
    };
    let prefix = get("prefix")?;
    let base = get("base_prefix")?;
    let same = |a: &Path, b: &Path| {
        a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
    };
    match venv {
        Some(v) if !same(Path::new(&prefix), v) => Err(format!(
            "one Python interpreter serves the whole process, and it runs with sys.prefix {prefix}, \
             not the virtualenv {}: give every Python node the same `venv`",
            v.display()
        )),
        None if prefix != base => Err(format!(
            "one Python interpreter serves the whole process, and it runs in virtualenv {prefix}: \
             give every Python node the same `venv`"
        )),
        _ => Ok(()),
    }
}

/// The support module, and stdout/stderr/logging sent to daqflow's log.
fn install_support(py: Python<'_>) -> PyResult<()> {
    let m = PyModule::from_code(py, SUPPORT, c"<daqflow>", c"_daqflow_support")?;
    py.import("sys")?
        .getattr("modules")?
        .set_item("_daqflow_support", &m)?;
    let emit = pyo3::wrap_pyfunction!(emit_log, &m)?;
    let level = match log::max_level() {
        log::LevelFilter::Trace | log::LevelFilter::Debug => 10,
        log::LevelFilter::Info => 20,
        _ => 30,
    };
    m.getattr("install")?.call1((emit, level))?;
    Ok(())
}

/// The support module (started by [`ensure`]).
pub fn support(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    py.import("_daqflow_support")
}

/// Sends one line of Python output to the log of the node running on this thread: the
/// node's [`NodeLog`] (set by whichever Python library runs it, see [`enter_node`], under the thread-state
/// dict key `daqflow.node_log`) logs
/// it through that library's log bridge, which tags it with the node's name.
#[pyfunction]
fn emit_log(py: Python<'_>, level: u32, line: &str) -> PyResult<()> {
    // SAFETY: the interpreter lock is held (we are in a Python call); the dict is owned by
    // the thread state, and the item is a borrowed reference used while the lock is held.
    let target = unsafe {
        let d = ffi::PyThreadState_GetDict();
        if d.is_null() {
            None
        } else {
            let item = ffi::PyDict_GetItem(d, pyo3::intern!(py, "daqflow.node_log").as_ptr());
            (!item.is_null()).then(|| Bound::from_borrowed_ptr(py, item))
        }
    };
    match target {
        Some(t) => {
            t.call_method1("log", (level, line))?;
        }
        None => NodeLog::write(level, line),
    }
    Ok(())
}

/// A node's log, as a Python object: calling it runs in the library of that node.
#[pyclass(frozen)]
pub struct NodeLog;

#[pymethods]
impl NodeLog {
    fn log(&self, level: u32, line: &str) {
        Self::write(level, line);
    }
}

impl NodeLog {
    fn write(level: u32, line: &str) {
        let level = match level {
            1 => log::Level::Error,
            2 => log::Level::Warn,
            3 => log::Level::Info,
            4 => log::Level::Debug,
            _ => log::Level::Trace,
        };
        log::log!(target: "python", level, "{line}");
    }
}

/// Marks `node_log` as the node whose Python runs on this thread (cheap when it is
/// already: a dict lookup).
pub fn enter_node(py: Python<'_>, node_log: &Py<NodeLog>) {
    // SAFETY: the lock is held; GetItemString borrows, SetItemString adds its own
    // reference; both are on the thread state's own dict.
    unsafe {
        let d = ffi::PyThreadState_GetDict();
        if d.is_null() {
            return;
        }
        let key = pyo3::intern!(py, "daqflow.node_log").as_ptr();
        let cur = ffi::PyDict_GetItem(d, key);
        if cur != node_log.as_ptr() {
            ffi::PyDict_SetItem(d, key, node_log.as_ptr());
        }
    }
}

/// A thread's own Python thread state, kept for the thread's life: attaching a thread
/// that has none creates and destroys one per attach (17–34 µs); with this, an attach
/// is a lock hand-over (well under 1 µs). The lock itself is released between calls.
struct Anchor {
    gstate: ffi::PyGILState_STATE,
    tstate: *mut ffi::PyThreadState,
}

impl Drop for Anchor {
    fn drop(&mut self) {
        // SAFETY: the interpreter is never finalised; we restore this thread's own state
        // (taking the lock) and release the outer PyGILState_Ensure, which deletes it.
        unsafe {
            if ffi::Py_IsInitialized() != 0 {
                ffi::PyEval_RestoreThread(self.tstate);
                ffi::PyGILState_Release(self.gstate);
            }
        }
    }
}

thread_local! {
    static ANCHOR: RefCell<Option<Anchor>> = const { RefCell::new(None) };
}

/// Gives the calling thread a lasting Python thread state (once per thread). Must be
/// called while the thread is not attached.
pub fn anchor_thread() {
    ANCHOR.with(|a| {
        let mut a = a.borrow_mut();
        if a.is_none() {
            // SAFETY: the interpreter is running (ensure() ran at validate/create) and this
            // thread is not attached: Ensure attaches it, SaveThread releases the lock
            // while keeping the thread state (its counter stays 1 until Anchor's drop).
            unsafe {
                let gstate = ffi::PyGILState_Ensure();
                let tstate = ffi::PyEval_SaveThread();
                *a = Some(Anchor { gstate, tstate });
            }
        }
    });
}

/// A Python exception as text: the full traceback (file, line, function), as Python
/// prints it (`traceback.format_exception`, which needs type, value and traceback).
pub fn format_err(py: Python<'_>, err: &PyErr) -> String {
    let value = err.value(py);
    let tb = err.traceback(py);
    support(py)
        .and_then(|m| m.getattr("format_exception")?.call1((value, tb)))
        .and_then(|s| s.extract::<String>())
        .unwrap_or_else(|_| err.to_string())
}

/// The JSON `args` table as a Python dict.
pub fn json_to_py<'py>(
    py: Python<'py>,
    v: &daqflow_sdk::serde_json::Value,
) -> PyResult<Bound<'py, PyAny>> {
    use daqflow_sdk::serde_json::Value;
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => pyo3::types::PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u), _) => u.into_pyobject(py)?.into_any(),
            (_, _, f) => f.unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Array(a) => {
            let items = a
                .iter()
                .map(|x| json_to_py(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            pyo3::types::PyList::new(py, items)?.into_any()
        }
        Value::Object(o) => {
            let d = PyDict::new(py);
            for (k, x) in o {
                d.set_item(k, json_to_py(py, x)?)?;
            }
            d.into_any()
        }
    })
}
