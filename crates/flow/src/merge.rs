//! nfdump CSV files read as one stream of flows in time order.
//!
//! An ISP's flows come as one file per router and period (nfcapd rotates
//! every five minutes). Read one after another, the files of two routers
//! covering the same hour hand the pairer all of one router's hour before
//! the other's: a connection whose directions were metered by different
//! routers (asymmetric routing), or whose packets both metered, would have
//! been emitted long before its other half came, and counted twice.
//!
//! So the files are ordered by their first flow's end, and a file is started
//! before any flow later than its first is handed on; the files being read
//! at once (those whose times overlap) are merged flow by flow by the latest
//! flow end each has shown so far (ties: the file ordered first). Rotated
//! files of one router follow each other and are read one at a time. Each
//! file being read has a thread of its own that hands over bounded batches,
//! so memory grows with the files of one moment, not with their length.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::{Scope, ScopedJoinHandle};

use op25b_core::InputError;

use crate::FlowRecord;
use crate::nfdump::{NfdumpStats, first_flow_end, read_csv};

/// Flows per batch handed over from a file's thread (about 400 KiB); with
/// one in the channel, one being filled and one being merged, a file being
/// read holds about 1.2 MiB.
const BATCH: usize = 4096;

/// A file being read on its own thread.
struct Lane<'s> {
    /// Its place in the order of first flows: breaks ties.
    order: usize,
    batches: Receiver<Vec<FlowRecord>>,
    batch: VecDeque<FlowRecord>,
    /// The latest flow end handed on from it: its flows are merged by this,
    /// which never goes back, whatever order the file keeps.
    latest: i64,
    /// Read while another file was.
    merged: bool,
    reading: ScopedJoinHandle<'s, Result<NfdumpStats, InputError>>,
}

impl Lane<'_> {
    /// The merge key of its next flow; `None` once the file is over.
    fn head(&mut self) -> Option<i64> {
        loop {
            if let Some(f) = self.batch.front() {
                return Some(self.latest.max(f.end_us.max(f.start_us)));
            }
            self.batch = self.batches.recv().ok()?.into();
        }
    }
}

fn start<'s>(scope: &'s Scope<'s, '_>, order: usize, path: &'s Path) -> Lane<'s> {
    let (tx, rx) = sync_channel::<Vec<FlowRecord>>(1);
    let reading = scope.spawn(move || {
        let mut batch = Vec::with_capacity(BATCH);
        let stats = read_csv(path, &mut |r| {
            batch.push(r);
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
    Lane {
        order,
        batches: rx,
        batch: VecDeque::new(),
        latest: i64::MIN,
        merged: false,
        reading,
    }
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
    let mut files: Vec<(i64, usize, &Path)> = Vec::with_capacity(paths.len());
    for (i, path) in paths.iter().enumerate() {
        // A file without flows goes first: it only adds its counts.
        let first = first_flow_end(path)?.unwrap_or(i64::MIN);
        files.push((first, i, path.as_path()));
    }
    files.sort();
    // Ties go to the file whose first flow came first.
    let mut waiting: VecDeque<(i64, usize, &Path)> = files
        .into_iter()
        .enumerate()
        .map(|(place, (first, _, path))| (first, place, path))
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
            if let Some(&(first, order, path)) = waiting.front()
                && next.is_none_or(|(key, _, _)| first <= key)
            {
                waiting.pop_front();
                let mut lane = start(scope, order, path);
                if !lanes.is_empty() {
                    lane.merged = true;
                    for other in &mut lanes {
                        other.merged = true;
                    }
                }
                lanes.push(lane);
                continue;
            }
            let Some((key, _, at)) = next else {
                return Ok(());
            };
            let Some(lane) = lanes.get_mut(at) else {
                return Ok(());
            };
            if let Some(flow) = lane.batch.pop_front() {
                lane.latest = key;
                out(flow);
            }
        }
    })?;
    Ok(total)
}
