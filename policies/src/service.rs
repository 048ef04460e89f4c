//! Service-rate policies: how fast we upload, as a function of what we hold.
//!
//! [`OneClub`] is the paper's *one-club throttling* (paper 002, section
//! 5.3): a peer that holds every piece but one belongs to the "one club"
//! (the peers all missing the same rare piece); while it is there it
//! uploads at a reduced rate mu' instead of its full rate mu. Slowing the
//! club down keeps the few peers that hold the rare piece (the "gifted"
//! peers) in the swarm longer, serving the club, which raises the swarm's
//! throughput when the publisher is slow (the missing piece syndrome).
//!
//! The policy only answers "which rate now"; the client applies the answer
//! to the torrent's upload bucket whenever its piece count changes.

/// One-club throttling (paper 002): while holding every piece but one,
/// upload at mu'.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct OneClub {
    /// The full upload rate mu in bytes per second; `None` = unlimited.
    /// Applies whenever the torrent is not in the one club.
    pub full: Option<u64>,
    /// The reduced rate mu' in bytes per second while in the one club;
    /// `None` = no throttling (the full rate applies throughout).
    pub reduced: Option<u64>,
}

impl OneClub {
    /// Does a torrent holding `have` of `total` pieces belong to the one
    /// club? Exactly one piece short; a one-piece torrent has no club
    /// (missing its only piece means holding nothing to upload).
    pub fn in_club(have: u32, total: u32) -> bool {
        total >= 2 && total.checked_sub(1) == Some(have)
    }

    /// The upload rate (bytes per second, `None` = unlimited) for a torrent
    /// holding `have` of `total` pieces: the reduced rate while in the club
    /// and throttling is on, the full rate otherwise.
    pub fn rate(&self, have: u32, total: u32) -> Option<u64> {
        if self.throttled(have, total) {
            self.reduced
        } else {
            self.full
        }
    }

    /// Is the reduced rate in force for `have` of `total` pieces?
    pub fn throttled(&self, have: u32, total: u32) -> bool {
        self.reduced.is_some() && Self::in_club(have, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn engages_only_one_piece_short() {
        let policy = OneClub {
            full: Some(4000),
            reduced: Some(400),
        };
        assert_eq!(policy.rate(0, 10), Some(4000));
        assert_eq!(policy.rate(8, 10), Some(4000));
        assert_eq!(policy.rate(9, 10), Some(400));
        assert!(policy.throttled(9, 10));
        assert_eq!(policy.rate(10, 10), Some(4000), "back to mu once complete");
    }

    #[test]
    fn no_club_for_tiny_torrents() {
        assert!(!OneClub::in_club(0, 1));
        assert!(!OneClub::in_club(0, 0));
        assert!(OneClub::in_club(1, 2));
    }

    #[test]
    fn without_a_reduced_rate_nothing_is_throttled() {
        let policy = OneClub {
            full: None,
            reduced: None,
        };
        assert!(!policy.throttled(9, 10));
        assert_eq!(policy.rate(9, 10), None);
    }

    proptest! {
        /// The throttle engages exactly at K-1 pieces, for every K and every
        /// piece count, including nonsense counts above K.
        #[test]
        fn engages_exactly_at_k_minus_one(
            total in 0u32..10_000, have in 0u32..10_000,
            full in proptest::option::of(1u64..1 << 40),
            reduced in 1u64..1 << 40,
        ) {
            let policy = OneClub { full, reduced: Some(reduced) };
            let expected = total >= 2 && have + 1 == total;
            prop_assert_eq!(OneClub::in_club(have, total), expected);
            prop_assert_eq!(policy.throttled(have, total), expected);
            let rate = policy.rate(have, total);
            if expected {
                prop_assert_eq!(rate, Some(reduced));
            } else {
                prop_assert_eq!(rate, full);
            }
            // Never throttled without a reduced rate.
            let off = OneClub { full, reduced: None };
            prop_assert!(!off.throttled(have, total));
            prop_assert_eq!(off.rate(have, total), full);
        }

        /// Extremes never overflow or panic.
        #[test]
        fn arbitrary_counts_never_panic(have in any::<u32>(), total in any::<u32>()) {
            let policy = OneClub { full: Some(1), reduced: Some(0) };
            let _ = policy.rate(have, total);
            prop_assert_eq!(OneClub::in_club(have, total), total >= 2 && u64::from(have) + 1 == u64::from(total));
        }
    }
}
