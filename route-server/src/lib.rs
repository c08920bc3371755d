//! `route-server`: Azure Route Server's behaviour as one sans-IO object.
#![forbid(unsafe_code)]

mod config;
pub mod policy;
mod route;
mod route_map;

pub use config::{
    reserved_asn, Config, ConfigError, Extensions, HubRoutingPreference, LimitCounting, Limits,
    PeerConfig, PeerKind, PeeredVnet, AZURE_ASN, AZURE_ECMP_WIDTH, AZURE_HOLD_TIME_SECS,
    AZURE_KEEPALIVE_SECS, AZURE_MAX_PEERS, AZURE_MAX_ROUTES_PER_PEER,
};
pub use policy::PeerId;
pub use route::RouteAttrs;
pub use route_map::{
    MapOutcome, MatchCondition, Modification, NextStep, RouteMap, RouteMapAction, RouteMapError,
    RouteMapRule, AZURE_COMMUNITIES,
};
