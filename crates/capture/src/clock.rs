//! Frames whose timestamp no clock gave, taken out (and counted) before
//! anything orders or times by them.
//!
//! Capture time drives everything downstream: idle connections expire by
//! it, files are merged by it, and it only moves forward. So one frame
//! stamped years ahead (a flipped bit in a timestamp, a NIC clock glitch)
//! would expire every open connection, start every remaining file at once,
//! and leave the clock stuck in the future for the rest of the input. Two
//! kinds are left out, each counted as a skipped packet:
//! - `timestamp_out_of_range`: outside the years 0000-9999
//!   ([`op25b_core::time::representable`]), which no record can carry;
//! - `timestamp_jump`: more than [`JUMP_US`] ahead of both the frame before
//!   it and the frame after it in the same file. A capture tool writes a
//!   file in time order, so the next frame confirms a real jump (a capture
//!   resumed after a pause) and only an isolated one is taken out. A file's
//!   first frame has no frame before it: where the second is far behind
//!   it, the third says which of the two is out of line (a glitch backwards
//!   is handed on: it expires nothing).
//!
//! Checking against the next frame means holding a frame back: it is
//! copied only where it jumps ahead (and for a file's first frame or two).

use crate::reader::Frame;
use crate::stats::CaptureStats;
use op25b_core::time::representable;

/// How far a frame may be ahead of both its neighbours: the default idle
/// timeout, so that a smaller glitch cannot expire a live connection.
pub(crate) const JUMP_US: i64 = 300_000_000;

pub(crate) mod skip {
    pub const OUT_OF_RANGE: &str = "timestamp_out_of_range";
    pub const JUMP: &str = "timestamp_jump";
}

struct Held {
    ts_us: i64,
    linktype: u32,
    data: Vec<u8>,
}

impl Held {
    fn of(f: &Frame<'_>) -> Held {
        Held {
            ts_us: f.ts_us,
            linktype: f.linktype,
            data: f.data.to_vec(),
        }
    }
}

/// One file's frames on their way to `on_frame`.
#[derive(Default)]
pub(crate) struct ClockCheck {
    /// The latest time handed on, where a frame was.
    last: Option<i64>,
    /// Frames held until the next says whether their time was real: one that
    /// jumped ahead, or the file's first. Where the first two disagree by
    /// more than the jump, both wait for the third.
    held: Vec<Held>,
    /// `on_frame` asked to stop.
    stopped: bool,
    out_of_range: u64,
    jumps: u64,
}

impl ClockCheck {
    /// Takes the next frame of the file; false where `on_frame` asked to stop.
    pub fn push(&mut self, f: Frame<'_>, on_frame: &mut dyn FnMut(Frame<'_>) -> bool) -> bool {
        if !representable(f.ts_us) {
            self.out_of_range += 1;
            return true;
        }
        let ahead_of = |h: &Held, ts: i64| h.ts_us > ts.saturating_add(JUMP_US);
        match self.held.as_slice() {
            [] => {}
            // The first frame, and a second that is far behind it: the
            // third says which of them is out of line.
            [first] if self.last.is_none() && ahead_of(first, f.ts_us) => {
                self.held.push(Held::of(&f));
                return true;
            }
            [first, _] if ahead_of(first, f.ts_us) => {
                // The first was far ahead of both: left out.
                self.jumps += 1;
                self.held.remove(0);
                if !self.hand_on_held(on_frame) {
                    return false;
                }
            }
            [_, ..] if self.last.is_some() && ahead_of(&self.held[0], f.ts_us) => {
                // Ahead of the frame before it and of this one.
                self.jumps += 1;
                self.held.clear();
            }
            _ => {
                // The first, or a real jump; a second frame far behind the
                // first goes on too (a clock glitch backwards stops nothing).
                if !self.hand_on_held(on_frame) {
                    return false;
                }
            }
        }
        if self
            .last
            .is_none_or(|l| f.ts_us > l.saturating_add(JUMP_US))
        {
            self.held.push(Held::of(&f));
            return true;
        }
        self.hand_on(f.ts_us, f.linktype, f.data, on_frame)
    }

    /// Hands on the held frames, in file order.
    fn hand_on_held(&mut self, on_frame: &mut dyn FnMut(Frame<'_>) -> bool) -> bool {
        for h in std::mem::take(&mut self.held) {
            if !self.hand_on(h.ts_us, h.linktype, &h.data, on_frame) {
                return false;
            }
        }
        true
    }

    fn hand_on(
        &mut self,
        ts_us: i64,
        linktype: u32,
        data: &[u8],
        on_frame: &mut dyn FnMut(Frame<'_>) -> bool,
    ) -> bool {
        self.last = Some(self.last.map_or(ts_us, |l| l.max(ts_us)));
        self.stopped = !on_frame(Frame {
            ts_us,
            linktype,
            data,
        });
        !self.stopped
    }

    /// The file ended (or failed): held frames have nothing after them to
    /// contradict them and go on, except a first frame far ahead of the only
    /// other one (forward jumps are the harmful ones); the counts go to
    /// `stats`.
    pub fn finish(mut self, stats: &mut CaptureStats, on_frame: &mut dyn FnMut(Frame<'_>) -> bool) {
        if !self.stopped {
            if self.held.len() == 2 {
                self.jumps += 1;
                self.held.remove(0);
            }
            self.hand_on_held(on_frame);
        }
        for (reason, n) in [
            (skip::OUT_OF_RANGE, self.out_of_range),
            (skip::JUMP, self.jumps),
        ] {
            for _ in 0..n {
                stats.packets += 1;
                stats.skip(reason);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use op25b_core::time::{EARLIEST_US, LATEST_US};

    const T0: i64 = 1_700_000_000_000_000;

    /// The timestamps handed on, and the stats, for frames at `times`.
    fn check(times: &[i64]) -> (Vec<i64>, CaptureStats) {
        let mut out = Vec::new();
        let mut on_frame = |f: Frame<'_>| {
            assert_eq!(f.data, &f.ts_us.to_le_bytes()[..]);
            out.push(f.ts_us);
            true
        };
        let mut c = ClockCheck::default();
        for &t in times {
            let bytes = t.to_le_bytes();
            assert!(c.push(
                Frame {
                    ts_us: t,
                    linktype: 1,
                    data: &bytes,
                },
                &mut on_frame,
            ));
        }
        let mut stats = CaptureStats::default();
        c.finish(&mut stats, &mut on_frame);
        (out, stats)
    }

    #[test]
    fn frames_in_time_order_all_go_on_even_across_pauses() {
        let times = [
            T0,
            T0 + 1,
            T0 + 1,
            T0 + 86_400_000_000,
            T0 + 86_400_000_001,
            T0 + 2 * JUMP_US,
        ];
        let (out, stats) = check(&times);
        assert_eq!(out, times);
        assert_eq!(stats.packets, 0);
        // A slightly unsorted capture (several NIC queues) too.
        let times = [T0 + 5, T0 + 1, T0 + 9, T0 + 7];
        assert_eq!(check(&times).0, times);
    }

    #[test]
    fn an_isolated_jump_is_taken_out_and_counted() {
        let spike = T0 + 10 * 365 * 86_400_000_000;
        let (out, stats) = check(&[T0, T0 + 1, spike, T0 + 2, T0 + 3]);
        assert_eq!(out, [T0, T0 + 1, T0 + 2, T0 + 3]);
        assert_eq!(stats.packets, 1);
        assert_eq!(stats.skipped.get(skip::JUMP), Some(&1));
        // Just within the bound it stays.
        let (out, _) = check(&[T0, T0 + JUMP_US, T0 + 1]);
        assert_eq!(out, [T0, T0 + JUMP_US, T0 + 1]);
        // A first frame far ahead of the second and the third; and of the
        // only other one.
        let (out, stats) = check(&[spike, T0, T0 + 1]);
        assert_eq!(out, [T0, T0 + 1]);
        assert_eq!(stats.skipped.get(skip::JUMP), Some(&1));
        assert_eq!(check(&[spike, T0]).0, [T0]);
        // A second frame far behind the first and the third: the first is
        // right, the glitch backwards goes on and holds nothing up.
        let (out, stats) = check(&[T0, 0, T0 + 1, T0 + 2]);
        assert_eq!(out, [T0, 0, T0 + 1, T0 + 2]);
        assert_eq!(stats.packets, 0);
        // The last frame has nothing after it to contradict it.
        assert_eq!(check(&[T0, spike]).0, [T0, spike]);
    }

    #[test]
    fn timestamps_no_record_can_carry_are_counted() {
        let (out, stats) = check(&[T0, LATEST_US + 1, EARLIEST_US - 1, i64::MAX, T0 + 1]);
        assert_eq!(out, [T0, T0 + 1]);
        assert_eq!(stats.packets, 3);
        assert_eq!(stats.skipped.get(skip::OUT_OF_RANGE), Some(&3));
    }

    #[test]
    fn a_stop_is_kept() {
        let mut seen = Vec::new();
        let mut on_frame = |f: Frame<'_>| {
            seen.push(f.ts_us);
            false
        };
        let mut c = ClockCheck::default();
        let one = [0u8];
        assert!(c.push(
            Frame {
                ts_us: T0,
                linktype: 1,
                data: &one
            },
            &mut on_frame
        ));
        assert!(!c.push(
            Frame {
                ts_us: T0 + 1,
                linktype: 1,
                data: &one
            },
            &mut on_frame
        ));
        c.finish(&mut CaptureStats::default(), &mut on_frame);
        assert_eq!(seen, [T0]);
    }
}
