//! The network description (`isp.toml`): which addresses are the ISP's, which
//! are dynamic subscriber pools, which are its own mail servers.
//!
//! Other sections (`[rank]`, `[report]`) belong to the stages that read them;
//! they are kept here as raw TOML so each stage parses its own.

use ipnet::IpNet;
use serde::Deserialize;
use std::net::IpAddr;
use std::path::Path;

/// The SMTP ports a connection is recorded for unless `--smtp-ports` says otherwise.
pub const DEFAULT_SMTP_PORTS: &[u16] = &[25, 587, 465];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
}

/// A set of IPv4/IPv6 prefixes with membership tests.
///
/// Lookups are linear: real descriptions hold tens of prefixes, and a sorted
/// scan over that few beats a trie's pointer chasing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpSet {
    nets: Vec<IpNet>,
}

impl IpSet {
    pub fn new(mut nets: Vec<IpNet>) -> Self {
        nets.sort();
        nets.dedup();
        IpSet { nets }
    }

    /// Parses prefixes or bare addresses ("198.18.0.0/15", "198.19.255.10").
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self, String> {
        let mut nets = Vec::with_capacity(items.len());
        for item in items {
            let s = item.as_ref().trim();
            let net = if s.contains('/') {
                s.parse::<IpNet>()
                    .map_err(|e| format!("{s:?} is not an address prefix: {e}"))?
                    .trunc()
            } else {
                let ip: IpAddr = s
                    .parse()
                    .map_err(|e| format!("{s:?} is not an IP address: {e}"))?;
                IpNet::from(ip)
            };
            nets.push(net);
        }
        Ok(IpSet::new(nets))
    }

    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(ip))
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }
}

/// Whether the prefixes `by` together hold every address of `net`: one of
/// them holds it, or it is split by some of them and each half is covered.
/// Recursion only goes where a prefix of `by` lies inside, so its depth is
/// at most the longest prefix length.
fn covered(net: &IpNet, by: &[IpNet]) -> bool {
    if by.iter().any(|b| b.contains(net)) {
        return true;
    }
    let inside = by
        .iter()
        .any(|b| net.contains(b) && b.prefix_len() > net.prefix_len());
    inside
        && net
            .subnets(net.prefix_len() + 1)
            .is_ok_and(|mut halves| halves.all(|half| covered(&half, by)))
}

/// The prefixes of `network.KEY`; an error names the key, and a prefix
/// written with host bits set (taken as its network) is noted in `notes`.
fn network_key(key: &str, items: &[String], notes: &mut Vec<String>) -> Result<IpSet, String> {
    let set = IpSet::parse(items).map_err(|e| format!("network.{key}: {e}"))?;
    for item in items.iter().map(|i| i.trim()) {
        if let Ok(net) = item.parse::<IpNet>()
            && net != net.trunc()
        {
            notes.push(format!(
                "network.{key}: {item} has host bits set; taken as {}",
                net.trunc()
            ));
        }
    }
    Ok(set)
}

/// `[network]` of isp.toml.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Network {
    pub internal: IpSet,
    pub dynamic_pools: IpSet,
    pub mail_servers: IpSet,
}

impl Network {
    /// Outbound: from the ISP's address space to anything outside it.
    pub fn is_outbound(&self, client: &IpAddr, server: &IpAddr) -> bool {
        self.internal.contains(client) && !self.internal.contains(server)
    }

    /// What in this description contradicts how it is used, one sentence
    /// each naming the keys: a dynamic pool outside `internal` (its hosts'
    /// mail is not outbound, so blocking it changes nothing), and ISP mail
    /// servers inside a dynamic pool (the simulated block would cut off the
    /// ISP's own server, and its output would count as a customer's).
    pub fn inconsistencies(&self) -> Vec<String> {
        let overlap = |a: &IpNet, b: &IpNet| a.contains(&b.network()) || b.contains(&a.network());
        let mut out = Vec::new();
        for pool in self.dynamic_pools.nets() {
            if !covered(pool, self.internal.nets()) {
                out.push(format!(
                    "dynamic_pools {pool} is not inside internal: its mail is not outbound, so OP25B \
                     simulated on it blocks nothing"
                ));
            }
        }
        for server in self.mail_servers.nets() {
            if let Some(pool) = self
                .dynamic_pools
                .nets()
                .iter()
                .find(|p| overlap(p, server))
            {
                out.push(format!(
                    "mail_servers {server} overlaps dynamic_pools {pool}: the ISP's own mail servers \
                     would be blocked with the pool, and counted as its customers"
                ));
            }
        }
        out
    }

    /// Whether OP25B stops this connection: port 25 from a dynamic pool to
    /// anything but the ISP's own mail servers.
    pub fn op25b_blocks(&self, client: &IpAddr, server: &IpAddr, server_port: u16) -> bool {
        server_port == 25
            && self.dynamic_pools.contains(client)
            && !self.mail_servers.contains(server)
    }
}

/// The whole of isp.toml.
#[derive(Clone, Debug, Default)]
pub struct IspConfig {
    pub network: Network,
    /// True when no file was given and the defaults below are in force.
    pub is_default: bool,
    /// Every other section, for the stage that owns it.
    pub extra: toml::Table,
    /// What was read other than written, to say on stderr: a prefix with
    /// host bits set (`198.18.0.1/17`) is taken as its network.
    pub notes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    #[serde(default)]
    internal: Vec<String>,
    #[serde(default)]
    dynamic_pools: Vec<String>,
    #[serde(default)]
    mail_servers: Vec<String>,
}

impl IspConfig {
    /// Without a description every RFC 1918 / ULA / CGNAT address counts as
    /// internal and dynamic, and no relay is known (the ranker infers them).
    pub const DEFAULT_INTERNAL: &'static [&'static str] = &[
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "fc00::/7",
    ];

    /// The sections of isp.toml some stage reads (network here, rank in
    /// op25b-rank, relay_log in op25b-report): any other is a typo that
    /// would silently leave its settings out, and is noted.
    pub const SECTIONS: &'static [&'static str] = &["network", "rank", "relay_log"];

    pub fn default_network() -> Self {
        let internal = IpSet::parse(Self::DEFAULT_INTERNAL).unwrap_or_default();
        IspConfig {
            network: Network {
                dynamic_pools: internal.clone(),
                internal,
                mail_servers: IpSet::default(),
            },
            is_default: true,
            extra: toml::Table::new(),
            notes: Vec::new(),
        }
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse_str(&text).map_err(|message| ConfigError::Parse {
            path: path.display().to_string(),
            message,
        })
    }

    pub fn parse_str(text: &str) -> Result<Self, String> {
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
        let raw = table
            .remove("network")
            .ok_or_else(|| "missing [network] section".to_string())?;
        let raw: RawNetwork = raw
            .try_into()
            .map_err(|e: toml::de::Error| format!("[network]: {e}"))?;
        let mut notes = Vec::new();
        let network = Network {
            internal: network_key("internal", &raw.internal, &mut notes)?,
            dynamic_pools: network_key("dynamic_pools", &raw.dynamic_pools, &mut notes)?,
            mail_servers: network_key("mail_servers", &raw.mail_servers, &mut notes)?,
        };
        if network.internal.is_empty() {
            return Err("network.internal is empty: op25b cannot tell outbound traffic".into());
        }
        for name in table
            .keys()
            .filter(|k| !Self::SECTIONS.contains(&k.as_str()))
        {
            notes.push(format!(
                "unknown section [{name}] ignored (known: {})",
                Self::SECTIONS.join(", ")
            ));
        }
        Ok(IspConfig {
            network,
            is_default: false,
            extra: table,
            notes,
        })
    }

    /// Renders the `[network]` section as isp.toml text.
    pub fn network_toml(network: &Network) -> String {
        fn list(set: &IpSet) -> String {
            let items: Vec<String> = set.nets().iter().map(|n| format!("\"{n}\"")).collect();
            format!("[{}]", items.join(", "))
        }
        format!(
            "[network]\ninternal      = {}\ndynamic_pools = {}\nmail_servers  = {}\n",
            list(&network.internal),
            list(&network.dynamic_pools),
            list(&network.mail_servers)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTRACT_EXAMPLE: &str = r#"
[network]
internal      = ["198.18.0.0/15", "2001:db8::/32"]  # the ISP's address space
dynamic_pools = ["198.18.0.0/17"]                     # subscriber pools OP25B applies to
mail_servers  = ["198.19.255.10", "198.19.255.25"]   # the ISP's own relays and submission servers
"#;

    #[test]
    fn parses_the_contract_example() {
        let c = IspConfig::parse_str(CONTRACT_EXAMPLE).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(c.network.internal.contains(&ip("198.19.1.1")));
        assert!(c.network.internal.contains(&ip("2001:db8::5")));
        assert!(!c.network.internal.contains(&ip("198.20.0.1")));
        assert!(c.network.dynamic_pools.contains(&ip("198.18.127.255")));
        assert!(!c.network.dynamic_pools.contains(&ip("198.18.128.0")));
        assert!(c.network.mail_servers.contains(&ip("198.19.255.25")));
        assert!(c.network.is_outbound(&ip("198.18.0.5"), &ip("203.0.113.9")));
        assert!(
            !c.network
                .is_outbound(&ip("198.18.0.5"), &ip("198.19.255.10"))
        );
        assert!(
            c.network
                .op25b_blocks(&ip("198.18.0.5"), &ip("203.0.113.9"), 25)
        );
        assert!(
            !c.network
                .op25b_blocks(&ip("198.18.0.5"), &ip("203.0.113.9"), 587)
        );
        assert!(
            !c.network
                .op25b_blocks(&ip("198.18.0.5"), &ip("198.19.255.10"), 25)
        );
        assert!(
            !c.network
                .op25b_blocks(&ip("198.19.0.5"), &ip("203.0.113.9"), 25)
        );
    }

    #[test]
    fn keeps_other_sections_and_round_trips() {
        let text = format!("{CONTRACT_EXAMPLE}\n[rank]\nzombie_score = 5.0\n");
        let c = IspConfig::parse_str(&text).unwrap();
        assert!(c.extra.contains_key("rank"));
        let again = IspConfig::parse_str(&IspConfig::network_toml(&c.network)).unwrap();
        assert_eq!(again.network, c.network);
    }

    #[test]
    fn inconsistent_descriptions_are_named() {
        let c = IspConfig::parse_str(CONTRACT_EXAMPLE).unwrap();
        assert!(c.network.inconsistencies().is_empty());
        assert!(
            IspConfig::default_network()
                .network
                .inconsistencies()
                .is_empty()
        );
        let c = IspConfig::parse_str(
            "[network]\ninternal=[\"198.18.0.0/15\"]\ndynamic_pools=[\"198.18.0.0/17\", \"10.0.0.0/8\", \
             \"198.19.255.0/24\"]\nmail_servers=[\"198.19.255.10\", \"198.18.0.0/15\"]",
        )
        .unwrap();
        assert!(c.notes.is_empty(), "{:?}", c.notes);
        // A pool that two internal prefixes cover together is inside.
        let split = IspConfig::parse_str(
            "[network]\ninternal=[\"198.18.0.0/16\", \"198.19.0.0/16\", \"10.0.0.0/9\"]\n\
             dynamic_pools=[\"198.18.0.0/15\", \"10.0.0.0/8\"]",
        )
        .unwrap();
        let v = split.network.inconsistencies();
        assert_eq!(
            v,
            [
                "dynamic_pools 10.0.0.0/8 is not inside internal: its mail is not outbound, \
             so OP25B simulated on it blocks nothing"
            ]
        );
        let v = c.network.inconsistencies();
        assert_eq!(v.len(), 3, "{v:?}");
        assert!(
            v[0].starts_with("dynamic_pools 10.0.0.0/8 is not inside internal"),
            "{v:?}"
        );
        assert!(
            v[1].starts_with("mail_servers 198.18.0.0/15 overlaps dynamic_pools 198.18.0.0/17"),
            "{v:?}"
        );
        assert!(
            v[2].starts_with(
                "mail_servers 198.19.255.10/32 overlaps dynamic_pools 198.19.255.0/24"
            ),
            "{v:?}"
        );
    }

    #[test]
    fn unknown_sections_are_noted() {
        let text = format!(
            "{CONTRACT_EXAMPLE}\n[rank]\nzombie_score = 5.0\n[relay_lg]\nutc_offset = \"+09:00\"\n"
        );
        let c = IspConfig::parse_str(&text).unwrap();
        assert_eq!(
            c.notes,
            ["unknown section [relay_lg] ignored (known: network, rank, relay_log)"]
        );
    }

    #[test]
    fn host_bits_are_noted() {
        let c = IspConfig::parse_str(
            "[network]\ninternal=[\"198.18.0.0/15\"]\ndynamic_pools=[\"198.18.0.1/17\"]",
        )
        .unwrap();
        assert_eq!(
            c.notes,
            ["network.dynamic_pools: 198.18.0.1/17 has host bits set; taken as 198.18.0.0/17"]
        );
        assert!(
            c.network
                .dynamic_pools
                .contains(&"198.18.5.5".parse().unwrap())
        );
    }

    #[test]
    fn rejects_bad_prefixes_and_unknown_keys() {
        let e = IspConfig::parse_str("[network]\ninternal=[\"300.1.1.1/8\"]").unwrap_err();
        assert!(e.contains("network.internal"), "{e}");
        let e =
            IspConfig::parse_str("[network]\ninternal=[\"10.0.0.0/8\"]\ninternl=[]").unwrap_err();
        assert!(e.contains("internl"), "{e}");
        assert!(IspConfig::parse_str("[network]\n").is_err());
    }
}
