//! `op25b`: the command line. A thin layer: it parses arguments, runs the
//! sources (`sources`), hands records to the stage crates and maps errors to
//! exit codes (0 success, 1 failure, 2 usage).

mod collect;
mod sources;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use op25b_core::{IspConfig, SessionRecord};
use sources::{SourceOptions, read_inputs};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "op25b",
    version,
    about = "Find spam-sending zombie PCs in ISP traffic and measure outbound spam before and after Outbound Port 25 Blocking."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Captures and flow exports to SMTP session records (Parquet or CSV).
    Ingest {
        /// Files or directories (read recursively); formats are told from content.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Output: *.parquet writes Parquet, *.csv CSV, - CSV to stdout.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        #[command(flatten)]
        input: InputArgs,
    },
    /// Rank client hosts by how much they look like spam-sending zombies.
    Rank {
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Network description (isp.toml); without it, defaults are used and said.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Hosts to show (table) or write (csv/json); 0 = all.
        #[arg(long, default_value_t = 0)]
        top: usize,
        /// Output file; stdout when absent.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        /// csv (the hosts table of CONTRACT.md), json (JSON lines), table (for a terminal).
        #[arg(long, value_parser = ["csv", "json", "table"])]
        format: Option<String>,
        #[command(flatten)]
        input: InputArgs,
    },
    /// Outbound spam share before and after OP25B: JSON, CSV, charts, HTML.
    Report {
        /// Traffic before the block.
        #[arg(long, required = true, num_args = 1..)]
        before: Vec<PathBuf>,
        /// Traffic after the block; a host the block cuts off is judged on it too (collateral.csv),
        /// and the hosts the block stopped in it are listed (blocked-after.csv).
        #[arg(long, num_args = 1..)]
        after: Vec<PathBuf>,
        /// Network description (isp.toml); without it, defaults are used and said.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Report directory (created; files in it are overwritten).
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Chart size in pixels, WIDTHxHEIGHT (200 to 8000 each).
        #[arg(long, default_value = "1600x900", value_parser = parse_size)]
        size: (u32, u32),
        /// Also write SVG charts.
        #[arg(long)]
        svg: bool,
        /// Bootstrap resamples for the confidence intervals (0 to 100000; 0: no intervals).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(0..=100_000))]
        bootstrap: u32,
        /// Seed of the bootstrap.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The ISP mail servers' Postfix log (files or directories; plain,
        /// gzip or zstd; rotated files in any order) covering the inputs'
        /// spans: the relays' spam fraction is then counted from it.
        /// Classic timestamps are read on the clock `[relay_log] utc_offset`
        /// of isp.toml gives (UTC without it).
        #[arg(long = "relay-log", num_args = 1..)]
        relay_log: Vec<PathBuf>,
        #[command(flatten)]
        input: InputArgs,
    },
    /// Receive NetFlow/IPFIX exports live and write hourly Parquet session files until SIGINT/SIGTERM.
    Collect {
        /// UDP address to listen on, e.g. 0.0.0.0:2055.
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// Directory for sessions-YYYY-MM-DDTHH.parquet files.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// TCP ports that are SMTP (comma-separated).
        #[arg(long, value_delimiter = ',', default_values_t = op25b_core::DEFAULT_SMTP_PORTS.to_vec())]
        smtp_ports: Vec<u16>,
        /// No start line and no summary on stderr.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Make a simulated ISP's traffic before and after OP25B, with ground truth.
    Synth {
        /// The simulated ISP (an unknown name is a usage error).
        #[arg(long, default_value = "wakwak-2005", value_parser = clap::builder::PossibleValuesParser::new(op25b_synth::profile_names()))]
        profile: String,
        /// Directory for the captures, flow exports, mail logs, isp.toml and truth.json.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Seed of the simulation: the same seed gives the same bytes.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Population multiplier (1 = a few tens of MB per capture).
        #[arg(long, default_value_t = 1.0, value_parser = parse_scale)]
        scale: f64,
        /// 1-in-N packet sampling for the flow exports (1 = unsampled).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        sampling: u32,
    },
}

#[derive(Args, Clone)]
struct InputArgs {
    /// TCP ports that are SMTP (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = op25b_core::DEFAULT_SMTP_PORTS.to_vec())]
    smtp_ports: Vec<u16>,
    /// A further UDP port carrying NetFlow/IPFIX exports inside captures (repeatable).
    #[arg(long = "netflow-port")]
    netflow_ports: Vec<u16>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// No summary on stderr (warnings and damage are still printed).
    #[arg(short, long)]
    quiet: bool,
}

impl InputArgs {
    fn source_options(&self) -> SourceOptions {
        let mut netflow_ports = op25b_capture::DEFAULT_DATAGRAM_PORTS.to_vec();
        netflow_ports.extend(&self.netflow_ports);
        netflow_ports.sort_unstable();
        netflow_ports.dedup();
        SourceOptions {
            smtp_ports: self.smtp_ports.clone(),
            netflow_ports,
            threads: self
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            progress: std::io::stderr().is_terminal() && !self.quiet,
            exclude: None,
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("op25b: error: {}", error_text(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes, `: `-joined like `{:#}`, less a cause whose
/// text the message before it already holds (errors that print their
/// source and also return it as `source()`).
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Ingest {
            inputs,
            output,
            input,
        } => ingest(&inputs, &output, &input),
        Command::Rank {
            inputs,
            config,
            top,
            output,
            format,
            input,
        } => rank(
            &inputs,
            config.as_deref(),
            top,
            output.as_deref(),
            format.as_deref(),
            &input,
        ),
        Command::Report {
            before,
            after,
            config,
            output,
            size,
            svg,
            bootstrap,
            seed,
            relay_log,
            input,
        } => report(
            &ReportPaths {
                before: &before,
                after: &after,
                relay_log: &relay_log,
                config: config.as_deref(),
                output: &output,
            },
            size,
            svg,
            bootstrap,
            seed,
            &input,
        ),
        Command::Collect {
            listen,
            output,
            smtp_ports,
            quiet,
        } => collect::run(listen, &output, &smtp_ports, quiet),
        Command::Synth {
            profile,
            output,
            seed,
            scale,
            sampling,
        } => synth(&profile, &output, seed, scale, sampling),
    }
}

fn ingest(inputs: &[PathBuf], output: &Path, args: &InputArgs) -> Result<()> {
    // Written beside the output and renamed onto it at the end: a run that
    // fails leaves no half-written file, and an earlier output stays whole.
    let partial = partial_removed_on_interrupt(output);
    let target: &Path = partial.as_deref().unwrap_or(output);
    let mut opts = args.source_options();
    // An earlier output in a directory being read is not input.
    if output != Path::new("-") {
        opts.exclude = std::fs::canonicalize(output).ok();
    }
    let result = ingest_into(inputs, output, target, &opts);
    if let Some(p) = partial {
        // Held while the file is renamed and forgotten, so a signal in
        // between waits and then removes nothing: the output is whole.
        let mut registered = PARTIAL.lock().ok();
        let moved = match &result {
            Ok(_) => p.persist(output).map_err(|e| {
                anyhow::anyhow!(
                    "{}: cannot move {} onto it: {}",
                    output.display(),
                    e.path.display(),
                    e.error
                )
            }),
            // Dropping the temporary path removes the file.
            Err(_) => {
                drop(p);
                Ok(())
            }
        };
        if let Some(r) = registered.as_mut() {
            **r = None;
        }
        drop(registered);
        moved?;
    }
    let (summary, rows) = result?;
    if !args.quiet {
        eprint!("{summary}");
        eprintln!("wrote {rows} session records to {}", output.display());
    } else {
        warn_damage(&summary, None);
    }
    Ok(())
}

/// With `-q` the summary is left out, but damage still goes to stderr, and
/// the notes on how the inputs were read.
fn warn_damage(summary: &sources::SourceSummary, label: Option<&str>) {
    let at = label.map(|l| format!("{l}: ")).unwrap_or_default();
    for note in summary.notes() {
        eprintln!("op25b: warning: {at}{note}");
    }
    for d in summary.damage() {
        eprintln!("op25b: damage: {at}{d}");
    }
}

/// The partial output of the running ingest, removed if SIGINT or SIGTERM
/// ends the run (the signal would otherwise end it with no destructor run,
/// leaving the hidden file, as large as the output, beside the output).
static PARTIAL: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);

/// [`partial_path`], removed if SIGINT or SIGTERM comes before the caller
/// clears [`PARTIAL`]. The first call starts the thread that waits for the
/// signals; the file is made while [`PARTIAL`] is held, so a signal in
/// between waits for its name. On a signal the file is removed and the
/// signal then ends the process as it would have (status 130 for ^C), so a
/// shell or script sees the interruption.
fn partial_removed_on_interrupt(output: &Path) -> Option<tempfile::TempPath> {
    static WATCHING: std::sync::Once = std::sync::Once::new();
    WATCHING.call_once(|| {
        use signal_hook::consts::{SIGINT, SIGTERM};
        // A signal the caller ignores stays ignored (a script's background
        // job ignores SIGINT, `nohup` SIGHUP, `trap '' INT` wrappers).
        let watched: Vec<i32> = [SIGINT, SIGTERM]
            .into_iter()
            .filter(|&s| !ignored(s))
            .collect();
        let Ok(mut signals) = signal_hook::iterator::Signals::new(watched) else {
            return;
        };
        std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                if let Some(p) = PARTIAL.lock().ok().and_then(|mut p| p.take()) {
                    let _ = std::fs::remove_file(p);
                }
                let _ = signal_hook::low_level::emulate_default_handler(signal);
                std::process::exit(128 + signal);
            }
        });
    });
    let mut registered = PARTIAL.lock().ok();
    let partial = partial_path(output);
    if let Some(r) = registered.as_mut() {
        **r = partial.as_ref().map(|p| p.to_path_buf());
    }
    partial
}

/// Whether `signal` is ignored in this process (inherited SIG_IGN).
fn ignored(signal: i32) -> bool {
    // SAFETY: sigaction with a null new action only reads the current one
    // into `old`, a zeroed plain C struct owned here.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_IGN
    }
}

/// A new file `.NAME.XXXXXX.op25b-partial.EXT` beside `output` (the
/// extension kept, since it picks the format; a name of its own, so two
/// runs onto one output do not share it), removed unless persisted. None
/// for standard output, where `output` is something other than a regular
/// file (`/dev/null`, a pipe, a link: written in place, as renaming onto it
/// would replace it), or where its directory takes no new file.
fn partial_path(output: &Path) -> Option<tempfile::TempPath> {
    if output == Path::new("-") {
        return None;
    }
    match std::fs::symlink_metadata(output) {
        Ok(m) if !m.file_type().is_file() => return None,
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        // Unknown: write in place, as before.
        Err(_) => return None,
    }
    let stem = output.file_stem()?.to_string_lossy().into_owned();
    let suffix = match output.extension() {
        Some(ext) => format!(".op25b-partial.{}", ext.to_string_lossy()),
        None => ".op25b-partial".to_string(),
    };
    let dir = match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // The mode a new file gets (0666 less the umask), or the earlier
    // output's: tempfile's own 0600 would lock other readers out.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(output)
        .map(|m| m.permissions())
        .unwrap_or_else(|_| std::fs::Permissions::from_mode(0o666));
    let path = tempfile::Builder::new()
        .prefix(&format!(".{stem}."))
        .suffix(&suffix)
        .permissions(mode.clone())
        .tempfile_in(dir)
        .ok()?
        .into_temp_path();
    if std::fs::metadata(output).is_ok() {
        // Not subject to the umask, as creating was: the earlier mode exactly.
        let _ = std::fs::set_permissions(&path, mode);
    }
    Some(path)
}

fn ingest_into(
    inputs: &[PathBuf],
    output: &Path,
    target: &Path,
    opts: &SourceOptions,
) -> Result<(sources::SourceSummary, u64)> {
    let mut writer = op25b_store::SessionWriter::create(target)
        .with_context(|| format!("{}: cannot create", output.display()))?;
    let mut write_error = None;
    let summary = read_inputs(inputs, opts, &mut |r| {
        if write_error.is_none()
            && let Err(e) = writer.write(&r)
        {
            write_error = Some(e);
        }
    })?;
    if let Some(e) = write_error {
        bail!("{}: {e}", output.display());
    }
    let rows = writer
        .finish()
        .with_context(|| format!("{}: cannot finish writing", output.display()))?;
    Ok((summary, rows))
}

/// An error in a section of isp.toml that a stage reads, with the file it is in.
fn in_config(path: Option<&Path>, e: String) -> anyhow::Error {
    match path {
        Some(p) => anyhow::anyhow!("{}: {e}", p.display()),
        None => anyhow::anyhow!("{e}"),
    }
}

fn load_config(path: Option<&Path>, quiet: bool) -> Result<IspConfig> {
    match path {
        Some(p) => {
            let config = IspConfig::load(p)?;
            // Warnings, not summary: printed with `-q` too.
            for w in config
                .notes
                .iter()
                .cloned()
                .chain(config.network.inconsistencies())
            {
                eprintln!("op25b: warning: {}: {w}", p.display());
            }
            Ok(config)
        }
        None => {
            let c = IspConfig::default_network();
            if !quiet {
                eprintln!(
                    "op25b: no --config: internal = dynamic pools = {}; no ISP mail servers known (relays are inferred)",
                    IspConfig::DEFAULT_INTERNAL.join(", ")
                );
            }
            Ok(c)
        }
    }
}

/// Reads inputs into a ranking, in batches so aggregation runs in parallel.
fn rank_inputs(
    inputs: &[PathBuf],
    config: &IspConfig,
    rank_cfg: &op25b_rank::RankConfig,
    args: &InputArgs,
    label: &str,
) -> Result<(op25b_rank::Ranking, sources::SourceSummary)> {
    const BATCH: usize = 64 * 1024;
    let mut agg = op25b_rank::HostAggregator::new(&config.network).with_config(rank_cfg);
    let mut batch: Vec<SessionRecord> = Vec::with_capacity(BATCH);
    let summary = read_inputs(inputs, &args.source_options(), &mut |r| {
        batch.push(r);
        if batch.len() == BATCH {
            agg.push_batch(&batch);
            batch.clear();
        }
    })?;
    agg.push_batch(&batch);
    if !args.quiet {
        eprintln!("== {label}");
        eprint!("{summary}");
    } else {
        warn_damage(&summary, Some(label));
    }
    let ranking = agg.finish(rank_cfg);
    // Warnings are not the summary: `-q` does not silence them.
    if ranking.all_clients_ranked {
        eprintln!(
            "op25b: warning: {label}: no client is inside the internal address space ({}): every client \
             host is ranked, none of its mail counts as outbound; --config with the network of this \
             traffic gives the host table of the contract (clients with outbound SMTP)",
            if config.is_default {
                "the defaults, as no --config was given"
            } else {
                "[network] internal of the config"
            }
        );
    }
    if ranking.sampled_records > 0 {
        eprintln!(
            "op25b: warning: {label}: {} of {} session records come from flows sampled 1 packet in up to {}: \
             short sessions (refused attempts, one-message spam) are missed far more often than long ones \
             and hosts with few sessions go unranked, so counts and shares describe the sampled traffic, \
             not the whole (crates/report/README.md, \"Sampled flows\")",
            ranking.sampled_records, ranking.records, ranking.max_sampling
        );
    }
    Ok((ranking, summary))
}

fn rank(
    inputs: &[PathBuf],
    config: Option<&Path>,
    top: usize,
    output: Option<&Path>,
    format: Option<&str>,
    args: &InputArgs,
) -> Result<()> {
    let config_path = config;
    let config = load_config(config, args.quiet)?;
    let rank_cfg =
        op25b_rank::RankConfig::from_isp(&config).map_err(|e| in_config(config_path, e))?;
    let (ranking, _) = rank_inputs(inputs, &config, &rank_cfg, args, "rank")?;
    // CONTRACT: the host table holds hosts with outbound SMTP.
    let all = ranking.contract_hosts();
    let hosts = if top > 0 && top < all.len() {
        &all[..top]
    } else {
        &all[..]
    };
    let format = format.unwrap_or(match output {
        None if std::io::stdout().is_terminal() => "table",
        _ => "csv",
    });
    let mut out: Box<dyn Write> = match output {
        Some(p) if p != Path::new("-") => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("{}: cannot create", p.display()))?,
        )),
        _ => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    match format {
        "table" => {
            let n = if top == 0 { 20 } else { top };
            out.write_all(op25b_rank::format_table(&all, n).as_bytes())?
        }
        "json" => op25b_rank::write_json_lines(&mut out, hosts)?,
        _ => op25b_rank::write_hosts_csv(&mut out, hosts)?,
    }
    out.flush()?;
    Ok(())
}

/// The files `op25b report` reads and writes.
struct ReportPaths<'a> {
    before: &'a [PathBuf],
    after: &'a [PathBuf],
    relay_log: &'a [PathBuf],
    config: Option<&'a Path>,
    output: &'a Path,
}

fn report(
    paths: &ReportPaths<'_>,
    size: (u32, u32),
    svg: bool,
    bootstrap: u32,
    seed: u64,
    args: &InputArgs,
) -> Result<()> {
    let ReportPaths {
        before,
        after,
        relay_log,
        config,
        output,
    } = *paths;
    let (width, height) = size;
    let config_path = config;
    let config = load_config(config, args.quiet)?;
    let rank_cfg =
        op25b_rank::RankConfig::from_isp(&config).map_err(|e| in_config(config_path, e))?;
    let utc_offset_s = op25b_report::relay_log::utc_offset_from_isp(&config)
        .map_err(|e| in_config(config_path, e))?;
    let (before_rank, before_read) = rank_inputs(before, &config, &rank_cfg, args, "before")?;
    let (after_rank, after_read) = if after.is_empty() {
        (None, None)
    } else {
        let (rank, read) = rank_inputs(after, &config, &rank_cfg, args, "after")?;
        (Some(rank), Some(read))
    };
    let relay_log = if relay_log.is_empty() {
        None
    } else {
        let files = sources::expand_inputs(relay_log)?;
        if !args.quiet {
            for p in &files.repeated {
                eprintln!("relay log: read once, named again: {}", p.display());
            }
        }
        let log = op25b_report::relay_log::RelayLog::read(
            &files.files,
            &config.network,
            utc_offset_s,
            &before_rank,
            after_rank.as_ref(),
        )?;
        if !args.quiet {
            eprint!("{}", log.stats);
        } else {
            for d in &log.stats.damaged_files {
                eprintln!("op25b: damage: relay log: {d}");
            }
        }
        Some(log)
    };
    std::fs::create_dir_all(output)
        .with_context(|| format!("{}: cannot create directory", output.display()))?;
    let inputs: Vec<String> = before
        .iter()
        .map(|p| format!("before: {}", p.display()))
        .chain(after.iter().map(|p| format!("after: {}", p.display())))
        .collect();
    // What each input held and what of it was not used (damage, losses):
    // the report carries its own accounting.
    let accounting = std::iter::once(before_read.accounting("before"))
        .chain(after_read.map(|r| r.accounting("after")))
        .collect();
    let input = op25b_report::ReportInput {
        network: config.network.clone(),
        rank_cfg,
        before: before_rank,
        after: after_rank,
        defaults_used: config.is_default,
        relay_log,
    };
    let opts = op25b_report::ReportOptions {
        out_dir: output.to_path_buf(),
        width,
        height,
        svg,
        bootstrap,
        seed,
        title: "Outbound spam before and after OP25B".into(),
        inputs,
        accounting,
    };
    let summary = op25b_report::write_report(&input, &opts)?;
    for name in summary.relay_log_unused() {
        eprintln!(
            "op25b: warning: the relays' log traces no delivery in the {name} input's span: its \
             relays' spam fraction comes from the submissions (does the log cover that time? for \
             classic syslog timestamps, set [relay_log] utc_offset in isp.toml)"
        );
    }
    if !args.quiet {
        eprintln!("report written to {}", output.display());
    }
    Ok(())
}

/// `--size`: a usage error (exit 2) when it is not WIDTHxHEIGHT within bounds.
fn parse_size(size: &str) -> std::result::Result<(u32, u32), String> {
    let parse = || -> Option<(u32, u32)> {
        let (w, h) = size.split_once(['x', 'X'])?;
        let (w, h) = (w.trim().parse().ok()?, h.trim().parse().ok()?);
        ((200..=8000).contains(&w) && (200..=8000).contains(&h)).then_some((w, h))
    };
    parse().ok_or_else(|| "expected WIDTHxHEIGHT, 200 to 8000 pixels each".to_string())
}

fn parse_scale(scale: &str) -> std::result::Result<f64, String> {
    scale
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .ok_or_else(|| "expected a positive number".to_string())
}

fn synth(profile: &str, output: &Path, seed: u64, scale: f64, sampling: u32) -> Result<()> {
    if !op25b_synth::profile_names().contains(&profile) {
        bail!(
            "unknown profile {profile:?}; profiles: {}",
            op25b_synth::profile_names().join(", ")
        );
    }
    std::fs::create_dir_all(output)
        .with_context(|| format!("{}: cannot create directory", output.display()))?;
    let summary = op25b_synth::run(&op25b_synth::SynthOptions {
        profile: profile.to_string(),
        out_dir: output.to_path_buf(),
        seed,
        scale,
        sampling,
    })?;
    for (path, bytes) in &summary.files {
        eprintln!("{:>12} {}", bytes, path.display());
    }
    Ok(())
}
