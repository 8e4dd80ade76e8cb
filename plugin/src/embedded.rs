//! The models compiled into this build from `models/default/` (see `build.rs`).

mod generated {
    include!(concat!(env!("OUT_DIR"), "/embedded_models.rs"));
}

/// Embedded model files as (file name, contents); empty when `models/default/`
/// held no models at build time.
pub fn files() -> &'static [(&'static str, &'static [u8])] {
    generated::FILES
}

/// Contents of one embedded file.
pub fn file(name: &str) -> Option<&'static [u8]> {
    files().iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}
