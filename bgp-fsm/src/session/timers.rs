//! The session's timers and their table of deadlines.

use crate::time::Instant;

/// The session's timers, in the order they fire when due at the same instant.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Timer {
    /// HoldTimer: the peer has been silent for the hold time.
    Hold,
    /// SendHoldTimer (RFC 9687): the peer has not read for the send hold time.
    SendHold,
    /// KeepaliveTimer: time to send a KEEPALIVE.
    Keepalive,
    /// DelayOpenTimer: time to send our OPEN.
    DelayOpen,
    /// ConnectRetryTimer: time to retry the TCP connection.
    ConnectRetry,
    /// IdleHoldTimer: time to leave Idle after a failure.
    IdleHold,
}

impl Timer {
    pub(super) const ALL: [Self; 6] = [
        Self::Hold,
        Self::SendHold,
        Self::Keepalive,
        Self::DelayOpen,
        Self::ConnectRetry,
        Self::IdleHold,
    ];

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// Deadlines of the six timers; `None` when stopped.
#[derive(Clone, Debug, Default)]
pub(super) struct TimerTable([Option<Instant>; 6]);

impl TimerTable {
    pub(super) fn set(&mut self, timer: Timer, at: Instant) {
        self.0[timer.index()] = Some(at);
    }
    pub(super) fn stop(&mut self, timer: Timer) {
        self.0[timer.index()] = None;
    }
    pub(super) fn get(&self, timer: Timer) -> Option<Instant> {
        self.0[timer.index()]
    }
    pub(super) fn is_running(&self, timer: Timer) -> bool {
        self.get(timer).is_some()
    }
    /// The earliest deadline, ties broken by [`Timer::ALL`] order.
    pub(super) fn next(&self) -> Option<(Timer, Instant)> {
        let mut best: Option<(Timer, Instant)> = None;
        for timer in Timer::ALL {
            if let Some(at) = self.get(timer) {
                if best.map_or(true, |(_, b)| at < b) {
                    best = Some((timer, at));
                }
            }
        }
        best
    }
}
