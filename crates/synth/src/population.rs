//! The simulated ISP's hosts (subscribers, zombies, businesses, the ISP's
//! own servers) and the Internet they talk to (MX hosts spread over many
//! /24s, other providers' submission servers, web servers, resolvers).
//! External addresses are derived from an index by hashing, so the
//! Internet costs no memory.

use std::collections::HashSet;

use crate::content::name_of;
use crate::profile::{Profile, rates};
use crate::rng::{Rng, mix};
use crate::wire::{Link, Tags};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    ZombieHeavy,
    ZombieMedium,
    ZombieLow,
    SubscriberRelay,
    SubscriberSubmission,
    SubscriberDirect25,
    BusinessMx,
    BusinessNewsletter,
    IspRelay,
    IspSubmission,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ZombieHeavy => "zombie_heavy",
            Role::ZombieMedium => "zombie_medium",
            Role::ZombieLow => "zombie_low",
            Role::SubscriberRelay => "subscriber_relay",
            Role::SubscriberSubmission => "subscriber_submission",
            Role::SubscriberDirect25 => "subscriber_direct25",
            Role::BusinessMx => "business_mx",
            Role::BusinessNewsletter => "business_newsletter",
            Role::IspRelay => "isp_relay",
            Role::IspSubmission => "isp_submission",
        }
    }

    pub fn is_zombie(self) -> bool {
        matches!(
            self,
            Role::ZombieHeavy | Role::ZombieMedium | Role::ZombieLow
        )
    }
}

pub const ISP_RELAY: [u8; 4] = [198, 19, 255, 10];
pub const ISP_SUBMISSION: [u8; 4] = [198, 19, 255, 25];
pub const ISP_RESOLVER: [u8; 4] = [198, 19, 255, 53];
pub const ISP_DOMAIN: &str = "isp.example";

/// Capacity of each dynamic IPv4 pool, in order of use.
pub const DYNAMIC_POOLS_V4: &[(&str, [u8; 4], u32)] = &[
    ("198.18.0.0/17", [198, 18, 0, 0], 1 << 15),
    ("198.18.128.0/17", [198, 18, 128, 0], 1 << 15),
    ("198.19.128.0/18", [198, 19, 128, 0], 1 << 14),
];

pub fn v4(a: [u8; 4]) -> [u8; 16] {
    let mut x = [0u8; 16];
    x[..4].copy_from_slice(&a);
    x
}

pub fn fmt_ip(v6: bool, a: &[u8; 16]) -> String {
    if v6 {
        std::net::Ipv6Addr::from(*a).to_string()
    } else {
        std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]).to_string()
    }
}

#[derive(Clone, Debug)]
pub struct Host {
    pub ip: [u8; 16],
    pub ip6: Option<[u8; 16]>,
    pub role: Role,
    pub dynamic: bool,
    pub link: Link,
    /// Windows-like stack (TTL 128, SYN retries at 0/3/9 s, ports 1025-5000).
    pub windows: bool,
    pub mss: u16,
    /// The name a legitimate host says in HELO; its mail domain.
    pub hostname: String,
    pub domain: String,
    /// Zombie that submits with stolen credentials, per phase.
    pub stolen_credentials: [bool; 2],
    /// Attempts per hour (zombie_low, zombie_medium).
    pub attempts_per_hour: f64,
    /// Multiplier of the host's mail rates: expected / actual hosts of its
    /// group, so that rounding the population at small scales keeps the
    /// expected traffic mix of the profile.
    pub rate_factor: f64,
    /// HELO style for zombies (index into the zombie HELO styles).
    pub helo_style: u8,
    /// Zombie pipelines its commands.
    pub pipelining: bool,
    pub next_port: u16,
}

impl Host {
    pub fn ip_string(&self) -> String {
        fmt_ip(false, &self.ip)
    }

    /// Next ephemeral port (sequential 1025-5000 on Windows, random above 32768 otherwise).
    pub fn ephemeral_port(&mut self, rng: &mut Rng) -> u16 {
        if self.windows {
            self.next_port = if self.next_port >= 5000 {
                1025
            } else {
                self.next_port + 1
            };
            self.next_port
        } else {
            rng.range(32768, 60999) as u16
        }
    }
}

pub struct Population {
    pub hosts: Vec<Host>,
    /// The pools in use (CIDR text) for isp.toml.
    pub dynamic_pools_v4: Vec<&'static str>,
    pub relay_index: usize,
}

fn host_mac(i: usize) -> [u8; 6] {
    let b = (i as u32).to_be_bytes();
    [0x00, 0x0c, 0x29, b[1], b[2], b[3]]
}

const GATEWAY_MAC: [u8; 6] = [0x00, 0x1b, 0x21, 0x3a, 0x5c, 0x01];

fn count(base: f64, scale: f64) -> usize {
    let n = base * scale;
    if base > 0.0 && n < 1.0 {
        1
    } else {
        n.round() as usize
    }
}

impl Population {
    pub fn build(profile: &Profile, scale: f64, seed: u64) -> anyhow::Result<Self> {
        let mut rng = Rng::new(seed ^ 0x706f_7075_6c61_7469);
        let groups = [
            (Role::ZombieHeavy, profile.zombies_heavy),
            (Role::ZombieMedium, profile.zombies_medium),
            (Role::ZombieLow, profile.zombies_low),
            (Role::SubscriberRelay, profile.subscribers_relay),
            (Role::SubscriberSubmission, profile.subscribers_submission),
            (Role::SubscriberDirect25, profile.subscribers_direct25),
            (Role::BusinessMx, profile.business_mx),
            (Role::BusinessNewsletter, profile.business_newsletter),
        ];
        let mut roles: Vec<Role> = Vec::new();
        let mut factors: Vec<(Role, f64)> = Vec::new();
        for (role, base) in groups {
            let n = count(base, scale);
            roles.extend(std::iter::repeat_n(role, n));
            if n > 0 {
                factors.push((role, base * scale / n as f64));
            }
        }
        // Interleave roles over the address space.
        for i in (1..roles.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            roles.swap(i, j);
        }
        let n_dynamic = roles
            .iter()
            .filter(|r| !matches!(r, Role::BusinessMx | Role::BusinessNewsletter))
            .count();
        let n_static = roles.len() - n_dynamic;
        // Hosts never get a .0 or .255 address: 254 per /24.
        let usable = |size: u32| u64::from(size / 256 * 254);
        let mut pools = Vec::new();
        let mut capacity = 0u64;
        for (cidr, _, size) in DYNAMIC_POOLS_V4 {
            if capacity >= (n_dynamic as u64) * 5 / 4 && !pools.is_empty() {
                break;
            }
            pools.push(*cidr);
            capacity += usable(*size);
        }
        if n_dynamic as u64 > capacity {
            anyhow::bail!(
                "scale {scale} needs {n_dynamic} dynamic addresses, more than the {capacity} the pools hold"
            );
        }
        if n_static > 3500 {
            anyhow::bail!(
                "scale {scale} needs {n_static} business addresses, more than 198.19.0.0/20 holds"
            );
        }
        let slot_address = |base: [u8; 4], slot: u64| -> [u8; 4] {
            let v = u32::from_be_bytes(base) + (slot / 254) as u32 * 256 + 1 + (slot % 254) as u32;
            v.to_be_bytes()
        };
        let mut used: HashSet<[u8; 4]> = HashSet::new();
        let mut hosts = Vec::with_capacity(roles.len() + 2);
        for (i, role) in roles.into_iter().enumerate() {
            let dynamic = !matches!(role, Role::BusinessMx | Role::BusinessNewsletter);
            let addr = loop {
                let a = if dynamic {
                    let mut left = rng.below(capacity);
                    let mut chosen = [0u8; 4];
                    for (cidr, base, size) in DYNAMIC_POOLS_V4 {
                        if !pools.contains(cidr) {
                            continue;
                        }
                        if left < usable(*size) {
                            chosen = slot_address(*base, left);
                            break;
                        }
                        left -= usable(*size);
                    }
                    chosen
                } else {
                    // 198.19.0.2 upwards (198.19.0.1 is the gateway).
                    slot_address([198, 19, 0, 0], 1 + rng.below(4000))
                };
                if used.insert(a) {
                    break a;
                }
            };
            let zombie = role.is_zombie();
            let windows = zombie || (dynamic && rng.chance(0.85)) || (!dynamic && rng.chance(0.3));
            // Tags and IPv6 go by position in the (shuffled) host list, so
            // even a small sample holds every kind.
            let tags = if dynamic {
                let x = (i * 37 % 100) as f64 / 100.0;
                if x < rates::VLAN_QINQ {
                    Tags::QinQ {
                        outer: 10 + u16::from(addr[2] / 32),
                        inner: 100 + u16::from(addr[2] % 64),
                    }
                } else if x < rates::VLAN_QINQ + rates::VLAN_DOT1Q {
                    Tags::Dot1q(100 + u16::from(addr[2] % 64))
                } else {
                    Tags::None
                }
            } else if rng.chance(0.5) {
                Tags::Dot1q(200)
            } else {
                Tags::None
            };
            let ip6 = if !zombie && ((i * 61 + 17) % 100) as f64 / 100.0 < rates::IPV6_HOSTS {
                let mut a = [0u8; 16];
                if dynamic {
                    // 2001:db8:8000::/33: a /64 per subscriber.
                    a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
                    let p = (rng.next_u32() | 0x8000_0000).to_be_bytes();
                    a[4..8].copy_from_slice(&p);
                } else {
                    a[..6].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01]);
                    a[6..8].copy_from_slice(&(i as u16).to_be_bytes());
                }
                let iid = rng.next_u64().to_be_bytes();
                a[8..16].copy_from_slice(&iid);
                Some(a)
            } else {
                None
            };
            let mss = if rng.chance(0.25) {
                1414
            } else if rng.chance(0.2) {
                1440
            } else {
                1460
            };
            let (hostname, domain) = match role {
                Role::BusinessMx | Role::BusinessNewsletter => {
                    let d = format!(
                        "{}-{}.co.jp",
                        name_of(i as u64, seed),
                        name_of(i as u64 + 7, seed)
                    );
                    (format!("mail.{d}"), d)
                }
                _ => {
                    let ptr = format!(
                        "p{}{:03}-adsl{}.{}",
                        addr[2],
                        addr[3],
                        addr[1] - 17,
                        ISP_DOMAIN
                    );
                    let local = if rng.chance(0.5) {
                        format!("{}-pc", name_of(i as u64, seed))
                    } else {
                        ptr
                    };
                    (local, ISP_DOMAIN.to_string())
                }
            };
            let (before_stolen, after_stolen) = if zombie {
                let x = rng.unit();
                (
                    x < rates::STOLEN_CREDENTIALS_BEFORE,
                    x < rates::STOLEN_CREDENTIALS_AFTER,
                )
            } else {
                (false, false)
            };
            let attempts = match role {
                Role::ZombieLow => rng.range(
                    rates::LOW_ATTEMPTS_PER_HOUR.0,
                    rates::LOW_ATTEMPTS_PER_HOUR.1,
                ) as f64,
                Role::ZombieMedium => rates::MEDIUM_ATTEMPTS_PER_HOUR * (0.6 + 0.8 * rng.unit()),
                _ => 1.0,
            };
            hosts.push(Host {
                ip: v4(addr),
                ip6,
                role,
                dynamic,
                link: Link {
                    host_mac: host_mac(i + 16),
                    peer_mac: GATEWAY_MAC,
                    tags,
                },
                windows,
                mss,
                hostname,
                domain,
                stolen_credentials: [before_stolen, after_stolen],
                attempts_per_hour: attempts,
                rate_factor: factors
                    .iter()
                    .find(|(r, _)| *r == role)
                    .map_or(1.0, |(_, f)| *f),
                helo_style: rng.below(6) as u8,
                pipelining: rng.chance(0.4),
                next_port: 1025 + rng.below(3000) as u16,
            });
        }
        let relay_index = hosts.len();
        for (role, addr, name) in [
            (Role::IspRelay, ISP_RELAY, "mx-out1.isp.example"),
            (Role::IspSubmission, ISP_SUBMISSION, "smtp.isp.example"),
        ] {
            hosts.push(Host {
                ip: v4(addr),
                ip6: None,
                role,
                dynamic: false,
                link: Link {
                    host_mac: host_mac(addr[3] as usize),
                    peer_mac: GATEWAY_MAC,
                    tags: Tags::None,
                },
                windows: false,
                mss: 1460,
                hostname: name.to_string(),
                domain: ISP_DOMAIN.to_string(),
                stolen_credentials: [false, false],
                attempts_per_hour: 1.0,
                rate_factor: 1.0,
                helo_style: 0,
                pipelining: true,
                next_port: 40000,
            });
        }
        Ok(Population {
            hosts,
            dynamic_pools_v4: pools,
            relay_index,
        })
    }
}

/// First octets of public-looking IPv4 space used for external hosts
/// (no private, shared, documentation, multicast or 198.18.0.0/15 space).
const FIRST_OCTETS: &[u8] = &[
    12, 24, 38, 41, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 74, 75, 76, 78, 80,
    81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 111, 112, 113, 114, 115, 116, 117,
    118, 119, 121, 122, 123, 124, 125, 133, 150, 153, 157, 163, 168, 193, 194, 195, 196, 200, 201,
    202, 204, 205, 206, 207, 208, 209, 210, 211, 212, 213, 216, 217, 218, 219, 220, 221, 222,
];

const TLDS: &[&str] = &[
    "com", "net", "jp", "co.jp", "ne.jp", "org", "de", "fr", "cn", "kr", "com.br", "co.uk", "ru",
    "nl",
];

/// An external server.
#[derive(Clone, Debug)]
pub struct Server {
    pub ip: [u8; 16],
    pub ip6: Option<[u8; 16]>,
    pub name: String,
    pub domain: String,
    /// Never answers (dead or firewalled MX).
    pub dead: bool,
    pub starttls: bool,
    pub pipelining: bool,
    /// Capture point -> server round trip.
    pub rtt_us: u64,
    pub ttl: u8,
    pub software: u8,
}

/// Index spaces of the external Internet.
pub const MX_POOL: u64 = 40_000;
pub const POPULAR_PROVIDERS: u64 = 40;
pub const MX_PER_PROVIDER: u64 = 6;
pub const SUBMISSION_PROVIDERS: u64 = 60;
pub const WEB_SERVERS: u64 = 4000;

fn ext_v4(h: u64) -> [u8; 4] {
    let first = FIRST_OCTETS[(h % FIRST_OCTETS.len() as u64) as usize];
    let b = (h >> 16).to_be_bytes();
    [first, b[5], b[6], 1 + b[7] % 253]
}

fn ext_v6(h: u64) -> [u8; 16] {
    let mut a = [0u8; 16];
    let prefixes: [[u8; 2]; 4] = [[0x2a, 0x01], [0x2a, 0x02], [0x26, 0x04], [0x24, 0x04]];
    a[..2].copy_from_slice(&prefixes[(h % 4) as usize]);
    a[2..8].copy_from_slice(&h.to_be_bytes()[2..8]);
    a[15] = 1 + (h >> 7) as u8 % 200;
    a
}

fn tld(h: u64) -> &'static str {
    TLDS[(h % TLDS.len() as u64) as usize]
}

/// The Internet, derived from the run seed.
pub struct Internet {
    salt: u64,
}

impl Internet {
    pub fn new(seed: u64) -> Self {
        Internet {
            salt: mix(seed ^ 0x696e_7465_726e_6574),
        }
    }

    fn h(&self, kind: u64, i: u64) -> u64 {
        mix(self.salt ^ (kind << 56) ^ i)
    }

    /// MX host `i` of the wide pool (spam targets, long tail of domains).
    pub fn mx(&self, i: u64) -> Server {
        let h = self.h(1, i);
        let domain = format!("{}.{}", name_of(h, 1), tld(h >> 8));
        Server {
            ip: v4(ext_v4(h)),
            ip6: None,
            name: format!("mx{}.{}", 1 + (h >> 20) % 3, domain),
            domain,
            dead: h % 100 < 12,
            starttls: (h >> 12) % 100 < 25,
            pipelining: (h >> 14) % 100 < 70,
            rtt_us: if (h >> 24).is_multiple_of(2) {
                8_000 + (h >> 30) % 30_000
            } else {
                100_000 + (h >> 30) % 160_000
            },
            ttl: if (h >> 40).is_multiple_of(2) { 52 } else { 113 },
            software: ((h >> 44) % 4) as u8,
        }
    }

    /// MX host `j` of a popular provider (most legitimate mail goes there).
    pub fn popular_mx(&self, provider: u64, j: u64) -> Server {
        let h = self.h(2, provider);
        let prefix = ext_v4(h);
        let domain = format!("{}mail.{}", name_of(h, 2), tld(h >> 8));
        let v6 = provider.is_multiple_of(3);
        Server {
            ip: v4([prefix[0], prefix[1], prefix[2], 10 + j as u8]),
            ip6: v6.then(|| {
                let mut a = ext_v6(h);
                a[15] = 10 + j as u8;
                a
            }),
            name: format!("mx{}.{}", j + 1, domain),
            domain,
            dead: false,
            starttls: provider.is_multiple_of(2),
            pipelining: true,
            rtt_us: 5_000 + (h >> 20) % 150_000,
            ttl: 54,
            software: (provider % 4) as u8,
        }
    }

    /// Submission server (587 and 465) of another provider.
    pub fn submission(&self, provider: u64) -> Server {
        let h = self.h(3, provider);
        let domain = format!("{}.{}", name_of(h, 3), tld(h >> 8));
        Server {
            ip: v4(ext_v4(h)),
            ip6: (provider.is_multiple_of(3)).then(|| ext_v6(h)),
            name: format!("smtp.{domain}"),
            domain,
            dead: false,
            starttls: true,
            pipelining: true,
            rtt_us: 5_000 + (h >> 20) % 120_000,
            ttl: 55,
            software: (provider % 4) as u8,
        }
    }

    pub fn web(&self, i: u64) -> Server {
        let h = self.h(4, i);
        let domain = format!("www.{}.{}", name_of(h, 4), tld(h >> 8));
        Server {
            ip: v4(ext_v4(h)),
            ip6: i.is_multiple_of(4).then(|| ext_v6(h)),
            name: domain.clone(),
            domain,
            dead: false,
            starttls: false,
            pipelining: false,
            rtt_us: 5_000 + (h >> 20) % 200_000,
            ttl: 50,
            software: 0,
        }
    }

    /// Public resolvers zombies use for MX lookups.
    pub fn public_resolver(&self, i: u64) -> [u8; 16] {
        v4(ext_v4(self.h(5, i % 4)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile;

    #[test]
    fn external_addresses_stay_outside_the_isp_and_special_ranges() {
        let net = Internet::new(1);
        for i in 0..5000 {
            let s = net.mx(i);
            let a = &s.ip;
            assert!(!(a[0] == 198 && (a[1] & 0xFE) == 18));
            assert!(![0u8, 10, 127, 169, 172, 192, 224].contains(&a[0]));
            assert!(a[3] != 0 && a[3] != 255);
        }
    }

    #[test]
    fn large_scales_add_pools_and_too_large_ones_fail() {
        let p = profile::find("wakwak-2005").unwrap_or(&profile::PROFILES[0]);
        let pop = Population::build(p, 100.0, 3).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            pop.dynamic_pools_v4,
            vec!["198.18.0.0/17", "198.18.128.0/17"]
        );
        let mut seen = HashSet::new();
        for h in &pop.hosts {
            assert!(seen.insert(h.ip));
            assert!(h.ip[3] != 0 && h.ip[3] != 255, "{:?}", h.ip);
        }
        assert!(Population::build(p, 1000.0, 3).is_err());
    }

    #[test]
    fn hosts_get_unique_addresses_in_their_pools() {
        let p = profile::find("wakwak-2005").unwrap_or(&profile::PROFILES[0]);
        let pop = Population::build(p, 1.0, 9).unwrap_or_else(|e| panic!("{e}"));
        let mut seen = HashSet::new();
        for h in &pop.hosts {
            assert!(seen.insert(h.ip));
            if h.dynamic {
                assert_eq!((h.ip[0], h.ip[1]), (198, 18));
                assert!(h.ip[2] < 128);
            } else if !matches!(h.role, Role::IspRelay | Role::IspSubmission) {
                assert_eq!((h.ip[0], h.ip[1]), (198, 19));
                assert!(h.ip[2] < 16);
            }
        }
    }
}
