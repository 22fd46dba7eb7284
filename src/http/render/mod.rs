//! Files the API answers with besides JSON: CSV for Excel and QR codes as PNG, SVG and a
//! printable poster. A capability's own files (the city reports' CSV and SVG chart, the
//! unused-balance CSV) are drawn in its `render.rs` with these.

pub(crate) mod csv;
pub(crate) mod qr;
