// i18n: the Japanese/English dictionary, the current language (remembered in localStorage),
// and applying translations to elements marked with data-i18n / data-i18n-placeholder.

const STORE_KEY = "machipay.lang";

const DICT = {
  ja: {
    app_name: "まちペイ",
    lang_switch: "English",
    lang_switch_label: "Switch to English",
    nav_home: "ホーム",
    nav_merchant: "お店",
    nav_wallet: "ウォレット",
    nav_city: "市の管理画面",
    home_intro: "使う画面を選んでください。",
    home_merchant: "お店のアプリ: 支払いを受け取る・返金・売上",
    home_wallet: "ウォレット: 残高・支払い・履歴",
    home_city: "市の管理画面: 未使用残高の報告",
    sign_out: "サインアウト",
    enroll_title: "この端末を登録",
    enroll_help: "店主が発行したワンタイムコードを入力してください。",
    enroll_code: "ワンタイムコード",
    enroll_button: "登録する",
    program: "プログラム",
    amount_title: "支払いを受け取る",
    amount_label: "金額（円）",
    amount_create: "QRコードを表示",
    scan_to_pay: "お客様にこのQRコードを読み取ってもらってください",
    show_code_text: "コードを文字で表示（読み取れないとき）",
    waiting: "お支払いを待っています…",
    expires_at: "有効期限",
    paid: "支払い完了",
    new_sale: "次のお会計",
    cancel: "取り消す",
    shopper_code_title: "お客様のコードで受け取る",
    shopper_code_label: "お客様のワンタイムコード",
    take_payment: "支払いを受け取る",
    scan_camera: "カメラで読み取る",
    stop_camera: "カメラを止める",
    camera_unavailable: "カメラを使えません。コードを入力してください。",
    poster_title: "店頭ポスター",
    poster_show: "ポスターを表示",
    poster_print: "印刷する",
    poster_none: "店舗コードがまだありません（店主が発行します）。",
    today_title: "本日の売上",
    history_title: "最近の取引",
    refund: "返金",
    refund_reason: "返金の理由",
    refund_default_reason: "お客様のご要望",
    refund_done: "返金しました",
    refund_confirm: "この支払いを返金しますか？",
    col_time: "時刻",
    col_kind: "種類",
    col_amount: "金額",
    col_asset: "種別",
    none_yet: "まだありません",
    kind_payment: "支払い",
    kind_refund: "返金",
    kind_charge: "チャージ",
    kind_transfer: "送金",
    kind_bank_charge: "銀行チャージ",
    kind_premium_sale: "プレミアム付き購入",
    kind_rebate_grant: "還元",
    kind_reversal: "取消",
    kind_expiry: "失効",
    kind_cash_out: "払戻し",
    asset_coin: "コイン",
    asset_premium: "プレミアム",
    asset_points: "ポイント",
    wallet_signin: "ウォレットにサインイン",
    wallet_token: "アクセストークン",
    sign_in: "サインイン",
    balances_title: "残高",
    nearest_expiry: "{date} に {amount} が失効",
    no_expiry: "有効期限なし",
    pay_title: "QRコードで支払う",
    pay_code_label: "店舗のQRコード（読み取りまたは貼り付け）",
    pay_check: "内容を確認",
    payee: "支払い先",
    pay_amount_label: "支払う金額（円）",
    pay_confirm: "支払う",
    pay_done: "{name} に {amount} を支払いました",
    my_code_title: "わたしのコード",
    my_code_show: "お店に見せるコードを表示",
    my_code_help: "1分間・1回だけ有効です。",
    city_signin: "職員としてサインイン",
    staff_token: "職員トークン",
    unused_title: "未使用残高の報告（資金決済法）",
    report_date: "基準日",
    report_load: "表示する",
    download_csv: "CSVをダウンロード",
    targets_slot: "参加店舗数と目標（年度別グラフ）は、加盟店登録の機能の追加後にここに表示されます。",
    r_reference_date: "基準日",
    r_unused_paid_yen: "未使用残高（有償）",
    r_unused_premium_yen: "未使用残高（プレミアム分）",
    r_unused_total_yen: "未使用残高 合計",
    r_threshold_yen: "基準額",
    r_excess_yen: "基準額超過分",
    r_required_deposit_yen: "発行保証金（必要額）",
    error: "エラー",
    stream_lost: "接続が切れました。再接続しています…",
    loading: "読み込み中…",
  },
  en: {
    app_name: "machipay",
    lang_switch: "日本語",
    lang_switch_label: "日本語に切り替える",
    nav_home: "Home",
    nav_merchant: "Store",
    nav_wallet: "Wallet",
    nav_city: "City dashboard",
    home_intro: "Choose the screen you need.",
    home_merchant: "Store app: take payments, refunds, takings",
    home_wallet: "Wallet: balances, pay, history",
    home_city: "City dashboard: unused-balance report",
    sign_out: "Sign out",
    enroll_title: "Enroll this device",
    enroll_help: "Type the one-time code the store owner issued.",
    enroll_code: "One-time code",
    enroll_button: "Enroll",
    program: "Program",
    amount_title: "Take a payment",
    amount_label: "Amount (yen)",
    amount_create: "Show QR code",
    scan_to_pay: "Ask the shopper to scan this QR code",
    show_code_text: "Show the code as text (when it cannot be scanned)",
    waiting: "Waiting for the payment…",
    expires_at: "Expires",
    paid: "Paid",
    new_sale: "Next sale",
    cancel: "Cancel",
    shopper_code_title: "Take a payment from the shopper's code",
    shopper_code_label: "Shopper's one-time code",
    take_payment: "Take payment",
    scan_camera: "Scan with camera",
    stop_camera: "Stop camera",
    camera_unavailable: "The camera is not available. Type the code instead.",
    poster_title: "Store poster",
    poster_show: "Show poster",
    poster_print: "Print",
    poster_none: "No store code yet (the owner issues one).",
    today_title: "Today's takings",
    history_title: "Recent activity",
    refund: "Refund",
    refund_reason: "Reason for the refund",
    refund_default_reason: "Shopper's request",
    refund_done: "Refunded",
    refund_confirm: "Refund this payment?",
    col_time: "Time",
    col_kind: "Kind",
    col_amount: "Amount",
    col_asset: "Asset",
    none_yet: "Nothing yet",
    kind_payment: "Payment",
    kind_refund: "Refund",
    kind_charge: "Charge",
    kind_transfer: "Transfer",
    kind_bank_charge: "Bank charge",
    kind_premium_sale: "Premium set",
    kind_rebate_grant: "Rebate",
    kind_reversal: "Reversal",
    kind_expiry: "Expired",
    kind_cash_out: "Cash-out",
    asset_coin: "Coin",
    asset_premium: "Premium",
    asset_points: "Points",
    wallet_signin: "Sign in to your wallet",
    wallet_token: "Access token",
    sign_in: "Sign in",
    balances_title: "Balances",
    nearest_expiry: "{amount} expires on {date}",
    no_expiry: "Does not expire",
    pay_title: "Pay by QR code",
    pay_code_label: "Store QR code (scan or paste)",
    pay_check: "Check",
    payee: "Pay to",
    pay_amount_label: "Amount to pay (yen)",
    pay_confirm: "Pay",
    pay_done: "Paid {amount} to {name}",
    my_code_title: "My code",
    my_code_show: "Show a code for the store",
    my_code_help: "Valid once, for one minute.",
    city_signin: "Sign in as staff",
    staff_token: "Staff token",
    unused_title: "Unused-balance report (Payment Services Act)",
    report_date: "Reference date",
    report_load: "Show",
    download_csv: "Download CSV",
    targets_slot: "Participating stores against targets by fiscal year (chart) will appear here once the merchant registry is added.",
    r_reference_date: "Reference date",
    r_unused_paid_yen: "Unused balance (paid)",
    r_unused_premium_yen: "Unused balance (premium)",
    r_unused_total_yen: "Unused balance, total",
    r_threshold_yen: "Threshold",
    r_excess_yen: "Excess over threshold",
    r_required_deposit_yen: "Required deposit",
    error: "Error",
    stream_lost: "Connection lost. Reconnecting…",
    loading: "Loading…",
  },
};

export function lang() {
  const saved = localStorage.getItem(STORE_KEY);
  return saved === "en" ? "en" : "ja";
}

export function setLang(l) {
  localStorage.setItem(STORE_KEY, l);
  apply();
}

/** The translation of `key` with {name} placeholders filled from `vars`. */
export function t(key, vars = {}) {
  const text = DICT[lang()][key] ?? DICT.ja[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
}

/** Translates every marked element under `root` and sets <html lang>. */
export function apply(root = document) {
  document.documentElement.lang = lang();
  root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  root.querySelectorAll("[data-i18n-label]").forEach((el) => { el.setAttribute("aria-label", t(el.dataset.i18nLabel)); });
  document.dispatchEvent(new CustomEvent("langchange"));
}

/** The label of a transaction kind (the raw kind when the dictionary has none). */
export function kindLabel(kind) {
  const key = `kind_${kind}`;
  const text = t(key);
  return text === key ? kind : text;
}

/** ¥1,234 in either language. */
export function yen(n) {
  return "¥" + Number(n).toLocaleString("ja-JP");
}

/** A points amount, e.g. 120 pt. */
export function pts(n) {
  return Number(n).toLocaleString("ja-JP") + " pt";
}

/** An amount of an asset: yen for coin and premium, points otherwise. */
export function money(asset, n) {
  return asset === "points" ? pts(n) : yen(n);
}

/** A timestamp in Japan time, short. */
export function when(iso) {
  return new Date(iso).toLocaleString(lang() === "en" ? "en-GB" : "ja-JP", {
    timeZone: "Asia/Tokyo", month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}
