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

/// 規模 in Japanese (小規模 / 中規模 / 大規模); other groups as they are.
fn size_ja<'a>(section: &str, key: &'a str) -> &'a str {
    match (section, key) {
        ("規模", "small") => "小規模",
        ("規模", "medium") => "中規模",
        ("規模", "large") => "大規模",
        _ => key,
    }
}

/// A month key "2025-04" as "2025年4月"; any other key as it is.
fn month_ja(key: &str) -> String {
    match key.split_once('-').map(|(y, m)| (y, m.parse::<u32>())) {
        Some((y, Ok(m))) if y.len() == 4 => format!("{y}年{m}月"),
        _ => key.to_owned(),
    }
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
                size_ja(section, &g.key),
                &[g.registered_at_end.to_string(), g.active.to_string()],
            );
        }
    }
    csv_for_excel(
        &[
            "区分",
            "項目",
            "取扱店舗数(期末)",
            "利用のあった店舗数",
            "新規加盟",
            "退会",
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
            month_ja(&u.key),
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

/// The language of a rendered chart's words (numbers and the Japanese calendar appear in both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    Ja,
    En,
}

impl Lang {
    /// `ja` (also when absent) or `en`.
    pub(crate) fn parse(s: Option<&str>) -> Option<Self> {
        match s {
            None | Some("ja") => Some(Self::Ja),
            Some("en") => Some(Self::En),
            Some(_) => None,
        }
    }
}

/// Width of one 年度's slot, the margins, and the plot's top and height (SVG user units).
const SLOT: i64 = 88;
const LEFT: i64 = 56;
const RIGHT: i64 = 16;
const TOP: i64 = 76;
const PLOT_HEIGHT: i64 = 220;
/// The chart is never narrower than this, so its title fits.
const WIDTH_MIN: i64 = 400;
const BAR: &str = "#1f5fa8";
const TARGET: &str = "#b3001b";

/// A round step for about four gridlines up to `max` (1, 2 or 5 × 10ⁿ).
fn axis_step(max: i64) -> i64 {
    let rough = (max.max(1) + 3) / 4;
    let mut magnitude = 1;
    while magnitude * 10 <= rough {
        magnitude *= 10;
    }
    [1, 2, 5, 10]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= rough)
        .unwrap_or(10 * magnitude)
}

/// "2026年12月6日" / "6 Dec 2026".
fn day_text(d: chrono::NaiveDate, lang: Lang) -> String {
    use chrono::Datelike;
    match lang {
        Lang::Ja => format!("{}年{}月{}日", d.year(), d.month(), d.day()),
        Lang::En => d.format("%-d %b %Y").to_string(),
    }
}

/// The chart's fixed words.
struct Words {
    title: &'static str,
    actual: &'static str,
    target: &'static str,
    axis: &'static str,
}

fn words(lang: Lang) -> Words {
    match lang {
        Lang::Ja => Words {
            title: "取扱店舗数の推移（年度末）と目標",
            actual: "取扱店舗数（年度末）",
            target: "目標",
            axis: "店舗数",
        },
        Lang::En => Words {
            title: "Participating stores and the target",
            actual: "Participating stores (year end)",
            target: "Target",
            axis: "Stores",
        },
    }
}

/// Bars of the stores participating at each 年度's end (取扱店舗数) with the number on each bar,
/// the target as a line with its number under the 年度, a y axis with gridlines, and each 年度
/// in both calendars ("令和7年度" over "(2025)", or "FY2025" over "(Reiwa 7)"). A 年度 still
/// running is marked with the date its bar counts to. Every number is also in a data attribute.
pub(crate) fn store_svg(r: &StoreReport, lang: Lang) -> String {
    let years = &r.trend;
    let w = words(lang);
    let top_value = years
        .iter()
        .flat_map(|y| [y.counts.registered_at_end, y.counts.target.unwrap_or(0)])
        .max()
        .unwrap_or(0)
        .max(1);
    let step = axis_step(top_value);
    let max = (top_value / step + 1) * step;
    let width = (LEFT + SLOT * years.len().max(1) as i64 + RIGHT).max(WIDTH_MIN);
    let height = TOP + PLOT_HEIGHT + 100;
    let base = TOP + PLOT_HEIGHT;
    let y_of = |v: i64| base - v * PLOT_HEIGHT / max;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="system-ui, 'Hiragino Sans', 'Noto Sans CJK JP', sans-serif" font-size="14" fill="#111">"##
    );
    let _ = write!(s, r#"<title>{}</title>"#, w.title);
    let _ = write!(
        s,
        r#"<text x="8" y="24" font-size="17" font-weight="bold">{}</text>"#,
        w.title
    );
    // Legend.
    let _ = write!(
        s,
        r##"<rect x="8" y="38" width="14" height="14" fill="{BAR}"/><text x="28" y="50">{}</text><line x1="{}" y1="45" x2="{}" y2="45" stroke="{TARGET}" stroke-width="3" stroke-dasharray="6 3"/><text x="{}" y="50" fill="{TARGET}">{}</text>"##,
        w.actual,
        width - 110,
        width - 80,
        width - 74,
        w.target
    );
    // Axis and gridlines.
    let _ = write!(
        s,
        r#"<text class="axis-title" x="8" y="{}" font-size="12">{}</text>"#,
        TOP - 8,
        w.axis
    );
    let mut tick = 0;
    while tick <= max {
        let y = y_of(tick);
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" y1="{y}" x2="{}" y2="{y}" stroke="{}"/><text class="tick" x="{}" y="{}" text-anchor="end" font-size="12">{tick}</text>"##,
            width - RIGHT,
            if tick == 0 { "#333" } else { "#ddd" },
            LEFT - 6,
            y + 4
        );
        tick += step;
    }
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}" stroke="#333"/>"##
    );
    let mut target_points = Vec::new();
    for (i, y) in years.iter().enumerate() {
        // The last 年度 counts only to `as_of` while the period runs.
        let running = r.as_of < r.to && i + 1 == years.len();
        year_bar(
            &mut s,
            y,
            (i as i64, running),
            &y_of,
            lang,
            &mut target_points,
        );
    }
    if target_points.len() > 1 {
        let _ = write!(
            s,
            r##"<polyline class="target-line" points="{}" fill="none" stroke="{TARGET}" stroke-width="2" stroke-dasharray="6 3"/>"##,
            target_points.join(" ")
        );
    }
    if r.as_of < r.to
        && let Some(last) = years.last()
    {
        let note = match lang {
            Lang::Ja => format!("※{}は{}現在", last.label, day_text(r.as_of, lang)),
            Lang::En => format!("* FY{} as of {}", last.fiscal_year, day_text(r.as_of, lang)),
        };
        let _ = write!(
            s,
            r#"<text class="as-of" x="8" y="{}" font-size="13">{note}</text>"#,
            height - 8
        );
    }
    s.push_str("</svg>");
    s
}

/// One 年度: its bar and number, its target marker, and its labels under the axis.
fn year_bar(
    s: &mut String,
    y: &crate::features::city_report::YearRow,
    (i, running): (i64, bool),
    y_of: &dyn Fn(i64) -> i64,
    lang: Lang,
    target_points: &mut Vec<String>,
) {
    let base = TOP + PLOT_HEIGHT;
    let x = LEFT + i * SLOT;
    let centre = x + SLOT / 2;
    let actual = y.counts.registered_at_end;
    let top = y_of(actual);
    let _ = write!(
        s,
        r#"<g class="year" data-fiscal-year="{}">"#,
        y.fiscal_year
    );
    let _ = write!(
        s,
        r#"<rect class="actual" x="{}" y="{top}" width="{}" height="{}" fill="{BAR}" data-value="{actual}"/>"#,
        x + SLOT / 4,
        SLOT / 2,
        base - top
    );
    if let Some(t) = y.counts.target {
        let ty = y_of(t);
        target_points.push(format!("{centre},{ty}"));
        let _ = write!(
            s,
            r#"<circle class="target" cx="{centre}" cy="{ty}" r="4" fill="{TARGET}" data-value="{t}"/>"#
        );
    }
    // The number sits above its bar, haloed in white so a target line behind it never hides it.
    let _ = write!(
        s,
        r##"<text class="value" x="{centre}" y="{}" text-anchor="middle" font-size="15" font-weight="bold" stroke="#fff" stroke-width="4" paint-order="stroke">{actual}{}</text>"##,
        top - 6,
        if running { "*" } else { "" }
    );
    let (first, second) = match lang {
        Lang::Ja => (y.label.clone(), format!("({})", y.fiscal_year)),
        Lang::En => (
            format!("FY{}", y.fiscal_year),
            format!("(Reiwa {})", y.fiscal_year - 2018),
        ),
    };
    let _ = write!(
        s,
        r#"<text class="label" x="{centre}" y="{}" text-anchor="middle">{first}</text><text class="western" x="{centre}" y="{}" text-anchor="middle">{second}</text>"#,
        base + 20,
        base + 38
    );
    if let Some(t) = y.counts.target {
        let word = words(lang).target;
        let _ = write!(
            s,
            r#"<text class="target-value" x="{centre}" y="{}" text-anchor="middle" fill="{TARGET}">{word} {t}</text>"#,
            base + 60
        );
    }
    s.push_str("</g>");
}
