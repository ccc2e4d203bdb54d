//! Opening a camera (by IP address without any discovery broadcast, or by id through
//! Aravis's discovery), retrying a busy one with backoff, and applying the settings and
//! `features` with errors that name the feature, the value and what the camera allows.

use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use aravis::glib::prelude::{Cast, ObjectExt};
use aravis::prelude::*;
use aravis::{AccessCheckPolicy, Camera, Device, RangeCheckPolicy};
use daqflow_sdk::prelude::*;
use daqflow_sdk::serde_json::Value;

use crate::config::{Mono, Settings, TriggerMode, mono_format};

/// `camera = "Fake_<serial>"` opens Aravis's in-process fake camera (tests, demos).
pub const FAKE_PREFIX: &str = "Fake_";

/// Held while a camera is opened and configured (see `Genicam::start`).
pub static OPEN_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// GigE Vision control port.
const GVCP_PORT: u16 = 3956;

/// An opened camera and what it reported.
pub struct Opened {
    /// The camera (its device is the controller).
    pub camera: Camera,
    /// How the camera was named in messages.
    pub label: String,
}

/// What the camera is set to after the settings were applied (read back).
#[derive(Debug, Clone)]
pub struct Readback {
    /// Pixel format and dtype.
    pub mono: Mono,
    /// Frame width, height (pixels after binning).
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Bytes the camera sends per frame (image + chunks).
    pub payload: usize,
    /// Exposure time in seconds, when the camera has one.
    pub exposure_time: Option<f64>,
    /// Gain, when the camera has one.
    pub gain: Option<f64>,
    /// Frames per second, when the camera has `AcquisitionFrameRate`.
    pub frame_rate: Option<f64>,
}

fn gerr(e: aravis::glib::Error) -> String {
    e.message().to_string()
}

/// Opens the camera named by `settings.camera`, retrying while it is busy or not found
/// until `open_timeout` (with doubling backoff and a log line per retry).
pub fn open(settings: &Settings, ctx: &Context) -> Result<Opened, PluginError> {
    let name = settings.camera.trim();
    let label = if name.is_empty() {
        "the first camera found".to_string()
    } else {
        format!("camera `{name}`")
    };
    let deadline = Instant::now() + Duration::from_secs_f64(settings.open_timeout);
    let mut backoff = Duration::from_millis(250);
    let mut attempt = 1u32;
    loop {
        let err = match try_open(name) {
            Ok(camera) => return Ok(Opened { camera, label }),
            Err(e) => e,
        };
        let now = Instant::now();
        if now >= deadline || ctx.should_stop() {
            return Err(PluginError::new(format!(
                "open {label}: {err} (tried {attempt} time(s) over {:.1} s; raise `open_timeout`, \
                 or check the address with `arv-tool-0.8 -a <address> control DeviceID`)",
                settings.open_timeout
            )));
        }
        let wait = backoff.min(deadline - now);
        log::warn!(
            "open {label}: {err}; retrying in {:.2} s (attempt {attempt})",
            wait.as_secs_f64()
        );
        sleep_unless_stopping(wait, ctx);
        backoff = (backoff * 2).min(Duration::from_secs(2));
        attempt += 1;
    }
}

fn sleep_unless_stopping(d: Duration, ctx: &Context) {
    let end = Instant::now() + d;
    while Instant::now() < end && !ctx.should_stop() {
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(20)));
    }
}

/// One attempt: a device that we do not control (another client holds it) is refused.
fn try_open(name: &str) -> Result<Camera, String> {
    if let Some(serial) = name.strip_prefix(FAKE_PREFIX) {
        // Aravis's in-process fake camera: no network at all.
        let device = aravis::FakeDevice::new(serial).map_err(gerr)?;
        return Camera::with_device(&device).map_err(gerr);
    }
    let camera = match name.parse::<Ipv4Addr>() {
        Ok(ip) => {
            let device = open_gv_by_address(ip)?;
            Camera::with_device(&device).map_err(gerr)?
        }
        Err(_) => Camera::new((!name.is_empty()).then_some(name)).map_err(|e| {
            format!(
                "{} (Aravis found no such device: check the id with `arv-tool-0.8`)",
                gerr(e)
            )
        })?,
    };
    if let Some(gv) = camera
        .device()
        .and_then(|d| d.downcast::<aravis::GvDevice>().ok())
        && !gv.is_controller()
    {
        return Err(
            "the camera is busy: another client holds its control channel (a client that \
             crashed holds it until its heartbeat times out, a few seconds)"
                .into(),
        );
    }
    Ok(camera)
}

/// A GigE Vision device at `ip`, with no discovery: the local interface address is the
/// one the kernel routes to `ip` (a UDP `connect` sends nothing).
fn open_gv_by_address(ip: Ipv4Addr) -> Result<aravis::GvDevice, String> {
    let probe = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|s| s.connect((ip, GVCP_PORT)).map(|()| s))
        .and_then(|s| s.local_addr())
        .map_err(|e| format!("no route to {ip}: {e}"))?;
    let local = probe.ip().to_string();
    let iface = gio::InetAddress::from_string(&local)
        .ok_or_else(|| format!("bad interface address {local}"))?;
    let dev = gio::InetAddress::from_string(&ip.to_string())
        .ok_or_else(|| format!("bad camera address {ip}"))?;
    aravis::GvDevice::new(&iface, &dev).map_err(|e| {
        format!(
            "no GigE Vision camera answers at {ip} (from {local}): {}",
            gerr(e)
        )
    })
}

/// Applies every setting, then `features` in order, then reads back what the camera
/// is set to. Every error names the feature, the value and what the camera allows.
pub fn configure(camera: &Camera, s: &Settings) -> Result<Readback, PluginError> {
    let dev = camera
        .device()
        .ok_or_else(|| PluginError::new("the camera has no device object"))?;
    dev.set_range_check_policy(RangeCheckPolicy::Enable);
    dev.set_access_check_policy(AccessCheckPolicy::Enable);
    let f = Features { dev: &dev };
    // Stop a previous client's acquisition; the fake camera keeps state between clients.
    if f.has("AcquisitionStop") {
        let _ = dev.execute_command("AcquisitionStop");
    }
    if let Some(pf) = &s.pixel_format {
        f.set("PixelFormat", &Value::from(pf.as_str()), "pixel_format")?;
    }
    if let Some(b) = s.binning {
        f.set("BinningHorizontal", &Value::from(b.x), "binning.x")?;
        f.set("BinningVertical", &Value::from(b.y), "binning.y")?;
    }
    if let Some(roi) = s.roi {
        // Offsets first to 0 so any width fits, then the size, then the offsets.
        for o in ["OffsetX", "OffsetY"] {
            if f.has(o) {
                f.set(o, &Value::from(0), "roi")?;
            }
        }
        f.set("Width", &Value::from(roi.width), "roi.width")?;
        f.set("Height", &Value::from(roi.height), "roi.height")?;
        if roi.x > 0 || f.has("OffsetX") {
            f.set("OffsetX", &Value::from(roi.x), "roi.x")?;
        }
        if roi.y > 0 || f.has("OffsetY") {
            f.set("OffsetY", &Value::from(roi.y), "roi.y")?;
        }
    }
    if let Some(t) = s.exposure_time {
        let name = f.first(&["ExposureTime", "ExposureTimeAbs"], "exposure_time")?;
        f.set(name, &Value::from(t * 1e6), "exposure_time (in µs)")?;
    }
    if let Some(g) = s.gain {
        let name = f.first(&["Gain", "GainRaw", "GainAbs"], "gain")?;
        f.set(name, &Value::from(g), "gain")?;
    }
    // In software mode the rate is this source's trigger rate, not the camera's.
    if let Some(r) = s.rate_hz()
        && s.trigger_mode == TriggerMode::Internal
    {
        if f.has("AcquisitionFrameRateEnable") {
            f.set(
                "AcquisitionFrameRateEnable",
                &Value::Bool(true),
                "frame_rate",
            )?;
        }
        let name = f.first(
            &["AcquisitionFrameRate", "AcquisitionFrameRateAbs"],
            "frame_rate",
        )?;
        f.set(name, &Value::from(r), "frame_rate")?;
    }
    if f.has("TriggerSelector") && f.allows("TriggerSelector", "FrameStart") {
        f.set(
            "TriggerSelector",
            &Value::from("FrameStart"),
            "trigger_mode",
        )?;
    }
    match s.trigger_mode {
        TriggerMode::Internal => {
            if f.has("TriggerMode") {
                f.set("TriggerMode", &Value::from("Off"), "trigger_mode")?;
            }
        }
        TriggerMode::Software => {
            f.set("TriggerMode", &Value::from("On"), "trigger_mode")?;
            f.set("TriggerSource", &Value::from("Software"), "trigger_mode")?;
            if !f.has("TriggerSoftware") {
                return Err(PluginError::new(
                    "trigger_mode = \"software\": the camera has no `TriggerSoftware` command",
                ));
            }
        }
        TriggerMode::External => {
            f.set("TriggerMode", &Value::from("On"), "trigger_mode")?;
            let src = s.trigger_source.as_deref().unwrap_or("Line0");
            f.set("TriggerSource", &Value::from(src), "trigger_source")?;
        }
    }
    if f.has("AcquisitionMode") {
        f.set("AcquisitionMode", &Value::from("Continuous"), "")?;
    }
    if s.packet_size > 0 {
        f.set(
            "GevSCPSPacketSize",
            &Value::from(s.packet_size),
            "packet_size",
        )?;
    }
    for (name, value) in &s.features {
        f.set(name, value, &format!("features.{name}"))?;
    }
    readback(camera, &f)
}

fn readback(camera: &Camera, f: &Features<'_>) -> Result<Readback, PluginError> {
    let pf = camera
        .pixel_format_as_string()
        .map_err(|e| PluginError::new(format!("read PixelFormat: {}", gerr(e))))?;
    let mono = mono_format(&pf)
        .map_err(|m| PluginError::new(format!("the camera is set to {m} (set `pixel_format`)")))?;
    let (_, _, width, height) = camera
        .region()
        .map_err(|e| PluginError::new(format!("read Width/Height: {}", gerr(e))))?;
    let payload = camera
        .payload()
        .map_err(|e| PluginError::new(format!("read PayloadSize: {}", gerr(e))))?
        as usize;
    let image = width as usize * height as usize * mono.dtype.size_bytes();
    if payload != image {
        return Err(PluginError::new(format!(
            "the camera's PayloadSize is {payload} bytes, not the {image} of a {width}x{height} \
             {} image: chunk data (ChunkModeActive), padding or packed payloads are not \
             supported yet (frames land in pool buffers of exactly one image)",
            mono.name
        )));
    }
    let float = |names: &[&str]| {
        names
            .iter()
            .find(|n| f.has(n))
            .and_then(|n| f.dev.float_feature_value(n).ok())
    };
    Ok(Readback {
        mono,
        width: width as u32,
        height: height as u32,
        payload,
        exposure_time: float(&["ExposureTime", "ExposureTimeAbs"]).map(|us| us * 1e-6),
        gain: float(&["Gain", "GainAbs"]).or_else(|| {
            f.has("GainRaw")
                .then(|| {
                    f.dev
                        .integer_feature_value("GainRaw")
                        .ok()
                        .map(|g| g as f64)
                })
                .flatten()
        }),
        frame_rate: float(&["AcquisitionFrameRate", "AcquisitionFrameRateAbs"]),
    })
}

/// Feature access with errors that say what the camera allows.
pub struct Features<'a> {
    /// The camera's device.
    pub dev: &'a Device,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Enumeration,
    Integer,
    Float,
    Boolean,
    String,
    Command,
    Other,
}

impl Features<'_> {
    /// True when the camera has the feature and it is available now.
    pub fn has(&self, name: &str) -> bool {
        self.dev.feature(name).is_some() && self.dev.is_feature_available(name).unwrap_or(false)
    }

    fn allows(&self, name: &str, entry: &str) -> bool {
        self.dev
            .dup_available_enumeration_feature_values_as_strings(name)
            .map(|v| v.iter().any(|e| e.as_str() == entry))
            .unwrap_or(false)
    }

    /// The first of `names` the camera has.
    fn first<'n>(&self, names: &[&'n str], setting: &str) -> Result<&'n str, PluginError> {
        names.iter().copied().find(|n| self.has(n)).ok_or_else(|| {
            PluginError::new(format!(
                "`{setting}`: the camera has none of the features {} that set it",
                names.join(", ")
            ))
        })
    }

    fn kind(&self, name: &str) -> Kind {
        let Some(node) = self.dev.feature(name) else {
            return Kind::Other;
        };
        let t = node.type_().name();
        if node.is::<aravis::GcEnumeration>() {
            Kind::Enumeration
        } else if node.is::<aravis::GcBoolean>() {
            Kind::Boolean
        } else if node.is::<aravis::GcCommand>() {
            Kind::Command
        } else if node.dynamic_cast_ref::<aravis::GcInteger>().is_some() {
            Kind::Integer
        } else if node.dynamic_cast_ref::<aravis::GcFloat>().is_some() {
            Kind::Float
        } else if node.dynamic_cast_ref::<aravis::GcString>().is_some() {
            Kind::String
        } else {
            log::debug!("feature {name} is a {t}");
            Kind::Other
        }
    }

    /// Sets `name` to `value`. `setting` names the daqflow setting for the message.
    pub fn set(&self, name: &str, value: &Value, setting: &str) -> Result<(), PluginError> {
        let fail = |what: String| {
            let prefix = if setting.is_empty() || setting == format!("features.{name}") {
                String::new()
            } else {
                format!("`{setting}`: ")
            };
            PluginError::new(format!("{prefix}set feature `{name}` = {value}: {what}"))
        };
        if self.dev.feature(name).is_none() {
            return Err(fail(format!(
                "the camera has no such feature{} (list them with `arv-tool-0.8 -a <camera> features`)",
                self.did_you_mean(name)
            )));
        }
        if !self.dev.is_feature_available(name).unwrap_or(false) {
            return Err(fail(
                "the feature is not available now (locked by another setting, e.g. during \
                 acquisition or with an auto mode on)"
                    .into(),
            ));
        }
        let kind = self.kind(name);
        let dev = self.dev;
        let r = match (kind, value) {
            (Kind::Enumeration, Value::String(v)) => {
                let allowed = dev
                    .dup_available_enumeration_feature_values_as_strings(name)
                    .map(|v| v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                    .unwrap_or_default();
                if !allowed.is_empty() && !allowed.iter().any(|a| a == v) {
                    return Err(fail(format!(
                        "the camera allows {}",
                        allowed
                            .iter()
                            .map(|a| format!("\"{a}\""))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                dev.set_string_feature_value(name, v)
            }
            (Kind::String, Value::String(v)) => dev.set_string_feature_value(name, v),
            (Kind::Boolean, Value::Bool(b)) => dev.set_boolean_feature_value(name, *b),
            (Kind::Integer, Value::Number(n)) => {
                let Some(v) = n.as_i64().or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                        .map(|f| f as i64)
                }) else {
                    return Err(fail(
                        "the feature is an integer; give a whole number".into(),
                    ));
                };
                if let Ok((lo, hi)) = dev.integer_feature_bounds(name)
                    && !(lo..=hi).contains(&v)
                {
                    return Err(fail(format!("the camera allows {lo}..={hi}")));
                }
                if let Ok(inc) = dev.integer_feature_increment(name)
                    && inc > 1
                    && let Ok((lo, _)) = dev.integer_feature_bounds(name)
                    && (v - lo) % inc != 0
                {
                    return Err(fail(format!("the camera allows steps of {inc} from {lo}")));
                }
                dev.set_integer_feature_value(name, v)
            }
            (Kind::Float, Value::Number(n)) => {
                let v = n.as_f64().unwrap_or(f64::NAN);
                if let Ok((lo, hi)) = dev.float_feature_bounds(name)
                    && !(lo..=hi).contains(&v)
                {
                    return Err(fail(format!("the camera allows {lo}..={hi}")));
                }
                dev.set_float_feature_value(name, v)
            }
            (Kind::Command, _) => {
                return Err(fail(
                    "the feature is a command; commands are not run from settings".into(),
                ));
            }
            (kind, v) => {
                return Err(fail(format!(
                    "the feature is {}, not {}",
                    match kind {
                        Kind::Enumeration => "an enumeration (give a string)",
                        Kind::Integer => "an integer (give a number)",
                        Kind::Float => "a float (give a number)",
                        Kind::Boolean => "a boolean (give true or false)",
                        Kind::String => "a string",
                        _ => "of a kind this source cannot set",
                    },
                    json_kind(v)
                )));
            }
        };
        r.map_err(|e| fail(format!("the camera refused it: {}", gerr(e))))
    }

    /// ` (did you mean `X`?)` from the feature names in the camera's GenICam XML.
    fn did_you_mean(&self, name: &str) -> String {
        let (xml, _) = self.dev.genicam_xml();
        let mut best: Option<(usize, String)> = None;
        for cand in xml_feature_names(xml.as_str()) {
            let d = distance(&cand.to_ascii_lowercase(), &name.to_ascii_lowercase());
            if d <= 3.max(name.len() / 3) && best.as_ref().is_none_or(|(bd, _)| d < *bd) {
                best = Some((d, cand.to_string()));
            }
        }
        best.map(|(_, c)| format!(" (did you mean `{c}`?)"))
            .unwrap_or_default()
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        _ => "that",
    }
}

/// The `Name="…"` attributes of the XML's elements (feature names and more).
fn xml_feature_names(xml: &str) -> impl Iterator<Item = &str> {
    xml.split("Name=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_xml_and_distance() {
        let xml = r#"<Integer Name="Width" NameSpace="Standard"><Enumeration Name="PixelFormat">"#;
        let names: Vec<_> = xml_feature_names(xml).collect();
        assert_eq!(names, ["Width", "PixelFormat"]);
        assert_eq!(distance("witdh", "width"), 2);
        assert_eq!(distance("gain", "gain"), 0);
    }
}
