//! A series' description (a detector's start message, the `series/…` entries of its
//! first frame, see `daqflow_sdk::series`) written once per file as NeXus fields with
//! their units: the detector's in its NXdetector (`count_time`, `beam_center_x`,
//! `x_pixel_size`, `sensor_material`, …), the beam's in an NXbeam beside it
//! (`incident_wavelength`, `incident_energy`), and the rest in the detector's
//! `detectorSpecific` NXcollection (as DECTRIS files have it), with `series_id`.

use daqflow_sdk::series;
use hdf5::types::VarLenUnicode;
use hdf5::{File, Group, Location};

use super::meta::MetaCell;
use super::nexus::{DatasetPath, attr_str, write_vlen_scalar};

/// Where a known entry goes: (group, field name, units).
fn place(key: &str) -> (Where, &str, Option<&'static str>) {
    match key {
        series::COUNT_TIME => (Where::Detector, "count_time", Some("s")),
        series::FRAME_TIME => (Where::Detector, "frame_time", Some("s")),
        series::BEAM_CENTER_X => (Where::Detector, "beam_center_x", Some("pixel")),
        series::BEAM_CENTER_Y => (Where::Detector, "beam_center_y", Some("pixel")),
        series::X_PIXEL_SIZE => (Where::Detector, "x_pixel_size", Some("m")),
        series::Y_PIXEL_SIZE => (Where::Detector, "y_pixel_size", Some("m")),
        series::SENSOR_MATERIAL => (Where::Detector, "sensor_material", None),
        series::SENSOR_THICKNESS => (Where::Detector, "sensor_thickness", Some("m")),
        series::DESCRIPTION => (Where::Detector, "description", None),
        series::SERIAL_NUMBER => (Where::Detector, "serial_number", None),
        series::NUMBER_OF_IMAGES => (Where::Specific, "nimages", None),
        series::INCIDENT_WAVELENGTH => (Where::Beam, "incident_wavelength", Some("angstrom")),
        series::INCIDENT_ENERGY => (Where::Beam, "incident_energy", Some("eV")),
        other => (
            Where::Specific,
            other.strip_prefix(series::PREFIX).unwrap_or(other),
            None,
        ),
    }
}

#[derive(Clone, Copy)]
enum Where {
    Detector,
    Beam,
    Specific,
}

fn group_of(file: &File, path: &str, class: &str) -> hdf5::Result<Group> {
    match file.group(path) {
        Ok(g) => Ok(g),
        Err(_) => {
            let g = file.create_group(path)?;
            attr_str(&g, "NX_class", class)?;
            Ok(g)
        }
    }
}

fn field(group: &Group, name: &str, cell: &MetaCell, units: Option<&str>) -> hdf5::Result<()> {
    if name.is_empty() || name.contains('/') || group.link_exists(name) {
        return Ok(());
    }
    let ds = match cell {
        MetaCell::F64(v) => {
            let ds = group.new_dataset::<f64>().create(name)?;
            ds.write_scalar(v)?;
            ds
        }
        MetaCell::I64(v) => {
            let ds = group.new_dataset::<i64>().create(name)?;
            ds.write_scalar(v)?;
            ds
        }
        MetaCell::Bool(v) => {
            let ds = group.new_dataset::<bool>().create(name)?;
            ds.write_scalar(v)?;
            ds
        }
        MetaCell::Str(s) => {
            let v: VarLenUnicode = s
                .parse()
                .map_err(|e| hdf5::Error::Internal(format!("{e}")))?;
            let ds = group.new_dataset::<VarLenUnicode>().create(name)?;
            write_vlen_scalar(&ds, &v)?;
            ds
        }
    };
    if let Some(u) = units {
        let loc: &Location = &ds;
        attr_str(loc, "units", u)?;
    }
    Ok(())
}

/// Writes the `series/…` entries of `cells` (and `series_id`) as NeXus fields. Fields
/// that exist already are kept (the file's first series describes it).
pub fn write(file: &File, dataset: &str, cells: &[(String, MetaCell)]) -> hdf5::Result<()> {
    let dp = DatasetPath::parse(dataset);
    let detector_path = dp.parent();
    let detector = file.group(&detector_path)?;
    // The beam sits beside the detector in the instrument (or in the entry).
    let instrument_path = detector_path
        .rsplit_once('/')
        .map(|(p, _)| p.to_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| format!("/{}", dp.entry));
    for (key, cell) in cells {
        if !series::is_series_key(key) && key != series::SERIES_ID {
            continue;
        }
        let (at, name, units) = if key == series::SERIES_ID {
            (Where::Specific, "series_id", None)
        } else {
            place(key)
        };
        let group = match at {
            Where::Detector => detector.clone(),
            Where::Beam => group_of(file, &format!("{instrument_path}/beam"), "NXbeam")?,
            Where::Specific => group_of(
                file,
                &format!("{detector_path}/detectorSpecific"),
                "NXcollection",
            )?,
        };
        field(&group, name, cell, units)?;
    }
    Ok(())
}
