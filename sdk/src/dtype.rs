//! Pixel types and payload encodings: [`DType`] (the one pixel type every plugin and
//! setting uses), [`Encoding`], the [`Pixel`] trait that ties a Rust element type to its
//! dtype, and [`dispatch_dtype!`](crate::dispatch_dtype), which runs generic code once
//! per dtype instead of repeating a `match` in every filter.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::abi;

/// Pixel element type. In settings it is written in lower case: `dtype = "u16"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DType {
    /// Unsigned 8-bit.
    U8,
    /// Unsigned 16-bit.
    U16,
    /// Unsigned 32-bit.
    U32,
    /// 32-bit IEEE float.
    F32,
}

impl DType {
    /// All dtypes, in ABI order.
    pub const ALL: [DType; 4] = [DType::U8, DType::U16, DType::U32, DType::F32];

    /// Bytes per pixel.
    pub const fn size_bytes(self) -> usize {
        match self {
            DType::U8 => 1,
            DType::U16 => 2,
            DType::U32 | DType::F32 => 4,
        }
    }

    /// The lower-case name used in settings (`"u16"`).
    pub const fn name(self) -> &'static str {
        match self {
            DType::U8 => "u8",
            DType::U16 => "u16",
            DType::U32 => "u32",
            DType::F32 => "f32",
        }
    }

    /// True for the unsigned integer types.
    pub const fn is_integer(self) -> bool {
        !matches!(self, DType::F32)
    }

    /// The largest value of the type, as f64 (`f32::MAX` for floats).
    pub const fn max_value(self) -> f64 {
        match self {
            DType::U8 => u8::MAX as f64,
            DType::U16 => u16::MAX as f64,
            DType::U32 => u32::MAX as f64,
            DType::F32 => f32::MAX as f64,
        }
    }

    /// The smallest value of the type, as f64 (`-f32::MAX` for floats).
    pub const fn min_value(self) -> f64 {
        match self {
            DType::F32 => -(f32::MAX as f64),
            _ => 0.0,
        }
    }

    /// The ABI code.
    pub const fn to_abi(self) -> u32 {
        match self {
            DType::U8 => abi::DTYPE_U8,
            DType::U16 => abi::DTYPE_U16,
            DType::U32 => abi::DTYPE_U32,
            DType::F32 => abi::DTYPE_F32,
        }
    }

    /// Decodes an ABI code; `None` for a value this SDK does not know.
    pub const fn from_abi(code: u32) -> Option<DType> {
        match code {
            abi::DTYPE_U8 => Some(DType::U8),
            abi::DTYPE_U16 => Some(DType::U16),
            abi::DTYPE_U32 => Some(DType::U32),
            abi::DTYPE_F32 => Some(DType::F32),
            _ => None,
        }
    }

    /// Names of `dtypes` for messages: `"u8, u16 or u32"`.
    pub fn list(dtypes: &[DType]) -> String {
        match dtypes {
            [] => String::new(),
            [one] => one.name().to_string(),
            [init @ .., last] => format!(
                "{} or {}",
                init.iter().map(|d| d.name()).collect::<Vec<_>>().join(", "),
                last.name()
            ),
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the payload bytes are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encoding {
    /// Plain row-major pixels.
    Raw,
    /// One HDF5 LZ4-filter (32004) chunk.
    Lz4,
    /// One HDF5 bitshuffle-LZ4 (32008) chunk.
    BsLz4,
    /// One bare LZ4 block of the raw pixels (no header; e.g. a DECTRIS stream v1 `lz4<`
    /// image): its decoded size is `width × height × dtype size`.
    Lz4Block,
    /// An encoding this SDK does not know (a newer core or plugin): never read as pixels.
    Unknown(u32),
}

impl Encoding {
    /// The encodings this SDK knows.
    pub const KNOWN: [Encoding; 4] = [
        Encoding::Raw,
        Encoding::Lz4,
        Encoding::BsLz4,
        Encoding::Lz4Block,
    ];

    /// The ABI code.
    pub const fn to_abi(self) -> u32 {
        match self {
            Encoding::Raw => abi::ENCODING_RAW,
            Encoding::Lz4 => abi::ENCODING_LZ4,
            Encoding::BsLz4 => abi::ENCODING_BSLZ4,
            Encoding::Lz4Block => abi::ENCODING_LZ4_BLOCK,
            Encoding::Unknown(code) => code,
        }
    }

    /// Decodes an ABI code; codes this SDK does not know become [`Encoding::Unknown`].
    pub const fn from_abi(code: u32) -> Encoding {
        match code {
            abi::ENCODING_RAW => Encoding::Raw,
            abi::ENCODING_LZ4 => Encoding::Lz4,
            abi::ENCODING_BSLZ4 => Encoding::BsLz4,
            abi::ENCODING_LZ4_BLOCK => Encoding::Lz4Block,
            other => Encoding::Unknown(other),
        }
    }

    /// The name used in settings and messages (`"bslz4"`).
    pub fn name(self) -> String {
        match self {
            Encoding::Raw => "raw".into(),
            Encoding::Lz4 => "lz4".into(),
            Encoding::BsLz4 => "bslz4".into(),
            Encoding::Lz4Block => "lz4-block".into(),
            Encoding::Unknown(code) => format!("unknown encoding {code}"),
        }
    }

    /// True for plain pixels.
    pub const fn is_raw(self) -> bool {
        matches!(self, Encoding::Raw)
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A pixel type frames can be viewed as, with the conversions filters need.
pub trait Pixel:
    Copy + Send + Sync + PartialOrd + Default + fmt::Debug + 'static + private::Sealed
{
    /// The dtype of this element type.
    const DTYPE: DType;
    /// The value as f64 (exact for every type here).
    fn to_f64(self) -> f64;
    /// `v` rounded to nearest and clamped to the type's range (NaN becomes 0); plain
    /// conversion for floats.
    fn from_f64(v: f64) -> Self;
}

macro_rules! int_pixel {
    ($t:ty, $d:expr) => {
        impl Pixel for $t {
            const DTYPE: DType = $d;
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn from_f64(v: f64) -> Self {
                // `as` saturates at the type's bounds and maps NaN to 0.
                v.round() as $t
            }
        }
    };
}
int_pixel!(u8, DType::U8);
int_pixel!(u16, DType::U16);
int_pixel!(u32, DType::U32);

impl Pixel for f32 {
    const DTYPE: DType = DType::F32;
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

mod private {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for u16 {}
    impl Sealed for u32 {}
    impl Sealed for f32 {}
}

/// Runs an expression once with `$T` bound to the Rust element type of a [`DType`]:
///
/// ```
/// use daqflow_sdk::{DType, Pixel, dispatch_dtype};
/// fn max_value_of(d: DType) -> f64 {
///     dispatch_dtype!(d, T => <T as Pixel>::from_f64(f64::MAX).to_f64())
/// }
/// assert_eq!(max_value_of(DType::U8), 255.0);
/// ```
///
/// Every arm must type-check for every pixel type, so write the body as a call to a
/// generic function (`process::<T>(...)`).
#[macro_export]
macro_rules! dispatch_dtype {
    ($dtype:expr, $T:ident => $body:expr) => {{
        #[allow(unreachable_patterns)]
        match $dtype {
            $crate::DType::U8 => {
                type $T = u8;
                $body
            }
            $crate::DType::U16 => {
                type $T = u16;
                $body
            }
            $crate::DType::U32 => {
                type $T = u32;
                $body
            }
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            _ => unreachable!("this SDK has no other dtype"),
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtype_serde_names() {
        assert_eq!(serde_json::to_string(&DType::U16).unwrap(), "\"u16\"");
        let d: DType = serde_json::from_str("\"f32\"").unwrap();
        assert_eq!(d, DType::F32);
        assert!(serde_json::from_str::<DType>("\"i8\"").is_err());
    }

    #[test]
    fn unknown_encodings_stay_unknown() {
        assert_eq!(Encoding::from_abi(77), Encoding::Unknown(77));
        assert_eq!(Encoding::Unknown(77).to_abi(), 77);
        for e in Encoding::KNOWN {
            assert_eq!(Encoding::from_abi(e.to_abi()), e);
        }
    }

    #[test]
    fn from_f64_rounds_and_clamps() {
        assert_eq!(u8::from_f64(300.0), 255);
        assert_eq!(u8::from_f64(-3.0), 0);
        assert_eq!(u16::from_f64(2.5), 3);
        assert_eq!(u32::from_f64(f64::NAN), 0);
        assert_eq!(f32::from_f64(-1.5), -1.5);
    }

    #[test]
    fn dispatch_binds_the_type() {
        for d in DType::ALL {
            let size = dispatch_dtype!(d, T => std::mem::size_of::<T>());
            assert_eq!(size, d.size_bytes());
            assert_eq!(dispatch_dtype!(d, T => <T as Pixel>::DTYPE), d);
        }
    }

    #[test]
    fn lists_read_as_english() {
        assert_eq!(DType::list(&[DType::U8]), "u8");
        assert_eq!(
            DType::list(&[DType::U8, DType::U16, DType::U32]),
            "u8, u16 or u32"
        );
    }
}
