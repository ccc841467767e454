//! nfdump CSV files read as one stream of flows in time order.
//!
//! An ISP's flows come as one file per router and period (nfcapd rotates
//! every five minutes). Read one after another, the files of two routers
//! covering the same hour hand the pairer all of one router's hour before
//! the other's: a connection whose directions were metered by different
//! routers (asymmetric routing), or whose packets both metered, would have
//! been emitted long before its other half came, and counted twice.
//!
//! So the files are ordered by where they begin (the earliest end among
//! their first flows within a day of those flows' median), and a file is started before any flow later than that is
//! handed on; the files being read at once (those whose times overlap,
//! rotated files of one router too where a flow of the next period ended
//! before the last of the one before) are merged flow by flow by the latest
//! merge time each has shown so far (ties: the file that begins first): the
//! time the collector received the flow (nfdump's `tr`, one clock for all
//! routers) where the file's receive times follow its flows, else its end
//! (see `HeadOfFile` in nfdump.rs). That
//! key never goes back, and one flow more than a day ahead of it (a damaged
//! time; the pairer drops it) does not move it: only a second such flow
//! near the first confirms the file went on that far. Each file being read
//! has a thread of its own that hands over bounded batches, so memory grows
//! with the files of one moment (about 400 KiB each), not with their length.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::{Scope, ScopedJoinHandle};

use op25b_core::InputError;

use crate::FlowRecord;
use crate::nfdump::{NfdumpStats, head_of_file, merge_time, read_csv};
// How far one flow may be ahead of its file's merge key before a second
// flow must confirm the jump: the pairer's bound for an exporter's flows.
use crate::pair::{EXPORTER_JUMP_US as JUMP_US, flow_end};

/// Flows per batch handed over from a file's thread (about 130 KiB); with
/// one in the channel, one being filled and one being merged, a file being
/// read holds about 400 KiB.
const BATCH: usize = 1024;

/// The merge key after a flow merged at `end`, from the key before
/// (`latest`), where the file begins and a flow held as a possible jump
/// (`ahead`).
fn advance(latest: i64, begins: i64, ahead: Option<i64>, end: i64) -> (i64, Option<i64>) {
    if end <= latest.max(begins).saturating_add(JUMP_US) {
        return (latest.max(end), None);
    }
    match ahead {
        // A second flow near the first: the file did go on that far.
        Some(before) if end.abs_diff(before) <= JUMP_US.unsigned_abs() => {
            (latest.max(before.min(end)), None)
        }
        _ => (latest, Some(end)),
    }
}

/// A file being read on its own thread.
struct Lane<'s> {
    /// Its place in the order of first flows: breaks ties.
    order: usize,
    /// Flows with the time each is merged by.
    batches: Receiver<Vec<(i64, FlowRecord)>>,
    batch: VecDeque<(i64, FlowRecord)>,
    /// The merge key: the latest merge time handed on from it (see
    /// [`advance`]), which never goes back whatever order the file keeps.
    latest: i64,
    /// Where the file begins (`HeadOfFile::begins`).
    begins: i64,
    /// A flow more than a day ahead of `latest`, waiting for a second.
    ahead: Option<i64>,
    /// Read while another file was.
    merged: bool,
    reading: ScopedJoinHandle<'s, Result<NfdumpStats, InputError>>,
}

impl Lane<'_> {
    /// The merge key of its next flow; `None` once the file is over.
    fn head(&mut self) -> Option<i64> {
        loop {
            if let Some(&(at, _)) = self.batch.front() {
                return Some(advance(self.latest, self.begins, self.ahead, at).0);
            }
            self.batch = self.batches.recv().ok()?.into();
        }
    }

    /// Its next flow, the key moved on.
    fn pop(&mut self) -> Option<FlowRecord> {
        let (at, f) = self.batch.pop_front()?;
        (self.latest, self.ahead) = advance(self.latest, self.begins, self.ahead, at);
        Some(f)
    }
}

fn start<'s>(
    scope: &'s Scope<'s, '_>,
    order: usize,
    begins: i64,
    use_received: bool,
    path: &'s Path,
) -> Result<Lane<'s>, InputError> {
    let (tx, rx) = sync_channel::<Vec<(i64, FlowRecord)>>(1);
    let reading = std::thread::Builder::new().spawn_scoped(scope, move || {
        let mut batch = Vec::with_capacity(BATCH);
        let stats = read_csv(path, &mut |r, received| {
            batch.push((merge_time(flow_end(&r), received, use_received), r));
            if batch.len() < BATCH {
                return ControlFlow::Continue(());
            }
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            // The merge stopped (another file failed): stop reading.
            match tx.send(full) {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            }
        })?;
        if !batch.is_empty() {
            // A closed merge has stopped for an error of its own.
            let _ = tx.send(batch);
        }
        Ok(stats)
    });
    // Threads are what the system allows: past that, an error, not a panic.
    let reading = reading.map_err(|source| InputError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Lane {
        order,
        batches: rx,
        batch: VecDeque::new(),
        latest: i64::MIN,
        begins,
        ahead: None,
        merged: false,
        reading,
    })
}

fn add(into: &mut NfdumpStats, from: &NfdumpStats) {
    into.lines += from.lines;
    into.records += from.records;
    into.skipped_lines += from.skipped_lines;
    into.bad_lines += from.bad_lines;
    into.end_before_start += from.end_before_start;
    into.files_merged += from.files_merged;
}

/// Reads nfdump CSV files as one stream in time order (see the module doc),
/// handing each flow to `out`; the files' counts are added up. The first
/// error of any file (I/O, not text, an over-long line) stops the stream.
pub fn read_nfdump_csvs(
    paths: &[PathBuf],
    out: &mut dyn FnMut(FlowRecord),
) -> Result<NfdumpStats, InputError> {
    let mut files: Vec<(i64, usize, bool, &Path)> = Vec::with_capacity(paths.len());
    for (i, path) in paths.iter().enumerate() {
        let head = head_of_file(path)?;
        // A file without flows goes first: it only adds its counts.
        let first = head.begins.unwrap_or(i64::MIN);
        files.push((first, i, head.received_usable, path.as_path()));
    }
    files.sort();
    // Ties go to the file that begins first.
    let mut waiting: VecDeque<(i64, usize, bool, &Path)> = files
        .into_iter()
        .enumerate()
        .map(|(place, (first, _, received, path))| (first, place, received, path))
        .collect();
    let mut total = NfdumpStats::default();
    std::thread::scope(|scope| {
        let mut lanes: Vec<Lane<'_>> = Vec::new();
        loop {
            // The lane whose next flow comes first; finished lanes leave.
            let mut next: Option<(i64, usize, usize)> = None;
            let mut at = 0;
            while let Some(lane) = lanes.get_mut(at) {
                match lane.head() {
                    Some(key) => {
                        if next.is_none_or(|(k, o, _)| (key, lane.order) < (k, o)) {
                            next = Some((key, lane.order, at));
                        }
                        at += 1;
                    }
                    None => {
                        let lane = lanes.swap_remove(at);
                        let merged = lane.merged;
                        let mut stats = lane.reading.join().unwrap_or_else(|panic| {
                            std::panic::resume_unwind(panic);
                        })?;
                        stats.files_merged = u64::from(merged);
                        add(&mut total, &stats);
                        // Positions changed: look again.
                        next = None;
                        at = 0;
                    }
                }
            }
            // A file starts before any flow later than its first goes on.
            if let Some(&(first, order, received, path)) = waiting.front()
                && next.is_none_or(|(key, _, _)| first <= key)
            {
                waiting.pop_front();
                let mut lane = start(scope, order, first, received, path)?;
                if !lanes.is_empty() {
                    lane.merged = true;
                    for other in &mut lanes {
                        other.merged = true;
                    }
                }
                lanes.push(lane);
                continue;
            }
            let Some((_, _, at)) = next else {
                return Ok(());
            };
            let Some(lane) = lanes.get_mut(at) else {
                return Ok(());
            };
            if let Some(flow) = lane.pop() {
                out(flow);
            }
        }
    })?;
    Ok(total)
}
