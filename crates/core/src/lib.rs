//! The vocabulary shared by every op25b stage.
//!
//! Data flows one way: sources (captures, flow exports, stored records) produce
//! [`SessionRecord`]s, transforms (ranking) consume them, sinks write them. This
//! crate holds only that record type, the ISP network description
//! ([`IspConfig`]) and the input error type, so that every other crate can
//! depend on it without pulling in parsers or writers.

mod config;
mod error;
mod record;
pub mod time;

pub use config::{ConfigError, DEFAULT_SMTP_PORTS, IpSet, IspConfig, Network};
pub use error::InputError;
pub use record::{COLUMNS, Outcome, SessionRecord, Source, tcp_flags};
