//! The flow meter: a NetFlow-style cache keyed by the unidirectional
//! 5-tuple (active timeout 60 s, inactive 15 s, flush at the end of a phase),
//! fed with every packet written to a phase capture, optionally after
//! deterministic 1-in-N packet sampling, and three exporters (NetFlow v5,
//! NetFlow v9, IPFIX) that write their export datagrams into captures.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;

use crate::pcap::PcapWriter;
use crate::wire::{self, IpPair, Link, Tags};

pub const ACTIVE_TIMEOUT_US: u64 = 60_000_000;
pub const INACTIVE_TIMEOUT_US: u64 = 15_000_000;
/// A partly filled export datagram is sent at most this long after its
/// first record.
const EXPORT_DELAY_US: u64 = 1_000_000;
/// v9/IPFIX templates are resent this often (UDP transport).
const TEMPLATE_REFRESH_US: u64 = 60_000_000;
/// Room for records in one v9/IPFIX datagram (Ethernet MTU minus headers).
const MAX_PAYLOAD: usize = 1400;

pub const EXPORTER: [u8; 4] = [198, 19, 255, 2];
pub const COLLECTOR: [u8; 4] = [198, 19, 255, 3];
pub const NETFLOW_PORT: u16 = 2055;
pub const IPFIX_PORT: u16 = 4739;
const EXPORTER_PORT: u16 = 50_055;

/// FxHash: a small fixed hasher, so nothing depends on a random seed.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.hash = (self.hash.rotate_left(5) ^ u64::from_le_bytes(w))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.write_u64(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.hash = (self.hash.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub type FxBuild = BuildHasherDefault<FxHasher>;

/// Unidirectional 5-tuple. IPv4 addresses use the first 4 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub v6: bool,
    pub proto: u8,
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub sport: u16,
    pub dport: u16,
}

#[derive(Clone, Copy, Debug)]
struct FlowEntry {
    first_us: u64,
    last_us: u64,
    packets: u64,
    bytes: u64,
    flags: u8,
}

impl FlowEntry {
    fn deadline(&self) -> u64 {
        (self.first_us + ACTIVE_TIMEOUT_US).min(self.last_us + INACTIVE_TIMEOUT_US)
    }
}

/// One expired flow.
#[derive(Clone, Copy, Debug)]
pub struct FlowRecord {
    pub key: FlowKey,
    pub first_us: u64,
    pub last_us: u64,
    pub packets: u64,
    pub bytes: u64,
    pub flags: u8,
    pub input: u16,
    pub output: u16,
}

/// Counts for truth.json.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExportCounts {
    pub datagrams: u64,
    pub records: u64,
    pub templates: u64,
    pub option_templates: u64,
    pub option_records: u64,
    pub not_exportable_ipv6_flows: u64,
}

fn is_internal(key_v6: bool, addr: &[u8; 16]) -> bool {
    if key_v6 {
        addr[0] == 0x20 && addr[1] == 0x01 && addr[2] == 0x0d && addr[3] == 0xb8
    } else {
        addr[0] == 198 && (addr[1] & 0xFE) == 18
    }
}

/// The capture and datagram plumbing every exporter shares.
struct ExportSink {
    pcap: PcapWriter,
    frame: Vec<u8>,
    ident: u16,
    dport: u16,
    link: Link,
    src: [u8; 16],
    dst: [u8; 16],
    counts: ExportCounts,
}

impl ExportSink {
    fn new(path: &Path, dport: u16) -> anyhow::Result<Self> {
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        src[..4].copy_from_slice(&EXPORTER);
        dst[..4].copy_from_slice(&COLLECTOR);
        Ok(ExportSink {
            pcap: PcapWriter::create(path)?,
            frame: Vec::with_capacity(1600),
            ident: 1,
            dport,
            link: Link {
                host_mac: [0x00, 0x1b, 0x21, 0x0f, 0xff, 0x02],
                peer_mac: [0x00, 0x1b, 0x21, 0x0f, 0xff, 0x03],
                tags: Tags::None,
            },
            src,
            dst,
            counts: ExportCounts::default(),
        })
    }

    fn send(&mut self, ts_us: u64, payload: &[u8]) -> anyhow::Result<()> {
        let ip = IpPair {
            v6: false,
            src: &self.src,
            dst: &self.dst,
            ttl: 64,
            ident: self.ident,
        };
        self.ident = self.ident.wrapping_add(1);
        wire::udp_frame(
            &mut self.frame,
            &self.link,
            true,
            &ip,
            EXPORTER_PORT,
            self.dport,
            payload,
        );
        self.pcap.write_parts(ts_us, &self.frame, payload)?;
        self.counts.datagrams += 1;
        Ok(())
    }
}

/// Shared exporter clock: sysUptime is measured from `boot_us`.
#[derive(Clone, Copy)]
struct Clock {
    boot_us: u64,
}

impl Clock {
    fn uptime_ms(&self, t_us: u64) -> u32 {
        (t_us.saturating_sub(self.boot_us) / 1000) as u32
    }
}

struct V5 {
    sink: ExportSink,
    records: Vec<u8>,
    count: u16,
    oldest_us: u64,
    flow_sequence: u32,
    sampling: u32,
}

impl V5 {
    fn add(&mut self, clock: Clock, r: &FlowRecord, now: u64) -> anyhow::Result<()> {
        if r.key.v6 {
            self.sink.counts.not_exportable_ipv6_flows += 1;
            return Ok(());
        }
        if self.count == 0 {
            self.oldest_us = now;
        }
        let b = &mut self.records;
        b.extend_from_slice(&r.key.src[..4]);
        b.extend_from_slice(&r.key.dst[..4]);
        b.extend_from_slice(&[0, 0, 0, 0]); // nexthop
        b.extend_from_slice(&r.input.to_be_bytes());
        b.extend_from_slice(&r.output.to_be_bytes());
        b.extend_from_slice(&(r.packets.min(u64::from(u32::MAX)) as u32).to_be_bytes());
        b.extend_from_slice(&(r.bytes.min(u64::from(u32::MAX)) as u32).to_be_bytes());
        b.extend_from_slice(&clock.uptime_ms(r.first_us).to_be_bytes());
        b.extend_from_slice(&clock.uptime_ms(r.last_us).to_be_bytes());
        b.extend_from_slice(&r.key.sport.to_be_bytes());
        b.extend_from_slice(&r.key.dport.to_be_bytes());
        b.push(0); // pad1
        b.push(r.flags);
        b.push(r.key.proto);
        b.push(0); // tos
        b.extend_from_slice(&[0, 0, 0, 0]); // src_as, dst_as
        b.extend_from_slice(&[0, 0, 0, 0]); // masks, pad2
        self.count += 1;
        if self.count == 30 {
            self.flush(clock, now)?;
        }
        Ok(())
    }

    fn flush(&mut self, clock: Clock, now: u64) -> anyhow::Result<()> {
        if self.count == 0 {
            return Ok(());
        }
        let mut d = Vec::with_capacity(24 + self.records.len());
        d.extend_from_slice(&5u16.to_be_bytes());
        d.extend_from_slice(&self.count.to_be_bytes());
        d.extend_from_slice(&clock.uptime_ms(now).to_be_bytes());
        d.extend_from_slice(&((now / 1_000_000) as u32).to_be_bytes());
        d.extend_from_slice(&(((now % 1_000_000) * 1000) as u32).to_be_bytes());
        d.extend_from_slice(&self.flow_sequence.to_be_bytes());
        d.push(0); // engine_type
        d.push(1); // engine_id
        let sampling = if self.sampling > 1 {
            // Mode 01: deterministic 1-in-N packet sampling, 14-bit interval.
            0x4000 | (self.sampling.min(0x3FFF) as u16)
        } else {
            0
        };
        d.extend_from_slice(&sampling.to_be_bytes());
        d.extend_from_slice(&self.records);
        self.sink.send(now, &d)?;
        self.sink.counts.records += u64::from(self.count);
        self.flow_sequence = self.flow_sequence.wrapping_add(u32::from(self.count));
        self.records.clear();
        self.count = 0;
        Ok(())
    }
}

/// Which of the two template dialects a templated exporter speaks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    V9,
    Ipfix,
}

const TEMPLATE_V4: u16 = 256;
const TEMPLATE_V6: u16 = 257;
const TEMPLATE_SAMPLER: u16 = 258;

/// NetFlow v9 and IPFIX: the same structure with different ids and header.
struct Templated {
    dialect: Dialect,
    sink: ExportSink,
    v4: Vec<u8>,
    v6: Vec<u8>,
    n_v4: u32,
    n_v6: u32,
    oldest_us: u64,
    last_template_us: Option<u64>,
    sequence: u32,
    sampling: u32,
}

impl Templated {
    fn v4_fields(&self) -> &'static [(u16, u16)] {
        match self.dialect {
            Dialect::V9 => &[
                (8, 4),  // IPV4_SRC_ADDR
                (12, 4), // IPV4_DST_ADDR
                (7, 2),  // L4_SRC_PORT
                (11, 2), // L4_DST_PORT
                (4, 1),  // PROTOCOL
                (6, 1),  // TCP_FLAGS
                (5, 1),  // SRC_TOS
                (2, 4),  // IN_PKTS
                (1, 4),  // IN_BYTES
                (22, 4), // FIRST_SWITCHED
                (21, 4), // LAST_SWITCHED
                (10, 2), // INPUT_SNMP
                (14, 2), // OUTPUT_SNMP
            ],
            Dialect::Ipfix => &[
                (8, 4),   // sourceIPv4Address
                (12, 4),  // destinationIPv4Address
                (7, 2),   // sourceTransportPort
                (11, 2),  // destinationTransportPort
                (4, 1),   // protocolIdentifier
                (6, 2),   // tcpControlBits
                (5, 1),   // ipClassOfService
                (2, 8),   // packetDeltaCount
                (1, 8),   // octetDeltaCount
                (152, 8), // flowStartMilliseconds
                (153, 8), // flowEndMilliseconds
                (10, 4),  // ingressInterface
                (14, 4),  // egressInterface
            ],
        }
    }

    fn v6_fields(&self) -> Vec<(u16, u16)> {
        self.v4_fields()
            .iter()
            .map(|&(id, len)| match id {
                8 => (27, 16),
                12 => (28, 16),
                _ => (id, len),
            })
            .collect()
    }

    fn add(&mut self, clock: Clock, r: &FlowRecord, now: u64) -> anyhow::Result<()> {
        let record_len = if r.key.v6 { 16 * 2 } else { 4 * 2 }
            + match self.dialect {
                Dialect::V9 => 27,
                Dialect::Ipfix => 48,
            };
        let pending = self.v4.len() + self.v6.len() + 8;
        if pending + record_len + 4 > MAX_PAYLOAD - 260 {
            self.flush(clock, now)?;
        }
        if self.n_v4 + self.n_v6 == 0 {
            self.oldest_us = now;
        }
        let dialect = self.dialect;
        let b = if r.key.v6 {
            self.n_v6 += 1;
            &mut self.v6
        } else {
            self.n_v4 += 1;
            &mut self.v4
        };
        let addr_len = if r.key.v6 { 16 } else { 4 };
        b.extend_from_slice(&r.key.src[..addr_len]);
        b.extend_from_slice(&r.key.dst[..addr_len]);
        b.extend_from_slice(&r.key.sport.to_be_bytes());
        b.extend_from_slice(&r.key.dport.to_be_bytes());
        b.push(r.key.proto);
        match dialect {
            Dialect::V9 => {
                b.push(r.flags);
                b.push(0);
                b.extend_from_slice(&(r.packets.min(u64::from(u32::MAX)) as u32).to_be_bytes());
                b.extend_from_slice(&(r.bytes.min(u64::from(u32::MAX)) as u32).to_be_bytes());
                b.extend_from_slice(&clock.uptime_ms(r.first_us).to_be_bytes());
                b.extend_from_slice(&clock.uptime_ms(r.last_us).to_be_bytes());
                b.extend_from_slice(&r.input.to_be_bytes());
                b.extend_from_slice(&r.output.to_be_bytes());
            }
            Dialect::Ipfix => {
                b.extend_from_slice(&u16::from(r.flags).to_be_bytes());
                b.push(0);
                b.extend_from_slice(&r.packets.to_be_bytes());
                b.extend_from_slice(&r.bytes.to_be_bytes());
                b.extend_from_slice(&(r.first_us / 1000).to_be_bytes());
                b.extend_from_slice(&(r.last_us / 1000).to_be_bytes());
                b.extend_from_slice(&u32::from(r.input).to_be_bytes());
                b.extend_from_slice(&u32::from(r.output).to_be_bytes());
            }
        }
        Ok(())
    }

    fn set_header(out: &mut Vec<u8>, id: u16) -> usize {
        let at = out.len();
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        at
    }

    /// Pad to 4 bytes and write the set length.
    fn close_set(out: &mut Vec<u8>, at: usize) {
        while !(out.len() - at).is_multiple_of(4) {
            out.push(0);
        }
        let len = (out.len() - at) as u16;
        out[at + 2..at + 4].copy_from_slice(&len.to_be_bytes());
    }

    fn flush(&mut self, clock: Clock, now: u64) -> anyhow::Result<()> {
        let data_records = self.n_v4 + self.n_v6;
        let send_templates = match self.last_template_us {
            None => true,
            Some(t) => now >= t + TEMPLATE_REFRESH_US,
        };
        if data_records == 0 && !send_templates {
            return Ok(());
        }
        let mut body = Vec::with_capacity(MAX_PAYLOAD);
        let mut records_in_packet = 0u32;
        let mut option_records = 0u32;
        if send_templates {
            self.last_template_us = Some(now);
            let (tset, oset) = match self.dialect {
                Dialect::V9 => (0u16, 1u16),
                Dialect::Ipfix => (2, 3),
            };
            let at = Self::set_header(&mut body, tset);
            let v6_fields = self.v6_fields();
            for (id, fields) in [
                (TEMPLATE_V4, self.v4_fields()),
                (TEMPLATE_V6, v6_fields.as_slice()),
            ] {
                body.extend_from_slice(&id.to_be_bytes());
                body.extend_from_slice(&(fields.len() as u16).to_be_bytes());
                for &(fid, flen) in fields {
                    body.extend_from_slice(&fid.to_be_bytes());
                    body.extend_from_slice(&flen.to_be_bytes());
                }
            }
            Self::close_set(&mut body, at);
            records_in_packet += 2;
            self.sink.counts.templates += 2;
            if self.sampling > 1 {
                let at = Self::set_header(&mut body, oset);
                body.extend_from_slice(&TEMPLATE_SAMPLER.to_be_bytes());
                match self.dialect {
                    Dialect::V9 => {
                        body.extend_from_slice(&4u16.to_be_bytes()); // scope length (bytes)
                        body.extend_from_slice(&8u16.to_be_bytes()); // option length (bytes)
                        body.extend_from_slice(&1u16.to_be_bytes()); // scope: System
                        body.extend_from_slice(&4u16.to_be_bytes());
                    }
                    Dialect::Ipfix => {
                        body.extend_from_slice(&3u16.to_be_bytes()); // field count
                        body.extend_from_slice(&1u16.to_be_bytes()); // scope field count
                        body.extend_from_slice(&149u16.to_be_bytes()); // observationDomainId
                        body.extend_from_slice(&4u16.to_be_bytes());
                    }
                }
                body.extend_from_slice(&34u16.to_be_bytes()); // samplingInterval
                body.extend_from_slice(&4u16.to_be_bytes());
                body.extend_from_slice(&35u16.to_be_bytes()); // samplingAlgorithm
                body.extend_from_slice(&1u16.to_be_bytes());
                Self::close_set(&mut body, at);
                records_in_packet += 1;
                self.sink.counts.option_templates += 1;
                let at = Self::set_header(&mut body, TEMPLATE_SAMPLER);
                match self.dialect {
                    Dialect::V9 => body.extend_from_slice(&EXPORTER),
                    Dialect::Ipfix => body.extend_from_slice(&1u32.to_be_bytes()),
                }
                body.extend_from_slice(&self.sampling.to_be_bytes());
                body.push(1); // deterministic
                Self::close_set(&mut body, at);
                records_in_packet += 1;
                option_records += 1;
                self.sink.counts.option_records += 1;
            }
        }
        if self.n_v4 > 0 {
            let at = Self::set_header(&mut body, TEMPLATE_V4);
            body.extend_from_slice(&self.v4);
            Self::close_set(&mut body, at);
        }
        if self.n_v6 > 0 {
            let at = Self::set_header(&mut body, TEMPLATE_V6);
            body.extend_from_slice(&self.v6);
            Self::close_set(&mut body, at);
        }
        records_in_packet += data_records;
        let mut d = Vec::with_capacity(20 + body.len());
        match self.dialect {
            Dialect::V9 => {
                d.extend_from_slice(&9u16.to_be_bytes());
                d.extend_from_slice(&(records_in_packet as u16).to_be_bytes());
                d.extend_from_slice(&clock.uptime_ms(now).to_be_bytes());
                d.extend_from_slice(&((now / 1_000_000) as u32).to_be_bytes());
                d.extend_from_slice(&self.sequence.to_be_bytes());
                d.extend_from_slice(&1u32.to_be_bytes()); // source id
                self.sequence = self.sequence.wrapping_add(1);
            }
            Dialect::Ipfix => {
                d.extend_from_slice(&10u16.to_be_bytes());
                d.extend_from_slice(&((16 + body.len()) as u16).to_be_bytes());
                d.extend_from_slice(&((now / 1_000_000) as u32).to_be_bytes());
                d.extend_from_slice(&self.sequence.to_be_bytes());
                d.extend_from_slice(&1u32.to_be_bytes()); // observation domain
                self.sequence = self
                    .sequence
                    .wrapping_add(data_records)
                    .wrapping_add(option_records);
            }
        }
        d.extend_from_slice(&body);
        self.sink.send(now, &d)?;
        self.sink.counts.records += u64::from(data_records);
        self.v4.clear();
        self.v6.clear();
        self.n_v4 = 0;
        self.n_v6 = 0;
        Ok(())
    }

    fn pending(&self) -> bool {
        self.n_v4 + self.n_v6 > 0
    }
}

/// What the flow meter reports at the end of a phase.
#[derive(Clone, Debug, Default)]
pub struct FlowSummary {
    pub flows: u64,
    pub sampled_packets: u64,
    pub netflow5: ExportCounts,
    pub netflow9: ExportCounts,
    pub ipfix: ExportCounts,
    pub files: Vec<(std::path::PathBuf, u64)>,
}

pub struct FlowMeter {
    map: HashMap<FlowKey, FlowEntry, FxBuild>,
    heap: BinaryHeap<Reverse<(u64, FlowKey)>>,
    sampling: u32,
    packet_counter: u64,
    sampled_packets: u64,
    flows: u64,
    clock: Clock,
    v5: V5,
    v9: Templated,
    ipfix: Templated,
}

impl FlowMeter {
    /// `prefix` is e.g. "before": files are `{prefix}-netflow5.pcap` etc.
    pub fn new(dir: &Path, prefix: &str, sampling: u32, boot_us: u64) -> anyhow::Result<Self> {
        let sampling = sampling.max(1);
        let templated = |dialect, file: String, port| -> anyhow::Result<Templated> {
            Ok(Templated {
                dialect,
                sink: ExportSink::new(&dir.join(file), port)?,
                v4: Vec::with_capacity(MAX_PAYLOAD),
                v6: Vec::with_capacity(MAX_PAYLOAD),
                n_v4: 0,
                n_v6: 0,
                oldest_us: 0,
                last_template_us: None,
                sequence: 0,
                sampling,
            })
        };
        Ok(FlowMeter {
            map: HashMap::default(),
            heap: BinaryHeap::new(),
            sampling,
            packet_counter: 0,
            sampled_packets: 0,
            flows: 0,
            clock: Clock { boot_us },
            v5: V5 {
                sink: ExportSink::new(&dir.join(format!("{prefix}-netflow5.pcap")), NETFLOW_PORT)?,
                records: Vec::with_capacity(30 * 48),
                count: 0,
                oldest_us: 0,
                flow_sequence: 0,
                sampling,
            },
            v9: templated(Dialect::V9, format!("{prefix}-netflow9.pcap"), NETFLOW_PORT)?,
            ipfix: templated(Dialect::Ipfix, format!("{prefix}-ipfix.pcap"), IPFIX_PORT)?,
        })
    }

    /// Account one packet seen at `t_us` (non-decreasing across calls).
    pub fn packet(
        &mut self,
        t_us: u64,
        key: &FlowKey,
        ip_len: u32,
        flags: u8,
    ) -> anyhow::Result<()> {
        self.expire(t_us)?;
        self.packet_counter += 1;
        if !(self.packet_counter - 1).is_multiple_of(u64::from(self.sampling)) {
            return Ok(());
        }
        self.sampled_packets += 1;
        match self.map.get_mut(key) {
            Some(e) => {
                e.last_us = t_us;
                e.packets += 1;
                e.bytes += u64::from(ip_len);
                e.flags |= flags;
            }
            None => {
                let e = FlowEntry {
                    first_us: t_us,
                    last_us: t_us,
                    packets: 1,
                    bytes: u64::from(ip_len),
                    flags,
                };
                self.heap.push(Reverse((e.deadline(), *key)));
                self.map.insert(*key, e);
            }
        }
        Ok(())
    }

    /// Export every flow whose timeout has passed by `now`, and send
    /// datagrams that have waited long enough.
    pub fn expire(&mut self, now: u64) -> anyhow::Result<()> {
        while let Some(Reverse((deadline, key))) = self.heap.peek().copied() {
            if deadline > now {
                break;
            }
            self.heap.pop();
            let Some(entry) = self.map.get(&key).copied() else {
                continue;
            };
            let real = entry.deadline();
            if real > deadline {
                self.heap.push(Reverse((real, key)));
                continue;
            }
            self.map.remove(&key);
            self.export(&key, &entry, deadline)?;
        }
        self.flush_aged(now)
    }

    fn flush_aged(&mut self, now: u64) -> anyhow::Result<()> {
        if self.v5.count > 0 && now >= self.v5.oldest_us + EXPORT_DELAY_US {
            self.v5.flush(self.clock, now)?;
        }
        for t in [&mut self.v9, &mut self.ipfix] {
            if t.pending() && now >= t.oldest_us + EXPORT_DELAY_US {
                t.flush(self.clock, now)?;
            }
        }
        Ok(())
    }

    fn export(&mut self, key: &FlowKey, e: &FlowEntry, now: u64) -> anyhow::Result<()> {
        self.flows += 1;
        let (input, output) = if is_internal(key.v6, &key.src) {
            (1, 2)
        } else {
            (2, 1)
        };
        let r = FlowRecord {
            key: *key,
            first_us: e.first_us,
            last_us: e.last_us,
            packets: e.packets,
            bytes: e.bytes,
            flags: e.flags,
            input,
            output,
        };
        self.v5.add(self.clock, &r, now)?;
        self.v9.add(self.clock, &r, now)?;
        self.ipfix.add(self.clock, &r, now)
    }

    /// End of phase: export every flow left in the cache at `end_us`.
    pub fn finish(mut self, end_us: u64) -> anyhow::Result<FlowSummary> {
        self.expire(end_us)?;
        let mut rest: Vec<(FlowKey, FlowEntry)> = self.map.drain().collect();
        rest.sort_by_key(|(k, e)| (e.first_us, *k));
        for (k, e) in rest {
            self.export(&k, &e, end_us)?;
        }
        self.v5.flush(self.clock, end_us)?;
        self.v9.flush(self.clock, end_us)?;
        self.ipfix.flush(self.clock, end_us)?;
        let netflow5 = self.v5.sink.counts;
        let netflow9 = self.v9.sink.counts;
        let ipfix = self.ipfix.sink.counts;
        let files = vec![
            self.v5.sink.pcap.finish()?,
            self.v9.sink.pcap.finish()?,
            self.ipfix.sink.pcap.finish()?,
        ];
        Ok(FlowSummary {
            flows: self.flows,
            sampled_packets: self.sampled_packets,
            netflow5,
            netflow9,
            ipfix,
            files,
        })
    }
}
