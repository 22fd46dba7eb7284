//! Expiry rules of issued value (有効期限): per issued lot, per wallet, or never.
//!
//! Running schemes use three shapes, and each is a program setting, not a constant:
//! "6 months from issue" (each issued lot expires at the end of the sixth month after its
//! issue; this keeps an issue outside the prepaid-instrument law's reporting), "end of the
//! month 1 year after the last balance change" (the whole wallet expires together, and any
//! movement pushes the date back), and a fixed campaign date.
//!
//! Every date here is a JST business date. A value that expires on D can be spent through the
//! whole JST day D and is gone from D + 1.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::{add_months_to_month_end, jst_date};

/// How long issued value lasts. Stored as JSON in program settings, e.g.
/// `{"rule": "months_from_issue_to_month_end", "months": 6}`.
///
/// Deserialising validates (months 1 to 120, a fixed date in 2000 to 2999), so a held
/// `ExpiryPolicy` read from a request or the database is always within the limits.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(
    tag = "rule",
    rename_all = "snake_case",
    deny_unknown_fields,
    try_from = "RawExpiryPolicy"
)]
pub enum ExpiryPolicy {
    /// Value never expires. The default: expiry destroys shoppers' money, so a program must
    /// choose it on purpose.
    #[default]
    Never,
    /// Each issued lot expires on the last day of the month `months` months after the month
    /// it was issued in (6: issued 2026-01-15, expires 2026-07-31).
    MonthsFromIssueToMonthEnd {
        /// 1 to 120.
        #[schema(minimum = 1, maximum = 120)]
        months: u32,
    },
    /// The whole wallet expires on the last day of the month `months` months after its last
    /// balance change (earn, spend or charge); lots carry no date of their own.
    MonthsAfterLastChange {
        /// 1 to 120.
        #[schema(minimum = 1, maximum = 120)]
        months: u32,
    },
    /// Every lot expires on the same campaign date, whenever it was issued.
    FixedDate {
        /// The last JST day on which the value can be spent; 2000-01-01 to 2999-12-31.
        date: NaiveDate,
    },
}

/// Which balance an [`ExpiryPolicy`] puts a date on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryScope {
    /// Nothing expires.
    None,
    /// Each issued lot carries its own expiry date, fixed at issue.
    Lot,
    /// One date for the whole wallet, moved by every balance change.
    Wallet,
}

/// Why an expiry policy was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryPolicyError {
    #[error(
        "expiry months must be between {} and {}, got {months}",
        ExpiryPolicy::MONTHS_MIN,
        ExpiryPolicy::MONTHS_MAX
    )]
    MonthsOutOfRange { months: u32 },
    #[error(
        "expiry date must be between {} and {}, got {date}",
        ExpiryPolicy::FIXED_DATE_MIN,
        ExpiryPolicy::FIXED_DATE_MAX
    )]
    FixedDateOutOfRange { date: NaiveDate },
}

impl ExpiryPolicy {
    pub const MONTHS_MIN: u32 = 1;
    /// Ten years: longer than any running scheme, short enough to keep dates near.
    pub const MONTHS_MAX: u32 = 120;
    pub const FIXED_DATE_MIN: NaiveDate = NaiveDate::from_ymd_opt(2000, 1, 1).expect("valid date");
    pub const FIXED_DATE_MAX: NaiveDate =
        NaiveDate::from_ymd_opt(2999, 12, 31).expect("valid date");

    /// Checks the limits: months in 1..=120, a fixed date in 2000..=2999.
    pub fn validate(&self) -> Result<(), ExpiryPolicyError> {
        match *self {
            Self::Never => Ok(()),
            Self::MonthsFromIssueToMonthEnd { months } | Self::MonthsAfterLastChange { months } => {
                if (Self::MONTHS_MIN..=Self::MONTHS_MAX).contains(&months) {
                    Ok(())
                } else {
                    Err(ExpiryPolicyError::MonthsOutOfRange { months })
                }
            }
            Self::FixedDate { date } => {
                if (Self::FIXED_DATE_MIN..=Self::FIXED_DATE_MAX).contains(&date) {
                    Ok(())
                } else {
                    Err(ExpiryPolicyError::FixedDateOutOfRange { date })
                }
            }
        }
    }

    /// Whether the policy dates each lot, the whole wallet, or nothing.
    pub fn scope(&self) -> ExpiryScope {
        match self {
            Self::Never => ExpiryScope::None,
            Self::MonthsFromIssueToMonthEnd { .. } | Self::FixedDate { .. } => ExpiryScope::Lot,
            Self::MonthsAfterLastChange { .. } => ExpiryScope::Wallet,
        }
    }

    /// The last JST day on which a lot issued on `issued_on` can be spent.
    ///
    /// `None` when lots do not expire on their own: the policy is `Never`, or it is the
    /// wallet-level `MonthsAfterLastChange` (see [`Self::wallet_expires_on`]). Under
    /// `FixedDate`, a lot issued after the date is born expired; the issuing use-case should
    /// refuse it (`is_expired(policy.lot_expires_on(today), today)`).
    pub fn lot_expires_on(&self, issued_on: NaiveDate) -> Option<NaiveDate> {
        match *self {
            Self::Never | Self::MonthsAfterLastChange { .. } => None,
            // Overflow is only possible beyond year 262000, where "never" is the honest answer.
            Self::MonthsFromIssueToMonthEnd { months } => {
                add_months_to_month_end(issued_on, months)
            }
            Self::FixedDate { date } => Some(date),
        }
    }

    /// The last JST day on which a wallet whose balance last changed on `last_change` can be
    /// spent, under the wallet-level rule. `None` for every other policy.
    pub fn wallet_expires_on(&self, last_change: NaiveDate) -> Option<NaiveDate> {
        match *self {
            Self::MonthsAfterLastChange { months } => add_months_to_month_end(last_change, months),
            Self::Never | Self::MonthsFromIssueToMonthEnd { .. } | Self::FixedDate { .. } => None,
        }
    }
}

/// Whether value that expires on `expires_on` is expired on the JST business date `as_of`.
///
/// The expiry date is the last day the value can be spent, through the whole JST day, so it
/// is expired only once `as_of` is after it. `None` means it never expires. Accepts a
/// `NaiveDate` or an `Option<NaiveDate>`.
pub fn is_expired(expires_on: impl Into<Option<NaiveDate>>, as_of: NaiveDate) -> bool {
    expires_on.into().is_some_and(|last_day| as_of > last_day)
}

/// [`is_expired`] at an instant, taking the JST date of `now` (never its UTC date: at 01:00
/// JST on 1 August a lot that expired on 31 July is gone, though it is still 31 July in UTC).
pub fn is_expired_at(expires_on: impl Into<Option<NaiveDate>>, now: DateTime<Utc>) -> bool {
    is_expired(expires_on, jst_date(now))
}

/// The wire form before validation; `ExpiryPolicy` deserialises through it.
#[derive(Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
enum RawExpiryPolicy {
    // A struct variant, not a unit one: serde ignores extra fields beside the tag of an
    // internally tagged unit variant, and `{"rule": "never", "months": 6}` must be refused.
    Never {},
    MonthsFromIssueToMonthEnd { months: u32 },
    MonthsAfterLastChange { months: u32 },
    FixedDate { date: NaiveDate },
}

impl TryFrom<RawExpiryPolicy> for ExpiryPolicy {
    type Error = ExpiryPolicyError;
    fn try_from(raw: RawExpiryPolicy) -> Result<Self, Self::Error> {
        let policy = match raw {
            RawExpiryPolicy::Never {} => Self::Never,
            RawExpiryPolicy::MonthsFromIssueToMonthEnd { months } => {
                Self::MonthsFromIssueToMonthEnd { months }
            }
            RawExpiryPolicy::MonthsAfterLastChange { months } => {
                Self::MonthsAfterLastChange { months }
            }
            RawExpiryPolicy::FixedDate { date } => Self::FixedDate { date },
        };
        policy.validate()?;
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::end_of_month;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("valid test instant")
            .with_timezone(&Utc)
    }

    fn parse(json: &str) -> Result<ExpiryPolicy, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn six_months_from_issue_ends_on_a_month_end() {
        let six = ExpiryPolicy::MonthsFromIssueToMonthEnd { months: 6 };
        assert_eq!(six.lot_expires_on(d(2026, 1, 15)), Some(d(2026, 7, 31)));
        assert_eq!(six.lot_expires_on(d(2026, 1, 1)), Some(d(2026, 7, 31)));
        assert_eq!(six.lot_expires_on(d(2026, 1, 31)), Some(d(2026, 7, 31)));
        assert_eq!(six.lot_expires_on(d(2026, 8, 31)), Some(d(2027, 2, 28)));
        assert_eq!(six.lot_expires_on(d(2027, 8, 31)), Some(d(2028, 2, 29)));
        let one = ExpiryPolicy::MonthsFromIssueToMonthEnd { months: 1 };
        assert_eq!(one.lot_expires_on(d(2026, 1, 31)), Some(d(2026, 2, 28)));
        assert_eq!(one.lot_expires_on(d(2026, 12, 1)), Some(d(2027, 1, 31)));
        assert_eq!(six.wallet_expires_on(d(2026, 1, 15)), None);
        assert_eq!(six.scope(), ExpiryScope::Lot);
    }

    #[test]
    fn wallet_rule_dates_the_wallet_not_the_lot() {
        let year = ExpiryPolicy::MonthsAfterLastChange { months: 12 };
        assert_eq!(year.lot_expires_on(d(2026, 1, 15)), None);
        assert_eq!(year.wallet_expires_on(d(2026, 1, 15)), Some(d(2027, 1, 31)));
        assert_eq!(year.wallet_expires_on(d(2028, 2, 29)), Some(d(2029, 2, 28)));
        assert_eq!(year.wallet_expires_on(d(2027, 2, 1)), Some(d(2028, 2, 29)));
        assert_eq!(year.scope(), ExpiryScope::Wallet);
    }

    #[test]
    fn fixed_date_and_never() {
        let campaign = ExpiryPolicy::FixedDate {
            date: d(2026, 12, 31),
        };
        assert_eq!(
            campaign.lot_expires_on(d(2026, 4, 1)),
            Some(d(2026, 12, 31))
        );
        assert_eq!(
            campaign.lot_expires_on(d(2027, 1, 5)),
            Some(d(2026, 12, 31))
        );
        assert!(is_expired(
            campaign.lot_expires_on(d(2027, 1, 5)),
            d(2027, 1, 5)
        ));
        assert_eq!(campaign.wallet_expires_on(d(2026, 4, 1)), None);
        assert_eq!(campaign.scope(), ExpiryScope::Lot);
        let never = ExpiryPolicy::default();
        assert_eq!(never, ExpiryPolicy::Never);
        assert_eq!(never.lot_expires_on(d(2026, 4, 1)), None);
        assert_eq!(never.wallet_expires_on(d(2026, 4, 1)), None);
        assert_eq!(never.scope(), ExpiryScope::None);
    }

    #[test]
    fn spendable_through_the_whole_expiry_day() {
        let last_day = d(2026, 7, 31);
        assert!(!is_expired(last_day, d(2026, 7, 30)));
        assert!(!is_expired(last_day, d(2026, 7, 31)));
        assert!(is_expired(last_day, d(2026, 8, 1)));
        assert!(!is_expired(None, d(2999, 1, 1)));
        assert!(!is_expired(Some(last_day), last_day));
    }

    #[test]
    fn expiry_at_an_instant_uses_the_jst_day() {
        let last_day = d(2026, 7, 31);
        assert!(!is_expired_at(last_day, utc("2026-07-31T23:59:59+09:00")));
        // 00:00 JST on 1 August is 15:00 UTC on 31 July: already expired.
        assert!(is_expired_at(last_day, utc("2026-07-31T15:00:00Z")));
        assert!(!is_expired_at(last_day, utc("2026-07-31T14:59:59Z")));
    }

    #[test]
    fn validation_limits() {
        let months = |m| ExpiryPolicy::MonthsFromIssueToMonthEnd { months: m };
        assert_eq!(months(1).validate(), Ok(()));
        assert_eq!(months(120).validate(), Ok(()));
        assert_eq!(
            months(0).validate(),
            Err(ExpiryPolicyError::MonthsOutOfRange { months: 0 })
        );
        assert_eq!(
            ExpiryPolicy::MonthsAfterLastChange { months: 121 }.validate(),
            Err(ExpiryPolicyError::MonthsOutOfRange { months: 121 })
        );
        let fixed = |date| ExpiryPolicy::FixedDate { date };
        assert_eq!(fixed(d(2000, 1, 1)).validate(), Ok(()));
        assert_eq!(fixed(d(2999, 12, 31)).validate(), Ok(()));
        assert_eq!(
            fixed(d(1999, 12, 31)).validate(),
            Err(ExpiryPolicyError::FixedDateOutOfRange {
                date: d(1999, 12, 31)
            })
        );
        assert!(fixed(d(3000, 1, 1)).validate().is_err());
        assert_eq!(ExpiryPolicy::Never.validate(), Ok(()));
    }

    #[test]
    fn json_shape_round_trips() {
        let cases = [
            (ExpiryPolicy::Never, r#"{"rule":"never"}"#),
            (
                ExpiryPolicy::MonthsFromIssueToMonthEnd { months: 6 },
                r#"{"rule":"months_from_issue_to_month_end","months":6}"#,
            ),
            (
                ExpiryPolicy::MonthsAfterLastChange { months: 12 },
                r#"{"rule":"months_after_last_change","months":12}"#,
            ),
            (
                ExpiryPolicy::FixedDate {
                    date: d(2026, 12, 31),
                },
                r#"{"rule":"fixed_date","date":"2026-12-31"}"#,
            ),
        ];
        for (policy, json) in cases {
            assert_eq!(serde_json::to_string(&policy).expect("serialise"), json);
            assert_eq!(parse(json).expect("deserialise"), policy);
        }
    }

    #[test]
    fn json_is_parsed_not_trusted() {
        for bad in [
            r#"{"rule":"months_from_issue_to_month_end","months":0}"#,
            r#"{"rule":"months_after_last_change","months":121}"#,
            r#"{"rule":"months_from_issue_to_month_end","months":-1}"#,
            r#"{"rule":"fixed_date","date":"1999-12-31"}"#,
            r#"{"rule":"fixed_date","date":"2026-02-30"}"#,
            r#"{"rule":"months_from_issue_to_month_end","months":6,"admin":true}"#,
            r#"{"rule":"months_from_issue_to_month_end"}"#,
            r#"{"rule":"never","months":6}"#,
            r#"{"rule":"eventually"}"#,
            r#"{"months":6}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let message = parse(r#"{"rule":"fixed_date","date":"1999-12-31"}"#)
            .expect_err("too early")
            .to_string();
        assert!(
            message.contains("between 2000-01-01 and 2999-12-31"),
            "{message}"
        );
    }

    #[test]
    fn schema_names_the_tag() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_string(&ExpiryPolicy::schema()).expect("schema as JSON");
        assert!(
            schema.contains("months_from_issue_to_month_end"),
            "{schema}"
        );
        assert!(schema.contains("\"rule\""), "{schema}");
    }

    proptest! {
        #[test]
        fn lot_expiry_is_a_month_end_not_before_issue(
            days in 730_120i32..=1_095_362,
            months in ExpiryPolicy::MONTHS_MIN..=ExpiryPolicy::MONTHS_MAX,
        ) {
            let issued = NaiveDate::from_num_days_from_ce_opt(days).expect("in range");
            let policy = ExpiryPolicy::MonthsFromIssueToMonthEnd { months };
            prop_assert_eq!(policy.validate(), Ok(()));
            let last_day = policy.lot_expires_on(issued).expect("dated");
            prop_assert!(last_day > issued);
            prop_assert_eq!(last_day, end_of_month(last_day));
            prop_assert!(!is_expired(last_day, issued));
            prop_assert!(!is_expired(last_day, last_day));
            prop_assert!(is_expired(last_day, last_day.succ_opt().expect("in range")));
        }
    }
}
