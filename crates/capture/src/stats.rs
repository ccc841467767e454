//! What an ingest saw, used and left out, by reason: nothing is dropped
//! without a count here.
//!
//! Invariant: `packets == packets_used + sum(skipped)`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Recoverable damage in one file (reading went on, or the file ended there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDamage {
    pub path: PathBuf,
    /// Byte offset in the capture stream (decompressed for compressed files).
    pub offset: u64,
    pub what: String,
}

impl fmt::Display for FileDamage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: at byte offset {}: {}",
            self.path.display(),
            self.offset,
            self.what
        )
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    pub files: u64,
    /// Bytes read from disk (compressed bytes for compressed files).
    pub bytes_read: u64,
    /// Frames read.
    pub packets: u64,
    /// Frames that went into a session or were handed on as a flow datagram.
    pub packets_used: u64,
    /// Of `packets_used`: UDP datagrams handed to `on_datagram`.
    pub datagrams: u64,
    /// Frames not used, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Session records emitted, by outcome.
    pub sessions: BTreeMap<&'static str, u64>,
    /// Why sessions left the table: `closed` (FIN/RST and a short linger),
    /// `idle`, `table_full`, `reused` (a new SYN on the same ports),
    /// `end_of_input`.
    pub evictions: BTreeMap<&'static str, u64>,
    /// Sessions whose byte stream had a hole.
    pub sessions_with_gaps: u64,
    /// SMTP lines longer than the line bound, cut.
    pub smtp_long_lines: u64,
    /// Server replies that answered no command (greetings excluded).
    pub smtp_unmatched_replies: u64,
    /// Server lines without a reply code.
    pub smtp_bad_lines: u64,
    /// Multi-line replies closed by the client's next command, their last
    /// line never seen.
    pub smtp_unterminated_replies: u64,
    /// Server lines read after a hole in the server's stream because they
    /// begin as a reply line (the hole ended at a line end).
    pub smtp_resynced_after_gap: u64,
    /// Server lines dropped after such a hole: the tail of a line it cut.
    pub smtp_gap_tails_dropped: u64,
    /// Lines a hole cut, read for the reply code or the verb they began with.
    pub smtp_cut_lines_read: u64,
    /// Commands whose replies were taken as lost in such a hole.
    pub smtp_replies_lost_in_gap: u64,
    /// Out-of-order TCP segments dropped past the reassembly bound.
    pub segments_dropped: u64,
    /// Times a connection stopped waiting for the holes before its buffered
    /// out-of-order bytes because the table's budget for them was spent: the
    /// holes became gaps, the buffered bytes went on. Each such session is
    /// among `sessions_with_gaps`.
    pub reorder_budget_flushes: u64,
    /// Recoverable damage, per file.
    pub damage: Vec<FileDamage>,
    /// Files whose first packet came before the files read before them
    /// ended (captures of the same time from several links): merged with
    /// them frame by frame by timestamp.
    pub merged_by_time: Vec<PathBuf>,
}

impl CaptureStats {
    pub fn skip(&mut self, reason: &'static str) {
        *self.skipped.entry(reason).or_insert(0) += 1;
    }

    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    pub fn sessions_total(&self) -> u64 {
        self.sessions.values().sum()
    }

    pub(crate) fn add_damage(&mut self, path: &Path, offset: u64, what: impl Into<String>) {
        self.damage.push(FileDamage {
            path: path.to_path_buf(),
            offset,
            what: what.into(),
        });
    }

    /// Adds another run's (or another worker's) counts to these.
    pub fn merge(&mut self, other: &CaptureStats) {
        self.files += other.files;
        self.bytes_read += other.bytes_read;
        self.packets += other.packets;
        self.packets_used += other.packets_used;
        self.datagrams += other.datagrams;
        for (k, v) in &other.skipped {
            *self.skipped.entry(k).or_insert(0) += v;
        }
        for (k, v) in &other.sessions {
            *self.sessions.entry(k).or_insert(0) += v;
        }
        for (k, v) in &other.evictions {
            *self.evictions.entry(k).or_insert(0) += v;
        }
        self.sessions_with_gaps += other.sessions_with_gaps;
        self.smtp_long_lines += other.smtp_long_lines;
        self.smtp_unmatched_replies += other.smtp_unmatched_replies;
        self.smtp_bad_lines += other.smtp_bad_lines;
        self.smtp_unterminated_replies += other.smtp_unterminated_replies;
        self.smtp_resynced_after_gap += other.smtp_resynced_after_gap;
        self.smtp_gap_tails_dropped += other.smtp_gap_tails_dropped;
        self.smtp_cut_lines_read += other.smtp_cut_lines_read;
        self.smtp_replies_lost_in_gap += other.smtp_replies_lost_in_gap;
        self.segments_dropped += other.segments_dropped;
        self.reorder_budget_flushes += other.reorder_budget_flushes;
        self.damage.extend(other.damage.iter().cloned());
        self.merged_by_time
            .extend(other.merged_by_time.iter().cloned());
    }
}

fn list(f: &mut fmt::Formatter<'_>, map: &BTreeMap<&'static str, u64>) -> fmt::Result {
    if map.is_empty() {
        return write!(f, " none");
    }
    for (k, v) in map {
        write!(f, " {k}={v}")?;
    }
    Ok(())
}

impl fmt::Display for CaptureStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "capture: {} file(s), {} bytes read, {} packets, {} used ({} flow datagrams), {} skipped",
            self.files,
            self.bytes_read,
            self.packets,
            self.packets_used,
            self.datagrams,
            self.skipped_total()
        )?;
        write!(f, "  skipped:")?;
        list(f, &self.skipped)?;
        writeln!(f)?;
        write!(f, "  sessions: {} total;", self.sessions_total())?;
        list(f, &self.sessions)?;
        writeln!(f, "; with gaps={}", self.sessions_with_gaps)?;
        write!(f, "  evictions:")?;
        list(f, &self.evictions)?;
        writeln!(f)?;
        writeln!(
            f,
            "  smtp: long_lines={} unmatched_replies={} bad_lines={} unterminated_replies={}; \
             after server gaps: lines read={} tails dropped={} cut lines read={} replies lost={}; \
             out-of-order segments dropped={}, waits given up for the reorder budget={}",
            self.smtp_long_lines,
            self.smtp_unmatched_replies,
            self.smtp_bad_lines,
            self.smtp_unterminated_replies,
            self.smtp_resynced_after_gap,
            self.smtp_gap_tails_dropped,
            self.smtp_cut_lines_read,
            self.smtp_replies_lost_in_gap,
            self.segments_dropped,
            self.reorder_budget_flushes
        )?;
        for d in &self.damage {
            writeln!(f, "  damage: {d}")?;
        }
        if !self.merged_by_time.is_empty() {
            // One line, however many links were captured.
            const SHOWN: usize = 5;
            let names: Vec<String> = self
                .merged_by_time
                .iter()
                .take(SHOWN)
                .map(|p| p.display().to_string())
                .collect();
            let more = self.merged_by_time.len().saturating_sub(SHOWN);
            writeln!(
                f,
                "  merged by timestamp with the files before them (their times overlap): {} file(s): {}{}",
                self.merged_by_time.len(),
                names.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            )?;
        }
        Ok(())
    }
}
