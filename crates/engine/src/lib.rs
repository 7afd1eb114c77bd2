//! The connector: HR source → desired users → plan against Coupa's users → apply → verify → log and
//! notify. Data flows one way down that line.

pub mod apply;
pub mod config;
pub mod csv;
pub mod detect;
pub mod fields;
pub mod hr;
pub mod mapping;
pub mod notify;
pub mod plan;
pub mod report;
pub mod run;
pub mod sftp;
pub mod store;
pub mod verify;
