//! Behaviour tests over the real HTTP API, each on a fresh SQLite and a fresh PostgreSQL
//! database (see helpers.rs).

mod helpers;

mod access;
mod currency;
mod expiry;
mod input;
mod money;
mod property;
mod qr;
mod rebates;
mod system;
mod web;
