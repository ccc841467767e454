//! Classic pcap writer (microsecond, little-endian, Ethernet), buffered.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

const LINKTYPE_ETHERNET: u32 = 1;
const SNAPLEN: u32 = 262_144;

pub struct PcapWriter {
    out: BufWriter<File>,
    path: PathBuf,
    bytes: u64,
    packets: u64,
    last_ts: u64,
}

impl PcapWriter {
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let mut out = BufWriter::with_capacity(4 << 20, file);
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        header[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&header)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(PcapWriter {
            out,
            path: path.to_path_buf(),
            bytes: 24,
            packets: 0,
            last_ts: 0,
        })
    }

    /// Write one whole frame. Timestamps are clamped to stay non-decreasing.
    pub fn write(&mut self, ts_us: u64, frame: &[u8]) -> anyhow::Result<()> {
        self.write_parts(ts_us, frame, &[])
    }

    /// Write one frame given as headers and payload.
    pub fn write_parts(&mut self, ts_us: u64, head: &[u8], payload: &[u8]) -> anyhow::Result<()> {
        let frame_len = head.len() + payload.len();
        // The scheduler emits in time order; the clamp only guards release builds.
        debug_assert!(
            ts_us >= self.last_ts,
            "{}: time went back",
            self.path.display()
        );
        let ts = ts_us.max(self.last_ts);
        self.last_ts = ts;
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&((ts / 1_000_000) as u32).to_le_bytes());
        rec[4..8].copy_from_slice(&((ts % 1_000_000) as u32).to_le_bytes());
        let len = frame_len as u32;
        rec[8..12].copy_from_slice(&len.to_le_bytes());
        rec[12..16].copy_from_slice(&len.to_le_bytes());
        self.out
            .write_all(&rec)
            .and_then(|()| self.out.write_all(head))
            .and_then(|()| self.out.write_all(payload))
            .with_context(|| format!("writing {}", self.path.display()))?;
        self.bytes += 16 + frame_len as u64;
        self.packets += 1;
        Ok(())
    }

    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Flush and return (path, bytes written).
    pub fn finish(mut self) -> anyhow::Result<(PathBuf, u64)> {
        self.out
            .flush()
            .with_context(|| format!("writing {}", self.path.display()))?;
        Ok((self.path, self.bytes))
    }
}
