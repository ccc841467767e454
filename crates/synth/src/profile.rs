//! The named traffic profiles and every number that shapes a simulated
//! ISP. Population counts are per `--scale 1`; rates are per hour of
//! simulated time. The crate README lists them all.

/// One hour of simulated time per phase.
pub const PHASE_DURATION_US: u64 = 3_600_000_000;
/// The `before` phase starts 2005-11-01 01:00:00 UTC (10:00 JST).
pub const BEFORE_START_US: u64 = 1_130_806_800_000_000;
/// The `after` phase starts one week later.
pub const AFTER_OFFSET_US: u64 = 7 * 86_400 * 1_000_000;

#[derive(Clone, Debug)]
pub struct Profile {
    pub name: &'static str,
    /// Dynamic-pool subscribers who send mail through the ISP's servers.
    pub subscribers_relay: f64,
    /// ... through other providers' submission servers (587/465).
    pub subscribers_submission: f64,
    /// ... through other servers directly on port 25 (OP25B collateral).
    pub subscribers_direct25: f64,
    /// Infected subscribers: bursty, hundreds to thousands of attempts an hour.
    pub zombies_heavy: f64,
    /// ~150 attempts an hour.
    pub zombies_medium: f64,
    /// 5-30 attempts an hour.
    pub zombies_low: f64,
    /// Businesses on static addresses running their own MTA.
    pub business_mx: f64,
    /// Businesses sending newsletters (wide fan-out, legitimate).
    pub business_newsletter: f64,
    /// Expected band of the `before` spam share of outbound messages.
    pub spam_band: (f64, f64),
    /// The share the zombies' DATA acceptance is steered towards (see
    /// `sim::PhaseRun::zombie_queue_probability`); 0 = no steering.
    pub spam_target: f64,
    /// After the block, each message of a direct-25 customer is first
    /// retried this many times on port 25 to the MX of each of its 1-4
    /// recipient domains, every `rates::MTA_RETRY_US`, never answered (the
    /// customer's own mail server working its queue), before the customer
    /// sends it the new way. 0: customers move at once (and no random
    /// number is drawn).
    pub direct25_mta_retries: u32,
}

/// The simulated WAKWAK-like ISP of 2005.
const WAKWAK_2005: Profile = Profile {
    name: "wakwak-2005",
    subscribers_relay: 220.0,
    subscribers_submission: 60.0,
    subscribers_direct25: 16.0,
    zombies_heavy: 3.0,
    zombies_medium: 10.0,
    zombies_low: 30.0,
    business_mx: 12.0,
    business_newsletter: 1.0,
    spam_band: (0.80, 0.86),
    spam_target: 0.815,
    direct25_mta_retries: 0,
};

pub const PROFILES: &[Profile] = &[
    WAKWAK_2005,
    Profile {
        name: "clean",
        subscribers_relay: 220.0,
        subscribers_submission: 60.0,
        subscribers_direct25: 16.0,
        zombies_heavy: 0.0,
        zombies_medium: 0.0,
        zombies_low: 0.0,
        business_mx: 12.0,
        business_newsletter: 1.0,
        spam_band: (0.0, 0.0),
        spam_target: 0.0,
        direct25_mta_retries: 0,
    },
    Profile {
        name: "heavy",
        subscribers_relay: 220.0,
        subscribers_submission: 60.0,
        subscribers_direct25: 16.0,
        zombies_heavy: 20.0,
        zombies_medium: 60.0,
        zombies_low: 150.0,
        business_mx: 12.0,
        business_newsletter: 1.0,
        spam_band: (0.93, 0.97),
        spam_target: 0.935,
        direct25_mta_retries: 0,
    },
    // wakwak-2005 where the customers cut off run their own mail server,
    // which keeps retrying port 25 after the block.
    Profile {
        name: "wakwak-2005-retries",
        direct25_mta_retries: 5,
        ..WAKWAK_2005
    },
];

pub const PROFILE_NAMES: &[&str] = &["wakwak-2005", "clean", "heavy", "wakwak-2005-retries"];

pub fn find(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name)
}

/// Behaviour shared by every profile.
pub mod rates {
    /// Mail sessions per hour per legitimate subscriber.
    pub const RELAY_MAIL_PER_HOUR: f64 = 1.4;
    pub const SUBMISSION_MAIL_PER_HOUR: f64 = 1.0;
    pub const DIRECT25_MAIL_PER_HOUR: f64 = 1.5;
    /// Web page fetches (each with a DNS lookup) per hour.
    pub const WEB_PER_HOUR_SUBSCRIBER: f64 = 1.5;
    pub const WEB_PER_HOUR_ZOMBIE: f64 = 1.0;
    pub const WEB_PER_HOUR_BUSINESS: f64 = 5.0;
    /// Mean HTTP response body (bytes, exponential, capped at 400 kB).
    pub const WEB_MEAN_BODY: f64 = 6_000.0;
    /// Heavy zombies: in every `HEAVY_CYCLE_MIN`-minute cycle, one burst of
    /// `HEAVY_BURST_MIN` minutes (at a random offset) at this rate.
    pub const HEAVY_ATTEMPTS_PER_HOUR_IN_BURST: f64 = 3000.0;
    pub const HEAVY_BURST_MIN: u64 = 10;
    pub const HEAVY_CYCLE_MIN: u64 = 20;
    pub const MEDIUM_ATTEMPTS_PER_HOUR: f64 = 200.0;
    pub const LOW_ATTEMPTS_PER_HOUR: (u64, u64) = (5, 30);
    /// Share of zombie attempts preceded by an MX lookup at a public resolver.
    pub const ZOMBIE_MX_LOOKUP: f64 = 0.25;
    /// Share of zombies that also submit spam with stolen credentials to
    /// the ISP's submission server (587, AUTH), before and after the block.
    pub const STOLEN_CREDENTIALS_BEFORE: f64 = 0.05;
    pub const STOLEN_CREDENTIALS_AFTER: f64 = 0.25;
    pub const STOLEN_SUBMISSIONS_PER_HOUR: f64 = 12.0;
    pub const BUSINESS_MAIL_PER_HOUR: f64 = 8.0;
    pub const NEWSLETTER_SESSIONS_PER_HOUR: f64 = 200.0;
    /// Share of legitimate dynamic subscribers and businesses with IPv6,
    /// and how often they use it when the peer has an IPv6 address.
    pub const IPV6_HOSTS: f64 = 0.08;
    pub const IPV6_USE: f64 = 0.7;
    /// Share of dynamic hosts behind one 802.1Q tag, and behind QinQ.
    pub const VLAN_DOT1Q: f64 = 0.30;
    pub const VLAN_QINQ: f64 = 0.04;
    /// Subscribers using the ISP's server: share on port 25 (else 587+AUTH),
    /// before and after the block.
    pub const RELAY_PORT25_BEFORE: f64 = 0.65;
    pub const RELAY_PORT25_AFTER: f64 = 0.55;
    /// After the block, direct-25 users move to another provider's 587
    /// with this probability (else to the ISP's relay).
    pub const DIRECT25_MOVE_TO_587: f64 = 0.75;
    /// A mail server's queue retry interval (Postfix's minimal backoff).
    pub const MTA_RETRY_US: u64 = 300_000_000;
}
