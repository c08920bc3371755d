//! Counts of what a session received and sent.

use bgp_wire::{AttrValue, Family, MpNlri, Update};

/// Counts of what the session received and sent; reset when the session reaches
/// Established.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Counters {
    /// Messages received (all types) since Established.
    pub messages_received: u64,
    /// Messages sent since Established.
    pub messages_sent: u64,
    /// UPDATEs received since Established.
    pub updates_received: u64,
    /// UPDATEs sent since Established.
    pub updates_sent: u64,
    /// NLRI received per family, in order of first appearance.
    pub prefixes: Vec<(Family, PrefixCounts)>,
}

impl Counters {
    /// The counts for `family` (zero when none was received).
    pub fn prefixes(&self, family: Family) -> PrefixCounts {
        self.prefixes
            .iter()
            .find(|(f, _)| *f == family)
            .map(|(_, c)| *c)
            .unwrap_or_default()
    }

    pub(super) fn entry(&mut self, family: Family) -> &mut PrefixCounts {
        let index = match self.prefixes.iter().position(|(f, _)| *f == family) {
            Some(index) => index,
            None => {
                self.prefixes.push((family, PrefixCounts::default()));
                self.prefixes.len() - 1
            }
        };
        &mut self.prefixes[index].1
    }

    pub(super) fn count_update(&mut self, update: &Update) {
        self.updates_received += 1;
        let v4 = self.entry(Family::IPV4_UNICAST);
        v4.announced += update.nlri.len() as u64;
        v4.withdrawn += update.withdrawn.len() as u64;
        for attr in &update.attributes {
            match &attr.value {
                AttrValue::MpReachNlri(reach) => {
                    if let MpNlri::Prefixes(p) = &reach.nlri {
                        self.entry(reach.family).announced += p.len() as u64;
                    }
                }
                AttrValue::MpUnreachNlri(unreach) => {
                    if let MpNlri::Prefixes(p) = &unreach.nlri {
                        self.entry(unreach.family).withdrawn += p.len() as u64;
                    }
                }
                _ => {}
            }
        }
    }
}

/// Announced and withdrawn NLRI received for one family, as sent (before any policy and
/// before RFC 7606 treat-as-withdraw). The owner derives its prefix limits from these or
/// from its own RIB, and stops the session with
/// [`StopReason::MaxPrefixes`](crate::StopReason::MaxPrefixes).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct PrefixCounts {
    /// NLRI announced.
    pub announced: u64,
    /// NLRI withdrawn.
    pub withdrawn: u64,
}
