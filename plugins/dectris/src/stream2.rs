//! Stream v2: one CBOR map per ZeroMQ message (`type` = start | image | end), decoded
//! with minicbor without copying the image bytes: the payload is a slice of the message.
//!
//! Liberal in what it accepts: keys in any order (`type` need not be first), the
//! self-describe tag optional, unknown keys skipped, numbers as integers or floats, the
//! compression tag 56500 inside a typed array or a plain byte string.

use daqflow_sdk::prelude::*;
use daqflow_sdk::series;
use minicbor::Decoder;
use minicbor::data::Type;

use crate::message::{Image, Kind, Message, Problem, SeriesStart};

const TAG_SELF_DESCRIBE: u64 = 55799;
const TAG_MULTI_DIM: u64 = 40;
const TAG_COMPRESSED: u64 = 56500;

type R<T> = Result<T, Problem>;

fn bad(e: minicbor::decode::Error) -> Problem {
    Problem::new(Kind::Malformed, format!("CBOR: {e}"))
}

/// Decodes one stream v2 message. `channel`: the image channel to pass on (default: the
/// first of the `data` map).
pub fn decode<'a>(msg: &'a [u8], channel: Option<&str>) -> R<Message<'a>> {
    let mut d = Decoder::new(msg);
    if d.datatype().map_err(bad)? == Type::Tag {
        let t = d.tag().map_err(bad)?;
        if t.as_u64() != TAG_SELF_DESCRIBE {
            return Err(Problem::new(
                Kind::Malformed,
                format!("top level is tag {}, not a map", t.as_u64()),
            ));
        }
    }
    let body = d.position();
    let mtype = find_type(&mut d)?;
    d.set_position(body);
    let end_ok = |d: &Decoder<'_>| {
        if d.position() != msg.len() {
            return Err(Problem::new(
                Kind::Malformed,
                format!("{} bytes after the message's map", msg.len() - d.position()),
            ));
        }
        Ok(())
    };
    let m = match mtype {
        "start" => Message::Start(start(&mut d)?),
        "image" => Message::Image(image(&mut d, channel)?),
        "end" => {
            let mut series_id = None;
            entries(&mut d, |d, key| {
                match key {
                    "series_id" => series_id = uint(d)?,
                    _ => d.skip().map_err(bad)?,
                }
                Ok(())
            })?;
            Message::End { series_id }
        }
        other => {
            return Err(Problem::new(
                Kind::UnknownType,
                format!("message type {other:?}"),
            ));
        }
    };
    end_ok(&d)?;
    Ok(m)
}

/// Calls `f` for each key of the map at the decoder (definite or indefinite length);
/// `f` must consume the value.
fn entries<'a>(
    d: &mut Decoder<'a>,
    mut f: impl FnMut(&mut Decoder<'a>, &'a str) -> R<()>,
) -> R<()> {
    if d.datatype().map_err(bad)? != Type::Map && d.datatype().map_err(bad)? != Type::MapIndef {
        return Err(Problem::new(
            Kind::Malformed,
            format!("expected a map, found {}", d.datatype().map_err(bad)?),
        ));
    }
    let len = d.map().map_err(bad)?;
    let mut i = 0u64;
    loop {
        match len {
            Some(n) if i == n => break,
            None if d.datatype().map_err(bad)? == Type::Break => {
                d.skip().map_err(bad)?;
                break;
            }
            _ => {}
        }
        if d.datatype().map_err(bad)? != Type::String {
            return Err(Problem::new(
                Kind::Malformed,
                format!("map key {i} is not a text string"),
            ));
        }
        let key = d.str().map_err(bad)?;
        f(d, key)?;
        i += 1;
    }
    Ok(())
}

fn find_type<'a>(d: &mut Decoder<'a>) -> R<&'a str> {
    let mut found = None;
    entries(d, |d, key| {
        if key == "type" && found.is_none() {
            found = Some(d.str().map_err(bad)?);
        } else {
            d.skip().map_err(bad)?;
        }
        Ok(())
    })?;
    found.ok_or_else(|| Problem::new(Kind::Malformed, "the map has no `type` key"))
}

/// A number as f64 (integers and floats); `None` (value skipped) for anything else.
fn num(d: &mut Decoder<'_>) -> R<Option<f64>> {
    Ok(match d.datatype().map_err(bad)? {
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => Some(d.u64().map_err(bad)? as f64),
        Type::I8 | Type::I16 | Type::I32 | Type::I64 => Some(d.i64().map_err(bad)? as f64),
        Type::F16 => {
            let at = d.position();
            d.skip().map_err(bad)?;
            let b = &d.input()[at + 1..at + 3];
            Some(half_to_f64(u16::from_be_bytes([b[0], b[1]])))
        }
        Type::F32 => Some(f64::from(d.f32().map_err(bad)?)),
        Type::F64 => Some(d.f64().map_err(bad)?),
        _ => {
            d.skip().map_err(bad)?;
            None
        }
    })
}

/// An IEEE 754 half-precision value (CBOR major 7, 25) as f64.
fn half_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

fn uint(d: &mut Decoder<'_>) -> R<Option<u64>> {
    Ok(match d.datatype().map_err(bad)? {
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => Some(d.u64().map_err(bad)?),
        _ => {
            d.skip().map_err(bad)?;
            None
        }
    })
}

fn text<'a>(d: &mut Decoder<'a>) -> R<Option<&'a str>> {
    Ok(if d.datatype().map_err(bad)? == Type::String {
        Some(d.str().map_err(bad)?)
    } else {
        d.skip().map_err(bad)?;
        None
    })
}

fn start(d: &mut Decoder<'_>) -> R<SeriesStart> {
    let mut s = SeriesStart::default();
    entries(d, |d, key| {
        let float_key = match key {
            "count_time" => Some(series::COUNT_TIME),
            "frame_time" => Some(series::FRAME_TIME),
            "incident_wavelength" => Some(series::INCIDENT_WAVELENGTH),
            "incident_energy" => Some(series::INCIDENT_ENERGY),
            "beam_center_x" => Some(series::BEAM_CENTER_X),
            "beam_center_y" => Some(series::BEAM_CENTER_Y),
            "pixel_size_x" => Some(series::X_PIXEL_SIZE),
            "pixel_size_y" => Some(series::Y_PIXEL_SIZE),
            "sensor_thickness" => Some(series::SENSOR_THICKNESS),
            _ => None,
        };
        if let Some(k) = float_key {
            if let Some(v) = num(d)? {
                s.put(k, MetaValue::F64(v));
            }
            return Ok(());
        }
        let text_key = match key {
            "sensor_material" => Some(series::SENSOR_MATERIAL),
            "detector_description" => Some(series::DESCRIPTION),
            "detector_serial_number" => Some(series::SERIAL_NUMBER),
            _ => None,
        };
        if let Some(k) = text_key {
            if let Some(v) = text(d)? {
                s.put(k, MetaValue::Str(v.to_owned()));
            }
            return Ok(());
        }
        match key {
            "series_id" => s.series_id = uint(d)?,
            "number_of_images" => {
                s.number_of_images = uint(d)?;
                if let Some(n) = s.number_of_images {
                    s.put(series::NUMBER_OF_IMAGES, MetaValue::I64(n as i64));
                }
            }
            _ => d.skip().map_err(bad)?,
        }
        Ok(())
    })?;
    Ok(s)
}

fn image<'a>(d: &mut Decoder<'a>, channel: Option<&str>) -> R<Image<'a>> {
    let (mut series_id, mut image_id) = (None, None);
    let mut picked: Option<Array<'a>> = None;
    let mut skipped = 0u64;
    let mut seen = Vec::new();
    entries(d, |d, key| {
        match key {
            "series_id" => series_id = uint(d)?,
            "image_id" => image_id = uint(d)?,
            "data" => entries(d, |d, name| {
                let want = match channel {
                    Some(c) => c == name,
                    None => picked.is_none(),
                };
                if want && picked.is_none() {
                    picked = Some(array(d)?);
                } else {
                    skipped += 1;
                    d.skip().map_err(bad)?;
                }
                seen.push(name);
                Ok(())
            })?,
            _ => d.skip().map_err(bad)?,
        }
        Ok(())
    })?;
    let image_id =
        image_id.ok_or_else(|| Problem::new(Kind::Malformed, "image without `image_id`"))?;
    let a = picked.ok_or_else(|| match channel {
        Some(c) => Problem::new(
            Kind::Malformed,
            format!("image {image_id} has no channel {c:?} (it has {seen:?})"),
        ),
        None => Problem::new(Kind::Malformed, format!("image {image_id} has no data")),
    })?;
    Ok(Image {
        series_id,
        image_id,
        dtype: a.dtype,
        encoding: a.encoding,
        width: a.width,
        height: a.height,
        prefix: Vec::new(),
        payload: a.payload,
        channels_skipped: skipped,
    })
}

struct Array<'a> {
    dtype: DType,
    encoding: Encoding,
    width: u32,
    height: u32,
    payload: &'a [u8],
}

/// `40([[rows, cols], typed array])`, the typed array's bytes plain or compressed.
fn array<'a>(d: &mut Decoder<'a>) -> R<Array<'a>> {
    let t = d.tag().map_err(bad)?.as_u64();
    if t != TAG_MULTI_DIM {
        let kind = if t == 1040 {
            Kind::Unsupported
        } else {
            Kind::Malformed
        };
        return Err(Problem::new(
            kind,
            format!("image data is tag {t}, not a row-major multi-dimensional array (40)"),
        ));
    }
    if d.array().map_err(bad)? != Some(2) {
        return Err(Problem::new(
            Kind::Malformed,
            "tag 40 must hold [dimensions, array]",
        ));
    }
    let ndims = d.array().map_err(bad)?;
    if ndims != Some(2) {
        return Err(Problem::new(
            Kind::Unsupported,
            format!("{ndims:?} dimensions; only 2-D images are supported"),
        ));
    }
    let rows = d.u64().map_err(bad)?;
    let cols = d.u64().map_err(bad)?;
    let (Ok(height), Ok(width)) = (u32::try_from(rows), u32::try_from(cols)) else {
        return Err(Problem::new(
            Kind::BadArraySize,
            format!("dimensions [{rows}, {cols}]"),
        ));
    };
    let ta = d.tag().map_err(bad)?.as_u64();
    let dtype = match ta {
        64 | 68 => DType::U8,
        69 => DType::U16,
        70 => DType::U32,
        85 => DType::F32,
        other => {
            return Err(Problem::new(
                Kind::Unsupported,
                format!(
                    "typed array tag {other} (supported: 64/68 u8, 69 u16le, 70 u32le, 85 f32le)"
                ),
            ));
        }
    };
    let (encoding, payload) = match d.datatype().map_err(bad)? {
        Type::Bytes => (Encoding::Raw, d.bytes().map_err(bad)?),
        Type::Tag => {
            let c = d.tag().map_err(bad)?.as_u64();
            if c != TAG_COMPRESSED {
                return Err(Problem::new(
                    Kind::Unsupported,
                    format!("tag {c} inside a typed array"),
                ));
            }
            if d.array().map_err(bad)? != Some(3) {
                return Err(Problem::new(
                    Kind::Malformed,
                    "compression tag 56500 must hold [algorithm, element size, bytes]",
                ));
            }
            let alg = d.str().map_err(bad)?;
            let elem = d.u64().map_err(bad)?;
            let bytes = d.bytes().map_err(bad)?;
            let enc = match alg {
                "bslz4" => {
                    if elem != dtype.size_bytes() as u64 {
                        return Err(Problem::new(
                            Kind::BadCompressed,
                            format!(
                                "bslz4 element size {elem} for {dtype} pixels ({} bytes)",
                                dtype.size_bytes()
                            ),
                        ));
                    }
                    Encoding::BsLz4
                }
                "lz4" => Encoding::Lz4,
                other => {
                    return Err(Problem::new(
                        Kind::Unsupported,
                        format!("compression {other:?} (supported: bslz4, lz4)"),
                    ));
                }
            };
            (enc, bytes)
        }
        other => {
            return Err(Problem::new(
                Kind::Malformed,
                format!("typed array holds {other}, not bytes"),
            ));
        }
    };
    Ok(Array {
        dtype,
        encoding,
        width,
        height,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use minicbor::Encoder;
    use minicbor::data::Tag;

    use super::*;

    fn image_msg(self_describe: bool, indefinite: bool, data_first: bool) -> Vec<u8> {
        let mut v = Vec::new();
        let mut e = Encoder::new(&mut v);
        if self_describe {
            e.tag(Tag::new(TAG_SELF_DESCRIBE)).unwrap();
        }
        if indefinite {
            e.begin_map().unwrap();
        } else {
            e.map(3).unwrap();
        }
        let data = |e: &mut Encoder<&mut Vec<u8>>| {
            e.str("data").unwrap().map(2).unwrap();
            for (name, fill) in [("threshold_1", 1u8), ("threshold_2", 2u8)] {
                e.str(name).unwrap();
                e.tag(Tag::new(40)).unwrap().array(2).unwrap();
                e.array(2).unwrap().u8(2).unwrap().u8(3).unwrap();
                e.tag(Tag::new(64)).unwrap().bytes(&[fill; 6]).unwrap();
            }
        };
        if data_first {
            data(&mut e);
        }
        e.str("type").unwrap().str("image").unwrap();
        e.str("image_id").unwrap().u32(7).unwrap();
        if !data_first {
            data(&mut e);
        }
        if indefinite {
            e.end().unwrap();
        }
        v
    }

    #[test]
    fn accepts_any_key_order_and_map_kind() {
        for (sd, indef, first) in [
            (true, false, false),
            (false, false, true),
            (true, true, true),
        ] {
            let m = image_msg(sd, indef, first);
            let Message::Image(i) = decode(&m, None).unwrap() else {
                panic!("not an image")
            };
            assert_eq!((i.image_id, i.width, i.height), (7, 3, 2));
            assert_eq!(i.payload, &[1; 6]);
            assert_eq!(i.channels_skipped, 1);
            let Message::Image(i) = decode(&m, Some("threshold_2")).unwrap() else {
                panic!("not an image")
            };
            assert_eq!(i.payload, &[2; 6]);
        }
    }

    #[test]
    fn problems_have_their_kind() {
        let m = image_msg(true, false, false);
        assert_eq!(
            decode(&m, Some("threshold_9")).unwrap_err().kind,
            Kind::Malformed
        );
        assert_eq!(
            decode(&m[..m.len() - 3], None).unwrap_err().kind,
            Kind::Malformed
        );
        let mut trailing = m.clone();
        trailing.push(0);
        assert_eq!(decode(&trailing, None).unwrap_err().kind, Kind::Malformed);
        assert_eq!(decode(b"", None).unwrap_err().kind, Kind::Malformed);
        let mut v = Vec::new();
        Encoder::new(&mut v)
            .map(1)
            .unwrap()
            .str("type")
            .unwrap()
            .str("calibration")
            .unwrap();
        assert_eq!(decode(&v, None).unwrap_err().kind, Kind::UnknownType);
    }
}
