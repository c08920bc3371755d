//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::net::Ipv4Addr;

use bgp_wire::{AsPath, AsPathSegment, AttrValue, Origin, PathAttribute, SegmentType};

/// Parses "1 2 {3 4} (5 6) [7]": bare numbers form AS_SEQUENCEs, `{}` an AS_SET, `()` an
/// AS_CONFED_SEQUENCE, `[]` an AS_CONFED_SET.
pub(crate) fn parse_as_path(text: &str) -> AsPath {
    let mut path = AsPath::default();
    let mut kind = SegmentType::AsSequence;
    let mut current: Vec<u32> = Vec::new();
    let flush = |path: &mut AsPath, kind: SegmentType, current: &mut Vec<u32>| {
        if !current.is_empty() {
            path.segments.push(AsPathSegment {
                kind,
                asns: current.drain(..).collect(),
            });
        }
    };
    let spaced = text
        .replace('{', " { ")
        .replace('}', " } ")
        .replace('(', " ( ")
        .replace(')', " ) ");
    let spaced = spaced.replace('[', " [ ").replace(']', " ] ");
    for token in spaced.split_whitespace() {
        match token {
            "{" | "(" | "[" => {
                flush(&mut path, kind, &mut current);
                kind = match token {
                    "{" => SegmentType::AsSet,
                    "(" => SegmentType::ConfedSequence,
                    _ => SegmentType::ConfedSet,
                };
            }
            "}" | ")" | "]" => {
                flush(&mut path, kind, &mut current);
                kind = SegmentType::AsSequence;
            }
            number => current.push(
                number
                    .parse()
                    .unwrap_or_else(|_| panic!("bad AS number {number:?} in {text:?}")),
            ),
        }
    }
    flush(&mut path, kind, &mut current);
    path
}

/// Attributes of a test path.
#[derive(Clone, Debug, Default)]
pub(crate) struct Attrs {
    pub(crate) as_path: Option<AsPath>,
    pub(crate) origin: Option<Origin>,
    pub(crate) local_pref: Option<u32>,
    pub(crate) med: Option<u32>,
    pub(crate) originator_id: Option<Ipv4Addr>,
    pub(crate) cluster_list: Vec<Ipv4Addr>,
    pub(crate) next_hop: Option<Ipv4Addr>,
}

impl Attrs {
    /// The attribute list, in type-code order.
    pub(crate) fn to_vec(&self) -> Vec<PathAttribute> {
        let mut out = Vec::new();
        if let Some(origin) = self.origin {
            out.push(PathAttribute::new(AttrValue::Origin(origin)));
        }
        if let Some(path) = &self.as_path {
            out.push(PathAttribute::new(AttrValue::AsPath(path.clone())));
        }
        if let Some(next_hop) = self.next_hop {
            out.push(PathAttribute::new(AttrValue::NextHop(next_hop)));
        }
        if let Some(med) = self.med {
            out.push(PathAttribute::new(AttrValue::MultiExitDisc(med)));
        }
        if let Some(pref) = self.local_pref {
            out.push(PathAttribute::new(AttrValue::LocalPref(pref)));
        }
        if let Some(id) = self.originator_id {
            out.push(PathAttribute::new(AttrValue::OriginatorId(id)));
        }
        if !self.cluster_list.is_empty() {
            out.push(PathAttribute::new(AttrValue::ClusterList(
                self.cluster_list.clone(),
            )));
        }
        out
    }
}
