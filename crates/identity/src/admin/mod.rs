//! Reads and writes of administration (lists with filters, totals and cursors; changes an
//! administrator makes), for the application layer's admin operations.

pub mod audit;
pub mod clients;
pub mod users;
