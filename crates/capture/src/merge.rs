//! Files read in time order: one after another where their times follow each
//! other (rotated captures), merged frame by frame by timestamp where they
//! overlap (captures of the same minutes from several links, where
//! asymmetric routing puts a connection's two directions in different
//! files).
//!
//! The file being read is pushed frame by frame on the calling thread, as
//! before; a file whose first packet comes before that file ends is read on
//! a thread of its own into bounded batches of copied frames, and its frames
//! are handed on between the first file's, in time order (ties: the file
//! sorted first). Rotated files never take the copying path.

use crate::reader::{self, Frame};
use crate::stats::CaptureStats;
use op25b_core::InputError;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::{Scope, ScopedJoinHandle};

/// Frames per batch handed over from a merged file's thread, and bytes:
/// with one batch in the channel, one being filled and one being merged, a
/// merged file holds at most ~768 KiB, so even hundreds of captures of the
/// same hour stay within a few hundred MiB.
const BATCH_FRAMES: usize = 1024;
const BATCH_BYTES: usize = 256 << 10;

/// Frames copied out of a reader's buffer.
#[derive(Default)]
struct FrameBatch {
    /// (timestamp µs, link type, offset in `data`, length)
    frames: Vec<(i64, u32, usize, usize)>,
    data: Vec<u8>,
}

/// A file read on its own thread, merged in by timestamp.
struct MergedFile<'s> {
    /// Its place among the files sorted by first packet: breaks ties.
    order: usize,
    batches: Receiver<FrameBatch>,
    batch: FrameBatch,
    at: usize,
    reading: ScopedJoinHandle<'s, (CaptureStats, Result<(), InputError>)>,
}

impl MergedFile<'_> {
    /// The time of its next frame, `None` once the file is over.
    fn head(&mut self) -> Option<i64> {
        loop {
            if let Some(f) = self.batch.frames.get(self.at) {
                return Some(f.0);
            }
            self.batch = self.batches.recv().ok()?;
            self.at = 0;
        }
    }
}

/// Starts reading `path` on a thread of its own, counted in `stats` as a
/// file read and merged. A thread the system cannot start (hundreds of
/// captures of the same minutes under a low process limit) is an error
/// naming the file.
fn spawn_merged<'s, 'e>(
    scope: &'s Scope<'s, 'e>,
    order: usize,
    path: &'e Path,
    bytes_read: &'e Arc<AtomicU64>,
    stats: &mut CaptureStats,
) -> Result<MergedFile<'s>, InputError> {
    stats.files += 1;
    stats.merged_by_time.push(path.to_path_buf());
    let (tx, rx) = sync_channel::<FrameBatch>(1);
    let thread = std::thread::Builder::new().name("merge".into());
    let reading = thread.spawn_scoped(scope, move || {
        let mut stats = CaptureStats::default();
        let mut batch = FrameBatch::default();
        let result = reader::read_file(path, &mut stats, bytes_read, false, &mut |f| {
            let at = batch.data.len();
            batch.data.extend_from_slice(f.data);
            batch.frames.push((f.ts_us, f.linktype, at, f.data.len()));
            if batch.frames.len() >= BATCH_FRAMES || batch.data.len() >= BATCH_BYTES {
                // A closed channel: the merge stopped (an error elsewhere).
                tx.send(std::mem::take(&mut batch)).is_ok()
            } else {
                true
            }
        });
        if !batch.frames.is_empty() {
            let _ = tx.send(batch);
        }
        (stats, result)
    });
    let reading = reading.map_err(|e| InputError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(e.kind(), format!("no thread to merge it in: {e}")),
    })?;
    Ok(MergedFile {
        order,
        batches: rx,
        batch: FrameBatch::default(),
        at: 0,
        reading,
    })
}

/// Reads `files` (with the timestamp of their first packet, sorted by it) and
/// hands every frame to `on_frame` in time order as described above. Counts
/// go to `stats`: files, per-file damage, and the files that were merged.
pub(crate) fn read_in_time_order(
    files: &[(i64, PathBuf)],
    stats: &mut CaptureStats,
    bytes_read: &Arc<AtomicU64>,
    decompress_thread: bool,
    on_frame: &mut dyn FnMut(Frame<'_>),
) -> Result<(), InputError> {
    std::thread::scope(|scope| {
        let mut merged: Vec<MergedFile<'_>> = Vec::new();
        let mut next = 0;
        while next < files.len() || !merged.is_empty() {
            if merged.is_empty() {
                let (_, path) = &files[next];
                next += 1;
                stats.files += 1;
                let mut file_stats = CaptureStats::default();
                let mut failed = None;
                let result = reader::read_file(
                    path,
                    &mut file_stats,
                    bytes_read,
                    decompress_thread,
                    &mut |f| {
                        // Files starting before this frame join the merge.
                        while let Some((_, p)) = files.get(next).filter(|(t, _)| *t <= f.ts_us) {
                            match spawn_merged(scope, next, p, bytes_read, stats) {
                                Ok(m) => merged.push(m),
                                Err(e) => {
                                    failed = Some(e);
                                    return false;
                                }
                            }
                            next += 1;
                        }
                        match hand_on(&mut merged, stats, on_frame, Some(f.ts_us)) {
                            Ok(()) => {
                                on_frame(f);
                                true
                            }
                            Err(e) => {
                                failed = Some(e);
                                false
                            }
                        }
                    },
                );
                stats.merge(&file_stats);
                result?;
                if let Some(e) = failed {
                    return Err(e);
                }
            } else {
                // Only merged files left: their frames up to where the next
                // file starts; if one of them goes on past that, the next
                // file joins the merge.
                let until = files.get(next).map(|(t, _)| *t);
                hand_on(&mut merged, stats, on_frame, until)?;
                if !merged.is_empty()
                    && let Some((_, p)) = files.get(next)
                {
                    merged.push(spawn_merged(scope, next, p, bytes_read, stats)?);
                    next += 1;
                }
            }
        }
        Ok(())
    })
}

/// Hands on, in time order, the merged files' frames before `until` (all
/// of them when `None`); a file that is over leaves the merge, its counts
/// into `stats` and its error, if any, returned.
fn hand_on(
    merged: &mut Vec<MergedFile<'_>>,
    stats: &mut CaptureStats,
    on_frame: &mut dyn FnMut(Frame<'_>),
    until: Option<i64>,
) -> Result<(), InputError> {
    loop {
        let mut k = 0;
        while k < merged.len() {
            if merged[k].head().is_some() {
                k += 1;
                continue;
            }
            let done = merged.swap_remove(k);
            drop(done.batches);
            let (file_stats, result) = done
                .reading
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            stats.merge(&file_stats);
            result?;
        }
        let Some((ts, _, i)) = merged
            .iter_mut()
            .enumerate()
            .filter_map(|(i, m)| m.head().map(|ts| (ts, m.order, i)))
            .min()
        else {
            return Ok(());
        };
        if until.is_some_and(|u| ts >= u) {
            return Ok(());
        }
        let Some(m) = merged.get_mut(i) else {
            return Ok(());
        };
        let Some(&(ts_us, linktype, at, len)) = m.batch.frames.get(m.at) else {
            return Ok(());
        };
        m.at += 1;
        let data = m.batch.data.get(at..at + len).unwrap_or(&[]);
        on_frame(Frame {
            ts_us,
            linktype,
            data,
        });
    }
}
