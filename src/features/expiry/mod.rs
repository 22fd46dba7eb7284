//! Expiry (失効): moving value that can no longer be spent out of shoppers' wallets.
//!
//! Two rules, both from the program's settings (`machipay_domain::expiry::ExpiryPolicy`):
//! - per lot: every open lot whose last spendable day is before the run's date, whatever the
//!   program's settings are now (a lot keeps the date it was issued with);
//! - per wallet: where the settings in effect on the run's date are `MonthsAfterLastChange`,
//!   every wallet whose last posting is so old that the whole balance has expired.
//!
//! Each affected wallet gets one `expiry` transaction: the wallet is debited, paid coin and
//! point card points go to the program's Breakage account, the city-funded premium and a
//! currency program's points (rebates, which the city paid for) go back to the CitySubsidy
//! account they came from. A wallet debit consumes lots earliest-expiry-first
//! (never-expiring last), so debiting the sum of the expired lots' remainders consumes exactly
//! those lots.
//!
//! The run is idempotent by construction: what it posts empties exactly what it found, so a
//! second run for the same date finds nothing. It works in writer jobs of at most
//! `WALLETS_PER_JOB_MAX` wallets, so payments queued behind it wait for one small job, never
//! for the whole run.

pub mod store;

use std::collections::{BTreeMap, btree_map};
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::App;
use crate::error::AppError;
use crate::writer::posting::{CreditExpiry, Lots, Posting, post};
use crate::writer::rows::{Account, ensure_account, get_account_tx};
use crate::writer::{Done, Work};
use machipay_domain::calendar::{end_of_month, jst_date, jst_end_of_day_utc};
use machipay_domain::expiry::ExpiryPolicy;
use machipay_domain::ids::{AccountId, ProgramId};
use machipay_domain::ledger::kinds::EXPIRY_KIND;
use machipay_domain::ledger::{AccountKind, Asset, Entry};
use machipay_domain::program::{ProgramKind, ProgramSettings};

/// Wallets one writer job expires at most; the run loops until a job finds nothing.
pub const WALLETS_PER_JOB_MAX: usize = 200;
/// How often `serve` runs the expiry (it also runs once at start).
pub const EXPIRY_INTERVAL: Duration = Duration::from_secs(60 * 60);

crate::refusals! {
    /// What an expiry run refuses (the `machipay expire` command's input).
    pub enum ExpiryRefusal {
        /// `--as-of` (the first date) is after today in Japan (the second).
        AsOfInFuture(NaiveDate, NaiveDate) => BadRequest, "as_of_in_future", "--as-of {0} is after today in Japan ({1}): expiring as of a future date \
                 would take balances that are still spendable; use today or an earlier date";
    }
}

/// What expired of one asset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expired {
    /// Wallets that lost value (one transaction each).
    pub wallets: u64,
    /// Yen (coin, premium) or points moved out of wallets.
    pub amount: i64,
}

impl Expired {
    fn add(&mut self, amount: i64) {
        self.wallets += 1;
        self.amount += amount;
    }
}

/// The summary of one expiry run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiryRun {
    /// The JST business date the run expired as of: value whose last day is before it is gone.
    pub as_of: NaiveDate,
    /// Programs looked at.
    pub programs: u64,
    /// Writer jobs used (each commits on its own).
    pub jobs: u64,
    /// Paid coin, to Breakage.
    pub coin: Expired,
    /// City-funded premium, back to CitySubsidy.
    pub premium: Expired,
    /// Point card points, to Breakage.
    pub points: Expired,
    /// Rebate points of currency programs (city-funded), back to CitySubsidy.
    #[serde(default)]
    pub rebate_points: Expired,
}

impl ExpiryRun {
    fn new(as_of: NaiveDate) -> Self {
        Self {
            as_of,
            programs: 0,
            jobs: 0,
            coin: Expired::default(),
            premium: Expired::default(),
            points: Expired::default(),
            rebate_points: Expired::default(),
        }
    }

    /// The expiry transactions posted (one per wallet).
    pub fn transactions(&self) -> u64 {
        self.coin.wallets + self.premium.wallets + self.points.wallets + self.rebate_points.wallets
    }

    pub fn of(&self, asset: Asset) -> Expired {
        match asset {
            Asset::Coin => self.coin,
            Asset::Premium => self.premium,
            Asset::Points => self.points,
        }
    }

    fn slot(&mut self, asset: Asset) -> &mut Expired {
        match asset {
            Asset::Coin => &mut self.coin,
            Asset::Premium => &mut self.premium,
            Asset::Points => &mut self.points,
        }
    }
}

impl fmt::Display for ExpiryRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expiry as of {}: {} programs, {} wallets expired; coin ¥{} ({} wallets) to breakage, \
             premium ¥{} ({} wallets) back to the city subsidy, points {} ({} wallets) to breakage, \
             rebate points {} ({} wallets) back to the city subsidy",
            self.as_of,
            self.programs,
            self.transactions(),
            self.coin.amount,
            self.coin.wallets,
            self.premium.amount,
            self.premium.wallets,
            self.points.amount,
            self.points.wallets,
            self.rebate_points.amount,
            self.rebate_points.wallets,
        )
    }
}

/// Expires, in every program of every city, what can no longer be spent on `as_of` (a JST
/// date). Running it again for the same date posts nothing.
///
/// This function trusts its date: the scheduler passes today, and tests pass future dates to
/// stand in for the months going by. What a person types goes through `check_as_of` first.
pub async fn expire(app: &App, as_of: NaiveDate) -> Result<ExpiryRun, AppError> {
    let mut run = ExpiryRun::new(as_of);
    for program in store::all_programs(&app.db).await? {
        run.programs += 1;
        let (kind, wallet_rule) = rule_of(app, &program, as_of).await?;
        loop {
            let program_id = program.id;
            let done = app
                .writer
                .bulk()
                .answer(None, move |w| {
                    Box::pin(expire_some(w, program_id, kind, as_of, wallet_rule))
                })
                .await?
                .into_value()?;
            run.jobs += 1;
            if done.is_empty() {
                break;
            }
            for (asset, amount) in done {
                if (kind, asset) == (ProgramKind::Currency, Asset::Points) {
                    run.rebate_points.add(amount);
                } else {
                    run.slot(asset).add(amount);
                }
            }
        }
    }
    Ok(run)
}

/// The program's kind and its wallet-level rule as it applies on `as_of` (the settings in
/// effect that day).
async fn rule_of(
    app: &App,
    program: &store::ProgramForExpiry,
    as_of: NaiveDate,
) -> Result<(ProgramKind, Option<WalletRule>), AppError> {
    let kind = ProgramKind::parse(&program.kind)
        .ok_or_else(|| AppError::Internal(format!("stored program kind {}", program.kind)))?;
    let text = crate::features::directory::settings_at(&app.db, program.id, as_of).await?;
    let settings: ProgramSettings =
        serde_json::from_str(text.as_deref().unwrap_or(&program.settings))
            .map_err(|e| AppError::Internal(format!("stored settings: {e}")))?;
    Ok((kind, wallet_rule(kind, settings.expiry, as_of)))
}

/// Checks a date a person asked to expire as of (`machipay expire --as-of`): today in Japan
/// or earlier. A later date would take, today, balances that stay spendable until then
/// (`as_of_in_future`); nothing is read or moved before this check.
pub fn check_as_of(as_of: NaiveDate, today: NaiveDate) -> Result<NaiveDate, AppError> {
    if as_of > today {
        return Err(ExpiryRefusal::AsOfInFuture(as_of, today).into());
    }
    Ok(as_of)
}

/// What would expire in one program, per asset (the dry run's lines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramPlan {
    pub program_id: ProgramId,
    pub name: String,
    pub kind: ProgramKind,
    /// One entry per asset with something to move, in asset order.
    pub assets: Vec<(Asset, Expired)>,
}

/// What `expire(as_of)` would move, computed from committed rows, moving nothing
/// (`machipay expire --dry-run`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiryPlan {
    pub as_of: NaiveDate,
    /// Every program looked at, including those with nothing to expire.
    pub programs: Vec<ProgramPlan>,
}

impl ExpiryPlan {
    /// What would move of `asset`, over every program.
    pub fn total(&self, asset: Asset) -> Expired {
        let mut sum = Expired::default();
        for (a, e) in self.programs.iter().flat_map(|p| &p.assets) {
            if *a == asset {
                sum.wallets += e.wallets;
                sum.amount += e.amount;
            }
        }
        sum
    }
}

impl fmt::Display for ExpiryPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "dry run: expiry as of {} would move (nothing was moved):",
            self.as_of
        )?;
        for p in &self.programs {
            if p.assets.is_empty() {
                writeln!(
                    f,
                    "  {} ({}, {}): nothing",
                    p.name,
                    p.kind.as_str(),
                    p.program_id.0
                )?;
                continue;
            }
            for (asset, e) in &p.assets {
                // Rebate points of a currency program are the city's money: they go back to
                // its subsidy account, as the real run does.
                let (unit, to) = match (asset, p.kind) {
                    (Asset::Coin, _) => ("yen", "breakage"),
                    (Asset::Premium, _) => ("yen", "the city subsidy"),
                    (Asset::Points, ProgramKind::Currency) => ("points", "the city subsidy"),
                    (Asset::Points, _) => ("points", "breakage"),
                };
                writeln!(
                    f,
                    "  {} ({}, {}): {}: {} wallets, {} {unit} to {to}",
                    p.name,
                    p.kind.as_str(),
                    p.program_id.0,
                    asset.as_str(),
                    e.wallets,
                    e.amount,
                )?;
            }
        }
        let [coin, premium, points] =
            [Asset::Coin, Asset::Premium, Asset::Points].map(|a| self.total(a));
        write!(
            f,
            "total: coin ¥{} ({} wallets), premium ¥{} ({} wallets), points {} ({} wallets)",
            coin.amount,
            coin.wallets,
            premium.amount,
            premium.wallets,
            points.amount,
            points.wallets
        )
    }
}

/// The dry run: what `expire(app, as_of)` would move now, per program and asset, read from
/// committed rows without submitting anything to the writer.
pub async fn plan(app: &App, as_of: NaiveDate) -> Result<ExpiryPlan, AppError> {
    let mut programs = Vec::new();
    for program in store::all_programs(&app.db).await? {
        let (kind, rule) = rule_of(app, &program, as_of).await?;
        let unchanged = rule.map(|r| (r.assets, r.changed_before));
        let assets = store::preview(&app.db, program.id, as_of, unchanged)
            .await?
            .into_iter()
            .map(|(asset, wallets, amount)| {
                let wallets =
                    u64::try_from(wallets).map_err(|e| AppError::Internal(e.to_string()))?;
                Ok((asset, Expired { wallets, amount }))
            })
            .collect::<Result<Vec<_>, AppError>>()?;
        programs.push(ProgramPlan {
            program_id: program.id,
            name: program.name,
            kind,
            assets,
        });
    }
    Ok(ExpiryPlan { as_of, programs })
}

/// Runs `expire` for today's JST date now and then every `interval`, logging each summary,
/// until `stop` turns true (or its sender is dropped). A run cut short by `stop` loses
/// nothing: each writer job commits on its own, and the next run picks up the rest.
pub async fn run_periodically(
    app: App,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => break,
            _ = ticker.tick() => {}
        }
        let as_of = jst_date(Utc::now());
        // Batch rebates due today are granted on the same schedule.
        match crate::features::campaigns::rebates::grant_due(&app, as_of).await {
            Ok(g) if g.accruals > 0 => {
                tracing::info!(%as_of, accruals = g.accruals, points = g.points.get(), "rebates granted")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(%as_of, error = %e, "rebate grant failed; retrying next interval")
            }
        }
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => break,
            result = expire(&app, as_of) => match result {
                Ok(run) => {
                let metrics = crate::metrics::get();
                metrics.expiry_runs.with_label_values(&["ok"]).inc();
                metrics.expiry_jobs.inc_by(run.jobs);
                metrics.expiry_transactions.inc_by(run.transactions());
                metrics.expiry_last_success.set(Utc::now().timestamp());
                tracing::info!(
                    %as_of,
                    wallets = run.transactions(),
                    coin_yen = run.coin.amount,
                    premium_yen = run.premium.amount,
                    points = run.points.amount,
                    "{run}"
                );
                }
                Err(e) => {
                    crate::metrics::get().expiry_runs.with_label_values(&["failed"]).inc();
                    tracing::error!(%as_of, error = %e, "expiry run failed; retrying next interval")
                }
            },
        }
    }
    tracing::info!("expiry schedule stopped");
}

/// The wallet-level rule as it applies on `as_of`: the assets it covers and the instant
/// before which a wallet's last posting must lie for its whole balance to have expired.
#[derive(Debug, Clone, Copy)]
struct WalletRule {
    assets: &'static [Asset],
    changed_before: DateTime<Utc>,
}

fn wallet_rule(kind: ProgramKind, policy: ExpiryPolicy, as_of: NaiveDate) -> Option<WalletRule> {
    let ExpiryPolicy::MonthsAfterLastChange { months } = policy else {
        return None;
    };
    // A currency program's expiry governs the yen it issues (points it grants never carry
    // its dates); a point card's governs its points.
    let assets: &'static [Asset] = match kind {
        ProgramKind::Currency => &[Asset::Coin, Asset::Premium],
        ProgramKind::Points => &[Asset::Points],
    };
    let last_day = last_expired_change_day(months, as_of)?;
    Some(WalletRule {
        assets,
        changed_before: jst_end_of_day_utc(last_day),
    })
}

/// The latest JST day d whose wallet expiry under `MonthsAfterLastChange { months }` is
/// before `as_of`. The expiry of d is the end of the month `months` after d's month, which is
/// before `as_of` exactly when that month is before `as_of`'s month; so d may be at most the
/// end of the month `months + 1` before `as_of`'s. `None` when no such day exists.
fn last_expired_change_day(months: u32, as_of: NaiveDate) -> Option<NaiveDate> {
    let first_of_month = as_of.with_day0(0)?;
    first_of_month
        .checked_sub_months(Months::new(months.checked_add(1)?))
        .map(end_of_month)
}

/// One writer job: expires up to `WALLETS_PER_JOB_MAX` wallets of `program` and answers the
/// (asset, amount) of each; an empty list means nothing is left to expire.
async fn expire_some(
    w: &mut Work,
    program: ProgramId,
    kind: ProgramKind,
    as_of: NaiveDate,
    wallet_rule: Option<WalletRule>,
) -> Result<Done<Vec<(Asset, i64)>>, AppError> {
    let limit = WALLETS_PER_JOB_MAX as i64;
    // Whole wallets first (they take every lot), then wallets with lots past their date.
    let mut whole: Vec<AccountId> = Vec::new();
    if let Some(rule) = wallet_rule {
        whole = store::wallets_unchanged_since(
            &mut w.tx,
            program,
            rule.assets,
            rule.changed_before,
            limit,
        )
        .await?;
    }
    let mut by_lot: Vec<AccountId> = Vec::new();
    if whole.len() < WALLETS_PER_JOB_MAX {
        let room = limit - whole.len() as i64;
        by_lot = store::wallets_with_expired_lots(&mut w.tx, program, as_of, room)
            .await?
            .into_iter()
            .filter(|id| !whole.contains(id))
            .collect();
    }
    let memo = format!("expired as of {as_of}");
    let mut counterparts: BTreeMap<Asset, Account> = BTreeMap::new();
    let mut done: Vec<(Asset, i64)> = Vec::with_capacity(whole.len() + by_lot.len());
    let targets = whole
        .iter()
        .map(|id| (*id, true))
        .chain(by_lot.iter().map(|id| (*id, false)));
    for (id, take_all) in targets {
        let wallet = get_account_tx(&mut w.tx, id)
            .await?
            .ok_or_else(|| AppError::Internal("expiring a wallet that does not exist".into()))?;
        let amount = if take_all {
            wallet.balance
        } else {
            store::expired_remaining(&mut w.tx, id, as_of).await?
        };
        if amount <= 0 {
            continue;
        }
        let asset = wallet.asset;
        if let btree_map::Entry::Vacant(slot) = counterparts.entry(asset) {
            // City-funded value goes back to the city: premium, and in a currency program
            // its points, which only rebates (paid from CitySubsidy) put there.
            let to = match (kind, asset) {
                (_, Asset::Premium) | (ProgramKind::Currency, Asset::Points) => {
                    AccountKind::CitySubsidy
                }
                _ => AccountKind::Breakage,
            };
            slot.insert(ensure_account(&mut w.tx, program, to, asset, None).await?);
        }
        let to = &counterparts[&asset];
        let entry = Entry::transfer(wallet.id, to.id, asset, amount)
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let posting = Posting {
            program,
            kind: EXPIRY_KIND,
            initiated_by: Uuid::nil(),
            memo: Some(&memo),
            reverses: None,
            lots: Lots::Normal(CreditExpiry::NEVER),
        };
        post(w, &posting, &entry, &[&wallet, to]).await?;
        done.push((asset, amount));
    }
    Ok(Done::ok(done))
}

/// One expiry job for `program` (of `kind`, under `policy`) as of `as_of`, for callers that
/// compose writer jobs themselves (the batch-partition simulator, tests/api/simulator.rs):
/// what `expire` runs per job, without reading the settings outside the writer.
pub async fn expire_program_in(
    w: &mut Work,
    program: ProgramId,
    kind: ProgramKind,
    policy: ExpiryPolicy,
    as_of: NaiveDate,
) -> Result<Done<Vec<(Asset, i64)>>, AppError> {
    expire_some(w, program, kind, as_of, wallet_rule(kind, policy, as_of)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
    }

    #[test]
    fn the_cutoff_day_agrees_with_the_policy() {
        // For every as_of over three years and several month counts: a day expired on as_of
        // exactly when it is on or before the cutoff day.
        for months in [1, 2, 6, 11, 12, 13, 120] {
            let policy = ExpiryPolicy::MonthsAfterLastChange { months };
            let mut as_of = d(2025, 1, 1);
            while as_of <= d(2027, 12, 31) {
                let cutoff = last_expired_change_day(months, as_of).expect("in range");
                let expired = |day: NaiveDate| {
                    policy
                        .wallet_expires_on(day)
                        .is_some_and(|last| last < as_of)
                };
                assert!(expired(cutoff), "{months} {as_of} {cutoff}");
                assert!(
                    !expired(cutoff.succ_opt().expect("next")),
                    "{months} {as_of}"
                );
                as_of = as_of.succ_opt().expect("next day");
            }
        }
        assert_eq!(
            last_expired_change_day(12, d(2027, 2, 1)),
            Some(d(2026, 1, 31))
        );
        assert_eq!(
            last_expired_change_day(12, d(2027, 1, 31)),
            Some(d(2025, 12, 31))
        );
    }

    #[test]
    fn only_the_wallet_rule_dates_wallets() {
        let as_of = d(2026, 11, 23);
        assert!(wallet_rule(ProgramKind::Currency, ExpiryPolicy::Never, as_of).is_none());
        let fixed = ExpiryPolicy::FixedDate { date: as_of };
        assert!(wallet_rule(ProgramKind::Currency, fixed, as_of).is_none());
        let year = ExpiryPolicy::MonthsAfterLastChange { months: 12 };
        let rule = wallet_rule(ProgramKind::Currency, year, as_of).expect("wallet rule");
        assert_eq!(rule.assets, &[Asset::Coin, Asset::Premium]);
        // Last change on 2025-10-31 (JST) expired on 2026-10-31; on 2025-11-01 it has not.
        assert_eq!(rule.changed_before, jst_end_of_day_utc(d(2025, 10, 31)));
        let points = wallet_rule(ProgramKind::Points, year, as_of).expect("wallet rule");
        assert_eq!(points.assets, &[Asset::Points]);
    }

    #[test]
    fn the_summary_adds_up() {
        let mut run = ExpiryRun::new(d(2026, 11, 23));
        run.slot(Asset::Coin).add(1_000);
        run.slot(Asset::Coin).add(500);
        run.slot(Asset::Premium).add(300);
        assert_eq!(run.transactions(), 3);
        assert_eq!(
            run.of(Asset::Coin),
            Expired {
                wallets: 2,
                amount: 1_500
            }
        );
        let text = run.to_string();
        assert!(text.contains("coin ¥1500 (2 wallets)"), "{text}");
    }
}
