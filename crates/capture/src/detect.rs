//! Content sniffing: is this a capture, and in what container?
//!
//! Decided from the first bytes only, never from the file name. For gzip and
//! zstd the head is decompressed (bounded) to confirm that a capture is inside,
//! so that compressed NetFlow dumps or logs are not taken for captures.

use std::io::Read;

/// Capture file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureFormat {
    /// libpcap: micro- or nanosecond magic, either byte order (and the old
    /// "modified" Kuznetzov format).
    Pcap,
    Pcapng,
}

/// What the capture is wrapped in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    Plain,
    Gzip,
    Zstd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaptureKind {
    pub format: CaptureFormat,
    pub container: Container,
}

/// How many leading bytes [`detect`] wants to be sure (fewer work for plain captures).
pub const DETECT_HEAD: usize = 4096;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Sniffs the first bytes of a file. Give it [`DETECT_HEAD`] bytes where the
/// file has them; a compressed head too short to show what is inside is not
/// taken for a capture.
pub fn detect(head: &[u8]) -> Option<CaptureKind> {
    if let Some(format) = plain_format(head) {
        return Some(CaptureKind {
            format,
            container: Container::Plain,
        });
    }
    let mut inner = [0u8; 32];
    if head.starts_with(&GZIP_MAGIC) {
        let n = read_up_to(flate2::read::MultiGzDecoder::new(head), &mut inner);
        return plain_format(&inner[..n]).map(|format| CaptureKind {
            format,
            container: Container::Gzip,
        });
    }
    if head.starts_with(&ZSTD_MAGIC) {
        let n = match zstd::stream::read::Decoder::with_buffer(head) {
            Ok(d) => read_up_to(d, &mut inner),
            Err(_) => 0,
        };
        return plain_format(&inner[..n]).map(|format| CaptureKind {
            format,
            container: Container::Zstd,
        });
    }
    None
}

/// Reads until `buf` is full, the stream ends, or it fails (a truncated head
/// of a compressed file fails once its input runs out: what came out counts).
fn read_up_to(mut r: impl Read, buf: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => filled += n,
        }
    }
    filled
}

fn plain_format(head: &[u8]) -> Option<CaptureFormat> {
    let magic = head.get(..4)?;
    let magic_le = u32::from_le_bytes([magic[0], magic[1], magic[2], magic[3]]);
    match magic_le {
        // 0xa1b2c3d4 microseconds, 0xa1b23c4d nanoseconds, 0xa1b2cd34 modified;
        // read in the other byte order they appear swapped.
        0xa1b2_c3d4 | 0xa1b2_3c4d | 0xa1b2_cd34 => version_is_2(head, false),
        0xd4c3_b2a1 | 0x4d3c_b2a1 | 0x34cd_b2a1 => version_is_2(head, true),
        0x0a0d_0d0a => {
            // Section header block: the byte-order magic follows the block length.
            let bom = head.get(8..12)?;
            (bom == [0x4d, 0x3c, 0x2b, 0x1a] || bom == [0x1a, 0x2b, 0x3c, 0x4d])
                .then_some(CaptureFormat::Pcapng)
        }
        _ => None,
    }
}

fn version_is_2(head: &[u8], big_endian: bool) -> Option<CaptureFormat> {
    let v = head.get(4..6)?;
    let major = if big_endian {
        u16::from_be_bytes([v[0], v[1]])
    } else {
        u16::from_le_bytes([v[0], v[1]])
    };
    (major == 2).then_some(CaptureFormat::Pcap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pcap_header(magic: u32, big_endian: bool) -> Vec<u8> {
        let mut h = Vec::new();
        let put32 = |h: &mut Vec<u8>, v: u32| {
            h.extend_from_slice(&if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            })
        };
        let put16 = |h: &mut Vec<u8>, v: u16| {
            h.extend_from_slice(&if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            })
        };
        put32(&mut h, magic);
        put16(&mut h, 2);
        put16(&mut h, 4);
        put32(&mut h, 0);
        put32(&mut h, 0);
        put32(&mut h, 65535);
        put32(&mut h, 1);
        h
    }

    #[test]
    fn four_pcap_magics_and_pcapng() {
        for magic in [0xa1b2_c3d4u32, 0xa1b2_3c4d] {
            for be in [false, true] {
                let k = detect(&pcap_header(magic, be)).unwrap();
                assert_eq!(k.format, CaptureFormat::Pcap);
                assert_eq!(k.container, Container::Plain);
            }
        }
        let shb = [
            0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
        ];
        assert_eq!(detect(&shb).unwrap().format, CaptureFormat::Pcapng);
        assert_eq!(detect(b"hello world, not a capture"), None);
        assert_eq!(detect(&[]), None);
        let mut bad_version = pcap_header(0xa1b2_c3d4, false);
        bad_version[4] = 9;
        assert_eq!(detect(&bad_version), None);
    }

    #[test]
    fn looks_inside_gzip_and_zstd() {
        let header = pcap_header(0xa1b2_c3d4, false);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&header).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(
            detect(&gz),
            Some(CaptureKind {
                format: CaptureFormat::Pcap,
                container: Container::Gzip
            })
        );
        let zst = zstd::encode_all(&header[..], 3).unwrap();
        assert_eq!(detect(&zst).unwrap().container, Container::Zstd);
        let not_capture = zstd::encode_all(&b"just some text, long enough"[..], 3).unwrap();
        assert_eq!(detect(&not_capture), None);
    }
}
