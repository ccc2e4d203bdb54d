//! Series: the unit a detector acquires (arm … disarm) — a convention on frame metadata,
//! no ABI of its own. A source that knows series (a detector stream) puts
//! [`SERIES_ID`] on every frame, and on the first frame of each series the series'
//! description (the detector's start message) as `series/<name>` entries. A sink that
//! records series (the HDF5 writer) starts a new file when `series_id` changes and writes
//! the `series/` entries once per file as NeXus fields, not as per-frame columns.
//!
//! Frame metadata holds 16 entries, so a source puts at most [`MAX_ENTRIES`] `series/`
//! entries on a frame, leaving room for filters that add their own (`stats`). The names
//! below are the ones sinks know (with their NeXus place and units); others are kept too,
//! under the sink's collection for unknown fields.

/// Integer key on every frame of a series: the detector's series number.
pub const SERIES_ID: &str = "series_id";

/// Prefix of the series' description entries (first frame of a series only).
pub const PREFIX: &str = "series/";

/// The most `series/` entries a source puts on one frame.
pub const MAX_ENTRIES: usize = 13;

/// Exposure time per image, seconds (f64).
pub const COUNT_TIME: &str = "series/count_time";
/// Time between the starts of two images, seconds (f64).
pub const FRAME_TIME: &str = "series/frame_time";
/// Images the detector announced for the series (i64).
pub const NUMBER_OF_IMAGES: &str = "series/number_of_images";
/// Wavelength of the incident beam, ångström (f64).
pub const INCIDENT_WAVELENGTH: &str = "series/incident_wavelength";
/// Energy of the incident photons, eV (f64).
pub const INCIDENT_ENERGY: &str = "series/incident_energy";
/// Beam centre, x, pixels (f64).
pub const BEAM_CENTER_X: &str = "series/beam_center_x";
/// Beam centre, y, pixels (f64).
pub const BEAM_CENTER_Y: &str = "series/beam_center_y";
/// Pixel size along x, metres (f64).
pub const X_PIXEL_SIZE: &str = "series/x_pixel_size";
/// Pixel size along y, metres (f64).
pub const Y_PIXEL_SIZE: &str = "series/y_pixel_size";
/// Sensor material (text, e.g. `Si`).
pub const SENSOR_MATERIAL: &str = "series/sensor_material";
/// Sensor thickness, metres (f64).
pub const SENSOR_THICKNESS: &str = "series/sensor_thickness";
/// Detector model (text, at most 47 bytes: longer text is cut).
pub const DESCRIPTION: &str = "series/description";
/// Detector serial number (text).
pub const SERIAL_NUMBER: &str = "series/serial_number";

/// True for a key of the series' description (`series/…`).
pub fn is_series_key(key: &str) -> bool {
    key.starts_with(PREFIX)
}

/// `text` cut to what a metadata string holds (47 bytes), on a character boundary.
pub fn fit_text(text: &str) -> &str {
    let mut end = text.len().min(crate::abi::META_STR_MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fit_the_frame_header() {
        for k in [
            COUNT_TIME,
            FRAME_TIME,
            NUMBER_OF_IMAGES,
            INCIDENT_WAVELENGTH,
            INCIDENT_ENERGY,
            BEAM_CENTER_X,
            BEAM_CENTER_Y,
            X_PIXEL_SIZE,
            Y_PIXEL_SIZE,
            SENSOR_MATERIAL,
            SENSOR_THICKNESS,
            DESCRIPTION,
            SERIAL_NUMBER,
        ] {
            assert!(
                k.len() <= crate::abi::META_KEY_MAX && is_series_key(k),
                "{k}"
            );
        }
        assert!(!is_series_key(SERIES_ID));
        assert_eq!(fit_text(&"é".repeat(30)).len(), 46);
    }
}
