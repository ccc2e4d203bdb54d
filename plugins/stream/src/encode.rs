//! Stream v2 messages written as CBOR: start, image and end maps as a DECTRIS detector
//! sends them (self-describe tag, `type` first, arrays as tag 40 over RFC 8746 typed
//! arrays, compressed chunks under tag 56500). An image message is built as a small
//! header followed by the frame's bytes, so the payload is copied once, straight into
//! the ZeroMQ message.

use daqflow_sdk::prelude::*;
use daqflow_sdk::series;
use minicbor::Encoder;
use minicbor::data::Tag;

/// `Vec<u8>` writes cannot fail.
type E = minicbor::encode::Error<std::convert::Infallible>;

/// The series' description as the start message carries it.
#[derive(Debug, Clone, Default)]
pub struct StartInfo {
    /// `series_id`.
    pub series_id: u64,
    /// `series_unique_id`.
    pub unique_id: String,
    /// `arm_date`, RFC 3339.
    pub arm_date: String,
    /// The frames' format.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Pixel type.
    pub dtype: Option<DType>,
    /// Channel name.
    pub channel: String,
    /// `series/…` entries of the first frame (from a `dectris` source upstream).
    pub meta: Vec<(String, MetaValue)>,
}

/// The typed-array tag of `dtype` (RFC 8746, little endian).
pub fn typed_array_tag(dtype: DType) -> u64 {
    match dtype {
        DType::U8 => 64,
        DType::U16 => 69,
        DType::U32 => 70,
        _ => 85,
    }
}

fn dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::U8 => "uint8",
        DType::U16 => "uint16",
        DType::U32 => "uint32",
        _ => "float32",
    }
}

/// The start message's key of a `series/…` entry.
fn start_key(key: &str) -> Option<&'static str> {
    Some(match key {
        series::COUNT_TIME => "count_time",
        series::FRAME_TIME => "frame_time",
        series::NUMBER_OF_IMAGES => "number_of_images",
        series::INCIDENT_WAVELENGTH => "incident_wavelength",
        series::INCIDENT_ENERGY => "incident_energy",
        series::BEAM_CENTER_X => "beam_center_x",
        series::BEAM_CENTER_Y => "beam_center_y",
        series::X_PIXEL_SIZE => "pixel_size_x",
        series::Y_PIXEL_SIZE => "pixel_size_y",
        series::SENSOR_MATERIAL => "sensor_material",
        series::SENSOR_THICKNESS => "sensor_thickness",
        series::DESCRIPTION => "detector_description",
        series::SERIAL_NUMBER => "detector_serial_number",
        _ => return None,
    })
}

fn value(e: &mut Encoder<&mut Vec<u8>>, v: &MetaValue) -> Result<(), E> {
    match v {
        MetaValue::I64(i) if *i >= 0 => e.u64(*i as u64)?,
        MetaValue::I64(i) => e.i64(*i)?,
        MetaValue::F64(f) => e.f64(*f)?,
        MetaValue::Bool(b) => e.bool(*b)?,
        MetaValue::Str(s) => e.str(s)?,
        _ => e.null()?,
    };
    Ok(())
}

/// A start message.
pub fn start(s: &StartInfo, out: &mut Vec<u8>) {
    out.clear();
    let known: Vec<(&'static str, &MetaValue)> = s
        .meta
        .iter()
        .filter_map(|(k, v)| start_key(k).map(|sk| (sk, v)))
        .collect();
    let n = 9 + known.len() as u64 + u64::from(s.dtype.is_some());
    let r: Result<(), E> = (|| {
        let mut e = Encoder::new(&mut *out);
        e.tag(Tag::new(55799))?.map(n)?;
        e.str("type")?.str("start")?;
        e.str("series_id")?.u64(s.series_id)?;
        e.str("series_unique_id")?.str(&s.unique_id)?;
        e.str("arm_date")?.tag(Tag::new(0))?.str(&s.arm_date)?;
        e.str("channels")?.array(1)?.str(&s.channel)?;
        e.str("image_size_x")?.u64(u64::from(s.width))?;
        e.str("image_size_y")?.u64(u64::from(s.height))?;
        if let Some(d) = s.dtype {
            e.str("image_dtype")?.str(dtype_name(d))?;
        }
        e.str("user_data")?
            .map(1)?
            .str("producer")?
            .str("daqflow")?;
        e.str("threshold_energy")?.map(0)?;
        for (k, v) in known {
            e.str(k)?;
            value(&mut e, v)?;
        }
        Ok(())
    })();
    r.expect("writing CBOR into a Vec cannot fail");
}

/// An end message.
pub fn end(series_id: u64, unique_id: &str, out: &mut Vec<u8>) {
    out.clear();
    let r: Result<(), E> = (|| {
        let mut e = Encoder::new(&mut *out);
        e.tag(Tag::new(55799))?.map(3)?;
        e.str("type")?.str("end")?;
        e.str("series_id")?.u64(series_id)?;
        e.str("series_unique_id")?.str(unique_id)?;
        Ok(())
    })();
    r.expect("writing CBOR into a Vec cannot fail");
}

/// What an image message needs besides the payload.
#[derive(Debug)]
pub struct ImageInfo<'a> {
    /// `series_id`.
    pub series_id: u64,
    /// `series_unique_id`.
    pub unique_id: &'a str,
    /// `series_date` (the series' arm date).
    pub series_date: &'a str,
    /// `image_id` (the frame number).
    pub image_id: u64,
    /// Nanoseconds since the series began (`start_time`).
    pub since_start_ns: u64,
    /// Channel name.
    pub channel: &'a str,
    /// Shape.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Pixel type.
    pub dtype: DType,
    /// Encoding of the payload that follows.
    pub encoding: Encoding,
    /// Payload length in bytes.
    pub payload_len: usize,
}

/// The image message up to (and including) the byte-string header of its payload: the
/// message is this followed by the frame's bytes. A bare LZ4 block gets the 16-byte
/// HDF5 LZ4 chunk header here, so every reader sees the `"lz4"` framing.
pub fn image_header(i: &ImageInfo<'_>, out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    let nbytes = i.width as usize * i.height as usize * i.dtype.size_bytes();
    let (alg, elem, prefix): (Option<&str>, u64, Vec<u8>) = match i.encoding {
        Encoding::Raw => (None, 0, Vec::new()),
        Encoding::BsLz4 => (Some("bslz4"), i.dtype.size_bytes() as u64, Vec::new()),
        Encoding::Lz4 => (Some("lz4"), 0, Vec::new()),
        Encoding::Lz4Block => {
            let mut p = Vec::with_capacity(16);
            p.extend_from_slice(&(nbytes as u64).to_be_bytes());
            p.extend_from_slice(&(nbytes as u32).to_be_bytes());
            p.extend_from_slice(&(i.payload_len as u32).to_be_bytes());
            (Some("lz4"), 0, p)
        }
        other => return Err(format!("frames in encoding {other} cannot be streamed")),
    };
    let r: Result<(), E> = (|| {
        let mut e = Encoder::new(&mut *out);
        e.tag(Tag::new(55799))?.map(7)?;
        e.str("type")?.str("image")?;
        e.str("series_id")?.u64(i.series_id)?;
        e.str("series_unique_id")?.str(i.unique_id)?;
        e.str("image_id")?.u64(i.image_id)?;
        e.str("series_date")?.tag(Tag::new(0))?.str(i.series_date)?;
        e.str("start_time")?
            .array(2)?
            .u64(i.since_start_ns)?
            .u64(1_000_000_000)?;
        e.str("data")?.map(1)?.str(i.channel)?;
        e.tag(Tag::new(40))?.array(2)?;
        e.array(2)?
            .u64(u64::from(i.height))?
            .u64(u64::from(i.width))?;
        e.tag(Tag::new(typed_array_tag(i.dtype)))?;
        if let Some(alg) = alg {
            e.tag(Tag::new(56500))?.array(3)?.str(alg)?.u64(elem)?;
        }
        Ok(())
    })();
    r.expect("writing CBOR into a Vec cannot fail");
    bytes_head((prefix.len() + i.payload_len) as u64, out);
    out.extend_from_slice(&prefix);
    Ok(())
}

/// The head of a CBOR byte string of `len` bytes (major type 2).
fn bytes_head(len: u64, out: &mut Vec<u8>) {
    const MAJOR: u8 = 2 << 5;
    match len {
        0..=23 => out.push(MAJOR | len as u8),
        24..=0xff => out.extend_from_slice(&[MAJOR | 24, len as u8]),
        0x100..=0xffff => {
            out.push(MAJOR | 25);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(MAJOR | 26);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
        _ => {
            out.push(MAJOR | 27);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_string_heads() {
        for (len, want) in [
            (5u64, vec![0x45]),
            (24, vec![0x58, 24]),
            (300, vec![0x59, 1, 44]),
            (4 << 20, vec![0x5a, 0, 0x40, 0, 0]),
        ] {
            let mut v = Vec::new();
            bytes_head(len, &mut v);
            assert_eq!(v, want, "{len}");
        }
    }
}
