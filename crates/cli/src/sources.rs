//! Inputs to session records: expands directories, tells each file's format
//! from its content (never its name) and runs the matching source.
//!
//! Packet captures all go through one capture ingest, so that rotated files
//! join into one time-ordered stream; flow-export datagrams found inside them
//! go to one flow decoder shared with raw datagram files, so templates carry
//! across files from the same exporter.

use anyhow::{Context, Result, bail};
use op25b_capture::{CaptureOptions, CaptureStats, DETECT_HEAD, Datagram};
use op25b_core::SessionRecord;
use op25b_flow::{
    DecoderOptions, FlowDecoder, FlowFileKind, FlowRecord, NfdumpStats, PairerOptions,
    SessionPairer,
};
use op25b_store::StoredFormat;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// What the CLI's input options say.
#[derive(Clone, Debug)]
pub struct SourceOptions {
    pub smtp_ports: Vec<u16>,
    /// UDP ports whose payloads in captures are flow exports.
    pub netflow_ports: Vec<u16>,
    pub threads: usize,
    pub progress: bool,
    /// A file left out where a directory walk finds it: the output being
    /// written (ingest into the directory it reads), by its real path.
    pub exclude: Option<PathBuf>,
}

/// The kind of one input file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum InputKind {
    Capture,
    FlowDatagrams,
    NfdumpCsv,
    Stored,
}

impl InputKind {
    fn name(self) -> &'static str {
        match self {
            InputKind::Capture => "packet capture",
            InputKind::FlowDatagrams => "raw NetFlow/IPFIX datagrams",
            InputKind::NfdumpCsv => "nfdump CSV",
            InputKind::Stored => "op25b sessions (Parquet/CSV)",
        }
    }
}

/// Everything the sources counted, for the summary on stderr.
#[derive(Debug, Default)]
pub struct SourceSummary {
    pub files: BTreeMap<&'static str, u64>,
    pub empty_files: Vec<PathBuf>,
    /// Files found in a directory whose format is none op25b reads.
    pub unrecognised_files: Vec<PathBuf>,
    /// This run's own output, found in an input directory and not read.
    pub output_left_out: Option<PathBuf>,
    /// Named more than once: read once.
    pub repeated_files: Vec<PathBuf>,
    /// Raw datagram files (an earlier one, a later one) where the later
    /// one's flows go back past the pairing window into the earlier one's.
    pub raw_files_overlapping: Vec<(PathBuf, PathBuf)>,
    pub capture: Option<CaptureStats>,
    pub flow_datagrams: u64,
    pub flow_records: u64,
    pub flow_decoder: Option<op25b_flow::FlowStats>,
    pub pairer: Option<op25b_flow::PairerStats>,
    pub nfdump: NfdumpStats,
    pub stored_rows: u64,
    pub records: u64,
    pub by_source: BTreeMap<&'static str, u64>,
    pub by_outcome: BTreeMap<&'static str, u64>,
}

impl SourceSummary {
    /// What was read and what was not, by name (a report's
    /// `input_accounting`): the counts the summary above prints.
    pub fn accounting(&self, input: &str) -> op25b_report::InputAccounting {
        let mut counts = BTreeMap::new();
        counts.insert("session_records".to_string(), self.records);
        let mut put = |name: String, n: u64| {
            if n > 0 {
                counts.insert(name, n);
            }
        };
        if let Some(c) = &self.capture {
            put("packets".into(), c.packets);
            put("packets_used".into(), c.packets_used);
            for (reason, n) in &c.skipped {
                put(format!("packets_not_used_{reason}"), *n);
            }
        }
        put("flow_export_datagrams".into(), self.flow_datagrams);
        put("flow_records".into(), self.flow_records);
        if let Some(p) = &self.pairer {
            put("flows_not_tcp".into(), p.non_tcp);
            put("flows_tcp_without_smtp_port".into(), p.not_smtp);
            put(
                "flows_dropped_out_of_range_times".into(),
                p.out_of_range_times,
            );
            put("flows_dropped_time_jumps".into(), p.time_jumps);
        }
        if let Some(d) = &self.flow_decoder {
            put(
                "flow_exports_malformed".into(),
                d.malformed.total() + d.unknown_version,
            );
            put("flow_data_sets_undecodable".into(), d.undecodable_sets());
            put("flows_lost_before_reading_v5".into(), d.lost_v5_flows);
            put(
                "datagrams_lost_before_reading_v9".into(),
                d.lost_v9_datagrams,
            );
            put(
                "records_lost_before_reading_ipfix".into(),
                d.lost_ipfix_records,
            );
        }
        put("nfdump_records".into(), self.nfdump.records);
        put("nfdump_bad_lines".into(), self.nfdump.bad_lines);
        put("stored_rows".into(), self.stored_rows);
        let damage = self.capture_damage();
        put("damaged_places".into(), damage.len() as u64);
        op25b_report::InputAccounting {
            input: input.to_string(),
            counts,
            damage,
        }
    }

    /// Each damaged place the capture reader found: file and byte offset.
    fn capture_damage(&self) -> Vec<String> {
        self.capture
            .iter()
            .flat_map(|c| c.damage.iter().map(|d| d.to_string()))
            .collect()
    }

    /// What a user must know about how the inputs were read (what `-q`
    /// still prints): the files of a directory that were not read, and raw
    /// datagram files of the same time read one after another.
    pub fn notes(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.unrecognised_files.is_empty() {
            out.push(format!(
                "skipped {} file(s) in the input directories that are not captures, flow exports or \
                 session files: {}",
                self.unrecognised_files.len(),
                show_paths(&self.unrecognised_files)
            ));
        }
        for (earlier, later) in &self.raw_files_overlapping {
            out.push(format!(
                "raw datagram files {} and {} cover the same time: read one after the other, a \
                 connection whose flows are in both is joined only within the 5-minute pairing \
                 window, and their exporters are unknown (0.0.0.0): give such exports as captures \
                 of the datagrams (merged by time, exporters kept) or as nfdump CSV",
                earlier.display(),
                later.display()
            ));
        }
        out
    }

    /// Damage the inputs held (what `-q` still prints): each damaged place
    /// a capture reader found, and the counts of flow exports and nfdump
    /// lines that could not be read. Empty for clean input.
    pub fn damage(&self) -> Vec<String> {
        let mut out = self.capture_damage();
        if let Some(d) = &self.flow_decoder {
            let malformed = d.malformed.total() + d.unknown_version;
            if malformed > 0 {
                out.push(format!(
                    "flow exports: {malformed} malformed or unknown datagrams or records skipped"
                ));
            }
            let lost = [
                (d.lost_v5_flows, "NetFlow v5 flows"),
                (d.lost_v9_datagrams, "NetFlow v9 datagrams"),
                (d.lost_ipfix_records, "IPFIX records"),
            ];
            for (n, what) in lost.iter().filter(|(n, _)| *n > 0) {
                out.push(format!(
                    "flow exports: the exporters' sequence numbers skip {n} {what}: lost before they \
                     were read (a full receive buffer, a capture that missed them)"
                ));
            }
            let undecodable = d.undecodable_sets();
            if undecodable > 0 {
                out.push(format!(
                    "flow exports: {undecodable} data sets never decodable (their template never came)"
                ));
            }
        }
        if self.nfdump.bad_lines > 0 {
            out.push(format!(
                "nfdump csv: {} unreadable lines skipped",
                self.nfdump.bad_lines
            ));
        }
        out
    }
}

impl fmt::Display for SourceSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files: Vec<String> = self.files.iter().map(|(k, v)| format!("{v} {k}")).collect();
        writeln!(f, "inputs: {}", files.join(", "))?;
        for p in &self.empty_files {
            writeln!(f, "  skipped empty file: {}", p.display())?;
        }
        for note in self.notes() {
            writeln!(f, "  {note}")?;
        }
        if let Some(p) = &self.output_left_out {
            writeln!(f, "  not read: {}, the output of this run", p.display())?;
        }
        for p in &self.repeated_files {
            writeln!(f, "  read once, named again: {}", p.display())?;
        }
        let stored = self.files.contains_key(InputKind::Stored.name());
        if stored && self.files.len() > 1 {
            writeln!(
                f,
                "  note: op25b session files and captures/flow exports together: where one was made \
                 from the other, that traffic is counted twice"
            )?;
        }
        if let Some(c) = &self.capture {
            write!(f, "{c}")?;
        }
        if self.flow_datagrams > 0 || self.flow_records > 0 {
            writeln!(
                f,
                "flows: {} export datagrams, {} flow records",
                self.flow_datagrams, self.flow_records
            )?;
            if let Some(d) = &self.flow_decoder {
                write!(f, "{d}")?;
            }
            if let Some(p) = &self.pairer {
                write!(f, "{p}")?;
            }
        }
        if self.nfdump.lines > 0 {
            write!(f, "{}", self.nfdump)?;
        }
        if self.stored_rows > 0 {
            writeln!(f, "stored session rows read: {}", self.stored_rows)?;
        }
        let by = |m: &BTreeMap<&'static str, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        writeln!(f, "session records: {}", self.records)?;
        writeln!(f, "  by source: {}", by(&self.by_source))?;
        writeln!(f, "  by outcome: {}", by(&self.by_outcome))
    }
}

/// Input files: directories expanded recursively (sorted, hidden files
/// skipped), each file once however often it was named (directly, through a
/// directory, through a link).
pub struct Expanded {
    pub files: Vec<PathBuf>,
    /// Of `files`, those found by walking a directory rather than named.
    pub walked: std::collections::HashSet<PathBuf>,
    /// Files (and directories) named again after their first time: read
    /// once, listed here so the summary can say so.
    pub repeated: Vec<PathBuf>,
}

pub fn expand_inputs(inputs: &[PathBuf]) -> Result<Expanded> {
    /// `walked`: directories already listed, by their real path, so that a
    /// link back up the tree (a loop) is not followed again.
    fn walk(
        dir: &Path,
        walked: &mut std::collections::HashSet<PathBuf>,
        out: &mut Vec<PathBuf>,
        repeated: &mut Vec<PathBuf>,
    ) -> Result<()> {
        if !walked.insert(std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())) {
            repeated.push(dir.to_path_buf());
            return Ok(());
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("{}: cannot list directory", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, walked, out, repeated)?;
            } else {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    let mut walked = std::collections::HashSet::new();
    // Directories named again (or reached again through a link): not walked twice.
    let mut repeated = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input)
            .with_context(|| format!("{}: cannot read", input.display()))?;
        if meta.is_dir() {
            walk(input, &mut walked, &mut out, &mut repeated)?;
        } else {
            out.push(input.clone());
        }
    }
    let named: std::collections::HashSet<&PathBuf> = inputs.iter().collect();
    let mut seen = std::collections::HashSet::new();
    let mut files = Vec::new();
    let mut walked_files = std::collections::HashSet::new();
    for p in out {
        let key = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
        if seen.insert(key) {
            if !named.contains(&p) {
                walked_files.insert(p.clone());
            }
            files.push(p);
        } else {
            repeated.push(p);
        }
    }
    Ok(Expanded {
        files,
        walked: walked_files,
        repeated,
    })
}

/// A compressed file's first block can be large (zstd: up to 128 KiB) before
/// it yields the capture header inside; this much is read to see it.
const COMPRESSED_HEAD: usize = 1 << 20;

fn read_head(path: &Path) -> Result<Vec<u8>> {
    let head = read_prefix(path, DETECT_HEAD)?;
    let compressed = head.starts_with(&[0x1f, 0x8b]) || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
    if compressed && head.len() == DETECT_HEAD && op25b_capture::detect(&head).is_none() {
        return read_prefix(path, COMPRESSED_HEAD);
    }
    Ok(head)
}

fn read_prefix(path: &Path, len: usize) -> Result<Vec<u8>> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    // Inputs are opened more than once (their first bytes tell the format,
    // nfdump files are merged by where they begin): from a pipe or a FIFO
    // the bytes read first would be lost, silently.
    if f.metadata().is_ok_and(|m| !m.file_type().is_file()) {
        bail!(
            "{}: at byte offset 0: not a regular file (a pipe, FIFO or device): op25b reads \
             each input more than once, so what it read first would be lost; write it to a \
             file first",
            path.display()
        );
    }
    let mut head = vec![0u8; len];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).with_context(|| format!("{}: cannot read", path.display())),
        }
    }
    head.truncate(n);
    Ok(head)
}

fn classify(head: &[u8]) -> Option<InputKind> {
    if op25b_capture::detect(head).is_some() {
        return Some(InputKind::Capture);
    }
    match op25b_store::detect(head) {
        Some(StoredFormat::Parquet | StoredFormat::Csv) => return Some(InputKind::Stored),
        None => {}
    }
    match op25b_flow::detect(head) {
        Some(FlowFileKind::RawDatagrams) => Some(InputKind::FlowDatagrams),
        Some(FlowFileKind::NfdumpCsv) => Some(InputKind::NfdumpCsv),
        None => None,
    }
}

fn count_record(summary: &mut SourceSummary, r: &SessionRecord) {
    summary.records += 1;
    *summary.by_source.entry(r.source.as_str()).or_default() += 1;
    *summary.by_outcome.entry(r.outcome.as_str()).or_default() += 1;
}

const UNRECOGNISED: &str = "unrecognised format (expected pcap, pcapng, gzip/zstd capture, \
     NetFlow/IPFIX datagrams, nfdump CSV, or op25b Parquet/CSV)";

/// Reads every input, handing each session record to `on_record`.
pub fn read_inputs(
    inputs: &[PathBuf],
    opts: &SourceOptions,
    on_record: &mut dyn FnMut(SessionRecord),
) -> Result<SourceSummary> {
    let Expanded {
        files,
        walked,
        repeated,
    } = expand_inputs(inputs)?;
    if files.is_empty() {
        bail!("no input files found in {}", show_paths(inputs));
    }
    let mut summary = SourceSummary {
        repeated_files: repeated,
        ..SourceSummary::default()
    };
    let mut by_kind: BTreeMap<InputKind, Vec<PathBuf>> = BTreeMap::new();
    for path in files {
        if walked.contains(&path)
            && opts.exclude.is_some()
            && std::fs::canonicalize(&path).ok() == opts.exclude
        {
            summary.output_left_out = Some(path);
            continue;
        }
        // A FIFO or device found in a directory is not read (opening a FIFO
        // would wait for a writer): skipped and listed like other files
        // that are not inputs.
        if walked.contains(&path) && std::fs::metadata(&path).is_ok_and(|m| !m.is_file()) {
            summary.unrecognised_files.push(path);
            continue;
        }
        let head = read_head(&path)?;
        if head.is_empty() {
            summary.empty_files.push(path);
            continue;
        }
        match classify(&head) {
            Some(kind) => by_kind.entry(kind).or_default().push(path),
            // A README or isp.toml beside the captures in a directory is
            // skipped and listed; a file named on its own must be readable.
            None if walked.contains(&path) => summary.unrecognised_files.push(path),
            None => bail!("{}: at byte offset 0: {UNRECOGNISED}", path.display()),
        }
    }
    if by_kind.is_empty() && !summary.unrecognised_files.is_empty() {
        bail!(
            "no input in {}: {} file(s) found, none of them a capture or flow export ({UNRECOGNISED}): {}",
            show_paths(inputs),
            summary.unrecognised_files.len(),
            show_paths(&summary.unrecognised_files)
        );
    }
    for (kind, paths) in &by_kind {
        summary.files.insert(kind.name(), paths.len() as u64);
    }

    let summary = RefCell::new(summary);
    let sink = RefCell::new(on_record);
    let emit = |r: SessionRecord| {
        count_record(&mut summary.borrow_mut(), &r);
        (sink.borrow_mut())(r);
    };
    let decoder = RefCell::new(FlowDecoder::new(DecoderOptions::default()));
    let pairer = RefCell::new(SessionPairer::new(
        &opts.smtp_ports,
        PairerOptions::default(),
    ));
    let flow_records = RefCell::new(0u64);
    let pair_flows = |flows: &mut Vec<FlowRecord>| {
        *flow_records.borrow_mut() += flows.len() as u64;
        let mut p = pairer.borrow_mut();
        for fr in flows.drain(..) {
            p.push(&fr, &mut |r| emit(r));
        }
    };

    if let Some(paths) = by_kind.get(&InputKind::Capture) {
        let progress = opts.progress.then(progress_bar);
        let copts = CaptureOptions {
            smtp_ports: opts.smtp_ports.clone(),
            datagram_ports: opts.netflow_ports.clone(),
            threads: opts.threads.max(1),
            progress: progress.clone(),
            ..CaptureOptions::default()
        };
        let mut flows = Vec::new();
        let stats =
            op25b_capture::ingest(paths, &copts, &mut |r| emit(r), &mut |d: Datagram<'_>| {
                summary.borrow_mut().flow_datagrams += 1;
                decoder
                    .borrow_mut()
                    .decode(d.src, d.ts_us, d.payload, &mut flows);
                pair_flows(&mut flows);
            })?;
        if let Some(pb) = progress {
            pb.finish_and_clear();
        }
        summary.borrow_mut().capture = Some(stats);
    }
    if let Some(paths) = by_kind.get(&InputKind::FlowDatagrams) {
        // Read one after another (their exporters are unknown, so they are
        // not merged like nfdump CSV files): said where one goes back in time
        // past the pairing window.
        let window = PairerOptions::default().window_us;
        let mut latest: Option<(i64, &PathBuf)> = None;
        for path in paths {
            let mut flows = Vec::new();
            let (mut first, mut last) = (i64::MAX, i64::MIN);
            op25b_flow::read_raw_datagrams(path, &mut decoder.borrow_mut(), &mut |f| {
                first = first.min(f.end_us);
                last = last.max(f.end_us);
                flows.push(f);
                if flows.len() >= 4096 {
                    pair_flows(&mut flows);
                }
            })?;
            pair_flows(&mut flows);
            if let Some((end, earlier)) = latest
                && first < end.saturating_sub(window)
            {
                summary
                    .borrow_mut()
                    .raw_files_overlapping
                    .push((earlier.clone(), path.clone()));
            }
            if latest.is_none_or(|(end, _)| last > end) {
                latest = Some((last, path));
            }
        }
    }
    {
        let mut flows = Vec::new();
        decoder.borrow_mut().finish(&mut flows);
        pair_flows(&mut flows);
    }
    if let Some(paths) = by_kind.get(&InputKind::NfdumpCsv) {
        // One stream in time order: one router's files must not all pass
        // before another's of the same hour.
        let mut flows = Vec::new();
        let stats = op25b_flow::read_nfdump_csvs(paths, &mut |f| {
            flows.push(f);
            if flows.len() >= 4096 {
                pair_flows(&mut flows);
            }
        })?;
        pair_flows(&mut flows);
        summary.borrow_mut().nfdump = stats;
    }
    pairer.borrow_mut().finish(&mut |r| emit(r));
    if let Some(paths) = by_kind.get(&InputKind::Stored) {
        for path in paths {
            let rows = op25b_store::read_sessions(path, &mut |r| emit(r))?;
            summary.borrow_mut().stored_rows += rows;
        }
    }
    let mut summary = summary.into_inner();
    summary.flow_records = flow_records.into_inner();
    let decoder = decoder.into_inner();
    let pairer = pairer.into_inner();
    if summary.flow_datagrams > 0
        || summary.flow_records > 0
        || by_kind.contains_key(&InputKind::FlowDatagrams)
    {
        summary.flow_decoder = Some(decoder.stats().clone());
        summary.pairer = Some(pairer.stats().clone());
    }
    Ok(summary)
}

fn show_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn progress_bar() -> indicatif::ProgressBar {
    // No length yet: the capture reader sets it to the files' total size
    // (a length of 0 would stay, and the bar show full from the start).
    let pb = indicatif::ProgressBar::no_length();
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} {bytes_per_sec} {wide_bar} {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    pb
}
