//! The master key and sealing, moved here from `tokens` with their tests. Nothing here needs a
//! database.

mod master_key;
mod seal;
