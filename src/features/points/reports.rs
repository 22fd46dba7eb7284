//! Point card reports per 年度 (April–March, JST): per store and in total the points issued,
//! clawed back, redeemed, refunded, expired and imported, the outstanding liability (what the
//! cards hold) and the redemption rate (回収率); and a store's point statement. The report's
//! figures come from the report aggregates (`writer::aggregates`; `report_from` with
//! `Source::Postings` recomputes them from postings), a statement's lines from the movements
//! and postings, so a closed year's report never changes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::app::App;
use crate::error::AppError;
use crate::features::points::{NOT_POINTS, store};
use crate::features::reports::wallet_totals_before;
use crate::writer::aggregates::{Source, day_key, month_key};
use chrono::Datelike;
use machipay_domain::auth::{Capability, Principal};
use machipay_domain::calendar::{FiscalYear, jst_date, jst_start_of_day_utc};
use machipay_domain::ids::*;
use machipay_domain::ledger::Asset;
use machipay_domain::ledger::kinds::{EXPIRY_KIND, IMPORT_KIND};
use machipay_domain::program::ProgramKind;

pub use crate::features::points::api::{PointStatement, PointsReport, StatementLine, StoreFigures};

/// Statement lines at most (a year of a busy store's card movements fits).
pub const STATEMENT_LINES_MAX: i64 = 50_000;

impl PointsReport {
    /// Japanese headers, as the currency and city reports (a shopping association opens the
    /// file in Excel).
    pub fn csv_header() -> [&'static str; 11] {
        [
            "年度",
            "店舗ID",
            "付与ポイント",
            "付与取消ポイント",
            "利用ポイント",
            "利用取消ポイント",
            "失効ポイント",
            "移行ポイント",
            "期首未使用ポイント",
            "期末未使用ポイント",
            "回収率",
        ]
    }

    /// One record per store, then the total.
    pub fn csv_rows(&self) -> Vec<Vec<String>> {
        let mut rows: Vec<Vec<String>> = self
            .stores
            .iter()
            .map(|s| {
                let rate = rate(s.issued - s.clawed_back, s.redeemed - s.refunded);
                vec![
                    self.label.clone(),
                    s.merchant_id.to_string(),
                    s.issued.to_string(),
                    s.clawed_back.to_string(),
                    s.redeemed.to_string(),
                    s.refunded.to_string(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    rate.map(|r| r.to_string()).unwrap_or_default(),
                ]
            })
            .collect();
        rows.push(vec![
            self.label.clone(),
            "TOTAL".into(),
            self.issued.to_string(),
            self.clawed_back.to_string(),
            self.redeemed.to_string(),
            self.refunded.to_string(),
            self.expired.to_string(),
            self.imported.to_string(),
            self.liability_start.to_string(),
            self.liability_end.to_string(),
            self.redemption_rate
                .map(|r| r.to_string())
                .unwrap_or_default(),
        ]);
        rows
    }
}

fn rate(issued: i64, redeemed: i64) -> Option<Decimal> {
    (issued > 0).then(|| {
        (Decimal::from(redeemed) / Decimal::from(issued))
            .round_dp(4)
            .normalize()
    })
}

/// The period of a fiscal year: its first instant and the end (the year's end, or now). A
/// 年度 that has not started is `period_in_future`, as for the store report.
fn period(fy: FiscalYear, now: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>), AppError> {
    let today = machipay_domain::calendar::jst_date(now);
    if fy.start() > today {
        return Err(crate::http::refusals::RequestRefusal::FiscalYearInFuture(
            fy.reiwa_label(),
            fy.start(),
            today,
        )
        .into());
    }
    let start =
        jst_start_of_day_utc(fy.start()).ok_or_else(|| AppError::Internal("date".into()))?;
    let next = fy
        .end()
        .succ_opt()
        .and_then(jst_start_of_day_utc)
        .ok_or_else(|| AppError::Internal("date".into()))?;
    Ok((start, next.min(now)))
}

async fn points_program_visible(
    app: &App,
    who: &Principal,
    program: ProgramId,
) -> Result<(), AppError> {
    let row = crate::features::directory::program(&app.db, program)
        .await?
        .filter(|p| p.city_id == who.city())
        .ok_or_else(|| AppError::not_found("program"))?;
    if row.kind != ProgramKind::Points {
        return Err(NOT_POINTS.into());
    }
    Ok(())
}

/// The program's point report for a fiscal year (staff), from the report aggregates.
pub async fn report(
    app: &App,
    who: Principal,
    program: ProgramId,
    fy: FiscalYear,
    now: DateTime<Utc>,
) -> Result<PointsReport, AppError> {
    report_from(app, who, program, fy, now, Source::Aggregates).await
}

/// Card postings per (store, movement kind) and per transaction kind in [from, to): from the
/// aggregates for whole JST months and days, and from postings for the rest of a running 年度
/// (`to` is then now: the postings since the start of its day). Per store: months before the
/// cut month (`agg_point_store_months`), then its whole days (`agg_point_store_days`).
async fn card_figures(
    app: &App,
    program: ProgramId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    source: Source,
) -> Result<(Vec<(uuid::Uuid, String, i64)>, Vec<(String, i64)>), AppError> {
    if source == Source::Postings {
        return Ok((
            store::card_postings_by_store(&app.db, program, from, to).await?,
            store::card_postings_by_kind(&app.db, program, from, to).await?,
        ));
    }
    let (first, last) = (jst_date(from), jst_date(to));
    let month_start = last.with_day(1).unwrap_or(last).max(first);
    let day_start_at =
        jst_start_of_day_utc(last).ok_or_else(|| AppError::Internal("date".into()))?;
    let mut by_store: BTreeMap<(uuid::Uuid, String), i64> = BTreeMap::new();
    let months = store::card_postings_by_store_months(
        &app.db,
        program,
        month_key(first),
        month_key(month_start),
    )
    .await?;
    let days =
        store::card_postings_by_store_days(&app.db, program, day_key(month_start), day_key(last))
            .await?;
    let tail = if day_start_at < to {
        store::card_postings_by_store(&app.db, program, day_start_at.max(from), to).await?
    } else {
        Vec::new()
    };
    for (m, k, n) in months.into_iter().chain(days).chain(tail) {
        *by_store.entry((m, k)).or_insert(0) += n;
    }
    let mut by_kind: BTreeMap<String, i64> = BTreeMap::new();
    let days =
        store::card_postings_by_kind_days(&app.db, program, day_key(first), day_key(last)).await?;
    let tail = if day_start_at < to {
        store::card_postings_by_kind(&app.db, program, day_start_at.max(from), to).await?
    } else {
        Vec::new()
    };
    for (k, n) in days.into_iter().chain(tail) {
        *by_kind.entry(k).or_insert(0) += n;
    }
    Ok((
        by_store.into_iter().map(|((m, k), n)| (m, k, n)).collect(),
        by_kind.into_iter().collect(),
    ))
}

/// The point report with its figures from `source`.
pub async fn report_from(
    app: &App,
    who: Principal,
    program: ProgramId,
    fy: FiscalYear,
    now: DateTime<Utc>,
    source: Source,
) -> Result<PointsReport, AppError> {
    if !who.can(Capability::ViewCity) {
        return Err(AppError::forbidden());
    }
    points_program_visible(app, &who, program).await?;
    let (from, to) = period(fy, now)?;
    let (by_store, by_kind) = card_figures(app, program, from, to, source).await?;
    let mut stores: BTreeMap<MerchantId, StoreFigures> = BTreeMap::new();
    for (merchant, kind, sum) in by_store {
        let merchant = MerchantId(merchant);
        let s = stores.entry(merchant).or_insert_with(|| StoreFigures {
            merchant_id: merchant,
            ..Default::default()
        });
        match kind.as_str() {
            "earn" => s.issued += sum,
            "earn_return" => s.clawed_back -= sum,
            "spend" => s.redeemed -= sum,
            _ => s.refunded += sum,
        }
    }
    let by_kind: BTreeMap<String, i64> = by_kind.into_iter().collect();
    let held = |v: Vec<(Asset, i64)>| {
        v.into_iter()
            .filter(|(a, _)| *a == Asset::Points)
            .map(|(_, n)| n)
            .sum::<i64>()
    };
    let stores: Vec<StoreFigures> = stores.into_values().collect();
    let sum = |f: fn(&StoreFigures) -> i64| stores.iter().map(f).sum::<i64>();
    let (issued, clawed_back, redeemed, refunded) = (
        sum(|s| s.issued),
        sum(|s| s.clawed_back),
        sum(|s| s.redeemed),
        sum(|s| s.refunded),
    );
    Ok(PointsReport {
        program_id: program,
        fiscal_year: fy,
        label: fy.reiwa_label(),
        from: fy.start(),
        to: machipay_domain::calendar::jst_date(to - chrono::Duration::nanoseconds(1)),
        issued,
        clawed_back,
        redeemed,
        refunded,
        expired: -by_kind.get(EXPIRY_KIND).copied().unwrap_or(0),
        imported: by_kind.get(IMPORT_KIND).copied().unwrap_or(0),
        liability_start: held(wallet_totals_before(&app.db, program, from, source).await?),
        liability_end: held(wallet_totals_before(&app.db, program, to, source).await?),
        redemption_rate: rate(issued - clawed_back, redeemed - refunded),
        stores,
    })
}

impl PointStatement {
    pub fn csv_header() -> [&'static str; 8] {
        [
            "年度",
            "日時",
            "取引ID",
            "種別",
            "カードID",
            "購入金額",
            "ポイント",
            "不足ポイント",
        ]
    }

    pub fn csv_rows(&self) -> Vec<Vec<String>> {
        self.lines
            .iter()
            .map(|l| {
                vec![
                    self.label.clone(),
                    l.created_at.to_rfc3339(),
                    l.transaction_id.to_string(),
                    l.kind.clone(),
                    l.card_id.to_string(),
                    l.purchase_yen.map(|y| y.to_string()).unwrap_or_default(),
                    l.points.to_string(),
                    l.shortfall_points.to_string(),
                ]
            })
            .collect()
    }
}

/// A store's point statement for a fiscal year (the store's owner and devices, or staff).
pub async fn statement(
    app: &App,
    who: Principal,
    merchant: MerchantId,
    program: ProgramId,
    fy: FiscalYear,
    now: DateTime<Utc>,
) -> Result<PointStatement, AppError> {
    crate::features::directory::get_merchant(app, who, merchant).await?;
    points_program_visible(app, &who, program).await?;
    let (from, to) = period(fy, now)?;
    let mut rows =
        store::movements_of_merchant(&app.db, program, merchant, from, to, STATEMENT_LINES_MAX)
            .await?;
    // An operator's reversal of a movement is a line of its own, so the statement's net
    // figures agree with what settlement charges and reimburses.
    rows.extend(
        store::reversals_of_merchant(&app.db, program, merchant, from, to, STATEMENT_LINES_MAX)
            .await?,
    );
    rows.sort_by_key(|m| (m.created_at, m.transaction_id.0));
    rows.truncate(usize::try_from(STATEMENT_LINES_MAX).unwrap_or(usize::MAX));
    let signed = |kind: &str| match kind {
        "earn" | "reversal_of_earn_return" => (1, 0),
        "earn_return" | "reversal_of_earn" => (-1, 0),
        "spend" | "reversal_of_spend_refund" => (0, 1),
        _ => (0, -1),
    };
    let (mut issued_net, mut redeemed_net) = (0, 0);
    let lines = rows
        .into_iter()
        .map(|m| {
            let (i, r) = signed(&m.kind);
            issued_net += i * m.points;
            redeemed_net += r * m.points;
            StatementLine::from(m)
        })
        .collect();
    Ok(PointStatement {
        program_id: program,
        merchant_id: merchant,
        fiscal_year: fy,
        label: fy.reiwa_label(),
        issued_net,
        redeemed_net,
        lines,
    })
}
