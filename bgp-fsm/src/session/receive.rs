//! The receive path: framing received bytes, which may arrive split or joined anywhere,
//! and decoding each message into its RFC 4271 event.

use bgp_wire::{ErrorCode, Message, MessageType, Notification, SessionParams, Treatment, Update};

use super::{Connection, Event, Session};
use crate::event::State;
use crate::negotiate::check_open;

impl Session {
    pub(super) fn handle_received(&mut self, bytes: &[u8]) {
        // Bytes only come over a connection; stale ones (from a connection already
        // dropped) are not an event of the new one.
        if !matches!(self.connection, Connection::Up(_)) || bytes.is_empty() {
            return;
        }
        let generation = self.connection_generation;
        // A message cut by the previous chunk is completed from the front of this one;
        // everything after it is framed straight from the caller's slice, so only
        // incomplete tails are ever copied.
        let Some(rest) = self.complete_buffered(bytes, generation) else {
            return;
        };
        if rest.is_empty() {
            return;
        }
        if let Some(consumed) = self.process_messages(rest, generation) {
            if self.connection_generation == generation {
                self.rx.clear();
                self.rx
                    .extend_from_slice(rest.get(consumed..).unwrap_or_default());
            }
        }
    }

    /// Moves bytes from `bytes` into the receive buffer until it holds the whole message
    /// it had the beginning of, and handles that message. Returns the bytes left over, or
    /// `None` when all were used or the connection ended.
    pub(super) fn complete_buffered<'b>(
        &mut self,
        mut bytes: &'b [u8],
        generation: u64,
    ) -> Option<&'b [u8]> {
        if self.rx.is_empty() {
            return Some(bytes);
        }
        let take = |rx: &mut Vec<u8>, bytes: &mut &'b [u8], wanted: usize| {
            let n = wanted.saturating_sub(rx.len()).min(bytes.len());
            let (head, tail) = bytes.split_at(n);
            rx.extend_from_slice(head);
            *bytes = tail;
        };
        take(&mut self.rx, &mut bytes, bgp_wire::HEADER_LEN);
        if self.rx.len() < bgp_wire::HEADER_LEN {
            return None;
        }
        let params = self.receive_params();
        match bgp_wire::frame(&self.rx, &params) {
            Ok(Some(_)) => {}
            Ok(None) => {
                let length = self
                    .rx
                    .get(16..18)
                    .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
                take(&mut self.rx, &mut bytes, length);
                if self.rx.len() < length {
                    return None; // all of `bytes` went into the buffer
                }
            }
            Err(error) => {
                self.rx.clear();
                self.dispatch(Event::BgpHeaderErr(error.notification()));
                return None;
            }
        }
        let mut buffered = std::mem::take(&mut self.rx);
        let consumed = self.process_messages(&buffered, generation)?;
        if self.connection_generation != generation {
            return None;
        }
        buffered.drain(..consumed.min(buffered.len()));
        if buffered.is_empty() {
            self.rx = buffered;
            return Some(bytes);
        }
        // Not reached with a consistent framer (the buffer held exactly one message);
        // if it is, fall back to buffering everything rather than lose bytes.
        buffered.extend_from_slice(bytes);
        let consumed = self.process_messages(&buffered, generation)?;
        if self.connection_generation == generation {
            buffered.drain(..consumed.min(buffered.len()));
            self.rx = buffered;
        }
        None
    }

    /// Decodes and handles every whole message at the start of `buf`; returns how many
    /// bytes were used, or `None` when the connection ended on the way.
    pub(super) fn process_messages(&mut self, buf: &[u8], generation: u64) -> Option<usize> {
        let mut offset = 0;
        // The parameters change once per connection, when the OPEN is accepted: clone
        // them then rather than per message.
        let mut params = self.receive_params();
        let mut negotiated = self.negotiated.is_some();
        loop {
            if self.negotiated.is_some() != negotiated {
                params = self.receive_params();
                negotiated = self.negotiated.is_some();
            }
            let rest = buf.get(offset..).unwrap_or_default();
            match bgp_wire::frame(rest, &params) {
                Ok(None) => return Some(offset),
                Ok(Some(len)) => {
                    let Some(message) = rest.get(..len).filter(|m| m.len() >= bgp_wire::HEADER_LEN)
                    else {
                        return Some(offset);
                    };
                    offset += len;
                    self.counters.messages_received += 1;
                    let event = self.decode(message, &params);
                    self.dispatch(event);
                }
                Err(error) => {
                    // Every state with a connection drops it on a header error; the
                    // rest of the stream cannot be framed anyway.
                    self.dispatch(Event::BgpHeaderErr(error.notification()));
                    return None;
                }
            }
            if self.connection_generation != generation {
                return None;
            }
        }
    }

    pub(super) fn receive_params(&self) -> SessionParams {
        match &self.negotiated {
            Some(n) => n.receive.clone(),
            None => SessionParams::default(),
        }
    }

    /// Turns one framed message into its event, decoding only what the state expects.
    pub(super) fn decode(&self, message: &[u8], params: &SessionParams) -> Event {
        let message_type = MessageType(message.get(18).copied().unwrap_or(0));
        let expected = match self.state {
            State::Idle => false,
            State::Connect | State::Active | State::OpenSent => message_type == MessageType::OPEN,
            State::OpenConfirm => message_type == MessageType::KEEPALIVE,
            State::Established => message_type != MessageType::OPEN,
        };
        if message_type == MessageType::NOTIFICATION {
            let notification = match Message::parse(message, params) {
                Ok(Message::Notification(n)) => n,
                // A malformed NOTIFICATION still ends the session; keep what it says.
                _ => raw_notification(message),
            };
            return if notification.code == ErrorCode::OPEN_MESSAGE && notification.subcode == 1 {
                Event::NotifMsgVerErr(notification)
            } else {
                Event::NotifMsg(notification)
            };
        }
        if !expected {
            return Event::UnexpectedMessage;
        }
        match Message::parse(message, params) {
            Ok(Message::Open(open)) => match check_open(&self.config, &open) {
                Ok(negotiated) => Event::BgpOpen(Box::new(negotiated)),
                Err(notification) => Event::BgpOpenMsgErr(notification),
            },
            Ok(Message::Keepalive) => Event::KeepAliveMsg,
            Ok(Message::Update(update)) => match update.treatment() {
                Some(Treatment::SessionReset) => {
                    let notification = update
                        .issues
                        .iter()
                        .find(|i| i.treatment == Treatment::SessionReset)
                        .map(|i| i.error.notification())
                        .unwrap_or_else(|| Notification::new(ErrorCode::UPDATE_MESSAGE, 0));
                    Event::UpdateMsgErr(notification)
                }
                _ => {
                    let mut update = flag_unusable_next_hop(update);
                    // RFC 7606 sections 7.2, 7.5, 7.9 and 7.10 apply to UPDATEs from an
                    // external peer; the codec cannot tell, the session can.
                    if self.negotiated.as_ref().is_some_and(|n| !n.internal) {
                        update.apply_external_peer_rules();
                    }
                    Event::UpdateMsg(update)
                }
            },
            // We never advertise the ORF capability (RFC 5291), so a request carrying ORF
            // entries has the wrong length for this session (RFC 7313 section 5).
            Ok(Message::RouteRefresh(refresh)) if !refresh.orf_entries.is_empty() => {
                let mut notification = Notification::new(ErrorCode::ROUTE_REFRESH, 1);
                notification.data = message.to_vec();
                Event::UpdateMsgErr(notification)
            }
            Ok(Message::RouteRefresh(refresh)) => Event::RouteRefreshMsg(refresh),
            Ok(Message::Notification(n)) => Event::NotifMsg(n),
            Err(error) => {
                let notification = error.notification();
                if notification.code == ErrorCode::MESSAGE_HEADER {
                    Event::BgpHeaderErr(notification)
                } else if message_type == MessageType::OPEN {
                    Event::BgpOpenMsgErr(notification)
                } else {
                    Event::UpdateMsgErr(notification)
                }
            }
        }
    }
}

/// A NOTIFICATION read field by field, for one the codec refused.
fn raw_notification(message: &[u8]) -> Notification {
    Notification {
        code: ErrorCode(message.get(19).copied().unwrap_or(0)),
        subcode: message.get(20).copied().unwrap_or(0),
        data: message.get(21..).unwrap_or_default().to_vec(),
    }
}

/// RFC 4271 section 6.3: routes whose NEXT_HOP no router can use (0.0.0.0, broadcast,
/// multicast, class E) are ignored without a NOTIFICATION. The session marks the UPDATE
/// treat-as-withdraw (an [`AttrIssue`](bgp_wire::AttrIssue) on NEXT_HOP), so the owner's
/// handling of [`Update::treatment`] covers it.
fn flag_unusable_next_hop(mut update: Update) -> Update {
    if update.nlri.is_empty() || !update.has_unusable_next_hop() {
        return update;
    }
    let Some(next_hop) = update.next_hop() else {
        return update;
    };
    let mut attribute = vec![0x40, 3, 4];
    attribute.extend_from_slice(&next_hop.octets());
    update.issues.push(bgp_wire::AttrIssue {
        type_code: 3,
        treatment: Treatment::TreatAsWithdraw,
        error: bgp_wire::DecodeError::new(
            bgp_wire::DecodeErrorKind::InvalidNextHopAttribute { attribute },
            0,
            "NEXT_HOP is not a usable unicast address",
        ),
    });
    update
}
