//! machipay: a double-entry ledger service for a town's digital regional currency and point
//! card. See README.md for the architecture map.

pub mod app;
pub mod demo;
pub mod directory;
pub mod domain;
pub mod error;
pub mod http;
pub mod ledger;
pub mod qr_image;
pub mod registry;
pub mod storage;
