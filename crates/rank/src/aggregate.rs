//! Streaming per-host aggregation of session records.
//!
//! State is kept per client host (counters, the set of port-25 servers, the
//! HELO names seen, per-minute counts) and per internal server (the internal
//! hosts that sent to it, capped), so memory grows with hosts and their
//! distinct servers and active minutes, never with sessions.
//!
//! Parallelism: hosts are sharded by a hash of the address. `push_batch`
//! classifies the batch in parallel once (shard, network tests), then every
//! shard walks the batch in parallel and folds only its own hosts: no locks,
//! no merge of partial maps, and a host's client and server state land in the
//! same shard, which `finish` relies on.

use crate::score;
use crate::{HostFeatures, RankConfig, Ranking, carried_mail_with};
use op25b_core::{Network, Outcome, SessionRecord, tcp_flags};
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::net::IpAddr;

// Fixed-key aHash: zero-sized, so the three maps of each of millions of hosts
// do not each carry 32 bytes of keys. Keys are addresses and minutes seen on
// the wire; see the README on collision flooding.
type Hasher = BuildHasherDefault<ahash::AHasher>;
type Map<K, V> = HashMap<K, V, Hasher>;
type Set<K> = HashSet<K, Hasher>;

/// Distinct HELO names kept with their sessions per host.
const HELO_NAMES_CAP: usize = 64;
/// Further distinct names counted per host (by a hash each): up to 1088
/// names in all the count is exact, past that it is "at least".
const HELO_MORE_NAMES_CAP: usize = 1024;

/// What the names past the kept list add up to: every session's name is
/// classified once, kept or not, so the HELO shares are those of all
/// sessions (a bot with a fresh name each time is as random past its 64th
/// name as before it).
#[derive(Clone, Debug, Default)]
struct HeloTally {
    sessions: u64,
    ip_literal: u64,
    bogus_literal: u64,
    random: u64,
    not_fqdn: u64,
    claims: u64,
    /// The alphabetically first provider domain claimed (a reason names one).
    claimed: Option<Box<str>>,
}

impl HeloTally {
    fn add(&mut self, name: &str, n: u64, cx: &HeloContext<'_>) {
        let class = crate::helo::classify_for(name, &cx.host);
        self.sessions += n;
        self.ip_literal += if class.ip_literal { n } else { 0 };
        self.bogus_literal += if class.bogus_literal { n } else { 0 };
        self.random += if class.random { n } else { 0 };
        self.not_fqdn += if class.not_fqdn { n } else { 0 };
        if let Some(p) = crate::helo::claimed_provider(name, cx.providers) {
            self.claims += n;
            self.note_claimed(p);
        }
    }

    fn note_claimed(&mut self, p: &str) {
        if self.claimed.as_deref().is_none_or(|c| p < c) {
            self.claimed = Some(p.into());
        }
    }

    fn merge(&mut self, o: &HeloTally) {
        self.sessions += o.sessions;
        self.ip_literal += o.ip_literal;
        self.bogus_literal += o.bogus_literal;
        self.random += o.random;
        self.not_fqdn += o.not_fqdn;
        self.claims += o.claims;
        if let Some(p) = &o.claimed {
            self.note_claimed(p);
        }
    }
}

/// The host a name was sent by, and the provider domains of the ranking:
/// what classifying a name needs.
struct HeloContext<'a> {
    host: IpAddr,
    providers: &'a [String],
}

/// A host's HELO names: the [`HELO_NAMES_CAP`] alphabetically smallest with
/// their sessions, the rest tallied by class and counted by hash.
///
/// The smallest, not the first seen, whatever order sessions arrive in: with
/// several capture threads records of one host come in a different order
/// from run to run, and "the first 64 seen" made the kept names differ. A
/// name in the final set was among the smallest of those seen at each of
/// its sessions, so it was never evicted and its count is exact; a name that
/// once left the set never comes back, so no name is both kept and tallied.
#[derive(Debug, Default)]
struct HeloNames {
    kept: Vec<(Box<str>, u64)>,
    more: HeloTally,
    /// Hashes of the names tallied, up to [`HELO_MORE_NAMES_CAP`].
    more_names: Set<u64>,
    more_names_full: bool,
}

impl HeloNames {
    fn add(&mut self, name: &str, n: u64, cx: &HeloContext<'_>) {
        if let Some((_, c)) = self.kept.iter_mut().find(|(h, _)| **h == *name) {
            *c += n;
            return;
        }
        if self.kept.len() < HELO_NAMES_CAP {
            self.kept.push((name.into(), n));
            return;
        }
        // Full: the new name replaces the largest kept one if it sorts before it.
        let largest = self
            .kept
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.0.cmp(&b.1.0))
            .map(|(i, _)| i);
        match largest {
            Some(i) if *name < *self.kept[i].0 => {
                let (out, out_n) = std::mem::replace(&mut self.kept[i], (name.into(), n));
                self.tally(&out, out_n, cx);
            }
            _ => self.tally(name, n, cx),
        }
    }

    fn tally(&mut self, name: &str, n: u64, cx: &HeloContext<'_>) {
        self.more.add(name, n, cx);
        self.count_name(name_hash(name));
    }

    fn count_name(&mut self, hash: u64) {
        if self.more_names.len() < HELO_MORE_NAMES_CAP {
            self.more_names.insert(hash);
        } else if !self.more_names.contains(&hash) {
            self.more_names_full = true;
        }
    }

    fn merge(&mut self, other: HeloNames, cx: &HeloContext<'_>) {
        self.more.merge(&other.more);
        self.more_names_full |= other.more_names_full;
        for h in other.more_names {
            self.count_name(h);
        }
        for (name, n) in other.kept {
            self.add(&name, n, cx);
        }
    }

    /// Distinct names, and whether that is a lower bound.
    fn distinct(&self) -> (u64, bool) {
        (
            (self.kept.len() + self.more_names.len()) as u64,
            self.more_names_full,
        )
    }
}

/// A hash of a name, for counting distinct names without keeping them.
fn name_hash(name: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher as _};
    let mut h = Hasher::default().build_hasher();
    h.write(name.as_bytes());
    h.finish()
}
/// Distinct submitting clients kept per internal server: relay inference only
/// needs to know "at least `relay_min_submitters`".
const SUBMITTERS_CAP: usize = 64;
const MINUTE_US: i64 = 60_000_000;

/// Per-minute counts of one host.
#[derive(Clone, Copy, Debug, Default)]
struct MinuteCounts {
    direct25: u32,
    failed25: u32,
    outbound: u32,
    /// Outbound sessions that got no answer or a reset: what a block
    /// (or a dead server) leaves of an attempt.
    outbound_failed: u32,
}

/// First session start and last session end of a host, µs.
#[derive(Debug, Clone, Copy)]
struct SeenSpan {
    first: i64,
    last: i64,
}

impl Default for SeenSpan {
    /// Extremes, so that the first record sets both.
    fn default() -> Self {
        SeenSpan {
            first: i64::MAX,
            last: i64::MIN,
        }
    }
}

/// Everything kept about one client host.
#[derive(Debug, Default)]
struct HostState {
    sessions: u64,
    failed: u64,
    rejected: u64,
    answered: u64,
    messages: u64,
    rcpt_accepted: u64,
    rcpt_rejected: u64,
    mail_sessions: u64,
    outbound_sessions: u64,
    outbound_mail_sessions: u64,
    outbound_messages: u64,
    outbound_answered_sessions: u64,
    outbound_transactions: u64,
    outbound_hidden_mail_sessions: u64,
    blockable_hidden_mail_sessions: u64,
    submitted_hidden_mail_sessions: u64,
    blockable_sessions: u64,
    blockable_mail_sessions: u64,
    blockable_messages: u64,
    submitted_sessions: u64,
    submitted_messages: u64,
    submitted_mail_sessions: u64,
    direct25_sessions: u64,
    direct25: crate::Direct25Counts,
    syn_only_sessions: u64,
    tls_sessions: u64,
    auth_sessions: u64,
    submission_port_sessions: u64,
    has_dialogue: bool,
    seen: SeenSpan,
    servers25: Set<IpAddr>,
    /// Distinct HELO names and their sessions; a short list (most hosts use
    /// one or two names), scanned linearly.
    helo: HeloNames,
    minutes: Map<i64, MinuteCounts>,
}

impl HostState {
    fn add(&mut self, r: &SessionRecord, class: RecordClass, cfg: &AddConfig) {
        let mail = carried_mail_with(r, cfg.flow_mail_bytes);
        let messages = u64::from(r.messages);
        // Carried mail, but no message was seen: the dialogue was hidden
        // (TLS, port 465, a flow record) or cut.
        let hidden_mail = mail && messages == 0;
        self.sessions += 1;
        if r.outcome.is_failed() {
            self.failed += 1;
        } else {
            self.answered += 1;
        }
        if r.outcome == Outcome::Rejected {
            self.rejected += 1;
        }
        self.messages += messages;
        self.rcpt_accepted += u64::from(r.rcpt_accepted);
        self.rcpt_rejected += u64::from(r.rcpt_rejected);
        self.mail_sessions += u64::from(mail);
        if class.outbound {
            self.outbound_sessions += 1;
            self.outbound_mail_sessions += u64::from(mail);
            self.outbound_messages += messages;
            self.outbound_answered_sessions += u64::from(!r.outcome.is_failed());
            self.outbound_transactions += u64::from(r.transactions);
            self.outbound_hidden_mail_sessions += u64::from(hidden_mail);
        }
        if class.blockable {
            self.blockable_sessions += 1;
            self.blockable_mail_sessions += u64::from(mail);
            self.blockable_messages += messages;
            self.blockable_hidden_mail_sessions += u64::from(hidden_mail);
        }
        if class.to_mail_server {
            self.submitted_sessions += 1;
            self.submitted_messages += messages;
            self.submitted_mail_sessions += u64::from(mail);
            self.submitted_hidden_mail_sessions += u64::from(hidden_mail);
        }
        if r.server_port == 587 || r.server_port == 465 {
            self.submission_port_sessions += 1;
        }
        if is_syn_only(r) {
            self.syn_only_sessions += 1;
        }
        self.tls_sessions += u64::from(r.tls);
        self.auth_sessions += u64::from(r.auth);
        self.has_dialogue |= r.source.has_payload();
        self.seen.first = self.seen.first.min(r.start);
        self.seen.last = self.seen.last.max(r.end.max(r.start));
        if r.server_port == 25 {
            self.servers25.insert(r.server);
        }
        if class.direct25 || class.outbound {
            let minute = self
                .minutes
                .entry(r.start.div_euclid(MINUTE_US))
                .or_default();
            if class.direct25 {
                minute.direct25 = minute.direct25.saturating_add(1);
                if r.outcome.is_failed() {
                    minute.failed25 = minute.failed25.saturating_add(1);
                }
                self.direct25_sessions += 1;
                let d = &mut self.direct25;
                if r.outcome.is_failed() {
                    d.failed += 1;
                } else {
                    d.answered += 1;
                }
                d.rejected += u64::from(r.outcome == Outcome::Rejected);
                d.syn_only += u64::from(is_syn_only(r));
                d.mail += u64::from(mail);
                d.rcpt_accepted += u64::from(r.rcpt_accepted);
                d.rcpt_rejected += u64::from(r.rcpt_rejected);
            }
            if class.outbound {
                minute.outbound = minute.outbound.saturating_add(1);
                if r.outcome.is_failed() {
                    minute.outbound_failed = minute.outbound_failed.saturating_add(1);
                }
            }
        }
        let helo = r.helo.trim();
        if !helo.is_empty() {
            let cx = HeloContext {
                host: r.client,
                providers: &cfg.providers,
            };
            self.helo.add(helo, 1, &cx);
        }
    }

    fn merge(&mut self, other: HostState, cx: &HeloContext<'_>) {
        self.sessions += other.sessions;
        self.failed += other.failed;
        self.rejected += other.rejected;
        self.answered += other.answered;
        self.messages += other.messages;
        self.rcpt_accepted += other.rcpt_accepted;
        self.rcpt_rejected += other.rcpt_rejected;
        self.mail_sessions += other.mail_sessions;
        self.outbound_sessions += other.outbound_sessions;
        self.outbound_mail_sessions += other.outbound_mail_sessions;
        self.outbound_messages += other.outbound_messages;
        self.outbound_answered_sessions += other.outbound_answered_sessions;
        self.outbound_transactions += other.outbound_transactions;
        self.outbound_hidden_mail_sessions += other.outbound_hidden_mail_sessions;
        self.blockable_hidden_mail_sessions += other.blockable_hidden_mail_sessions;
        self.submitted_hidden_mail_sessions += other.submitted_hidden_mail_sessions;
        self.blockable_sessions += other.blockable_sessions;
        self.blockable_mail_sessions += other.blockable_mail_sessions;
        self.blockable_messages += other.blockable_messages;
        self.submitted_sessions += other.submitted_sessions;
        self.submitted_messages += other.submitted_messages;
        self.submitted_mail_sessions += other.submitted_mail_sessions;
        self.direct25_sessions += other.direct25_sessions;
        self.direct25.merge(&other.direct25);
        self.syn_only_sessions += other.syn_only_sessions;
        self.tls_sessions += other.tls_sessions;
        self.auth_sessions += other.auth_sessions;
        self.submission_port_sessions += other.submission_port_sessions;
        self.has_dialogue |= other.has_dialogue;
        self.seen.first = self.seen.first.min(other.seen.first);
        self.seen.last = self.seen.last.max(other.seen.last);
        self.servers25.extend(other.servers25);
        self.helo.merge(other.helo, cx);
        for (minute, c) in other.minutes {
            let mine = self.minutes.entry(minute).or_default();
            mine.direct25 = mine.direct25.saturating_add(c.direct25);
            mine.failed25 = mine.failed25.saturating_add(c.failed25);
            mine.outbound = mine.outbound.saturating_add(c.outbound);
            mine.outbound_failed = mine.outbound_failed.saturating_add(c.outbound_failed);
        }
    }
}

/// A flow (or capture) where the client only ever sent SYNs: no ACK from it,
/// or nothing came back.
fn is_syn_only(r: &SessionRecord) -> bool {
    r.flags_c2s & tcp_flags::SYN != 0 && (r.flags_c2s & tcp_flags::ACK == 0 || r.packets_s2c == 0)
}

/// The network tests of one record, computed once per record.
#[derive(Clone, Copy, Debug, Default)]
struct RecordClass {
    client_shard: u16,
    server_shard: u16,
    client_internal: bool,
    /// Client and server both internal and different: the server receives a
    /// submission (counts towards relay inference).
    internal_to_internal: bool,
    outbound: bool,
    blockable: bool,
    to_mail_server: bool,
    direct25: bool,
}

/// Distinct internal senders of one internal server (capped).
#[derive(Debug, Default)]
struct ServerState {
    submitters: Set<IpAddr>,
}

impl ServerState {
    fn add(&mut self, client: IpAddr) {
        if self.submitters.len() < SUBMITTERS_CAP {
            self.submitters.insert(client);
        }
    }
}

#[derive(Debug, Default)]
struct Shard {
    hosts: Map<IpAddr, HostState>,
    servers: Map<IpAddr, ServerState>,
}

impl Shard {
    fn add(&mut self, r: &SessionRecord, c: RecordClass, shard: u16, cfg: &AddConfig) {
        if c.client_shard == shard {
            self.hosts.entry(r.client).or_default().add(r, c, cfg);
        }
        if c.internal_to_internal && c.server_shard == shard {
            self.servers.entry(r.server).or_default().add(r.client);
        }
    }
}

/// Streaming per-host aggregation; memory grows with hosts (and their distinct
/// servers / active minutes), not with sessions. Parallel inside (rayon) for batches.
#[derive(Debug)]
pub struct HostAggregator {
    network: Network,
    shards: Vec<Shard>,
    records: u64,
    internal_client_records: u64,
    sampled_records: u64,
    max_sampling: u32,
    start_us: i64,
    end_us: i64,
    add: AddConfig,
}

/// What aggregating a record reads from the ranking's configuration.
#[derive(Clone, Debug)]
struct AddConfig {
    flow_mail_bytes: u64,
    /// `[rank] big_provider_domains`: HELO names past a host's kept list
    /// are classified as they come.
    providers: Vec<String>,
}

impl HostAggregator {
    pub fn new(network: &Network) -> Self {
        // A few shards per thread so that one heavy host does not idle the others.
        let shards = (rayon::current_num_threads() * 4).clamp(1, 256);
        HostAggregator {
            network: network.clone(),
            shards: (0..shards).map(|_| Shard::default()).collect(),
            records: 0,
            internal_client_records: 0,
            sampled_records: 0,
            max_sampling: 1,
            start_us: i64::MAX,
            end_us: i64::MIN,
            add: AddConfig {
                flow_mail_bytes: crate::FLOW_MAIL_BYTES,
                providers: RankConfig::default().big_provider_domains,
            },
        }
    }

    /// Uses the configuration the ranking will be finished with for what
    /// aggregation itself decides: `[rank] flow_mail_bytes` (the "carried
    /// mail" test of flow records) and `big_provider_domains` (HELO names
    /// past a host's kept list). [`HostAggregator::finish`] must get the
    /// same configuration.
    pub fn with_config(mut self, cfg: &RankConfig) -> Self {
        self.add = AddConfig {
            flow_mail_bytes: cfg.flow_mail_bytes,
            providers: cfg.big_provider_domains.clone(),
        };
        self
    }

    /// Records aggregated so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Client hosts seen so far.
    pub fn hosts(&self) -> usize {
        self.shards.iter().map(|s| s.hosts.len()).sum()
    }

    fn shard_of(&self, ip: &IpAddr) -> u16 {
        shard_index(ip, self.shards.len())
    }

    fn classify(&self, r: &SessionRecord) -> RecordClass {
        let n = &self.network;
        let client_internal = n.internal.contains(&r.client);
        let server_internal = n.internal.contains(&r.server);
        let to_mail_server = n.mail_servers.contains(&r.server);
        RecordClass {
            client_shard: self.shard_of(&r.client),
            server_shard: self.shard_of(&r.server),
            client_internal,
            internal_to_internal: client_internal && server_internal && r.client != r.server,
            outbound: client_internal && !server_internal,
            blockable: n.op25b_blocks(&r.client, &r.server, r.server_port),
            to_mail_server,
            direct25: r.server_port == 25 && !to_mail_server,
        }
    }

    fn note_span(&mut self, r: &SessionRecord, class: RecordClass) {
        self.records += 1;
        self.internal_client_records += u64::from(class.client_internal);
        self.sampled_records += u64::from(r.sampling > 1);
        self.max_sampling = self.max_sampling.max(r.sampling);
        self.start_us = self.start_us.min(r.start);
        self.end_us = self.end_us.max(r.end.max(r.start));
    }

    pub fn push(&mut self, r: &SessionRecord) {
        let class = self.classify(r);
        self.note_span(r, class);
        let cfg = &self.add;
        let shard = class.client_shard;
        if let Some(s) = self.shards.get_mut(usize::from(shard)) {
            s.add(r, class, shard, cfg);
        }
        let shard = class.server_shard;
        if class.internal_to_internal
            && shard != class.client_shard
            && let Some(s) = self.shards.get_mut(usize::from(shard))
        {
            s.add(r, class, shard, cfg);
        }
    }

    /// Aggregates a batch using every rayon thread. Batches of a few thousand
    /// records or more amortise the parallel overhead; smaller ones go serial.
    pub fn push_batch(&mut self, batch: &[SessionRecord]) {
        if batch.len() < 2048 || self.shards.len() == 1 {
            for r in batch {
                self.push(r);
            }
            return;
        }
        let classes: Vec<RecordClass> = batch.par_iter().map(|r| self.classify(r)).collect();
        for (r, c) in batch.iter().zip(&classes) {
            self.note_span(r, *c);
        }
        let cfg = &self.add;
        self.shards
            .par_iter_mut()
            .enumerate()
            .for_each(|(i, shard)| {
                let i = i as u16;
                for (r, c) in batch.iter().zip(&classes) {
                    if c.client_shard == i || c.server_shard == i {
                        shard.add(r, *c, i, cfg);
                    }
                }
            });
    }

    /// Adds another aggregator's state (e.g. one per input file read in parallel).
    pub fn merge(&mut self, other: HostAggregator) {
        self.records += other.records;
        self.internal_client_records += other.internal_client_records;
        self.sampled_records += other.sampled_records;
        self.max_sampling = self.max_sampling.max(other.max_sampling);
        self.start_us = self.start_us.min(other.start_us);
        self.end_us = self.end_us.max(other.end_us);
        for shard in other.shards {
            for (host, state) in shard.hosts {
                let i = usize::from(self.shard_of(&host));
                if let Some(mine) = self.shards.get_mut(i) {
                    match mine.hosts.get_mut(&host) {
                        Some(existing) => {
                            let cx = HeloContext {
                                host,
                                providers: &self.add.providers,
                            };
                            existing.merge(state, &cx)
                        }
                        None => {
                            mine.hosts.insert(host, state);
                        }
                    }
                }
            }
            for (server, state) in shard.servers {
                let i = usize::from(self.shard_of(&server));
                if let Some(mine) = self.shards.get_mut(i) {
                    let entry = mine.servers.entry(server).or_default();
                    for c in state.submitters {
                        entry.add(c);
                    }
                }
            }
        }
    }

    /// Turns the state into features, scores every host and sorts them, best
    /// suspect first. Hosts ranked: internal clients; or, when no client of the
    /// input is internal (a capture from outside the described network), all.
    pub fn finish(self, cfg: &RankConfig) -> Ranking {
        let all_clients = self.internal_client_records == 0;
        let network = &self.network;
        let features: Vec<HostFeatures> = self
            .shards
            .into_par_iter()
            .flat_map_iter(|shard| {
                let Shard { hosts, servers } = shard;
                hosts
                    .into_iter()
                    .filter(move |(host, _)| all_clients || network.internal.contains(host))
                    .map(move |(host, state)| {
                        let submitters = servers.get(&host).map_or(0, |s| s.submitters.len());
                        features_of(host, state, submitters as u64, network, cfg)
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let hosts = score::rank_hosts(features, cfg);
        let empty = self.records == 0;
        Ranking {
            hosts,
            start_us: if empty { 0 } else { self.start_us },
            end_us: if empty { 0 } else { self.end_us },
            defaults_used: cfg.network_is_default,
            all_clients_ranked: all_clients && !empty,
            records: self.records,
            sampled_records: self.sampled_records,
            max_sampling: self.max_sampling,
        }
    }
}

/// A stable shard index for an address (FNV-1a over its bytes): the same host
/// always lands in the same shard, whichever aggregator saw it.
fn shard_index(ip: &IpAddr, shards: usize) -> u16 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    match ip {
        IpAddr::V4(a) => feed(&a.octets()),
        IpAddr::V6(a) => feed(&a.octets()),
    }
    (h % shards.max(1) as u64) as u16
}

/// The /24 (IPv4) or /64 (IPv6) an address belongs to.
fn prefix_of(ip: &IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(*a) >> 8),
        IpAddr::V6(a) => (u128::from(*a) >> 64) | (1u128 << 127),
    }
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn features_of(
    host: IpAddr,
    s: HostState,
    submitters: u64,
    network: &Network,
    cfg: &RankConfig,
) -> HostFeatures {
    let prefixes: Set<u128> = s.servers25.iter().map(prefix_of).collect();

    // Per-minute and per-hour windows of direct port-25 sessions.
    let mut minutes: Vec<(i64, MinuteCounts)> = s.minutes.into_iter().collect();
    minutes.sort_unstable_by_key(|(m, _)| *m);
    let mut peak_minute = 0u64;
    let mut active_minutes = 0u64;
    let mut hours: Vec<(i64, u64, u64)> = Vec::new();
    for (m, c) in &minutes {
        if c.direct25 > 0 {
            active_minutes += 1;
            peak_minute = peak_minute.max(u64::from(c.direct25));
            let hour = m.div_euclid(60);
            match hours.last_mut() {
                Some(last) if last.0 == hour => {
                    last.1 += u64::from(c.direct25);
                    last.2 += u64::from(c.failed25);
                }
                _ => hours.push((hour, u64::from(c.direct25), u64::from(c.failed25))),
            }
        }
    }
    let peak_hour = hours.iter().map(|h| h.1).max().unwrap_or(0);
    let peak_hour_failed = hours.iter().map(|h| h.2).max().unwrap_or(0);
    let active_hours = hours.len() as u64;
    let burstiness = if active_hours == 0 || s.direct25_sessions == 0 {
        0.0
    } else {
        peak_hour as f64 / (s.direct25_sessions as f64 / active_hours as f64)
    };
    // Mean over the whole span the host was seen (at least one minute), so a
    // ten-minute burst in a day shows as a low mean and a high peak.
    let span_minutes = if s.sessions == 0 {
        1
    } else {
        ((s.seen.last.saturating_sub(s.seen.first)) / MINUTE_US).max(0) + 1
    };
    let outbound_minutes: Vec<(i64, u32)> = minutes
        .iter()
        .filter(|(_, c)| c.outbound > 0)
        .map(|(m, c)| (m.saturating_mul(MINUTE_US), c.outbound))
        .collect();
    let outbound_failed_minutes: Vec<(i64, u32)> = minutes
        .iter()
        .filter(|(_, c)| c.outbound_failed > 0)
        .map(|(m, c)| (m.saturating_mul(MINUTE_US), c.outbound_failed))
        .collect();

    // HELO names, weighted by the sessions that used them: the kept names
    // one by one, the rest from their tally.
    let cx = HeloContext {
        host,
        providers: &cfg.big_provider_domains,
    };
    let mut helo = s.helo.more.clone();
    let mut top: Option<(&str, u64)> = None;
    for (name, n) in &s.helo.kept {
        helo.add(name, *n, &cx);
        if top.is_none_or(|(t, tn)| *n > tn || (*n == tn && &**name < t)) {
            top = Some((name, *n));
        }
    }
    let (helo_distinct, helo_distinct_at_least) = s.helo.distinct();

    HostFeatures {
        host,
        sessions: s.sessions,
        fanout: s.servers25.len() as u64,
        fanout_prefixes: prefixes.len() as u64,
        failed_share: share(s.failed, s.sessions),
        rejected_share: share(s.rejected, s.answered),
        messages: s.messages,
        rcpt_accepted: s.rcpt_accepted,
        rcpt_rejected: s.rcpt_rejected,
        dynamic: network.dynamic_pools.contains(&host),
        internal: network.internal.contains(&host),
        configured_relay: network.mail_servers.contains(&host),
        first_seen: if s.sessions == 0 { 0 } else { s.seen.first },
        last_seen: if s.sessions == 0 { 0 } else { s.seen.last },
        outbound_sessions: s.outbound_sessions,
        outbound_mail_sessions: s.outbound_mail_sessions,
        outbound_messages: s.outbound_messages,
        outbound_answered_sessions: s.outbound_answered_sessions,
        outbound_transactions: s.outbound_transactions,
        outbound_hidden_mail_sessions: s.outbound_hidden_mail_sessions,
        blockable_hidden_mail_sessions: s.blockable_hidden_mail_sessions,
        submitted_hidden_mail_sessions: s.submitted_hidden_mail_sessions,
        blockable_sessions: s.blockable_sessions,
        blockable_mail_sessions: s.blockable_mail_sessions,
        blockable_messages: s.blockable_messages,
        submitted_sessions: s.submitted_sessions,
        submitted_messages: s.submitted_messages,
        submitted_mail_sessions: s.submitted_mail_sessions,
        has_dialogue: s.has_dialogue,
        outbound_minutes,
        outbound_failed_minutes,
        direct25_sessions: s.direct25_sessions,
        direct25_fanout: s
            .servers25
            .iter()
            .filter(|server| !network.mail_servers.contains(server))
            .count() as u64,
        direct25: s.direct25,
        failed_sessions: s.failed,
        rejected_sessions: s.rejected,
        answered_sessions: s.answered,
        mail_sessions: s.mail_sessions,
        syn_only_sessions: s.syn_only_sessions,
        tls_sessions: s.tls_sessions,
        auth_sessions: s.auth_sessions,
        submission_port_sessions: s.submission_port_sessions,
        helo_sessions: helo.sessions,
        helo_distinct,
        helo_distinct_at_least,
        helo_top: top.map(|(t, _)| t.to_string()).unwrap_or_default(),
        helo_ip_literal: helo.ip_literal,
        helo_bogus_literal: helo.bogus_literal,
        helo_random: helo.random,
        helo_not_fqdn: helo.not_fqdn,
        helo_claims_provider: helo.claims,
        helo_claimed: helo.claimed.map(String::from).unwrap_or_default(),
        mean_per_minute: s.direct25_sessions as f64 / span_minutes as f64,
        peak_minute_sessions: peak_minute,
        peak_hour_sessions: peak_hour,
        peak_hour_failed,
        active_minutes,
        active_hours,
        burstiness,
        submitters,
        relay_inferred: false,
    }
}
