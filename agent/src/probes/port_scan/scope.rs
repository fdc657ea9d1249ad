//! Scan scope: which addresses and ports the active `port_scan` probe may
//! touch.
//!
//! The CSAP scan consent form (seed 000) allows active probing only of the
//! systems agreed in advance. So an address is probed only when every allow
//! layer contains it (the configured `allow`, and any narrower list the
//! collector pushed), and the check runs per address *after* name resolution:
//! a name cannot smuggle an unagreed address in. The scanner connects only to
//! a [`Permitted`], which nothing outside this module can make.
//!
//! A scope pushed by the collector can only narrow: its allow list becomes one
//! more layer, its targets must fall within the configured ones, and its ports
//! are intersected with the configured ports.

use gamsa_proto::v1::ScanScope;
use ipnet::{IpNet, Ipv4Net};
use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// Most addresses one scan may cover (a /16), bounding memory and run time.
pub const MAX_ADDRESSES: usize = 65_536;
/// Longest a name may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("{0:?} is not a CIDR or an IP address")]
    Cidr(String),
    #[error("{0:?} is not an IP address, a CIDR or a host name")]
    Target(String),
    #[error("port spec {spec:?}: {why}")]
    Ports { spec: String, why: String },
}

/// A set of TCP ports, kept as sorted, merged, inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortSet(Vec<(u16, u16)>);

impl PortSet {
    /// Parses "22,80,443,8000-8100" or "1-65535".
    pub fn parse(spec: &str) -> Result<Self, ScopeError> {
        let bad = |why: String| ScopeError::Ports {
            spec: spec.to_string(),
            why,
        };
        let port = |s: &str| match s.trim().parse::<u16>() {
            Ok(p) if p > 0 => Ok(p),
            _ => Err(bad(format!("{:?} is not a port (1-65535)", s.trim()))),
        };
        let mut ranges = Vec::new();
        for item in spec.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err(bad("empty item".into()));
            }
            let (lo, hi) = match item.split_once('-') {
                Some((a, b)) => (port(a)?, port(b)?),
                None => (port(item)?, port(item)?),
            };
            if lo > hi {
                return Err(bad(format!("range {item:?} runs backwards")));
            }
            ranges.push((lo, hi));
        }
        Ok(Self::merged(ranges))
    }

    fn merged(mut ranges: Vec<(u16, u16)>) -> Self {
        ranges.sort_unstable();
        let mut out: Vec<(u16, u16)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match out.last_mut() {
                Some(last) if u32::from(lo) <= u32::from(last.1) + 1 => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        Self(out)
    }

    /// Ports in both sets.
    pub fn intersect(&self, other: &PortSet) -> PortSet {
        let mut out = Vec::new();
        for &(a_lo, a_hi) in &self.0 {
            for &(b_lo, b_hi) in &other.0 {
                let (lo, hi) = (a_lo.max(b_lo), a_hi.min(b_hi));
                if lo <= hi {
                    out.push((lo, hi));
                }
            }
        }
        Self::merged(out)
    }

    pub fn len(&self) -> usize {
        self.0
            .iter()
            .map(|&(lo, hi)| usize::from(hi - lo) + 1)
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn to_vec(&self) -> Vec<u16> {
        self.0.iter().flat_map(|&(lo, hi)| lo..=hi).collect()
    }
}

/// The canonical spec: "22,80,8000-8100".
impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(lo, hi)) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            if lo == hi {
                write!(f, "{sep}{lo}")?;
            } else {
                write!(f, "{sep}{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

/// An IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`) reaches IPv4 hosts,
/// so it is treated as the IPv4 network it maps.
fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(n) = net {
        if let (Some(v4), true) = (n.addr().to_ipv4_mapped(), n.prefix_len() >= 96) {
            if let Ok(n4) = Ipv4Net::new(v4, n.prefix_len() - 96) {
                return IpNet::V4(n4.trunc());
            }
        }
    }
    net.trunc()
}

fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    let net = match s.parse::<IpNet>() {
        Ok(n) => n,
        Err(_) => IpNet::from(s.parse::<IpAddr>().ok()?),
    };
    Some(canonical_net(net))
}

/// A list of CIDRs an address must fall in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList(Vec<IpNet>);

impl AllowList {
    /// Parses CIDRs; a bare address is its own /32 or /128.
    pub fn parse(items: &[String]) -> Result<Self, ScopeError> {
        items
            .iter()
            .map(|s| parse_net(s).ok_or_else(|| ScopeError::Cidr(s.clone())))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn contains(&self, addr: &IpAddr) -> bool {
        let addr = addr.to_canonical();
        self.0.iter().any(|n| n.contains(&addr))
    }
}

impl fmt::Display for AllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "[{}]", items.join(", "))
    }
}

/// One configured target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Net(IpNet),
    Addr(IpAddr),
    Name(String),
}

impl Target {
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        let s = s.trim();
        if s.contains('/') {
            return parse_net(s)
                .map(|n| match n {
                    IpNet::V4(v4) if v4.prefix_len() == 32 => Target::Addr(v4.addr().into()),
                    IpNet::V6(v6) if v6.prefix_len() == 128 => Target::Addr(v6.addr().into()),
                    n => Target::Net(n),
                })
                .ok_or_else(|| ScopeError::Target(s.to_string()));
        }
        if let Ok(a) = s.parse::<IpAddr>() {
            return Ok(Target::Addr(a.to_canonical()));
        }
        let name_ok = !s.is_empty()
            && s.len() <= 253
            && s.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if name_ok {
            Ok(Target::Name(s.to_string()))
        } else {
            Err(ScopeError::Target(s.to_string()))
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Net(n) => n.fmt(f),
            Target::Addr(a) => a.fmt(f),
            Target::Name(n) => n.fmt(f),
        }
    }
}

async fn resolve(name: &str) -> Result<Vec<IpAddr>, String> {
    match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((name, 0))).await {
        Err(_) => Err(format!(
            "resolving {name} took longer than {}s",
            RESOLVE_TIMEOUT.as_secs()
        )),
        Ok(Err(e)) => Err(format!("could not resolve {name}: {e}")),
        Ok(Ok(addrs)) => {
            let mut out: Vec<IpAddr> = Vec::new();
            for a in addrs.map(|sa| sa.ip().to_canonical()) {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
            if out.is_empty() {
                Err(format!("{name} resolved to no address"))
            } else {
                Ok(out)
            }
        }
    }
}

/// The addresses a list of targets covers, for "is this within the
/// configured targets" checks. A name that does not resolve covers nothing.
struct Coverage {
    nets: Vec<IpNet>,
    addrs: HashSet<IpAddr>,
}

impl Coverage {
    async fn of(targets: &[Target]) -> Self {
        let mut c = Coverage {
            nets: Vec::new(),
            addrs: HashSet::new(),
        };
        for t in targets {
            match t {
                Target::Net(n) => c.nets.push(*n),
                Target::Addr(a) => {
                    c.addrs.insert(*a);
                }
                Target::Name(n) => c.addrs.extend(resolve(n).await.unwrap_or_default()),
            }
        }
        c
    }

    fn contains(&self, addr: &IpAddr) -> bool {
        self.addrs.contains(addr) || self.nets.iter().any(|n| n.contains(addr))
    }
}

/// An address the scope allows probing. Only [`Scope::plan`] makes these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permitted {
    /// The configured target it came from: a name, or the address itself.
    pub target: String,
    /// Evidence subject: the address, or "name (address)".
    pub subject: String,
    addr: IpAddr,
}

impl Permitted {
    pub fn addr(&self) -> IpAddr {
        self.addr
    }
}

/// A target (or one of its addresses) that will not be probed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unscanned {
    pub subject: String,
    pub reason: String,
}

/// What a scan may touch, resolved for this run.
#[derive(Debug, Default)]
pub struct Plan {
    pub permitted: Vec<Permitted>,
    pub unscanned: Vec<Unscanned>,
}

/// The effective scan scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// An address must be in every layer: the configured list first, then
    /// any the collector pushed.
    allow: Vec<AllowList>,
    targets: Vec<Target>,
    /// Target lists the targets must fall within (set when the collector
    /// narrowed the targets: the configured ones).
    within: Vec<Vec<Target>>,
    ports: PortSet,
    narrowed: bool,
}

impl Scope {
    pub fn new(allow: &[String], targets: &[String], ports: &str) -> Result<Self, ScopeError> {
        Ok(Self {
            allow: vec![AllowList::parse(allow)?],
            targets: targets
                .iter()
                .map(|t| Target::parse(t))
                .collect::<Result<_, _>>()?,
            within: Vec::new(),
            ports: PortSet::parse(ports)?,
            narrowed: false,
        })
    }

    /// This scope narrowed by one the collector pushed: never wider. Empty
    /// fields of `pushed` leave that part of the scope as it is.
    pub fn narrowed(&self, pushed: &ScanScope) -> Result<Self, ScopeError> {
        let mut s = self.clone();
        s.narrowed = true;
        if !pushed.allow.is_empty() {
            s.allow.push(AllowList::parse(&pushed.allow)?);
        }
        if !pushed.targets.is_empty() {
            s.within.push(std::mem::take(&mut s.targets));
            s.targets = pushed
                .targets
                .iter()
                .map(|t| Target::parse(t))
                .collect::<Result<_, _>>()?;
        }
        if !pushed.ports.trim().is_empty() {
            s.ports = s.ports.intersect(&PortSet::parse(&pushed.ports)?);
        }
        Ok(s)
    }

    pub fn ports(&self) -> &PortSet {
        &self.ports
    }

    pub fn targets(&self) -> Vec<String> {
        self.targets.iter().map(ToString::to_string).collect()
    }

    /// Whether the collector narrowed this scope.
    pub fn is_narrowed(&self) -> bool {
        self.narrowed
    }

    /// The allow layers as text, for refusals and the scan log.
    pub fn allow_text(&self) -> String {
        let layers: Vec<String> = self.allow.iter().map(ToString::to_string).collect();
        layers.join(" ∩ ")
    }

    /// Why `addr` may not be probed, if it may not.
    fn refusal(&self, addr: &IpAddr, within: &[Coverage]) -> Option<String> {
        if !self.allow.iter().all(|l| l.contains(addr)) {
            return Some(format!(
                "{addr} is outside the scan allow-list {}; refused, not probed",
                self.allow_text()
            ));
        }
        if !within.iter().all(|c| c.contains(addr)) {
            return Some(format!(
                "{addr} is not among the configured scan targets; the collector may only narrow the scope; refused, not probed"
            ));
        }
        None
    }

    /// Resolves names and expands networks, then checks every address
    /// against the scope. Networks are scanned whole or not at all.
    pub async fn plan(&self) -> Plan {
        let mut within = Vec::with_capacity(self.within.len());
        for layer in &self.within {
            within.push(Coverage::of(layer).await);
        }
        let mut plan = Plan::default();
        let mut seen = HashSet::new();
        let mut add = |plan: &mut Plan, target: String, subject: String, addr: IpAddr| {
            if plan.permitted.len() >= MAX_ADDRESSES {
                plan.unscanned.push(Unscanned {
                    subject,
                    reason: format!("the scan already covers {MAX_ADDRESSES} addresses, its limit"),
                });
            } else if seen.insert(addr) {
                plan.permitted.push(Permitted {
                    target,
                    subject,
                    addr,
                });
            }
        };
        for t in &self.targets {
            match t {
                Target::Addr(a) => match self.refusal(a, &within) {
                    Some(reason) => plan.unscanned.push(Unscanned {
                        subject: a.to_string(),
                        reason,
                    }),
                    None => add(&mut plan, a.to_string(), a.to_string(), *a),
                },
                Target::Name(name) => match resolve(name).await {
                    Err(reason) => plan.unscanned.push(Unscanned {
                        subject: name.clone(),
                        reason,
                    }),
                    Ok(addrs) => {
                        for a in addrs {
                            let subject = format!("{name} ({a})");
                            match self.refusal(&a, &within) {
                                Some(reason) => plan.unscanned.push(Unscanned { subject, reason }),
                                None => add(&mut plan, name.clone(), subject, a),
                            }
                        }
                    }
                },
                Target::Net(net) => {
                    let size = match net {
                        IpNet::V4(n) => 1u128 << (32 - n.prefix_len()),
                        IpNet::V6(n) => 1u128
                            .checked_shl(u32::from(128 - n.prefix_len()))
                            .unwrap_or(u128::MAX),
                    };
                    if size > MAX_ADDRESSES as u128 {
                        plan.unscanned.push(Unscanned {
                            subject: net.to_string(),
                            reason: format!(
                                "{net} has more than {MAX_ADDRESSES} addresses, the limit of one scan"
                            ),
                        });
                        continue;
                    }
                    let hosts: Vec<IpAddr> = net.hosts().map(|a| a.to_canonical()).collect();
                    match hosts.iter().find_map(|a| self.refusal(a, &within)) {
                        Some(reason) => plan.unscanned.push(Unscanned {
                            subject: net.to_string(),
                            reason: format!("{net} is not wholly in scope: {reason}"),
                        }),
                        None => {
                            for a in hosts {
                                add(&mut plan, a.to_string(), a.to_string(), a);
                            }
                        }
                    }
                }
            }
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn port_specs_parse_merge_and_print() {
        let p = PortSet::parse("443, 22,80,8000-8100,79,8050-8200").unwrap();
        assert_eq!(p.to_string(), "22,79-80,443,8000-8200");
        assert_eq!(p.len(), 1 + 2 + 1 + 201);
        assert_eq!(PortSet::parse("1-65535").unwrap().len(), 65535);
        for bad in ["", "0", "22,", "80-22", "65536", "a-b", "1-2-3", "22;80"] {
            assert!(PortSet::parse(bad).is_err(), "{bad:?} should not parse");
        }
        let a = PortSet::parse("1-100,200-300").unwrap();
        let b = PortSet::parse("50-250,1000").unwrap();
        assert_eq!(a.intersect(&b).to_string(), "50-100,200-250");
        assert!(a.intersect(&PortSet::parse("150").unwrap()).is_empty());
        assert_eq!(PortSet::parse("3,1-2").unwrap().to_vec(), vec![1, 2, 3]);
    }

    #[test]
    fn targets_parse() {
        assert_eq!(
            Target::parse("127.0.0.1").unwrap(),
            Target::Addr("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            Target::parse("10.0.0.7/32").unwrap(),
            Target::Addr("10.0.0.7".parse().unwrap())
        );
        assert_eq!(
            Target::parse("10.0.0.7/24").unwrap().to_string(),
            "10.0.0.0/24"
        );
        assert_eq!(
            Target::parse("::ffff:127.0.0.1").unwrap(),
            Target::Addr("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            Target::parse("db-1.internal").unwrap(),
            Target::Name("db-1.internal".into())
        );
        for bad in ["", "a b", "10.0.0.0/33", "x..y", "http://x"] {
            assert!(Target::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn mapped_ipv6_cannot_escape_an_ipv4_allow_list() {
        let allow = AllowList::parse(&s(&["127.0.0.0/8", "::ffff:10.0.0.0/104"])).unwrap();
        assert!(allow.contains(&"::ffff:127.0.0.9".parse().unwrap()));
        assert!(allow.contains(&"10.1.2.3".parse().unwrap()));
        assert!(!allow.contains(&"192.0.2.1".parse().unwrap()));
        let v6_any = AllowList::parse(&s(&["::/0"])).unwrap();
        assert!(!v6_any.contains(&"::ffff:192.0.2.1".parse().unwrap()));
        assert!(AllowList::parse(&s(&["10.0.0/8"])).is_err());
    }

    fn subjects(plan: &Plan) -> (Vec<String>, Vec<String>) {
        (
            plan.permitted.iter().map(|p| p.subject.clone()).collect(),
            plan.unscanned.iter().map(|u| u.subject.clone()).collect(),
        )
    }

    #[tokio::test]
    async fn out_of_scope_addresses_are_refused() {
        let scope = Scope::new(
            &s(&["127.0.0.0/24", "::1/128"]),
            &s(&[
                "127.0.0.1",
                "192.0.2.1",
                "127.0.0.0/30",
                "127.0.0.0/23",
                "10.0.0.0/8",
            ]),
            "22",
        )
        .unwrap();
        let plan = scope.plan().await;
        let (ok, refused) = subjects(&plan);
        // 127.0.0.1 once, even though the /30 covers it too.
        assert_eq!(ok, ["127.0.0.1", "127.0.0.2"]);
        assert_eq!(refused, ["192.0.2.1", "127.0.0.0/23", "10.0.0.0/8"]);
        assert!(plan.unscanned[0]
            .reason
            .contains("192.0.2.1 is outside the scan allow-list [127.0.0.0/24, ::1/128]"));
        assert!(plan.unscanned[1]
            .reason
            .contains("127.0.0.0/23 is not wholly in scope: 127.0.1.0 is outside"));
        assert!(plan.unscanned[2].reason.contains("more than 65536"));
    }

    #[tokio::test]
    async fn names_are_checked_after_resolution() {
        // "localhost" resolves through /etc/hosts to loopback only.
        let scope = Scope::new(&s(&["127.0.0.0/8"]), &s(&["localhost"]), "22").unwrap();
        let plan = scope.plan().await;
        assert!(!plan.permitted.is_empty());
        for p in &plan.permitted {
            assert_eq!(p.target, "localhost");
            assert!(p.addr().is_loopback() && p.addr().is_ipv4());
        }
        for u in &plan.unscanned {
            assert!(
                u.subject.starts_with("localhost (") && u.reason.contains("outside"),
                "{u:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_pushed_scope_only_narrows() {
        let configured = Scope::new(
            &s(&["127.0.0.0/8"]),
            &s(&["127.0.0.1", "127.0.0.2"]),
            "20-30",
        )
        .unwrap();
        // Wider in every field: nothing gets wider.
        let wide = ScanScope {
            allow: s(&["0.0.0.0/0", "::/0"]),
            targets: s(&["127.0.0.1", "192.0.2.1", "127.0.0.3"]),
            ports: "1-65535".into(),
        };
        let n = configured.narrowed(&wide).unwrap();
        assert!(n.is_narrowed());
        assert_eq!(n.ports().to_string(), "20-30");
        let plan = n.plan().await;
        let (ok, refused) = subjects(&plan);
        assert_eq!(ok, ["127.0.0.1"]);
        assert_eq!(refused, ["192.0.2.1", "127.0.0.3"]);
        assert!(plan.unscanned[0]
            .reason
            .contains("outside the scan allow-list"));
        assert!(plan.unscanned[1]
            .reason
            .contains("not among the configured scan targets"));

        // Narrower: taken.
        let narrow = ScanScope {
            allow: s(&["127.0.0.2/32"]),
            targets: vec![],
            ports: "22,25,80".into(),
        };
        let n = configured.narrowed(&narrow).unwrap();
        assert_eq!(n.ports().to_string(), "22,25");
        let (ok, refused) = subjects(&n.plan().await);
        assert_eq!(ok, ["127.0.0.2"]);
        assert_eq!(refused, ["127.0.0.1"]);

        // A pushed network must lie within the configured targets whole.
        let net = ScanScope {
            targets: s(&["127.0.0.0/29"]),
            ..Default::default()
        };
        let (ok, refused) = subjects(&configured.narrowed(&net).unwrap().plan().await);
        assert!(ok.is_empty());
        assert_eq!(refused, ["127.0.0.0/29"]);

        let bad = ScanScope {
            ports: "80-22".into(),
            ..Default::default()
        };
        assert!(configured.narrowed(&bad).is_err());
    }
}
