//! One direction of a TCP connection as an in-order byte stream.
//!
//! Segments are delivered in sequence order; overlaps and retransmissions
//! are trimmed; segments from the future are buffered within a bound. Holes
//! become [`Chunk::Gap`]s: when the bound is hit, when the peer acknowledges
//! bytes the capture never held, when a snaplen cut a payload short, and at
//! the end for whatever is still waiting.

/// Out-of-order segments buffered per direction.
pub const MAX_PENDING_SEGMENTS: usize = 64;
/// Out-of-order bytes buffered per direction.
pub const MAX_PENDING_BYTES: usize = 256 * 1024;
/// A sequence jump further than this is not a hole in this stream but a
/// stray or forged segment: dropped.
const MAX_JUMP: u32 = 64 << 20;

/// What the stream hands on, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    Data(&'a [u8]),
    /// This many bytes were never seen.
    Gap(u64),
}

#[derive(Debug)]
struct Segment {
    seq: u32,
    data: Vec<u8>,
    claimed: u32,
    fin: bool,
}

#[derive(Debug, Default)]
pub struct Stream {
    /// The next sequence number expected, once known.
    next: Option<u32>,
    pending: Vec<Segment>,
    pending_bytes: usize,
    /// The stream was picked up at its SYN.
    pub from_start: bool,
    /// A hole was handed on.
    pub gaps: bool,
    /// Out-of-order segments dropped (over the bound or too far ahead).
    pub dropped: u64,
    finished: bool,
}

/// Sequence comparison in the 2^32 ring: positive when `a` is after `b`.
fn diff(a: u32, b: u32) -> i64 {
    i64::from(a.wrapping_sub(b) as i32)
}

impl Stream {
    /// A SYN from this side: the stream starts after it.
    pub fn syn(&mut self, seq: u32) {
        if self.next.is_none() {
            self.next = Some(seq.wrapping_add(1));
            self.from_start = true;
        }
    }

    pub fn has_started(&self) -> bool {
        self.next.is_some()
    }

    /// Out-of-order bytes held, waiting for the hole before them.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// A segment: `data` as captured, `claimed` bytes per the IP header.
    pub fn segment(
        &mut self,
        seq: u32,
        data: &[u8],
        claimed: u32,
        fin: bool,
        out: &mut dyn FnMut(Chunk<'_>),
    ) {
        if self.finished || (claimed == 0 && !fin) {
            return;
        }
        let next = *self.next.get_or_insert(seq);
        let ahead = diff(seq, next);
        if ahead > 0 {
            if ahead > i64::from(MAX_JUMP) {
                self.dropped += 1;
                return;
            }
            self.pending_bytes += data.len();
            self.pending.push(Segment {
                seq,
                data: data.to_vec(),
                claimed,
                fin,
            });
            while self.pending.len() > MAX_PENDING_SEGMENTS
                || self.pending_bytes > MAX_PENDING_BYTES
            {
                // Waiting longer would be unbounded: the hole is taken as final.
                self.skip_to_first_pending(out);
            }
            return;
        }
        self.in_order(seq, data, claimed, fin, out);
        self.drain(out);
    }

    /// The peer acknowledged up to `ack`: bytes before it that never came are a hole.
    pub fn acked(&mut self, ack: u32, out: &mut dyn FnMut(Chunk<'_>)) {
        let Some(next) = self.next else { return };
        if self.finished {
            return;
        }
        let ahead = diff(ack, next);
        if ahead <= 0 || ahead > i64::from(MAX_JUMP) {
            return;
        }
        // Buffered segments below the acknowledgement go first, holes between.
        while let Some(i) = self.lowest_pending() {
            if diff(self.pending[i].seq, ack) >= 0 {
                break;
            }
            self.skip_to_first_pending(out);
        }
        if let Some(next) = self.next
            && diff(ack, next) > 0
            && !self.finished
        {
            self.gaps = true;
            out(Chunk::Gap(ack.wrapping_sub(next) as u64));
            self.next = Some(ack);
        }
    }

    /// End of the connection: what is still buffered goes out, holes marked.
    pub fn flush(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        while !self.pending.is_empty() && !self.finished {
            self.skip_to_first_pending(out);
        }
        self.pending.clear();
        self.pending_bytes = 0;
    }

    fn lowest_pending(&self) -> Option<usize> {
        let next = self.next?;
        (0..self.pending.len()).min_by_key(|&i| diff(self.pending[i].seq, next))
    }

    fn skip_to_first_pending(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        let Some(i) = self.lowest_pending() else {
            return;
        };
        let Some(next) = self.next else { return };
        let seq = self.pending[i].seq;
        if diff(seq, next) > 0 {
            self.gaps = true;
            out(Chunk::Gap(seq.wrapping_sub(next) as u64));
            self.next = Some(seq);
        }
        self.drain(out);
    }

    /// Delivers buffered segments that have become in order.
    fn drain(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        while let Some(next) = self.next {
            if self.finished {
                self.pending.clear();
                self.pending_bytes = 0;
                return;
            }
            let Some(i) = self.pending.iter().position(|s| diff(s.seq, next) <= 0) else {
                return;
            };
            let s = self.pending.swap_remove(i);
            self.pending_bytes -= s.data.len();
            self.in_order(s.seq, &s.data, s.claimed, s.fin, out);
        }
    }

    /// A segment that starts at or before `next`.
    fn in_order(
        &mut self,
        seq: u32,
        data: &[u8],
        claimed: u32,
        fin: bool,
        out: &mut dyn FnMut(Chunk<'_>),
    ) {
        let Some(next) = self.next else { return };
        let behind = u64::try_from(-diff(seq, next)).unwrap_or(0);
        let end = seq.wrapping_add(claimed);
        if behind < u64::from(claimed) {
            let skip = usize::try_from(behind).unwrap_or(usize::MAX);
            if skip < data.len() {
                out(Chunk::Data(&data[skip..]));
            }
            let captured_to = data.len().max(skip) as u64;
            if captured_to < u64::from(claimed) {
                // Cut by the snaplen: the rest of the segment is a hole.
                self.gaps = true;
                out(Chunk::Gap(u64::from(claimed) - captured_to));
            }
            self.next = Some(end);
        }
        if fin && diff(end, self.next.unwrap_or(end)) >= 0 {
            self.finished = true;
            self.next = Some(end.wrapping_add(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(f: impl FnOnce(&mut dyn FnMut(Chunk<'_>))) -> (Vec<u8>, u64) {
        let mut bytes = Vec::new();
        let mut gap = 0u64;
        f(&mut |c| match c {
            Chunk::Data(d) => bytes.extend_from_slice(d),
            Chunk::Gap(n) => gap += n,
        });
        (bytes, gap)
    }

    #[test]
    fn reorders_trims_and_marks_holes() {
        let mut s = Stream::default();
        let (bytes, gap) = collect(|out| {
            s.syn(999);
            s.segment(1006, b"world", 5, false, out);
            s.segment(1000, b"hello ", 6, false, out);
            s.segment(1000, b"hello ", 6, false, out); // retransmission
            s.segment(1009, b"ld!", 3, false, out); // overlap
            s.segment(1020, b"late", 4, false, out); // after a hole
            s.flush(out);
        });
        assert_eq!(bytes, b"hello world!late");
        assert_eq!(gap, 8);
        assert!(s.gaps);
    }

    #[test]
    fn ack_beyond_what_was_seen_is_a_hole() {
        let mut s = Stream::default();
        let (bytes, gap) = collect(|out| {
            s.syn(0);
            s.segment(1, b"abc", 3, false, out);
            s.acked(14, out);
            s.segment(14, b"xyz", 3, false, out);
        });
        assert_eq!(bytes, b"abcxyz");
        assert_eq!(gap, 10);
    }

    #[test]
    fn fin_is_not_a_hole_and_wraps_around() {
        let mut s = Stream::default();
        let (bytes, gap) = collect(|out| {
            s.syn(u32::MAX - 1);
            s.segment(u32::MAX, b"ab", 2, true, out);
            s.acked(2, out); // acknowledges the FIN too
        });
        assert_eq!(bytes, b"ab");
        assert_eq!(gap, 0);
    }

    #[test]
    fn snaplen_cut_segment_is_a_hole() {
        let mut s = Stream::default();
        let (bytes, gap) = collect(|out| s.segment(50, b"MA", 20, false, out));
        assert_eq!((bytes.as_slice(), gap), (&b"MA"[..], 18));
    }

    #[test]
    fn bounded_buffer_gives_up_on_the_hole() {
        let mut s = Stream::default();
        let (bytes, gap) = collect(|out| {
            s.syn(0);
            for i in 0..(MAX_PENDING_SEGMENTS as u32 + 1) {
                s.segment(100 + i, b"x", 1, false, out);
            }
        });
        assert_eq!(gap, 99);
        assert_eq!(bytes.len(), MAX_PENDING_SEGMENTS + 1);
    }
}
