//! Data quality: field rules and JSON Schema per record, type coercion on read, epoch audits
//! that gate the commit (write-audit-publish), and the failure-ratio gate.

pub mod audit;
pub mod coerce;
pub mod gate;
pub mod rules;
