// The city dashboard's own words (Japanese and English) and its date, 年度, month, unit and
// 規模 formats, added to the shared dictionary (i18n.js) when the page loads. One name per
// figure: 取扱店舗数 (participating stores) everywhere, as the city's plan says it.

import { addTexts, lang } from "./i18n.js";

addTexts({
  ja: {
    city_page_title: "市の管理画面",
    city_signin_intro: "職員のメールアドレス（または電話番号）とパスワードでサインインします。",
    targets_title: "取扱店舗数と利用状況",
    fiscal_year: "年度",
    report_load: "表示する",
    council_print: "議会報告を印刷",
    council_back: "通常の表示に戻る",
    council_title: "地域通貨 取扱店舗数・利用状況 報告書",
    council_town: "自治体",
    council_program: "事業",
    council_period: "期間",
    council_as_of: "集計基準日",
    council_prepared: "作成日",
    period_line: "期間: {from}〜{to}",
    as_of_running: "{date}現在（年度途中）",
    as_of_done: "{year}末（{date}）現在",
    figures_title: "主な数値",
    figures_caption: "今期: {now}。前年同期: {before}現在。",
    col_item: "項目",
    col_now: "今期",
    col_previous: "前年同期",
    col_change: "増減",
    t_registered_at_end: "取扱店舗数",
    t_target: "目標（取扱店舗数）",
    t_achievement_rate: "達成率（取扱店舗数 ÷ 目標）",
    t_joined: "新規加盟",
    t_left: "退会",
    t_active: "利用のあった店舗数",
    n_stores: "{n}店",
    points_diff: "{n}ポイント",
    chart_alt: "取扱店舗数の推移（年度末）と目標。{years}",
    chart_alt_year: "{year}: {n}店（目標 {target}）",
    chart_note_running: "棒の数値は各年度末の取扱店舗数。{year}は{date}現在。",
    chart_note: "棒の数値は各年度末の取扱店舗数、赤の点線は目標。",
    changes_title: "期間中に加盟・休止・再開・退会した店舗",
    col_date: "日付",
    col_store: "店舗",
    col_change_kind: "異動",
    col_reason: "理由",
    change_joined: "加盟",
    change_suspended: "休止",
    change_resumed: "再開",
    change_left: "退会",
    changes_none: "この期間の異動はありません。",
    changes_truncated: "ほかにも異動があります（先頭の{n}件を表示）。",
    breakdowns_title: "取扱店舗数の内訳（{date}現在）",
    breakdown_note: "内訳（商店会・業種・地区・規模）は各店舗の現在の登録情報によります。",
    col_registered: "取扱店舗数",
    col_active: "利用のあった店舗数",
    b_association: "商店会",
    b_industry: "業種",
    b_district: "地区",
    b_size_class: "規模",
    size_small: "小規模",
    size_medium: "中規模",
    size_large: "大規模",
    group_none: "なし",
    group_unregistered: "未登録",
    usage_title: "利用状況（月別）",
    col_period: "月",
    u_transactions: "取引件数",
    u_value_yen: "取引金額",
    u_active_shoppers: "利用者数",
    u_points_issued: "付与ポイント",
    u_points_redeemed: "利用ポイント",
    total: "合計",
    usage_previous: "前年同期",
    usage_change: "前年同期比",
    n_count: "{n}件",
    n_people: "{n}人",
    download_stores_csv: "取扱店舗数のCSV",
    download_usage_csv: "利用状況のCSV",
    unused_title: "未使用残高の報告（資金決済法）",
    unused_intro: "基準日（3月31日・9月30日）の未使用残高と、その半期の発行額・回収額です。",
    report_date: "基準日",
    download_csv: "CSVをダウンロード",
    r_reference_date: "基準日",
    r_unused_paid_yen: "未使用残高（有償）",
    r_unused_premium_yen: "未使用残高（プレミアム分）",
    r_unused_total_yen: "未使用残高 合計",
    r_threshold_yen: "基準額",
    r_required_deposit_yen: "要供託額（基準日未使用残高の2分の1）",
    r_period_from: "期間開始日",
    r_opening_unused_yen: "前基準日未使用残高",
    r_issued_yen: "発行額",
    r_used_yen: "回収額",
    r_expired_yen: "失効額",
    r_free_points: "無償ポイント残高（対象外）",
  },
  en: {
    city_page_title: "City dashboard",
    city_signin_intro: "Sign in with your staff email address (or phone number) and password.",
    targets_title: "Participating stores and usage",
    fiscal_year: "Fiscal year (年度)",
    report_load: "Show",
    council_print: "Print the council report",
    council_back: "Back to the normal view",
    council_title: "Local currency: participating stores and usage report",
    council_town: "Town",
    council_program: "Programme",
    council_period: "Period",
    council_as_of: "Figures as of",
    council_prepared: "Prepared",
    period_line: "Period: {from} to {to}",
    as_of_running: "as of {date} (year in progress)",
    as_of_done: "at the end of {year} ({date})",
    figures_title: "Key figures",
    figures_caption: "This period: {now}. Last year: as of {before}.",
    col_item: "Figure",
    col_now: "This period",
    col_previous: "Last year",
    col_change: "Change",
    t_registered_at_end: "Participating stores",
    t_target: "Target (participating stores)",
    t_achievement_rate: "Achievement (stores ÷ target)",
    t_joined: "Joined",
    t_left: "Left",
    t_active: "Stores with transactions",
    n_stores: "{n}",
    points_diff: "{n} points",
    chart_alt: "Participating stores at each fiscal year end, against the target. {years}",
    chart_alt_year: "{year}: {n} stores (target {target})",
    chart_note_running: "Bars: participating stores at each year end. {year} as of {date}.",
    chart_note: "Bars: participating stores at each year end; the red dotted line is the target.",
    changes_title: "Stores that joined, were suspended, resumed or left in the period",
    col_date: "Date",
    col_store: "Store",
    col_change_kind: "Change",
    col_reason: "Reason",
    change_joined: "Joined",
    change_suspended: "Suspended",
    change_resumed: "Resumed",
    change_left: "Left",
    changes_none: "No changes in this period.",
    changes_truncated: "There were more changes (the first {n} are shown).",
    breakdowns_title: "Participating stores by group (as of {date})",
    breakdown_note: "Groups (association, industry, district, size) use each store's current profile.",
    col_registered: "Participating stores",
    col_active: "With transactions",
    b_association: "Shopping association (商店会)",
    b_industry: "Industry",
    b_district: "District",
    b_size_class: "Size (規模)",
    size_small: "Small",
    size_medium: "Medium",
    size_large: "Large",
    group_none: "None",
    group_unregistered: "No profile",
    usage_title: "Usage by month",
    col_period: "Month",
    u_transactions: "Transactions",
    u_value_yen: "Value",
    u_active_shoppers: "Shoppers",
    u_points_issued: "Points issued",
    u_points_redeemed: "Points used",
    total: "Total",
    usage_previous: "Same days last year",
    usage_change: "Change on last year",
    n_count: "{n}",
    n_people: "{n}",
    download_stores_csv: "Participating stores CSV",
    download_usage_csv: "Usage CSV",
    unused_title: "Unused-balance report (Payment Services Act)",
    unused_intro: "The unused balance at a reference date (31 March, 30 September) and the half-year's issue and use.",
    report_date: "Reference date",
    download_csv: "Download CSV",
    r_reference_date: "Reference date",
    r_unused_paid_yen: "Unused balance (paid)",
    r_unused_premium_yen: "Unused balance (premium)",
    r_unused_total_yen: "Unused balance, total",
    r_threshold_yen: "Threshold",
    r_required_deposit_yen: "Required deposit (half of the unused balance)",
    r_period_from: "Half-year from",
    r_opening_unused_yen: "Unused at the previous reference date",
    r_issued_yen: "Issued",
    r_used_yen: "Used",
    r_expired_yen: "Expired",
    r_free_points: "Free points (outside the law)",
  },
});

const MONTHS_EN = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** A JST date "2026-12-06" as "2026年12月6日" or "6 Dec 2026". */
export function longDate(iso) {
  const [y, m, d] = String(iso).split("-").map(Number);
  if (!y || !m || !d) return String(iso ?? "");
  return lang() === "en" ? `${d} ${MONTHS_EN[m - 1]} ${y}` : `${y}年${m}月${d}日`;
}

/** A month key "2026-04" as "2026年4月" or "Apr 2026"; any other key as it is. */
export function monthLabel(key) {
  const match = /^(\d{4})-(\d{2})$/.exec(key ?? "");
  if (!match) return key;
  const [y, m] = [Number(match[1]), Number(match[2])];
  return lang() === "en" ? `${MONTHS_EN[m - 1]} ${y}` : `${y}年${m}月`;
}

/** The era year of a 年度 ("令和8", "令和元", "平成30"). */
function era(y) {
  if (y >= 2019) return `令和${y - 2018 === 1 ? "元" : y - 2018}`;
  return `平成${y - 1988}`;
}

/** A 年度 in both calendars: "令和8年度 (2026)" or "FY2026 (Reiwa 8)". */
export function fiscalYearLabel(y) {
  if (lang() === "en") {
    return y >= 2019 ? `FY${y} (Reiwa ${y - 2018})` : `FY${y} (Heisei ${y - 1988})`;
  }
  return `${era(y)}年度 (${y})`;
}

/** The 年度 alone, for phrases: "令和8年度" or "FY2026". */
export function fiscalYearShort(y) {
  return lang() === "en" ? `FY${y}` : `${era(y)}年度`;
}

/** A whole number with thousands separators: 12,345. */
export function num(n) {
  return Number(n).toLocaleString("ja-JP");
}

/** A signed difference with separators: +8, −3, ±0. */
export function diff(n) {
  if (n > 0) return `+${num(n)}`;
  if (n < 0) return `−${num(-n)}`;
  return "±0";
}

/** A 規模 or group key as people say it: 大規模 / Large, なし / None, 未登録 / No profile. */
export function groupLabel(kind, key, t) {
  if (kind === "size_class" && ["small", "medium", "large"].includes(key)) return t(`size_${key}`);
  if (key === "なし") return t("group_none");
  if (key === "未登録") return t("group_unregistered");
  return key;
}
