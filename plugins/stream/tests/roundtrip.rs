//! What `stream` encodes, the `dectris` source's decoder reads back: the CBOR of start,
//! image (every dtype and encoding) and end messages, payload bytes untouched.

use daqflow_plugin_dectris::message::Message;
use daqflow_plugin_dectris::stream2;
use daqflow_plugin_stream::encode::{self, ImageInfo, StartInfo};
use daqflow_sdk::{DType, Encoding, MetaValue, series};

fn image(dtype: DType, encoding: Encoding, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    encode::image_header(
        &ImageInfo {
            series_id: 4,
            unique_id: "u",
            series_date: "2026-01-01T00:00:00.000000Z",
            image_id: 17,
            since_start_ns: 5,
            channel: "threshold_1",
            width: 3,
            height: 2,
            dtype,
            encoding,
            payload_len: payload.len(),
        },
        &mut m,
    )
    .unwrap();
    m.extend_from_slice(payload);
    m
}

#[test]
fn raw_images_of_every_dtype_round_trip() {
    for dtype in DType::ALL {
        let payload: Vec<u8> = (0..6 * dtype.size_bytes() as u8).collect();
        let m = image(dtype, Encoding::Raw, &payload);
        match stream2::decode(&m, None).unwrap() {
            Message::Image(i) => {
                assert_eq!((i.series_id, i.image_id), (Some(4), 17));
                assert_eq!(
                    (i.dtype, i.encoding, i.width, i.height),
                    (dtype, Encoding::Raw, 3, 2)
                );
                assert_eq!(i.payload, &payload[..]);
                // Zero copy: the payload is a slice of the message.
                assert_eq!(i.payload.as_ptr(), m[m.len() - payload.len()..].as_ptr());
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn compressed_images_keep_their_chunk() {
    let chunk: Vec<u8> = (0..40u8).collect();
    for enc in [Encoding::BsLz4, Encoding::Lz4] {
        let m = image(DType::U16, enc, &chunk);
        match stream2::decode(&m, Some("threshold_1")).unwrap() {
            Message::Image(i) => {
                assert_eq!(i.encoding, enc);
                assert_eq!(i.payload, &chunk[..]);
            }
            other => panic!("{other:?}"),
        }
    }
    // A bare LZ4 block travels as an HDF5 LZ4 chunk: 16-byte header in front.
    let m = image(DType::U8, Encoding::Lz4Block, &chunk);
    match stream2::decode(&m, None).unwrap() {
        Message::Image(i) => {
            assert_eq!(i.encoding, Encoding::Lz4);
            assert_eq!(i.payload.len(), 16 + chunk.len());
            assert_eq!(&i.payload[..8], &6u64.to_be_bytes());
            assert_eq!(&i.payload[16..], &chunk[..]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn start_and_end_carry_the_series() {
    let mut out = Vec::new();
    encode::start(
        &StartInfo {
            series_id: 9,
            unique_id: "x".into(),
            arm_date: "2026-01-01T00:00:00Z".into(),
            width: 3,
            height: 2,
            dtype: Some(DType::U32),
            channel: "threshold_1".into(),
            meta: vec![
                (series::COUNT_TIME.into(), MetaValue::F64(0.5)),
                (series::NUMBER_OF_IMAGES.into(), MetaValue::I64(100)),
                (series::DESCRIPTION.into(), MetaValue::Str("EIGER2".into())),
            ],
        },
        &mut out,
    );
    match stream2::decode(&out, None).unwrap() {
        Message::Start(s) => {
            assert_eq!(s.series_id, Some(9));
            assert_eq!(s.number_of_images, Some(100));
            assert!(s.meta.contains(&(series::COUNT_TIME, MetaValue::F64(0.5))));
            assert!(
                s.meta
                    .contains(&(series::DESCRIPTION, MetaValue::Str("EIGER2".into())))
            );
        }
        other => panic!("{other:?}"),
    }
    encode::end(9, "x", &mut out);
    assert!(matches!(
        stream2::decode(&out, None).unwrap(),
        Message::End { series_id: Some(9) }
    ));
}
