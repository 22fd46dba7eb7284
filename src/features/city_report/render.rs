//! The city reports as files: CSV for Excel (through [`csv_for_excel`]) and the store report's
//! SVG chart of actual against target per 年度, drawn by hand (bars for stores registered at
//! year end, a line for the target).

use std::fmt::Write;

use crate::error::AppError;
use crate::features::city_report::{StoreCounts, StoreReport, UsageReport};
use crate::http::render::csv::csv_for_excel;

fn opt(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn counts_cells(c: &StoreCounts) -> [String; 6] {
    [
        c.registered_at_end.to_string(),
        c.active.to_string(),
        c.joined.to_string(),
        c.left.to_string(),
        opt(c.target),
        c.achievement_rate.clone().unwrap_or_default(),
    ]
}

/// One table: the period, then each 年度 of the trend, then the breakdowns.
pub(crate) fn store_csv(r: &StoreReport) -> Result<Vec<u8>, AppError> {
    let mut records = Vec::new();
    let mut row = |section: &str, key: &str, cells: &[String]| {
        let mut record = vec![section.to_owned(), key.to_owned()];
        record.extend_from_slice(cells);
        record.resize(8, String::new());
        records.push(record);
    };
    row("期間", &r.label, &counts_cells(&r.counts));
    for y in &r.trend {
        let key = format!("{} ({})", y.label, y.fiscal_year);
        row("年度推移", &key, &counts_cells(&y.counts));
    }
    let b = &r.breakdowns;
    for (section, groups) in [
        ("商店会", &b.association),
        ("業種", &b.industry),
        ("地区", &b.district),
        ("規模", &b.size_class),
    ] {
        for g in groups {
            row(
                section,
                &g.key,
                &[g.registered_at_end.to_string(), g.active.to_string()],
            );
        }
    }
    csv_for_excel(
        &[
            "区分",
            "項目",
            "登録店舗数(期末)",
            "取引店舗数",
            "新規加盟",
            "脱退",
            "目標",
            "達成率(%)",
        ],
        records,
    )
}

pub(crate) fn usage_csv(r: &UsageReport) -> Result<Vec<u8>, AppError> {
    let rows = r
        .months
        .iter()
        .map(|m| ("月別", m))
        .chain(r.fiscal_years.iter().map(|y| ("年度別", y)))
        .chain(std::iter::once(("合計", &r.total)));
    let records = rows.map(|(section, u)| {
        vec![
            section.to_owned(),
            u.key.clone(),
            u.transactions.to_string(),
            u.value_yen.to_string(),
            u.active_shoppers.to_string(),
            u.points_issued.to_string(),
            u.points_redeemed.to_string(),
        ]
    });
    csv_for_excel(
        &[
            "区分",
            "期間",
            "取引件数",
            "取引金額",
            "利用者数",
            "付与ポイント",
            "利用ポイント",
        ],
        records,
    )
}

const WIDTH: i64 = 720;
const HEIGHT: i64 = 400;
const LEFT: i64 = 60;
const TOP: i64 = 50;
const PLOT_HEIGHT: i64 = 260;

/// Bars of stores registered at each 年度's end, the target as a line with a marker per year,
/// labelled "令和N年度 (YYYY)". Every number the chart shows is also in a data attribute.
pub(crate) fn store_svg(r: &StoreReport) -> String {
    let years = &r.trend;
    let max = years
        .iter()
        .flat_map(|y| [y.counts.registered_at_end, y.counts.target.unwrap_or(0)])
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = (WIDTH - LEFT - 20) / (years.len().max(1) as i64);
    let y_of = |v: i64| TOP + PLOT_HEIGHT - v * PLOT_HEIGHT / max;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(s, r#"<title>取扱店舗数 実績と目標</title>"#);
    let _ = write!(
        s,
        r#"<text x="{LEFT}" y="24" font-size="16">取扱店舗数 実績と目標</text>"#
    );
    let base = TOP + PLOT_HEIGHT;
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" y1="{base}" x2="{}" y2="{base}" stroke="#333"/>"##,
        WIDTH - 20
    );
    let mut target_points = Vec::new();
    for (i, y) in years.iter().enumerate() {
        let x = LEFT + i as i64 * slot;
        let centre = x + slot / 2;
        let actual = y.counts.registered_at_end;
        let top = y_of(actual);
        let _ = write!(
            s,
            r#"<g class="year" data-fiscal-year="{}">"#,
            y.fiscal_year
        );
        let _ = write!(
            s,
            r##"<rect class="actual" x="{}" y="{top}" width="{}" height="{}" fill="#4a90d9" data-value="{actual}"/>"##,
            x + slot / 4,
            slot / 2,
            base - top
        );
        let _ = write!(
            s,
            r#"<text class="value" x="{centre}" y="{}" text-anchor="middle">{actual}</text>"#,
            top - 4
        );
        if let Some(t) = y.counts.target {
            let ty = y_of(t);
            target_points.push(format!("{centre},{ty}"));
            let _ = write!(
                s,
                r##"<circle class="target" cx="{centre}" cy="{ty}" r="4" fill="#d0021b" data-value="{t}"/>"##
            );
        }
        let _ = write!(
            s,
            r#"<text class="label" x="{centre}" y="{}" text-anchor="middle">{} ({})</text></g>"#,
            base + 20,
            y.label,
            y.fiscal_year
        );
    }
    if target_points.len() > 1 {
        let _ = write!(
            s,
            r##"<polyline class="target-line" points="{}" fill="none" stroke="#d0021b" stroke-width="2"/>"##,
            target_points.join(" ")
        );
    }
    let legend_y = HEIGHT - 20;
    let _ = write!(
        s,
        r##"<rect x="{LEFT}" y="{}" width="12" height="12" fill="#4a90d9"/><text x="{}" y="{legend_y}">実績(年度末登録店舗数)</text>"##,
        legend_y - 10,
        LEFT + 16
    );
    let _ = write!(
        s,
        r##"<circle cx="{}" cy="{}" r="4" fill="#d0021b"/><text x="{}" y="{legend_y}">目標</text></svg>"##,
        LEFT + 226,
        legend_y - 4,
        LEFT + 236
    );
    s
}
