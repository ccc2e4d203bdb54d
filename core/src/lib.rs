//! daqflow core (being written).
