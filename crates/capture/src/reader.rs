//! Capture files to frames: decompression (gzip, zstd), pcap and pcapng
//! (pcap-parser), timestamps to microseconds, and the line between damage that
//! ends a file (an error naming the byte offset) and damage that is counted.
//!
//! Offsets in messages are offsets in the capture stream: the file itself, or,
//! for a compressed file, the decompressed stream (the message says which).

use crate::clock::ClockCheck;
use crate::detect::{Container, detect};
use crate::stats::CaptureStats;
use op25b_core::InputError;
use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{LegacyPcapReader, PcapBlockOwned, PcapError, PcapNGReader};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Reader buffer; also the largest record accepted (pcap snaplens stop at 256 KiB).
const BUFFER: usize = 1 << 20;

/// One captured frame.
pub(crate) struct Frame<'a> {
    pub ts_us: i64,
    pub linktype: u32,
    pub data: &'a [u8],
}

/// Counts bytes read from the file (compressed bytes for compressed files).
struct Counting<R> {
    inner: R,
    count: Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Fills the whole buffer where it can (decompressors return short reads,
/// which pcap-parser's first read would take for a short file), and keeps the
/// I/O error that pcap-parser flattens into `ReadError`.
struct Filling<R> {
    inner: R,
    error: Arc<Mutex<Option<io::Error>>>,
}

impl<R: Read> Read for Filling<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.inner.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if filled > 0 {
                        // Hand over what was read; the error comes back next call.
                        if let Ok(mut slot) = self.error.lock() {
                            *slot = Some(io::Error::new(e.kind(), e.to_string()));
                        }
                        break;
                    }
                    if let Ok(mut slot) = self.error.lock() {
                        *slot = Some(io::Error::new(e.kind(), e.to_string()));
                    }
                    return Err(e);
                }
            }
        }
        Ok(filled)
    }
}

/// A reader running on its own thread, handing over chunks through a
/// bounded channel (4 x 1 MiB in flight at most).
struct Pipelined {
    chunks: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    at: usize,
    done: bool,
}

impl Pipelined {
    fn spawn(mut inner: Box<dyn Read + Send>) -> Pipelined {
        let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(4);
        std::thread::spawn(move || {
            loop {
                let mut chunk = vec![0u8; 1 << 20];
                let mut filled = 0;
                let result = loop {
                    match inner.read(&mut chunk[filled..]) {
                        Ok(0) => break Ok(()),
                        Ok(n) => {
                            filled += n;
                            if filled == chunk.len() {
                                break Ok(());
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                chunk.truncate(filled);
                let last = filled == 0 || result.is_err();
                // The consumer hung up (it stopped reading): stop decompressing.
                if filled > 0 && tx.send(Ok(chunk)).is_err() {
                    return;
                }
                if let Err(e) = result {
                    let _ = tx.send(Err(e));
                    return;
                }
                if last {
                    return;
                }
            }
        });
        Pipelined {
            chunks: rx,
            current: Vec::new(),
            at: 0,
            done: false,
        }
    }
}

impl Read for Pipelined {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at >= self.current.len() {
            if self.done {
                return Ok(0);
            }
            match self.chunks.recv() {
                Ok(Ok(chunk)) => {
                    self.current = chunk;
                    self.at = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

struct Interface {
    linktype: u32,
    /// Timestamp units per second.
    units: u64,
    offset_s: i64,
}

impl Interface {
    /// A packet block's 64-bit timestamp in this interface's units, as µs.
    fn timestamp_us(&self, ts_high: u32, ts_low: u32) -> i64 {
        let raw = (u64::from(ts_high) << 32) | u64::from(ts_low);
        let us =
            (u128::from(raw) * 1_000_000 / u128::from(self.units)).min(i64::MAX as u128 / 2) as i64;
        us.saturating_add(self.offset_s.saturating_mul(1_000_000))
    }
}

/// A timestamped packet block (enhanced or obsolete) of interface `if_id`
/// to `on_frame`, its time kept in `last_ts` for simple packet blocks; one
/// of an interface the section has not described is counted and skipped.
fn packet_block(
    interfaces: &[Interface],
    if_id: usize,
    (ts_high, ts_low): (u32, u32),
    data: &[u8],
    last_ts: &mut i64,
    stats: &mut CaptureStats,
    on_frame: &mut dyn FnMut(Frame<'_>) -> bool,
) -> bool {
    let Some(ifc) = interfaces.get(if_id) else {
        stats.packets += 1;
        stats.skip("unknown_interface");
        return true;
    };
    *last_ts = ifc.timestamp_us(ts_high, ts_low);
    on_frame(Frame {
        ts_us: *last_ts,
        linktype: ifc.linktype,
        data,
    })
}

/// pcapng's obsolete Packet Block (type 2), which the Enhanced Packet Block
/// replaced; Wireshark still reads it, pcap-parser hands it on unparsed.
const OBSOLETE_PACKET_BLOCK: u32 = 2;

/// The fields of an obsolete Packet Block's body: interface (16 bits), drops
/// count (16 bits), timestamp high and low, captured and original length,
/// then the data.
struct ObsoletePacket<'a> {
    if_id: u16,
    ts_high: u32,
    ts_low: u32,
    data: &'a [u8],
}

impl<'a> ObsoletePacket<'a> {
    const FIXED: usize = 20;

    fn parse(body: &'a [u8], big_endian: bool) -> Option<ObsoletePacket<'a>> {
        // An unsigned field of `len` (2 or 4) bytes at `at`, in the section's byte order.
        let field = |at: usize, len: usize| -> Option<u32> {
            let b = body.get(at..at + len)?;
            let digits = |v: u32, &x: &u8| v << 8 | u32::from(x);
            Some(if big_endian {
                b.iter().fold(0, digits)
            } else {
                b.iter().rev().fold(0, digits)
            })
        };
        let caplen = field(12, 4)? as usize;
        let data = body.get(Self::FIXED..)?;
        Some(ObsoletePacket {
            if_id: field(0, 2)? as u16,
            ts_high: field(4, 4)?,
            ts_low: field(8, 4)?,
            data: &data[..caplen.min(data.len())],
        })
    }
}

fn malformed(path: &Path, offset: u64, compressed: bool, what: impl Into<String>) -> InputError {
    let mut what = what.into();
    if compressed {
        what.push_str(" (offset in the decompressed stream)");
    }
    InputError::Malformed {
        path: path.to_path_buf(),
        offset,
        what,
    }
}

/// Opens a capture and reads it frame by frame into `on_frame`. Recoverable
/// damage goes into `stats`; the rest is an error. `on_frame` returning
/// `false` stops reading (used to peek at the first timestamp).
///
/// `decompress_thread`: decompress compressed files on a thread of their own,
/// so that decompression (the costliest step for them) overlaps parsing.
///
/// Frames whose timestamp no clock gave are counted in `stats` and left
/// out ([`ClockCheck`]).
pub(crate) fn read_file(
    path: &Path,
    stats: &mut CaptureStats,
    bytes_read: &Arc<std::sync::atomic::AtomicU64>,
    decompress_thread: bool,
    on_frame: &mut dyn FnMut(Frame<'_>) -> bool,
) -> Result<(), InputError> {
    let mut clock = ClockCheck::default();
    let result = read_frames(path, stats, bytes_read, decompress_thread, &mut |f| {
        clock.push(f, on_frame)
    });
    clock.finish(stats, on_frame);
    result
}

fn read_frames(
    path: &Path,
    stats: &mut CaptureStats,
    bytes_read: &Arc<std::sync::atomic::AtomicU64>,
    decompress_thread: bool,
    on_frame: &mut dyn FnMut(Frame<'_>) -> bool,
) -> Result<(), InputError> {
    let io_err = |source| InputError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let mut buffered = BufReader::with_capacity(
        256 * 1024,
        Counting {
            inner: file,
            count: bytes_read.clone(),
        },
    );
    let head = buffered.fill_buf().map_err(io_err)?;
    if head.is_empty() {
        stats.add_damage(path, 0, "empty file: no capture header");
        return Ok(());
    }
    let Some(kind) = detect(head) else {
        return Err(InputError::Unsupported {
            path: path.to_path_buf(),
            what: "not a pcap or pcapng capture (nor a gzip/zstd-compressed one)".into(),
        });
    };
    let compressed = kind.container != Container::Plain;
    let mut inner: Box<dyn Read + Send> = match kind.container {
        Container::Plain => Box::new(buffered),
        Container::Gzip => Box::new(flate2::read::MultiGzDecoder::new(buffered)),
        Container::Zstd => {
            Box::new(zstd::stream::read::Decoder::with_buffer(buffered).map_err(io_err)?)
        }
    };
    if compressed && decompress_thread {
        inner = Box::new(Pipelined::spawn(inner));
    }
    let error_slot = Arc::new(Mutex::new(None));
    let source = Filling {
        inner,
        error: error_slot.clone(),
    };
    let mut reader: Box<dyn PcapReaderIterator + Send> = match kind.format {
        crate::detect::CaptureFormat::Pcap => LegacyPcapReader::new(BUFFER, source)
            .map(|r| Box::new(r) as Box<dyn PcapReaderIterator + Send>),
        crate::detect::CaptureFormat::Pcapng => PcapNGReader::new(BUFFER, source)
            .map(|r| Box::new(r) as Box<dyn PcapReaderIterator + Send>),
    }
    .map_err(|e| malformed(path, 0, compressed, format!("capture header: {e}")))?;

    let mut legacy_linktype = 0u32;
    let mut legacy_nanos = false;
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut big_endian = false;
    let mut last_ts = 0i64;
    loop {
        let offset = reader.consumed() as u64;
        match reader.next() {
            Ok((size, block)) => {
                let mut go_on = true;
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy_linktype = h.network.0 as u32;
                        legacy_nanos = h.is_nanosecond_precision();
                    }
                    PcapBlockOwned::Legacy(b) => {
                        let frac = if legacy_nanos {
                            i64::from(b.ts_usec) / 1000
                        } else {
                            i64::from(b.ts_usec)
                        };
                        last_ts = i64::from(b.ts_sec) * 1_000_000 + frac;
                        go_on = on_frame(Frame {
                            ts_us: last_ts,
                            linktype: legacy_linktype,
                            data: b.data,
                        });
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                        interfaces.clear();
                        big_endian = shb.big_endian();
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        interfaces.push(Interface {
                            linktype: u32::from(idb.linktype.0 as u16),
                            units: idb.ts_resolution().unwrap_or(1_000_000).max(1),
                            offset_s: idb.ts_offset(),
                        });
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let len = (epb.caplen as usize).min(epb.data.len());
                        go_on = packet_block(
                            &interfaces,
                            epb.if_id as usize,
                            (epb.ts_high, epb.ts_low),
                            &epb.data[..len],
                            &mut last_ts,
                            stats,
                            on_frame,
                        );
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => match interfaces.first() {
                        Some(ifc) => {
                            // Simple packet blocks carry no timestamp: the last one seen stands.
                            let len = (spb.origlen as usize).min(spb.data.len());
                            go_on = on_frame(Frame {
                                ts_us: last_ts,
                                linktype: ifc.linktype,
                                data: &spb.data[..len],
                            });
                        }
                        None => {
                            stats.packets += 1;
                            stats.skip("unknown_interface");
                        }
                    },
                    // pcap-parser reads an unknown block's type little-endian,
                    // whatever the section's byte order.
                    PcapBlockOwned::NG(Block::Unknown(b))
                        if OBSOLETE_PACKET_BLOCK
                            == if big_endian {
                                b.block_type.swap_bytes()
                            } else {
                                b.block_type
                            } =>
                    {
                        match ObsoletePacket::parse(b.data, big_endian) {
                            Some(p) => {
                                go_on = packet_block(
                                    &interfaces,
                                    usize::from(p.if_id),
                                    (p.ts_high, p.ts_low),
                                    p.data,
                                    &mut last_ts,
                                    stats,
                                    on_frame,
                                );
                            }
                            None => {
                                stats.packets += 1;
                                stats.skip("short_packet_block");
                            }
                        }
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                reader.consume(size);
                if !go_on {
                    return Ok(());
                }
            }
            Err(PcapError::Eof) => return Ok(()),
            Err(PcapError::Incomplete(_)) => {
                if reader.refill().is_err() {
                    return read_failure(path, offset, compressed, &error_slot, stats);
                }
            }
            Err(PcapError::UnexpectedEof) => {
                let left = reader.data().len();
                stats.add_damage(
                    path,
                    offset,
                    format!(
                        "truncated last record: {left} bytes where a whole record was expected{}",
                        if compressed {
                            " (decompressed stream)"
                        } else {
                            ""
                        }
                    ),
                );
                return Ok(());
            }
            Err(PcapError::ReadError) => {
                return read_failure(path, offset, compressed, &error_slot, stats);
            }
            Err(PcapError::BufferTooSmall) => {
                let header = header_hex(reader.data());
                return Err(malformed(
                    path,
                    offset,
                    compressed,
                    format!(
                        "damaged record header [{header}]: it claims more than the {BUFFER}-byte record limit"
                    ),
                ));
            }
            Err(e) => {
                // pcap-parser's message for a parse error lists the whole rest
                // of its buffer (up to megabytes) as decimal bytes: name the
                // check that failed and show the record's first bytes instead.
                let what = match &e {
                    PcapError::NomError(_, kind) => format!("{kind:?} check failed"),
                    PcapError::OwnedNomError(_, kind) => format!("{kind:?} check failed"),
                    other => other.to_string(),
                };
                let header = header_hex(reader.data());
                return Err(malformed(
                    path,
                    offset,
                    compressed,
                    format!("unreadable record ({what}), starting [{header}]"),
                ));
            }
        }
    }
}

/// The first bytes of the record that could not be read, in hex, for messages
/// (its length field, in the file's byte order, is among them).
fn header_hex(data: &[u8]) -> String {
    data.iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn read_failure(
    path: &Path,
    offset: u64,
    compressed: bool,
    slot: &Arc<Mutex<Option<io::Error>>>,
    stats: &mut CaptureStats,
) -> Result<(), InputError> {
    let err = slot.lock().ok().and_then(|mut s| s.take());
    match err {
        // A compressed stream cut short: what came before is good.
        Some(e) if compressed && e.kind() == io::ErrorKind::UnexpectedEof => {
            stats.add_damage(
                path,
                offset,
                format!("compressed stream ends early: {e} (decompressed stream)"),
            );
            Ok(())
        }
        Some(e) if compressed => Err(malformed(
            path,
            offset,
            compressed,
            format!("corrupt compressed data: {e}"),
        )),
        Some(e) => Err(InputError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
        None => Err(malformed(path, offset, compressed, "read error")),
    }
}

#[cfg(test)]
mod tests {
    use super::ObsoletePacket;

    #[test]
    fn obsolete_packet_block_in_either_byte_order() {
        let frame = [0xaa, 0xbb, 0xcc];
        let mut le = vec![3, 0, 9, 0, 1, 0, 0, 0, 4, 3, 2, 1, 3, 0, 0, 0, 60, 0, 0, 0];
        le.extend_from_slice(&frame);
        le.push(0); // padding
        let mut be = vec![0, 3, 0, 9, 0, 0, 0, 1, 1, 2, 3, 4, 0, 0, 0, 3, 0, 0, 0, 60];
        be.extend_from_slice(&frame);
        be.push(0);
        for (body, big_endian) in [(&le, false), (&be, true)] {
            let p = ObsoletePacket::parse(body, big_endian).unwrap();
            assert_eq!((p.if_id, p.ts_high, p.ts_low), (3, 1, 0x0102_0304));
            assert_eq!(p.data, &frame);
        }
        // Cut inside the fixed fields: not a packet.
        assert!(ObsoletePacket::parse(&le[..15], false).is_none());
    }
}
