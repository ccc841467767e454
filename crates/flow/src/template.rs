//! Templates (NetFlow v9 and IPFIX) compiled once into extraction steps.
//!
//! A template is a list of (field id, length). Decoding data records field by
//! field through a generic value type costs an allocation per record (what
//! netflow_parser does, 6 M records/s). Instead each template is compiled,
//! when it arrives, into the few steps op25b needs: (offset, length, kind),
//! with every other field skipped. A data record of a fixed-length template is
//! then decoded by running the steps over a slice of exactly the record's
//! length, without allocation. Templates with variable-length fields
//! (IPFIX length 65535) keep the full field list and are walked per record.

use crate::decoder::Acc;

/// IANA Private Enterprise Number of the RFC 5103 reverse information elements.
pub(crate) const PEN_REVERSE: u32 = 29305;
/// Length value announcing a variable-length field (RFC 7011 section 7).
pub(crate) const VARIABLE_LENGTH: u16 = 65535;

/// What a field is used for. Counter kinds carry a priority: deltas beat
/// totals beat initiator counts beat post counters (highest wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Skip,
    SrcV4,
    DstV4,
    SrcV6,
    DstV6,
    SrcPort,
    DstPort,
    Protocol,
    TcpFlags,
    Octets(u8),
    Packets(u8),
    RevOctets(u8),
    RevPackets(u8),
    RevTcpFlags,
    /// v9 FIRST_SWITCHED / IPFIX flowStartSysUpTime (22): ms since boot.
    UptimeStart,
    /// v9 LAST_SWITCHED / IPFIX flowEndSysUpTime (21).
    UptimeEnd,
    StartSec,
    EndSec,
    StartMs,
    EndMs,
    /// dateTimeMicroseconds / dateTimeNanoseconds: NTP format (RFC 7011 6.1.9).
    StartNtp,
    EndNtp,
    StartDeltaUs,
    EndDeltaUs,
    /// samplingInterval (34) / samplerRandomInterval (50) / samplingPacketInterval (305).
    SamplingInterval,
    /// samplingPacketSpace (306): packets not selected between selections.
    SamplingSpace,
    /// samplingSize (309): packets sampled out of each population.
    SamplingSize,
    /// samplingPopulation (310).
    SamplingPopulation,
    /// samplerId (48) / selectorId (302): which sampler an options record describes.
    SamplerId,
    /// systemInitTimeMilliseconds (160).
    SystemInitMs,
    /// flowDirection (61): 0 ingress, 1 egress.
    Direction,
}

impl Kind {
    /// The kind of field `id` (enterprise `pen`, 0 for IANA) of length `len`.
    /// Fields of an unexpected length are skipped rather than misread.
    pub(crate) fn of(pen: u32, id: u16, len: u16) -> Kind {
        let uint = (1..=8).contains(&len);
        let kind = match pen {
            0 => match id {
                1 => Kind::Octets(5),
                2 => Kind::Packets(5),
                85 => Kind::Octets(4),
                86 => Kind::Packets(4),
                231 => Kind::Octets(3), // initiatorOctets (NSEL)
                298 => Kind::Packets(3),
                232 => Kind::RevOctets(3), // responderOctets
                299 => Kind::RevPackets(3),
                23 => Kind::Octets(2), // postOctetDeltaCount (v9 OUT_BYTES)
                24 => Kind::Packets(2),
                171 => Kind::Octets(1), // postOctetTotalCount
                172 => Kind::Packets(1),
                4 => Kind::Protocol,
                6 => Kind::TcpFlags,
                7 => Kind::SrcPort,
                11 => Kind::DstPort,
                8 if len == 4 => Kind::SrcV4,
                12 if len == 4 => Kind::DstV4,
                27 if len == 16 => Kind::SrcV6,
                28 if len == 16 => Kind::DstV6,
                21 => Kind::UptimeEnd,
                22 => Kind::UptimeStart,
                150 => Kind::StartSec,
                151 => Kind::EndSec,
                152 => Kind::StartMs,
                153 => Kind::EndMs,
                154 | 156 if len == 8 => Kind::StartNtp,
                155 | 157 if len == 8 => Kind::EndNtp,
                158 => Kind::StartDeltaUs,
                159 => Kind::EndDeltaUs,
                34 | 50 | 305 => Kind::SamplingInterval,
                306 => Kind::SamplingSpace,
                309 => Kind::SamplingSize,
                310 => Kind::SamplingPopulation,
                48 | 302 => Kind::SamplerId,
                160 => Kind::SystemInitMs,
                61 => Kind::Direction,
                _ => Kind::Skip,
            },
            PEN_REVERSE => match id {
                1 => Kind::RevOctets(5),
                2 => Kind::RevPackets(5),
                85 => Kind::RevOctets(4),
                86 => Kind::RevPackets(4),
                6 => Kind::RevTcpFlags,
                _ => Kind::Skip,
            },
            _ => Kind::Skip,
        };
        match kind {
            Kind::SrcV4 | Kind::DstV4 | Kind::SrcV6 | Kind::DstV6 | Kind::Skip => kind,
            _ if uint => kind,
            _ => Kind::Skip,
        }
    }
}

/// One field of a template as announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Field {
    pub len: u16,
    pub kind: Kind,
}

/// One extraction step of a fixed-length template.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Step {
    pub offset: usize,
    pub len: usize,
    pub kind: Kind,
}

/// A template compiled for decoding.
#[derive(Clone, Debug)]
pub(crate) struct Template {
    /// Every field in order (used for variable-length templates).
    pub fields: Box<[Field]>,
    /// The non-skipped fields with their offsets (fixed-length templates).
    pub steps: Box<[Step]>,
    /// Record length when no field is variable-length.
    pub fixed_len: Option<usize>,
    /// Smallest possible record length (variable fields count 1 byte).
    pub min_len: usize,
    /// An options template: its records describe the exporter, not flows.
    pub options: bool,
    /// The template's wire bytes, to tell a refresh from a replacement.
    pub wire: Box<[u8]>,
    /// Direct offsets for the common case (see [`Plan`]).
    pub plan: Option<Plan>,
}

/// Where one value sits in a fixed-length record.
#[derive(Clone, Copy, Debug)]
pub(crate) struct At {
    pub off: usize,
    pub len: usize,
    /// `off + len`, and the mask of the low `len` bytes (for lengths 1..=8).
    end: usize,
    mask: u64,
}

impl At {
    pub(crate) fn new(off: usize, len: usize) -> At {
        let mask = if len >= 8 {
            u64::MAX
        } else {
            (1u64 << (8 * len)) - 1
        };
        At {
            off,
            len,
            end: off + len,
            mask,
        }
    }

    /// The big-endian unsigned value. Fields ending at byte 8 or later are
    /// read as the 8 bytes that end with them, masked: one load, no branch
    /// on the field's length (the hot path of the decoder).
    #[inline(always)]
    pub(crate) fn uint(self, rec: &[u8]) -> u64 {
        if self.end >= 8 && self.len <= 8 {
            rec.get(self.end - 8..self.end)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(0, |b| u64::from_be_bytes(b) & self.mask)
        } else {
            rec.get(self.off..self.end).map_or(0, be_uint)
        }
    }
}

/// Which time field a record's start or end comes from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum TimeAt {
    Sec(At),
    Ms(At),
    Ntp(At),
    DeltaUs(At),
    Uptime(At),
}

impl TimeAt {
    /// Preference when a template has several: absolute (finer first),
    /// then deltas from the export time, then uptime-relative.
    fn rank(self) -> u8 {
        match self {
            TimeAt::Ntp(_) | TimeAt::Ms(_) => 4,
            TimeAt::Sec(_) => 3,
            TimeAt::DeltaUs(_) => 2,
            TimeAt::Uptime(_) => 1,
        }
    }
}

/// A fixed-length flow template compiled to direct offsets: the decoder
/// reads each value it needs with one bounds-checked load, no dispatch per
/// field. Templates that carry per-record sampling or init-time fields, or
/// more than two addresses per side, use the step list instead.
#[derive(Clone, Debug, Default)]
pub(crate) struct Plan {
    /// Up to two candidates per side (IPv4, IPv6) in announced order; the
    /// first non-zero one is the flow's address. `true` = IPv6.
    pub src: [Option<(At, bool)>; 2],
    pub dst: [Option<(At, bool)>; 2],
    pub src_port: Option<At>,
    pub dst_port: Option<At>,
    pub protocol: Option<At>,
    pub tcp_flags: Option<At>,
    pub rev_tcp_flags: Option<At>,
    pub octets: Option<(At, u8)>,
    pub packets: Option<(At, u8)>,
    pub rev_octets: Option<(At, u8)>,
    pub rev_packets: Option<(At, u8)>,
    pub start: Option<TimeAt>,
    pub end: Option<TimeAt>,
    pub direction: Option<At>,
}

impl Plan {
    fn build(steps: &[Step]) -> Option<Plan> {
        let mut p = Plan::default();
        fn first(slot: &mut Option<At>, at: At) {
            slot.get_or_insert(at);
        }
        fn counter(slot: &mut Option<(At, u8)>, at: At, prio: u8) {
            if slot.is_none_or(|(_, p)| prio > p) {
                *slot = Some((at, prio));
            }
        }
        fn addr(slot: &mut [Option<(At, bool)>; 2], at: At, v6: bool) -> Option<()> {
            let free = slot.iter_mut().find(|s| s.is_none())?;
            *free = Some((at, v6));
            Some(())
        }
        fn time(slot: &mut Option<TimeAt>, t: TimeAt) {
            if slot.is_none_or(|old| {
                t.rank() > old.rank() || (t.rank() == old.rank() && t.rank() == 4)
            }) {
                *slot = Some(t);
            }
        }
        for s in steps {
            let at = At::new(s.offset, s.len);
            match s.kind {
                Kind::Skip => {}
                Kind::SrcV4 => addr(&mut p.src, at, false)?,
                Kind::SrcV6 => addr(&mut p.src, at, true)?,
                Kind::DstV4 => addr(&mut p.dst, at, false)?,
                Kind::DstV6 => addr(&mut p.dst, at, true)?,
                Kind::SrcPort => first(&mut p.src_port, at),
                Kind::DstPort => first(&mut p.dst_port, at),
                Kind::Protocol => first(&mut p.protocol, at),
                Kind::Direction => first(&mut p.direction, at),
                // Flags are OR-ed over repeated fields: leave that to the steps.
                Kind::TcpFlags if p.tcp_flags.is_some() => return None,
                Kind::TcpFlags => p.tcp_flags = Some(at),
                Kind::RevTcpFlags if p.rev_tcp_flags.is_some() => return None,
                Kind::RevTcpFlags => p.rev_tcp_flags = Some(at),
                Kind::Octets(pr) => counter(&mut p.octets, at, pr),
                Kind::Packets(pr) => counter(&mut p.packets, at, pr),
                Kind::RevOctets(pr) => counter(&mut p.rev_octets, at, pr),
                Kind::RevPackets(pr) => counter(&mut p.rev_packets, at, pr),
                Kind::StartSec => time(&mut p.start, TimeAt::Sec(at)),
                Kind::EndSec => time(&mut p.end, TimeAt::Sec(at)),
                Kind::StartMs => time(&mut p.start, TimeAt::Ms(at)),
                Kind::EndMs => time(&mut p.end, TimeAt::Ms(at)),
                Kind::StartNtp => time(&mut p.start, TimeAt::Ntp(at)),
                Kind::EndNtp => time(&mut p.end, TimeAt::Ntp(at)),
                Kind::StartDeltaUs => time(&mut p.start, TimeAt::DeltaUs(at)),
                Kind::EndDeltaUs => time(&mut p.end, TimeAt::DeltaUs(at)),
                Kind::UptimeStart => time(&mut p.start, TimeAt::Uptime(at)),
                Kind::UptimeEnd => time(&mut p.end, TimeAt::Uptime(at)),
                Kind::SamplingInterval
                | Kind::SamplingSpace
                | Kind::SamplingSize
                | Kind::SamplingPopulation
                | Kind::SamplerId
                | Kind::SystemInitMs => return None,
            }
        }
        Some(p)
    }
}

impl Template {
    /// Compiles `fields`. `None` when no record could ever be decoded with it
    /// (every field of length zero).
    pub(crate) fn compile(fields: Vec<Field>, options: bool, wire: &[u8]) -> Option<Template> {
        let variable = fields.iter().any(|f| f.len == VARIABLE_LENGTH);
        let mut min_len = 0usize;
        let mut steps = Vec::new();
        for f in &fields {
            if f.len == VARIABLE_LENGTH {
                min_len += 1;
                continue;
            }
            if f.kind != Kind::Skip {
                steps.push(Step {
                    offset: min_len,
                    len: usize::from(f.len),
                    kind: f.kind,
                });
            }
            min_len += usize::from(f.len);
        }
        if min_len == 0 {
            return None;
        }
        let plan = if variable || options {
            None
        } else {
            Plan::build(&steps)
        };
        Some(Template {
            plan,
            fields: fields.into_boxed_slice(),
            steps: if variable {
                Box::new([])
            } else {
                steps.into_boxed_slice()
            },
            fixed_len: (!variable).then_some(min_len),
            min_len,
            options,
            wire: wire.into(),
        })
    }

    /// Decodes one record from the start of `data` into `acc`; returns the
    /// record's length, `None` if the record does not fit in `data`.
    #[inline]
    pub(crate) fn record(&self, data: &[u8], acc: &mut Acc) -> Option<usize> {
        if let Some(len) = self.fixed_len {
            let rec = data.get(..len)?;
            for step in self.steps.iter() {
                if let Some(bytes) = rec.get(step.offset..step.offset + step.len) {
                    acc.put(step.kind, bytes);
                }
            }
            return Some(len);
        }
        let mut pos = 0usize;
        for f in self.fields.iter() {
            let len = if f.len == VARIABLE_LENGTH {
                let first = *data.get(pos)?;
                pos += 1;
                if first == 255 {
                    let two = data.get(pos..pos + 2)?;
                    pos += 2;
                    usize::from(two.try_into().map_or(0, u16::from_be_bytes))
                } else {
                    usize::from(first)
                }
            } else {
                usize::from(f.len)
            };
            let bytes = data.get(pos..pos + len)?;
            if f.kind != Kind::Skip {
                acc.put(f.kind, bytes);
            }
            pos += len;
        }
        Some(pos)
    }
}

/// A big-endian unsigned integer of 1 to 8 bytes (reduced-size encoding,
/// RFC 7011 section 6.2); longer slices keep their last 8 bytes.
#[inline(always)]
pub(crate) fn be_uint(b: &[u8]) -> u64 {
    match *b {
        [a] => u64::from(a),
        [a, b] => u64::from(u16::from_be_bytes([a, b])),
        [a, b, c, d] => u64::from(u32::from_be_bytes([a, b, c, d])),
        [a, b, c, d, e, f, g, h] => u64::from_be_bytes([a, b, c, d, e, f, g, h]),
        _ => b.iter().fold(0u64, |v, &x| (v << 8) | u64::from(x)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduced_size_integers() {
        assert_eq!(be_uint(&[1]), 1);
        assert_eq!(be_uint(&[1, 2, 3]), 0x010203);
        assert_eq!(be_uint(&[0, 0, 0, 0, 0, 1, 0]), 256);
    }

    #[test]
    fn odd_lengths_are_skipped_not_misread() {
        assert_eq!(Kind::of(0, 8, 16), Kind::Skip);
        assert_eq!(Kind::of(0, 27, 4), Kind::Skip);
        assert_eq!(Kind::of(0, 1, 9), Kind::Skip);
        assert_eq!(Kind::of(0, 1, 3), Kind::Octets(5));
        assert_eq!(Kind::of(PEN_REVERSE, 1, 8), Kind::RevOctets(5));
        assert_eq!(Kind::of(9, 1, 8), Kind::Skip);
    }

    #[test]
    fn all_zero_length_template_is_refused() {
        let f = vec![Field {
            len: 0,
            kind: Kind::Skip,
        }];
        assert!(Template::compile(f, false, &[]).is_none());
    }
}
