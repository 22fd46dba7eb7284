//! The merchant registry's rules: store profiles, bank accounts in Zengin form, participation
//! history as a state machine, and store-count targets with 達成率.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::zengin::{self, AccountType, BankAccount, ZenginError};

/// Longest free text of a profile field (address); the others are shorter, see `check_text`.
pub const ADDRESS_LEN_MAX: usize = 200;
/// Longest reason kept with a participation event or a decision.
pub const REASON_LEN_MAX: usize = 200;
/// Most stores a target may name.
pub const TARGET_STORES_MAX: i64 = 1_000_000;

/// Store size class, for the city's breakdowns.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SizeClass {
    Small,
    Medium,
    Large,
}

impl SizeClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Small => "small",
            Self::Medium => "medium",
            Self::Large => "large",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "small" => Some(Self::Small),
            "medium" => Some(Self::Medium),
            "large" => Some(Self::Large),
            _ => None,
        }
    }
    /// The Japanese labels of a store list: 小 / 中 / 大, or 小規模 / 中規模 / 大規模.
    pub fn parse_ja(s: &str) -> Option<Self> {
        match s.strip_suffix("規模").unwrap_or(s) {
            "小" => Some(Self::Small),
            "中" => Some(Self::Medium),
            "大" => Some(Self::Large),
            _ => None,
        }
    }
}

/// A store's profile as the city and the operator keep it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The city's own store number (the natural key of CSV imports).
    #[serde(default)]
    pub external_ref: Option<String>,
    /// Name in kana (フリガナ).
    pub name_kana: String,
    /// 業種.
    pub industry: String,
    /// 商店会; absent when the store belongs to none.
    #[serde(default)]
    pub association: Option<String>,
    /// 地区.
    pub district: String,
    pub size_class: SizeClass,
    pub address: String,
    /// Phone or e-mail of the person to call.
    pub contact: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("{field} must be 1 to {max} characters")]
    Text { field: &'static str, max: usize },
    #[error("bank account {0}")]
    Bank(ZenginError),
    #[error("unknown account type {0:?} (ordinary, current or savings)")]
    AccountType(String),
}

impl RegistryError {
    /// The named error code the API shows.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Text { .. } => "invalid_profile",
            Self::Bank(_) | Self::AccountType(_) => "invalid_bank_account",
        }
    }
}

fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), RegistryError> {
    let len = value.trim().chars().count();
    if len == 0 || value.chars().count() > max {
        return Err(RegistryError::Text { field, max });
    }
    Ok(())
}

impl Profile {
    /// Checks every field against the limits the database also enforces.
    pub fn validate(&self) -> Result<(), RegistryError> {
        if let Some(r) = &self.external_ref {
            check_text("external_ref", r, 40)?;
        }
        check_text("name_kana", &self.name_kana, 100)?;
        check_text("industry", &self.industry, 40)?;
        if let Some(a) = &self.association {
            check_text("association", a, 60)?;
        }
        check_text("district", &self.district, 40)?;
        check_text("address", &self.address, ADDRESS_LEN_MAX)?;
        check_text("contact", &self.contact, 100)
    }
}

/// A bank account as typed by a person: names in any kana or latin, converted to Zengin form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankAccountInput {
    /// 金融機関コード, 4 digits.
    pub bank_code: String,
    pub bank_name_kana: String,
    /// 支店番号, 3 digits.
    pub branch_code: String,
    pub branch_name_kana: String,
    /// `ordinary` (普通), `current` (当座) or `savings` (貯蓄).
    pub account_type: String,
    /// 口座番号, 7 digits.
    pub account_number: String,
    /// 口座名義 in kana (converted to half-width bank kana).
    pub holder_kana: String,
}

/// The account in the form a Zengin file takes: what is stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BankAccountView {
    pub bank_code: String,
    pub bank_name_kana: String,
    pub branch_code: String,
    pub branch_name_kana: String,
    pub account_type: String,
    pub account_number: String,
    pub holder_kana: String,
}

pub fn account_type_str(t: AccountType) -> &'static str {
    match t {
        AccountType::Ordinary => "ordinary",
        AccountType::Current => "current",
        AccountType::Savings => "savings",
    }
}

pub fn parse_account_type(s: &str) -> Result<AccountType, RegistryError> {
    match s {
        "ordinary" => Ok(AccountType::Ordinary),
        "current" => Ok(AccountType::Current),
        "savings" => Ok(AccountType::Savings),
        other => Err(RegistryError::AccountType(other.to_owned())),
    }
}

impl BankAccountInput {
    /// Parses into Zengin form; the error names the field and the character a bank refuses.
    pub fn parse(&self) -> Result<BankAccount, RegistryError> {
        BankAccount::new(
            &self.bank_code,
            &self.bank_name_kana,
            &self.branch_code,
            &self.branch_name_kana,
            parse_account_type(&self.account_type)?,
            &self.account_number,
            &self.holder_kana,
        )
        .map_err(RegistryError::Bank)
    }
}

impl From<&BankAccount> for BankAccountView {
    fn from(a: &BankAccount) -> Self {
        Self {
            bank_code: a.bank_code.to_string(),
            bank_name_kana: a.bank_name_kana.to_string(),
            branch_code: a.branch_code.to_string(),
            branch_name_kana: a.branch_name_kana.to_string(),
            account_type: account_type_str(a.account_type).to_owned(),
            account_number: a.account_number.to_string(),
            holder_kana: a.holder_kana.to_string(),
        }
    }
}

impl BankAccountView {
    /// Back to the typed account (stored text is already in bank form).
    pub fn to_account(&self) -> Result<BankAccount, ZenginError> {
        let account_type = parse_account_type(&self.account_type)
            .map_err(|_| ZenginError::UnknownAccountType(0))?;
        Ok(BankAccount {
            bank_code: zengin::BankCode::new(&self.bank_code)?,
            bank_name_kana: zengin::KanaText::from_bank_text(&self.bank_name_kana)?,
            branch_code: zengin::BranchCode::new(&self.branch_code)?,
            branch_name_kana: zengin::KanaText::from_bank_text(&self.branch_name_kana)?,
            account_type,
            account_number: zengin::AccountNumber::new(&self.account_number)?,
            holder_kana: zengin::KanaText::from_bank_text(&self.holder_kana)?,
        })
    }
}

/// What happened to a store's participation in a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParticipationKind {
    Joined,
    Suspended,
    Resumed,
    Left,
}

impl ParticipationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Joined => "joined",
            Self::Suspended => "suspended",
            Self::Resumed => "resumed",
            Self::Left => "left",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "joined" => Some(Self::Joined),
            "suspended" => Some(Self::Suspended),
            "resumed" => Some(Self::Resumed),
            "left" => Some(Self::Left),
            _ => None,
        }
    }

    /// Whether a store whose latest event is this may take payments.
    pub fn takes_payments(self) -> bool {
        matches!(self, Self::Joined | Self::Resumed)
    }

    /// Whether a store whose latest event is this counts as registered (取扱店舗):
    /// joined and not left; a suspended store is still registered.
    pub fn is_registered(self) -> bool {
        !matches!(self, Self::Left)
    }

    /// Whether `self` may follow `previous` (None: no history yet).
    pub fn may_follow(self, previous: Option<ParticipationKind>) -> bool {
        use ParticipationKind::*;
        matches!(
            (previous, self),
            (None | Some(Left), Joined)
                | (Some(Joined | Resumed), Suspended)
                | (Some(Suspended), Resumed)
                | (Some(Joined | Resumed | Suspended), Left)
        )
    }
}

/// Why an event may not be recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParticipationError {
    #[error("a store cannot go from {from} to {to}")]
    Transition {
        from: &'static str,
        to: &'static str,
    },
    #[error("the event's date {date} is before the store's latest event ({latest})")]
    BeforeLatest { date: NaiveDate, latest: NaiveDate },
    #[error("the event's date {date} is in the future (today is {today} JST)")]
    Future { date: NaiveDate, today: NaiveDate },
}

/// Checks a new event against the store's latest one: history only grows forward in time.
pub fn check_event(
    kind: ParticipationKind,
    effective_on: NaiveDate,
    latest: Option<(ParticipationKind, NaiveDate)>,
    today: NaiveDate,
) -> Result<(), ParticipationError> {
    if effective_on > today {
        return Err(ParticipationError::Future {
            date: effective_on,
            today,
        });
    }
    if !kind.may_follow(latest.map(|l| l.0)) {
        return Err(ParticipationError::Transition {
            from: latest.map_or("nothing", |l| l.0.as_str()),
            to: kind.as_str(),
        });
    }
    if let Some((_, latest)) = latest
        && effective_on < latest
    {
        return Err(ParticipationError::BeforeLatest {
            date: effective_on,
            latest,
        });
    }
    Ok(())
}

/// 達成率 in per mille (tenths of a percent), rounded half up: 112 of 110 is 1018 (101.8 %).
/// None without a positive target.
pub fn achievement_permille(actual: i64, target: i64) -> Option<i64> {
    if target <= 0 {
        return None;
    }
    // actual * 1000 / target, rounded half up, in integers.
    Some((actual * 2000 + target) / (2 * target))
}

/// A per-mille figure as "101.8".
pub fn permille_text(permille: i64) -> String {
    format!("{}.{}", permille / 10, permille % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn achievement_rounds_half_up_to_one_decimal() {
        assert_eq!(
            achievement_permille(112, 110).map(permille_text),
            Some("101.8".into())
        );
        assert_eq!(
            achievement_permille(100, 100).map(permille_text),
            Some("100.0".into())
        );
        // 1/8 = 12.5 %; 1/16 = 6.25 % -> 6.3 %.
        assert_eq!(
            achievement_permille(1, 16).map(permille_text),
            Some("6.3".into())
        );
        assert_eq!(
            achievement_permille(2, 3).map(permille_text),
            Some("66.7".into())
        );
        assert_eq!(
            achievement_permille(0, 105).map(permille_text),
            Some("0.0".into())
        );
        assert_eq!(achievement_permille(5, 0), None);
    }

    #[test]
    fn participation_moves_forward_only() {
        use ParticipationKind::*;
        let today = d("2026-01-01");
        assert!(check_event(Joined, d("2025-05-01"), None, today).is_ok());
        assert!(check_event(Left, d("2025-05-01"), None, today).is_err());
        let joined = Some((Joined, d("2025-05-01")));
        assert!(check_event(Joined, d("2025-06-01"), joined, today).is_err());
        assert!(check_event(Suspended, d("2025-06-01"), joined, today).is_ok());
        assert!(matches!(
            check_event(Left, d("2025-04-01"), joined, today),
            Err(ParticipationError::BeforeLatest { .. })
        ));
        assert!(matches!(
            check_event(Left, d("2026-01-02"), joined, today),
            Err(ParticipationError::Future { .. })
        ));
        assert!(
            check_event(
                Joined,
                d("2025-09-01"),
                Some((Left, d("2025-08-01"))),
                today
            )
            .is_ok()
        );
        assert!(!Suspended.takes_payments() && Suspended.is_registered());
        assert!(!Left.is_registered() && Resumed.takes_payments());
    }

    #[test]
    fn bank_accounts_refuse_what_a_bank_would() {
        let mut input = BankAccountInput {
            bank_code: "0009".into(),
            bank_name_kana: "ミツイスミトモ".into(),
            branch_code: "123".into(),
            branch_name_kana: "シブヤ".into(),
            account_type: "ordinary".into(),
            account_number: "1234567".into(),
            holder_kana: "カ)マチペイ".into(),
        };
        let account = input.parse().unwrap();
        assert_eq!(account.holder_kana.as_str(), "ｶ)ﾏﾁﾍﾟｲ");
        let view = BankAccountView::from(&account);
        assert_eq!(view.to_account().unwrap(), account);
        input.holder_kana = "山田商店".into();
        assert_eq!(input.parse().unwrap_err().code(), "invalid_bank_account");
        input.holder_kana = "ﾔﾏﾀﾞ".into();
        input.account_number = "123456".into();
        assert!(input.parse().is_err());
    }
}
