//! Files the API answers with besides JSON: CSV for Excel, the store report's SVG chart, and
//! QR codes as PNG, SVG and a printable poster.

pub mod city_report;
pub mod csv;
pub mod qr;
pub mod reports;
