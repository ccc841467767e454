//! Files of export datagrams stored raw, one after another.
//!
//! Where one datagram ends is read from its own header:
//! - v5: 24 + 48 * count bytes;
//! - IPFIX: the message length field;
//! - v9 has no length field, and its `count` is the number of records, which
//!   exporters get wrong. The rule used here: a v9 datagram runs flowset by
//!   flowset (each flowset has a length), and ends where the next 16-bit word
//!   at a flowset boundary is a flowset ID reserved by RFC 3954 (2..=255):
//!   the versions 5, 9 and 10 that start the next datagram are all in that
//!   range, while the flowsets of the datagram itself are 0, 1 or >= 256.
//!   It also ends at the end of the file, at a flowset length below 4 (the
//!   rest of the file is then one broken datagram, which the decoder counts)
//!   and after 65535 bytes (the largest UDP payload).
//!
//! Fewer than 16 bytes left after the last datagram are taken as part of it.
//!
//! The file is streamed through a buffer of twice the largest datagram.

use std::fs::File;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use op25b_core::InputError;

use crate::FlowRecord;
use crate::decoder::{FlowDecoder, header_time_us};

/// The largest datagram a file walk accepts (the largest UDP payload).
const MAX_DATAGRAM: usize = 65_535;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2)?.try_into().ok().map(u16::from_be_bytes)
}

/// The length of the datagram at the start of `buf` (which may hold more
/// datagrams after it), by the rules in the module doc. It is at most
/// `buf.len()`: a datagram cut by the end of `buf` is returned whole as far
/// as it goes. `Err` for a version that is not 5, 9 or 10.
pub fn datagram_len(buf: &[u8]) -> Result<usize, &'static str> {
    let Some(version) = u16_at(buf, 0) else {
        return Ok(buf.len());
    };
    let len = match version {
        5 => match u16_at(buf, 2) {
            Some(count) => 24 + 48 * usize::from(count),
            None => buf.len(),
        },
        10 => match u16_at(buf, 2) {
            Some(len) if len >= 16 => usize::from(len),
            Some(_) => return Err("IPFIX message length below the 16-byte header"),
            None => buf.len(),
        },
        9 => {
            let mut pos = 20;
            loop {
                if pos >= MAX_DATAGRAM {
                    break pos;
                }
                let (Some(id), Some(set_len)) = (u16_at(buf, pos), u16_at(buf, pos + 2)) else {
                    break buf.len();
                };
                if (2..=255).contains(&id) {
                    break pos;
                }
                if set_len < 4 {
                    break buf.len();
                }
                pos += usize::from(set_len);
            }
        }
        _ => return Err("not a NetFlow v5/v9 or IPFIX datagram (unknown version)"),
    };
    Ok(len.min(buf.len()).min(MAX_DATAGRAM))
}

/// True when `head` starts like a v5, v9 or IPFIX datagram.
pub(crate) fn plausible_datagram_head(head: &[u8]) -> bool {
    match u16_at(head, 0) {
        Some(5) => u16_at(head, 2).is_some_and(|c| c >= 1) && head.len() >= 24,
        Some(9) => match (u16_at(head, 20), u16_at(head, 22)) {
            (Some(id), Some(len)) => (id <= 1 || id >= 256) && len >= 4,
            _ => false,
        },
        Some(10) => match (u16_at(head, 2), u16_at(head, 16), u16_at(head, 18)) {
            (Some(len), Some(id), Some(set_len)) => {
                len >= 20
                    && (id == 2 || id == 3 || id >= 256)
                    && set_len >= 4
                    && set_len <= len - 16
            }
            _ => false,
        },
        _ => false,
    }
}

/// Decodes a file of raw datagrams, handing each flow record to `out`.
///
/// The exporter address is unknown in such files: 0.0.0.0 is used, so all
/// datagrams of a file share one template cache. The receive time given to
/// the decoder is each datagram's header export time. Data still waiting for
/// a template at the end stays counted in the decoder; call
/// [`FlowDecoder::finish`] after the last file of a stream.
pub fn read_raw_datagrams(
    path: &Path,
    decoder: &mut FlowDecoder,
    out: &mut dyn FnMut(FlowRecord),
) -> Result<(), InputError> {
    let io_err = |source| InputError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?;
    let exporter = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
    let mut buf: Vec<u8> = Vec::with_capacity(2 * MAX_DATAGRAM);
    let mut start = 0usize; // of the next datagram within buf
    let mut consumed: u64 = 0; // file offset of buf[0]
    let mut eof = false;
    let mut records = Vec::new();
    let mut last_time = 0i64;
    // Where the datagram before began and how long its header said it was:
    // a damaged count or length there moves the walk to the wrong place, and
    // the error comes at the next "datagram".
    let mut previous: Option<(u64, usize)> = None;
    loop {
        // Keep at least one whole datagram's worth of bytes ahead.
        if !eof && buf.len() - start < MAX_DATAGRAM + 4 {
            buf.drain(..start);
            consumed += start as u64;
            start = 0;
            let want = 2 * MAX_DATAGRAM;
            let mut chunk = [0u8; 16 * 1024];
            while buf.len() < want {
                let n = file.read(&mut chunk).map_err(io_err)?;
                if n == 0 {
                    eof = true;
                    break;
                }
                buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
            }
        }
        let rest = buf.get(start..).unwrap_or_default();
        if rest.is_empty() {
            return Ok(());
        }
        let len = match datagram_len(rest) {
            Ok(len) => len,
            // A few stray bytes at the very end (padding some tools add):
            // handed to the decoder, which counts them as a broken datagram.
            Err(_) if eof && rest.len() < 16 => rest.len(),
            Err(what) => {
                let what = match previous {
                    Some((at, len)) => format!(
                        "{what}; the datagram before it starts at byte offset {at} and its header \
                         made it {len} bytes long: if that header is damaged, the damage is there"
                    ),
                    None => what.to_string(),
                };
                return Err(InputError::Malformed {
                    path: path.to_path_buf(),
                    offset: consumed + start as u64,
                    what,
                });
            }
        };
        let mut len = len.max(1);
        // A few stray bytes after the last datagram belong to it: the file
        // holds what was received, and a wrong IPFIX length field (seen in
        // the wild) must not turn them into a bogus datagram.
        if eof && rest.len() > len && rest.len() - len < 16 {
            len = rest.len();
        }
        let datagram = rest.get(..len).unwrap_or(rest);
        if let Some(t) = header_time_us(datagram) {
            last_time = t;
        }
        decoder.decode(exporter, last_time, datagram, &mut records);
        for r in records.drain(..) {
            out(r);
        }
        previous = Some((consumed + start as u64, len));
        start += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v9_back_to_back_split_at_reserved_flowset_id() {
        let mut one = vec![0u8, 9, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        one.extend_from_slice(&[1, 0, 0, 8, 1, 2, 3, 4]); // data flowset 256, 8 bytes
        let two = [one.clone(), one.clone()].concat();
        assert_eq!(datagram_len(&two), Ok(28));
        assert_eq!(datagram_len(&one), Ok(28));
        // cut in the middle of a flowset: the rest is one datagram
        assert_eq!(datagram_len(&two[..25]), Ok(25));
        assert!(datagram_len(&[0, 7, 0, 0]).is_err());
    }
}
