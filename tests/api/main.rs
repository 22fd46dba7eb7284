//! Behaviour tests over the real HTTP API, each on a fresh SQLite and a fresh PostgreSQL
//! database (see helpers.rs).

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod helpers;

mod access;
mod aggregates;
mod audit;
mod city_report;
mod currency;
mod error_codes;
mod expiry;
mod http_edges;
mod input;
mod instances;
mod law;
mod ledger_check;
mod lottery;
mod money;
mod office;
mod openapi;
mod ops;
mod passkeys;
mod points;
mod processes;
mod property;
mod qr;
mod rebates;
mod registry;
mod returns;
mod sale_day;
mod settlement;
mod sign_in;
mod simulator;
mod system;
mod web;
mod writer_faults;
mod writer_rules;
