//! The city's reports on a program: participating stores against the yearly target (達成率),
//! with breakdowns and the trend across 年度, and the usage report beside it. Both are
//! computed from the participation history and the report aggregates (per JST day, kept with
//! the postings: `writer::aggregates`), so any past period gives the same answer however late
//! it is asked; `*_from` with `Source::Postings` recomputes them from postings. Rendered as JSON, as CSV for Excel (UTF-8 with BOM,
//! Japanese headers) and, for the store report, as an SVG chart.

pub mod api;
pub(crate) mod http;
pub(crate) mod render;
pub(crate) mod store;

pub use api::*;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;

use crate::app::App;
use crate::error::AppError;
use crate::features::merchants::{self as registry, ParticipationEventRow};
use crate::http::refusals::RequestRefusal;
pub use crate::writer::aggregates::Source;
use machipay_domain::auth::{Capability, Principal};
use machipay_domain::calendar::{FiscalYear, jst_date, jst_end_of_day_utc, jst_start_of_day_utc};
use machipay_domain::ids::*;
use machipay_domain::registry::{ParticipationKind, Profile, achievement_permille, permille_text};

crate::refusals! {
    /// What the city's reports refuse about the period asked (the query's other refusals,
    /// dates and 年度 are `RequestRefusal`'s).
    pub enum CityReportRefusal {
        /// Parameters that name no period.
        NoPeriod => BadRequest, "invalid_period", "give fiscal_year, or from and to, or date";
        PeriodTooLong => BadRequest, "invalid_period", "a period is ten years at most";
        /// A period outside the calendar (its text).
        PeriodOutOfRange(String) => BadRequest, "invalid_period", "{0}";
        /// The period's last day, its first.
        PeriodEndsBeforeStart(NaiveDate, NaiveDate) => BadRequest, "period_ends_before_start", "the period ends ({0}) before it starts ({1})";
    }
}

/// Fiscal years a trend shows at most.
pub const TREND_YEARS_MAX: usize = 10;
/// Longest period a report covers, in days (ten years).
pub const PERIOD_DAYS_MAX: i64 = 3_660;
/// Most participation changes a store report lists (the rest are counted in `joined`/`left`).
pub const CHANGES_MAX: usize = 1_000;

/// The last day a report on `period` covers: its end, or today (JST) while it runs.
fn as_of(period: &Period) -> NaiveDate {
    period.to.min(jst_date(chrono::Utc::now()))
}

/// The same JST days one year earlier (29 February becomes the 28th), if the calendar has them.
fn year_earlier(from: NaiveDate, to: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
    let back = |d: NaiveDate| d.checked_sub_months(chrono::Months::new(12));
    let (from, to) = (back(from)?, back(to)?);
    (FiscalYear::of(from).is_ok() && from <= to).then_some((from, to))
}

/// The period a report covers: JST dates, both inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Set when the period is exactly one 年度.
    pub fiscal_year: Option<FiscalYear>,
}

impl Period {
    /// From query parameters: `fiscal_year`, or `from` and `to`, or `date` alone (the 年度 up
    /// to that date); none of them: the 年度 of `today` (JST). A period starting after today
    /// is `period_in_future`; a `date` or `to` after today is `date_in_future` (no report is
    /// made of days that have not come; the running 年度 is asked by `fiscal_year`).
    pub fn parse(
        fiscal_year: Option<&str>,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        date: Option<NaiveDate>,
        today: NaiveDate,
    ) -> Result<Self, AppError> {
        let date = match (fiscal_year, from, to, date) {
            (None, None, None, None) => Some(today),
            _ => date,
        };
        let period = match (fiscal_year, from, to, date) {
            (Some(fy), None, None, None) => {
                let fy: FiscalYear = fy
                    .parse()
                    .map_err(|e| RequestRefusal::InvalidFiscalYear(format!("{fy:?}: {e}")))?;
                Period {
                    from: fy.start(),
                    to: fy.end(),
                    fiscal_year: Some(fy),
                }
            }
            (None, Some(from), Some(to), None) => Period {
                from,
                to,
                fiscal_year: None,
            },
            (None, None, None, Some(date)) => {
                let fy = FiscalYear::of(date)
                    .map_err(|e| RequestRefusal::DateOutOfRange(e.to_string()))?;
                let whole = (date == fy.end()).then_some(fy);
                Period {
                    from: fy.start(),
                    to: date,
                    fiscal_year: whole,
                }
            }
            _ => return Err(CityReportRefusal::NoPeriod.into()),
        };
        if period.from > today {
            return Err(RequestRefusal::PeriodInFuture(period.from, today).into());
        }
        if let Some(asked) = date.or(to).filter(|d| *d > today) {
            return Err(RequestRefusal::DateNotCome(asked, today).into());
        }
        if period.to < period.from {
            return Err(CityReportRefusal::PeriodEndsBeforeStart(period.to, period.from).into());
        }
        if (period.to - period.from).num_days() > PERIOD_DAYS_MAX {
            return Err(CityReportRefusal::PeriodTooLong.into());
        }
        FiscalYear::of(period.from)
            .and(FiscalYear::of(period.to))
            .map_err(|e| CityReportRefusal::PeriodOutOfRange(e.to_string()))?;
        Ok(period)
    }

    /// "令和7年度 (2025)" for a 年度, "令和7年4月1日〜令和7年9月30日 (2025-04-01〜2025-09-30)"
    /// otherwise.
    pub fn label(&self) -> String {
        match self.fiscal_year {
            Some(fy) => year_label(fy),
            None => format!(
                "{}〜{} ({}〜{})",
                wareki_date(self.from),
                wareki_date(self.to),
                self.from,
                self.to
            ),
        }
    }
}

/// A date in the Japanese calendar: 令和 from 2019-05-01 (元年 for its first year), 平成 before.
pub fn wareki_date(d: NaiveDate) -> String {
    use chrono::Datelike;
    let reiwa_starts = NaiveDate::from_ymd_opt(2019, 5, 1).expect("a valid date");
    let (era, year) = if d >= reiwa_starts {
        ("令和", d.year() - 2018)
    } else {
        ("平成", d.year() - 1988)
    };
    let year = if year == 1 {
        "元".to_owned()
    } else {
        year.to_string()
    };
    format!("{era}{year}年{}月{}日", d.month(), d.day())
}

/// "令和7年度 (2025)".
pub fn year_label(fy: FiscalYear) -> String {
    format!("{} ({})", fy.reiwa_label(), fy.start_year())
}

/// The report's note on its breakdowns.
pub const BREAKDOWN_NOTE: &str = "内訳（商店会・業種・地区・規模）は各店舗の現在の登録情報による。\
    Breakdowns use each store's current profile, not the profile it had during the period.";

/// What the history says about a period: stores registered at its end, joins and leaves.
struct HistoryFacts {
    registered: HashSet<MerchantId>,
    joined: i64,
    left: i64,
}

fn history_facts(events: &[ParticipationEventRow], from: NaiveDate, to: NaiveDate) -> HistoryFacts {
    let mut latest: HashMap<MerchantId, ParticipationKind> = HashMap::new();
    let mut joined = HashSet::new();
    let mut left = HashSet::new();
    // Events come oldest first, so the last one seen per store is its state at `to`.
    for e in events.iter().filter(|e| e.effective_on <= to) {
        latest.insert(e.merchant_id, e.kind);
        if e.effective_on >= from {
            match e.kind {
                ParticipationKind::Joined => joined.insert(e.merchant_id),
                ParticipationKind::Left => left.insert(e.merchant_id),
                _ => false,
            };
        }
    }
    HistoryFacts {
        registered: latest
            .into_iter()
            .filter(|(_, k)| k.is_registered())
            .map(|(m, _)| m)
            .collect(),
        joined: joined.len() as i64,
        left: left.len() as i64,
    }
}

/// Everything one computation of counts needs.
struct Inputs {
    events: Vec<ParticipationEventRow>,
    /// Target in force per fiscal year.
    targets: BTreeMap<i32, i64>,
    source: Source,
}

async fn counts(
    app: &App,
    program: ProgramId,
    inputs: &Inputs,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(StoreCounts, HashSet<MerchantId>, HashSet<MerchantId>), AppError> {
    let facts = history_facts(&inputs.events, from, to);
    let active = match inputs.source {
        Source::Aggregates => store::active_merchants(&app.db, program, from, to).await?,
        Source::Postings => {
            let start = jst_start_of_day_utc(from)
                .ok_or_else(|| AppError::Internal("date out of range".into()))?;
            store::active_merchants_from_postings(&app.db, program, start, jst_end_of_day_utc(to))
                .await?
        }
    };
    let active: HashSet<MerchantId> = active.into_iter().collect();
    let target = FiscalYear::of(to)
        .ok()
        .and_then(|fy| inputs.targets.get(&fy.start_year()).copied());
    let registered = facts.registered.len() as i64;
    let counts = StoreCounts {
        registered_at_end: registered,
        active: active.len() as i64,
        joined: facts.joined,
        left: facts.left,
        target,
        achievement_rate: target
            .and_then(|t| achievement_permille(registered, t))
            .map(permille_text),
    };
    Ok((counts, facts.registered, active))
}

/// The store report (staff of the program's city), from the report aggregates.
pub async fn store_report(
    app: &App,
    who: Principal,
    program: ProgramId,
    period: Period,
) -> Result<StoreReport, AppError> {
    store_report_from(app, who, program, period, Source::Aggregates).await
}

/// The store report with its activity figures from `source` (the postings: the definition the
/// aggregates are held to).
pub async fn store_report_from(
    app: &App,
    who: Principal,
    program: ProgramId,
    period: Period,
    source: Source,
) -> Result<StoreReport, AppError> {
    if !who.can(Capability::ViewCity) {
        return Err(AppError::forbidden());
    }
    crate::features::merchants::program_of_city(app, &who, program).await?;
    let inputs = Inputs {
        events: registry::participation_events_until(&app.db, program, period.to).await?,
        targets: registry::program_targets(&app.db, program)
            .await?
            .into_iter()
            .map(|t| (t.fiscal_year, t.stores))
            .collect(),
        source,
    };
    let as_of = as_of(&period);
    let previous_year = match year_earlier(period.from, as_of) {
        Some((from, to)) => Some(counts(app, program, &inputs, from, to).await?.0),
        None => None,
    };
    let (counts, registered, active) =
        counts(app, program, &inputs, period.from, period.to).await?;
    let (changes, changes_truncated) =
        changes(app, who.city(), &inputs.events, period.from, period.to).await?;
    let profiles: HashMap<MerchantId, Profile> = registry::city_profiles(&app.db, who.city())
        .await?
        .into_iter()
        .collect();
    Ok(StoreReport {
        program_id: program,
        from: period.from,
        to: period.to,
        as_of,
        fiscal_year: period.fiscal_year.map(FiscalYear::start_year),
        label: period.label(),
        breakdowns: breakdowns(&profiles, &registered, &active),
        trend: trend(app, program, &inputs, period.to).await?,
        previous_year,
        changes,
        changes_truncated,
        counts,
        note: BREAKDOWN_NOTE,
    })
}

/// The participation events of `from..=to`, oldest first, with each store's name: at most
/// `CHANGES_MAX`, and whether there were more.
async fn changes(
    app: &App,
    city: CityId,
    events: &[ParticipationEventRow],
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(Vec<StoreChange>, bool), AppError> {
    let within: Vec<&ParticipationEventRow> = events
        .iter()
        .filter(|e| e.effective_on >= from && e.effective_on <= to)
        .collect();
    // One read for every name (a 年度 of 1,000 stores has hundreds of changes).
    let names = if within.is_empty() {
        HashMap::new()
    } else {
        crate::features::directory::merchant_names(&app.db, city).await?
    };
    let out = within
        .iter()
        .take(CHANGES_MAX)
        .map(|e| StoreChange {
            merchant_id: e.merchant_id,
            name: names.get(&e.merchant_id).cloned().unwrap_or_default(),
            kind: e.kind,
            effective_on: e.effective_on,
            reason: e.reason.clone(),
        })
        .collect();
    Ok((out, within.len() > CHANGES_MAX))
}

async fn trend(
    app: &App,
    program: ProgramId,
    inputs: &Inputs,
    to: NaiveDate,
) -> Result<Vec<YearRow>, AppError> {
    let last = FiscalYear::of(to).map_err(|e| AppError::Internal(e.to_string()))?;
    let first_event = inputs
        .events
        .first()
        .and_then(|e| FiscalYear::of(e.effective_on).ok());
    let first_target = inputs
        .targets
        .keys()
        .next()
        .and_then(|y| FiscalYear::new(*y).ok());
    let first = [first_event, first_target, Some(last)]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(last);
    let mut years = Vec::new();
    let mut fy = Some(last);
    while let Some(y) = fy.filter(|y| *y >= first && years.len() < TREND_YEARS_MAX) {
        years.push(y);
        fy = y.previous();
    }
    years.reverse();
    let mut rows = Vec::with_capacity(years.len());
    for y in years {
        let end = y.end().min(to);
        let (counts, _, _) = counts(app, program, inputs, y.start(), end).await?;
        rows.push(YearRow {
            fiscal_year: y.start_year(),
            label: y.reiwa_label(),
            western_label: format!("{}年度", y.start_year()),
            counts,
        });
    }
    Ok(rows)
}

fn breakdowns(
    profiles: &HashMap<MerchantId, Profile>,
    registered: &HashSet<MerchantId>,
    active: &HashSet<MerchantId>,
) -> Breakdowns {
    let group = |key: &dyn Fn(&Profile) -> String| {
        let mut rows: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        let key_of = |m: &MerchantId| profiles.get(m).map_or_else(|| "未登録".to_owned(), key);
        for m in registered {
            rows.entry(key_of(m)).or_default().0 += 1;
        }
        for m in active {
            rows.entry(key_of(m)).or_default().1 += 1;
        }
        rows.into_iter()
            .map(|(key, (registered_at_end, active))| GroupRow {
                key,
                registered_at_end,
                active,
            })
            .collect()
    };
    Breakdowns {
        association: group(&|p| p.association.clone().unwrap_or_else(|| "なし".to_owned())),
        industry: group(&|p| p.industry.clone()),
        district: group(&|p| p.district.clone()),
        size_class: group(&|p| p.size_class.as_str().to_owned()),
    }
}

/// Usage per month and per 年度 of a period (staff), from the report aggregates.
pub async fn usage_report(
    app: &App,
    who: Principal,
    program: ProgramId,
    period: Period,
) -> Result<UsageReport, AppError> {
    usage_report_from(app, who, program, period, Source::Aggregates).await
}

/// Usage figures of the JST days `from..=to` from `source`, per month or whole.
async fn usage_of(
    app: &App,
    program: ProgramId,
    from: NaiveDate,
    to: NaiveDate,
    by_month: bool,
    source: Source,
) -> Result<Vec<(String, store::Usage)>, AppError> {
    Ok(match source {
        Source::Aggregates => store::usage(&app.db, program, from, to, by_month).await?,
        Source::Postings => {
            let start = jst_start_of_day_utc(from)
                .ok_or_else(|| AppError::Internal("date out of range".into()))?;
            store::usage_from_postings(&app.db, program, start, jst_end_of_day_utc(to), by_month)
                .await?
        }
    })
}

/// The usage report with its figures from `source`.
pub async fn usage_report_from(
    app: &App,
    who: Principal,
    program: ProgramId,
    period: Period,
    source: Source,
) -> Result<UsageReport, AppError> {
    if !who.can(Capability::ViewCity) {
        return Err(AppError::forbidden());
    }
    crate::features::merchants::program_of_city(app, &who, program).await?;
    let whole = |from: NaiveDate, to: NaiveDate| async move {
        let rows = usage_of(app, program, from, to, false, source).await?;
        Ok::<_, AppError>(rows.into_iter().next().map(|r| r.1).unwrap_or_default())
    };
    let months = usage_of(app, program, period.from, period.to, true, source)
        .await?
        .into_iter()
        .map(|(k, u)| UsageRow::new(k, u))
        .collect();
    let mut fiscal_years = Vec::new();
    let mut fy = FiscalYear::of(period.from).ok();
    while let Some(y) = fy.filter(|y| y.start() <= period.to) {
        let u = whole(y.start().max(period.from), y.end().min(period.to)).await?;
        fiscal_years.push(UsageRow::new(year_label(y), u));
        fy = y.next();
    }
    let as_of = as_of(&period);
    let previous_total = match year_earlier(period.from, as_of) {
        Some((from, to)) => Some(UsageRow::new("前年同期".into(), whole(from, to).await?)),
        None => None,
    };
    Ok(UsageReport {
        program_id: program,
        from: period.from,
        to: period.to,
        as_of,
        label: period.label(),
        months,
        fiscal_years,
        total: UsageRow::new("合計".into(), whole(period.from, period.to).await?),
        previous_total,
    })
}
