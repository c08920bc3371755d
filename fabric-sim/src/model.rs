//! The virtual network as the simulator holds it once a scenario file is validated:
//! every name resolved to an index, every address parsed.

use std::net::Ipv4Addr;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net};
use route_server::HubRoutingPreference;

/// A whole topology: what exists at time zero.
#[derive(Clone, Debug, PartialEq)]
pub struct Topology {
    /// Virtual networks, in file order.
    pub vnets: Vec<Vnet>,
    /// Route tables (user-defined routes), in file order.
    pub route_tables: Vec<RouteTable>,
    /// VNet peerings present at time zero.
    pub peerings: Vec<Peering>,
    /// VMs, NVAs' own NICs included, in file order (VNet by VNet).
    pub vms: Vec<Vm>,
    /// BGP speakers: NVAs and virtual network gateways.
    pub speakers: Vec<SpeakerSpec>,
    /// Internal load balancers usable as next hops.
    pub load_balancers: Vec<LoadBalancer>,
    /// ExpressRoute circuits (on-premises behind an MSEE), shared by the ExpressRoute
    /// gateways connected to them.
    pub circuits: Vec<Circuit>,
    /// BGP sessions between two NVAs over their own tunnel (IPsec, VXLAN), typically in
    /// different regions (spec 1.7: route servers do not relay between each other).
    pub tunnels: Vec<Tunnel>,
    /// One-way latency of every simulated link.
    pub link_latency: Duration,
}

/// A virtual network.
#[derive(Clone, Debug, PartialEq)]
pub struct Vnet {
    /// Its name.
    pub name: String,
    /// Its region (load balancers must be in the route server's region).
    pub region: String,
    /// Its address ranges.
    pub ranges: Vec<IpNet>,
    /// Its subnets.
    pub subnets: Vec<Subnet>,
    /// Its route server, if it has one.
    pub route_server: Option<RouteServerSpec>,
}

/// A subnet.
#[derive(Clone, Debug, PartialEq)]
pub struct Subnet {
    /// Its name.
    pub name: String,
    /// Its prefix.
    pub prefix: Ipv4Net,
    /// The route table associated with it (index into [`Topology::route_tables`]).
    pub route_table: Option<usize>,
}

/// A route server (two instances) in a virtual network.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteServerSpec {
    /// The instances' addresses (`IN_0`, `IN_1`).
    pub instances: Vec<Ipv4Addr>,
    /// `allowBranchToBranchTraffic`.
    pub branch_to_branch: bool,
    /// `hubRoutingPreference`.
    pub preference: HubRoutingPreference,
    /// Per-peer route limit (Azure: 4,000).
    pub max_routes_per_peer: Option<u32>,
    /// Whether it exists at time zero. Until it is deployed (a `deploy_route_server`
    /// event), the VNet's gateways program its NICs directly, as in a VNet without one.
    pub deployed: bool,
}

/// A route table: user-defined routes and the propagation switch.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteTable {
    /// Its name.
    pub name: String,
    /// "Propagate gateway routes": `false` removes gateway and route-server routes.
    pub propagate_gateway_routes: bool,
    /// Its user-defined routes.
    pub routes: Vec<UserRoute>,
}

/// One user-defined route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRoute {
    /// The destination.
    pub prefix: Ipv4Net,
    /// Where it sends traffic.
    pub next_hop: UserNextHop,
}

/// A user-defined route's next hop type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserNextHop {
    /// `VirtualAppliance` at this address.
    VirtualAppliance(Ipv4Addr),
    /// `Internet`.
    Internet,
    /// `None`: drop.
    Drop,
    /// `VnetLocal`.
    VnetLocal,
    /// `VirtualNetworkGateway`.
    VirtualNetworkGateway,
}

/// A VNet peering between two networks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peering {
    /// One side (the spoke, usually).
    pub a: usize,
    /// The other side (the hub, usually).
    pub b: usize,
    /// `a` uses `b`'s gateway or route server ("use the remote virtual network's gateway
    /// or Route Server"; `b` then allows gateway transit).
    pub a_uses_remote_gateway: bool,
    /// `b` uses `a`'s gateway or route server.
    pub b_uses_remote_gateway: bool,
}

/// A VM's NIC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vm {
    /// Its name.
    pub name: String,
    /// Its VNet.
    pub vnet: usize,
    /// Its subnet (index into the VNet's subnets).
    pub subnet: usize,
    /// Its address.
    pub ip: Ipv4Addr,
    /// The speaker running on it, when it is an NVA.
    pub speaker: Option<usize>,
}

/// What a BGP speaker is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SpeakerKind {
    /// A network virtual appliance.
    Nva,
    /// An ExpressRoute gateway (on-premises behind it, private ASNs stripped toward it).
    ExpressRoute,
    /// A VPN gateway (never passes a default route on to on-premises).
    VpnGateway,
}

impl SpeakerKind {
    /// Lower-case name used in tables.
    pub fn label(self) -> &'static str {
        match self {
            Self::Nva => "nva",
            Self::ExpressRoute => "expressroute",
            Self::VpnGateway => "vpn",
        }
    }
}

/// A route a speaker announces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announcement {
    /// The prefix.
    pub prefix: IpNet,
    /// AS path (the speaker's own ASN first, as it would send it).
    pub as_path: Vec<u32>,
    /// NEXT_HOP (the speaker's address unless a third-party next hop, e.g. an ILB).
    pub next_hop: Ipv4Addr,
    /// Communities, `(asn, value)`.
    pub communities: Vec<(u16, u16)>,
}

/// A BGP speaker: an NVA or a gateway.
#[derive(Clone, Debug, PartialEq)]
pub struct SpeakerSpec {
    /// Its name.
    pub name: String,
    /// What it is.
    pub kind: SpeakerKind,
    /// The VNet it sits in.
    pub vnet: usize,
    /// Its address.
    pub ip: Ipv4Addr,
    /// Its ASN.
    pub asn: u32,
    /// The route-server instances it peers with: `(VNet holding the route server,
    /// instance index)`.
    pub peers: Vec<(usize, usize)>,
    /// Whether it advertises the route-refresh capability.
    pub route_refresh: bool,
    /// Hold time it proposes, in seconds.
    pub hold_time: u16,
    /// Whether it offers the IPv6 unicast family (multiprotocol capability) as well.
    pub offers_ipv6: bool,
    /// Whether it is running at time zero.
    pub running: bool,
    /// Routes it announces at time zero (to every instance).
    pub routes: Vec<Announcement>,
    /// Route map the route server applies to routes learned from it.
    pub inbound_map: Option<route_server::RouteMap>,
    /// Route map the route server applies to routes it advertises to it.
    pub outbound_map: Option<route_server::RouteMap>,
    /// VPN gateway: point-to-site client address pools. The gateway programs them into
    /// the NICs it serves itself and never announces them over BGP, so they reach
    /// neither the route server, NVAs nor ExpressRoute (spec 1.7: no transit to P2S).
    pub p2s_pools: Vec<Ipv4Net>,
    /// NVA: AS override toward the route server. In routes it passes on from a tunnel,
    /// every 65515 (the route server's ASN) is replaced by its own ASN, so that the
    /// route server's loop prevention keeps them (spec 1.2).
    pub as_override: bool,
    /// ExpressRoute gateway: the circuits it is connected to (indexes into
    /// [`Topology::circuits`]), one connection each.
    pub circuits: Vec<usize>,
}

/// An eBGP session between two NVAs over a tunnel of their own.
///
/// Each end is a `bgp_fsm` session; an NVA sends over it what it received from its
/// route server (its own ASN prepended, next hop itself) and announces to its route
/// server what it received over it (after AS override, if configured). Routes whose
/// AS path holds the receiver's own ASN are dropped (RFC 4271 9.1.2 loop detection).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tunnel {
    /// Its name.
    pub name: String,
    /// The NVA that opens the connection (index into [`Topology::speakers`]).
    pub a: usize,
    /// The NVA that listens.
    pub b: usize,
    /// Whether the tunnel is up at time zero.
    pub up: bool,
}

/// An ExpressRoute circuit: the MSEE pair and the on-premises network behind it.
///
/// The MSEE (AS 12076) learns on-premises routes and what every connected gateway
/// advertises, and sends each gateway the others' routes: it reflects routes between
/// the virtual networks on one circuit (the "bow-tie" of spec 1.7), 12076 prepended and
/// private ASNs kept. Toward on-premises it strips private ASNs (spec 1.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Circuit {
    /// Its name.
    pub name: String,
    /// The address a gateway programs as next hop for the circuit's routes when it
    /// programs NICs itself (no route server): the MSEE's side of the connection.
    pub msee: Ipv4Addr,
    /// What on-premises sends the MSEE: AS paths start with the on-premises ASN; the
    /// MSEE prepends 12076 toward gateways.
    pub routes: Vec<Announcement>,
}

/// An internal load balancer whose front end is a next hop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadBalancer {
    /// Its name.
    pub name: String,
    /// Its VNet.
    pub vnet: usize,
    /// Its region.
    pub region: String,
    /// Its front-end address.
    pub frontend: Ipv4Addr,
    /// Back-end addresses.
    pub backends: Vec<Ipv4Addr>,
}

impl Topology {
    /// The VNet named `name`.
    pub fn vnet_by_name(&self, name: &str) -> Option<usize> {
        self.vnets.iter().position(|v| v.name == name)
    }

    /// The speaker named `name`.
    pub fn speaker_by_name(&self, name: &str) -> Option<usize> {
        self.speakers.iter().position(|s| s.name == name)
    }

    /// The VM named `name`.
    pub fn vm_by_name(&self, name: &str) -> Option<usize> {
        self.vms.iter().position(|v| v.name == name)
    }

    /// The VM with address `ip`.
    pub fn vm_by_ip(&self, ip: Ipv4Addr) -> Option<usize> {
        self.vms.iter().position(|v| v.ip == ip)
    }

    /// The circuit named `name`.
    pub fn circuit_by_name(&self, name: &str) -> Option<usize> {
        self.circuits.iter().position(|c| c.name == name)
    }

    /// The speaker with address `ip`.
    pub fn speaker_by_ip(&self, ip: Ipv4Addr) -> Option<usize> {
        self.speakers.iter().position(|s| s.ip == ip)
    }
}
