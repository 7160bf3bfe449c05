//! Report: reading the database back.
pub(crate) mod economics;
pub(crate) mod export;
pub(crate) mod html;
pub(crate) mod reports;
pub(crate) mod whatif;
