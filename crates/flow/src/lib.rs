//! Flow exports into op25b session records.
//!
//! ISPs keep flows, not packets. This crate turns NetFlow v5, NetFlow v9 and
//! IPFIX export datagrams ([`FlowDecoder`]) and `nfdump -o csv` output
//! ([`read_nfdump_csv`]) into [`FlowRecord`]s, and pairs the two one-way flows
//! of an SMTP connection into one [`op25b_core::SessionRecord`]
//! ([`SessionPairer`]). Datagrams stored raw one after another are walked by
//! [`read_raw_datagrams`]; datagrams inside packet captures are extracted by the
//! capture crate and handed to [`FlowDecoder::decode`]. [`collect`] is a
//! live UDP collector writing hourly session files through a sink factory.

mod collect;
mod decoder;
mod merge;
mod nfdump;
mod pair;
mod raw;
mod summary;
mod template;

use std::net::IpAddr;

pub use collect::{
    CollectOptions, CollectStats, RECEIVE_BUFFER, SessionSink, SinkFactory, collect, collect_on,
    enlarge_receive_buffer, stop_on_signals,
};
pub use decoder::{DecoderOptions, FlowDecoder, FlowStats, MalformedStats};
pub use merge::read_nfdump_csvs;
pub use nfdump::{NfdumpStats, read_nfdump_csv};
pub use op25b_core::Source;
pub use pair::{PairerOptions, PairerStats, SessionPairer};
pub use raw::{datagram_len, read_raw_datagrams};

/// One unidirectional flow (or a biflow, with the reverse counts filled in),
/// whatever export format it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowRecord {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
    /// Packets and IP-layer bytes as exported (sampled counts, not scaled).
    pub packets: u64,
    pub bytes: u64,
    /// TCP flags OR-ed over the flow (low 8 bits of tcpControlBits).
    pub tcp_flags: u8,
    /// First and last packet, microseconds since the Unix epoch, UTC.
    pub start_us: i64,
    pub end_us: i64,
    /// Packet sampling interval (1 = unsampled).
    pub sampling: u32,
    pub source: Source,
    /// The address the export came from (the UDP source, or nfdump's `ra`).
    pub exporter: IpAddr,
    /// Where on the exporter: v5 engine type and ID (as one number), v9
    /// source ID, IPFIX observation domain ID; 0 for nfdump CSV.
    pub domain: u32,
    /// Where the exporter metered it (flowDirection, IE 61; nfdump `dir`):
    /// 0 ingress, 1 egress; `None` where the export does not say.
    pub direction: Option<u8>,
    /// Reverse direction counts of a biflow (RFC 5103, or NSEL/nfdump out
    /// counts); zero for one-way flows.
    pub rev_packets: u64,
    pub rev_bytes: u64,
    pub rev_tcp_flags: u8,
}

/// What a flow file holds, told from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowFileKind {
    /// NetFlow v5/v9 or IPFIX datagrams stored one after another.
    RawDatagrams,
    /// Text written by `nfdump -o csv` (with or without `-q`).
    NfdumpCsv,
}

/// Tells a raw datagram file or an nfdump CSV from its first bytes (give at
/// least 64 bytes where the file has them). `None`: neither.
pub fn detect(head: &[u8]) -> Option<FlowFileKind> {
    if raw::plausible_datagram_head(head) {
        return Some(FlowFileKind::RawDatagrams);
    }
    if nfdump::plausible_csv_head(head) {
        return Some(FlowFileKind::NfdumpCsv);
    }
    None
}
