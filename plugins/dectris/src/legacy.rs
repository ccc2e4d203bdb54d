//! Stream v1 ("legacy", SIMPLON `format = legacy`): multipart ZeroMQ messages of JSON
//! headers and binary blobs — `dheader-1.0` (+ the detector config with
//! `header_detail = basic|all`, + flatfield/mask/countrate parts with `all`), per image
//! `dimage-1.0` / `dimage_d-1.0` / blob / `dconfig-1.0`, then `dseries_end-1.0`.
//!
//! Implementations differ (one message or two for the header and its config, the
//! bitshuffle chunk with or without its 12-byte header, `hash` present or not): parts
//! are read one by one by their `htype`, and a config part is recognised by its keys.

use std::ops::Deref;

use daqflow_sdk::prelude::*;
use daqflow_sdk::series;
use serde_json::Value;

use crate::message::{Image, Kind, Message, Problem, SeriesStart, check_payload};

type R<T> = Result<T, Problem>;

fn json(part: &[u8], what: &str) -> R<Value> {
    serde_json::from_slice(part).map_err(|e| Problem::new(Kind::Malformed, format!("{what}: {e}")))
}

/// Decodes one multipart v1 message (parts: anything that derefs to bytes — ZeroMQ
/// messages, vectors).
pub fn decode<'a, P: Deref<Target = [u8]>>(parts: &'a [P]) -> R<Message<'a>> {
    let first: &[u8] = parts
        .first()
        .ok_or_else(|| Problem::new(Kind::Malformed, "empty multipart message"))?;
    let head = json(first, "part 1 is not JSON")?;
    let htype = head.get("htype").and_then(Value::as_str).unwrap_or("");
    match htype {
        h if h.starts_with("dheader-") => {
            let mut s = SeriesStart {
                series_id: head.get("series").and_then(Value::as_u64),
                ..SeriesStart::default()
            };
            // With header_detail basic/all, the detector config follows as part 2 (some
            // senders put it in a message of its own: see `Message::Config`).
            if let Some(cfg) = parts.get(1).map(|p| &**p) {
                apply_config(&json(cfg, "header config part is not JSON")?, &mut s);
            }
            Ok(Message::Start(s))
        }
        h if h.starts_with("dimage-") => image(&head, parts).map(Message::Image),
        h if h.starts_with("dseries_end") => Ok(Message::End {
            series_id: head.get("series").and_then(Value::as_u64),
        }),
        "" if head.get("beam_center_x").is_some() || head.get("x_pixels_in_detector").is_some() => {
            let mut s = SeriesStart::default();
            apply_config(&head, &mut s);
            Ok(Message::Config(s))
        }
        h if h.starts_with("dflatfield")
            || h.starts_with("dpixelmask")
            || h.starts_with("dcountrate") =>
        {
            Ok(Message::Other)
        }
        other => Err(Problem::new(Kind::UnknownType, format!("htype {other:?}"))),
    }
}

/// The v1 detector config (`header_detail` basic/all) into `series/…` entries.
fn apply_config(cfg: &Value, s: &mut SeriesStart) {
    let f = |k: &str| cfg.get(k).and_then(Value::as_f64);
    let floats = [
        ("count_time", series::COUNT_TIME, 1.0),
        ("frame_time", series::FRAME_TIME, 1.0),
        ("wavelength", series::INCIDENT_WAVELENGTH, 1.0),
        ("photon_energy", series::INCIDENT_ENERGY, 1.0),
        ("beam_center_x", series::BEAM_CENTER_X, 1.0),
        ("beam_center_y", series::BEAM_CENTER_Y, 1.0),
        ("x_pixel_size", series::X_PIXEL_SIZE, 1.0),
        ("y_pixel_size", series::Y_PIXEL_SIZE, 1.0),
        ("sensor_thickness", series::SENSOR_THICKNESS, 1.0),
    ];
    for (src, key, scale) in floats {
        if let Some(v) = f(src) {
            s.put(key, MetaValue::F64(v * scale));
        }
    }
    for (src, key) in [
        ("sensor_material", series::SENSOR_MATERIAL),
        ("description", series::DESCRIPTION),
        ("detector_number", series::SERIAL_NUMBER),
    ] {
        if let Some(v) = cfg.get(src).and_then(Value::as_str) {
            s.put(key, MetaValue::Str(v.to_owned()));
        }
    }
    let n = cfg.get("nimages").and_then(Value::as_u64);
    let t = cfg
        .get("ntrigger")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .max(1);
    if let Some(n) = n {
        s.number_of_images = Some(n * t);
        s.put(series::NUMBER_OF_IMAGES, MetaValue::I64((n * t) as i64));
    }
}

fn image<'a, P: Deref<Target = [u8]>>(head: &Value, parts: &'a [P]) -> R<Image<'a>> {
    let image_id = head
        .get("frame")
        .and_then(Value::as_u64)
        .ok_or_else(|| Problem::new(Kind::Malformed, "dimage header without `frame`"))?;
    let series_id = head.get("series").and_then(Value::as_u64);
    let (Some(dpart), Some(blob)) = (parts.get(1).map(|p| &**p), parts.get(2).map(|p| &**p)) else {
        return Err(Problem::new(
            Kind::Malformed,
            format!(
                "image {image_id}: {} parts, need header, data header and blob",
                parts.len()
            ),
        ));
    };
    let dh = json(dpart, "dimage_d part is not JSON")?;
    let shape: Vec<u64> = dh
        .get("shape")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let [x, y] = shape[..] else {
        return Err(Problem::new(
            Kind::Malformed,
            format!(
                "image {image_id}: `shape` {:?} is not [x, y]",
                dh.get("shape")
            ),
        ));
    };
    let (Ok(width), Ok(height)) = (u32::try_from(x), u32::try_from(y)) else {
        return Err(Problem::new(
            Kind::BadArraySize,
            format!("image {image_id}: shape [{x}, {y}]"),
        ));
    };
    let dtype = match dh.get("type").and_then(Value::as_str).unwrap_or("") {
        "uint8" => DType::U8,
        "uint16" => DType::U16,
        "uint32" => DType::U32,
        "float32" => DType::F32,
        other => {
            return Err(Problem::new(
                Kind::Unsupported,
                format!("image {image_id}: type {other:?}"),
            ));
        }
    };
    let enc = dh.get("encoding").and_then(Value::as_str).unwrap_or("<");
    let nbytes = x as usize * y as usize * dtype.size_bytes();
    let mut img = Image {
        series_id,
        image_id,
        dtype,
        encoding: Encoding::Raw,
        width,
        height,
        prefix: Vec::new(),
        payload: blob,
        channels_skipped: 0,
    };
    match enc {
        "<" | "" => {}
        "lz4<" => {
            img.encoding = Encoding::Lz4Block;
        }
        e if e.starts_with("bs") && e.ends_with("-lz4<") => {
            img.encoding = Encoding::BsLz4;
            // Some senders leave out the HDF5 filter's 12-byte header, others send it
            // zeroed: supply it when the blob does not start with the image's size.
            let has_header = blob.len() >= 12 && blob[..8] == (nbytes as u64).to_be_bytes();
            if !has_header {
                if blob.len() >= 12 && blob[..12].iter().all(|b| *b == 0) {
                    img.payload = &blob[12..];
                }
                let mut p = Vec::with_capacity(12);
                p.extend_from_slice(&(nbytes as u64).to_be_bytes());
                // The bitshuffle filter's default block: 8192 bytes for 1-, 2-, 4-byte pixels.
                p.extend_from_slice(&8192u32.to_be_bytes());
                img.prefix = p;
            }
        }
        other => {
            return Err(Problem::new(
                Kind::Unsupported,
                format!(
                    "image {image_id}: encoding {other:?} (supported: <, lz4<, bs8/16/32-lz4<)"
                ),
            ));
        }
    }
    check_payload(&img)?;
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(v: &[&[u8]]) -> Vec<Vec<u8>> {
        v.iter().map(|p| p.to_vec()).collect()
    }

    #[test]
    fn header_with_config_gives_the_series_description() {
        let p = parts(&[
            br#"{"htype":"dheader-1.0","series":3,"header_detail":"basic"}"#,
            br#"{"count_time":0.5,"nimages":4,"ntrigger":2,"wavelength":1.0,"description":"EIGER2 X 4M","detector_number":"E-1"}"#,
        ]);
        let Ok(Message::Start(s)) = decode(&p) else {
            panic!("not a start")
        };
        assert_eq!((s.series_id, s.number_of_images), (Some(3), Some(8)));
        assert!(
            s.meta
                .contains(&(series::DESCRIPTION, MetaValue::Str("EIGER2 X 4M".into())))
        );
        // Some senders send the config as a message of its own.
        let c = parts(&[br#"{"beam_center_x":10.5}"#]);
        assert!(matches!(decode(&c), Ok(Message::Config(_))));
    }

    #[test]
    fn images_raw_and_headerless_bitshuffle() {
        let raw = [0u8; 16];
        let p = parts(&[
            br#"{"htype":"dimage-1.0","series":3,"frame":5,"hash":""}"#,
            br#"{"htype":"dimage_d-1.0","shape":[4,2],"type":"uint16","encoding":"<"}"#,
            &raw,
            br#"{"htype":"dconfig-1.0"}"#,
        ]);
        let Ok(Message::Image(i)) = decode(&p) else {
            panic!("not an image")
        };
        assert_eq!(
            (i.image_id, i.width, i.height, i.dtype),
            (5, 4, 2, DType::U16)
        );
        // 8 u16 elements: no full 8192-byte block, one partial block of 8 elements.
        let mut blob = 3u32.to_be_bytes().to_vec();
        blob.extend_from_slice(&[1, 2, 3]);
        let p = parts(&[
            br#"{"htype":"dimage-1.0","series":3,"frame":6}"#,
            br#"{"htype":"dimage_d-1.0","shape":[4,2],"type":"uint16","encoding":"bs16-lz4<"}"#,
            &blob,
        ]);
        let Ok(Message::Image(i)) = decode(&p) else {
            panic!("not an image")
        };
        assert_eq!(i.encoding, Encoding::BsLz4);
        assert_eq!(i.prefix.len(), 12);
        assert_eq!(&i.prefix[..8], &16u64.to_be_bytes());
        let bad = parts(&[br#"{"htype":"dimage-1.0","frame":1}"#]);
        assert_eq!(decode(&bad).unwrap_err().kind, Kind::Malformed);
        let unknown = parts(&[br#"{"htype":"dmystery-1.0"}"#]);
        assert_eq!(decode(&unknown).unwrap_err().kind, Kind::UnknownType);
    }
}
