// Error messages for people: for every error code the server can answer (GET /api/v1/error-codes),
// what the app says, in Japanese and English. The server's own `message` is for developers and
// is never shown; a code missing here shows the generic text (GENERIC).
//
// Format (tests/api/error_codes.rs reads this file line by line, so keep it): inside
// ERROR_MESSAGES, one code per line, exactly
//   code_name: { ja: "日本語", en: "English" },
// with no `"` inside the texts (use 「」 and ’) and no line breaks. Codes the app alone uses
// (no server code) may be added the same way.

export const ERROR_MESSAGES = {
  // Sign-in and permissions
  unauthorized: { ja: "サインインが必要です。もう一度サインインしてください。", en: "Please sign in again." },
  forbidden: { ja: "この操作を行う権限がありません。", en: "You are not allowed to do this." },
  not_found: { ja: "見つかりませんでした。", en: "It could not be found." },
  invalid_enrollment_code: { ja: "登録コードが正しくないか、使用済みまたは期限切れです。店主に新しいコードを発行してもらってください。", en: "The enrollment code is wrong, used or expired. Ask the owner for a new code." },
  device_token_not_reissued: { ja: "レジ端末は、新しい登録コードで登録し直してください。", en: "Enroll the cashier terminal again with a new enrollment code." },
  not_staff_token: { ja: "市の職員用のアクセストークンではありません。", en: "This is not a city staff token." },
  not_store_token: { ja: "お店用のアクセストークンではありません。", en: "This is not a store token." },
  not_shopper_token: { ja: "ウォレット用のアクセストークンではありません。", en: "This is not a wallet token." },
  shopper_blocked: { ja: "このアカウントは窓口で利用停止になっています。残高はそのまま保たれています。窓口でお問い合わせください。", en: "This account has been suspended at the counter. Your balance is kept. Please ask at the counter." },
  csrf_token_invalid: { ja: "画面の有効期限が切れました。ページを再読み込みしてから、もう一度お試しください。", en: "This page has expired. Please reload it and try again." },
  invalid_login: { ja: "メールアドレスまたは携帯電話番号（10〜15桁）を入力してください。", en: "Enter an email address or a mobile phone number (10 to 15 digits)." },
  invalid_password: { ja: "パスワードは8文字以上128文字以内にしてください。", en: "The password must be 8 to 128 characters." },
  login_taken: { ja: "このメールアドレスまたは電話番号はすでに登録されています。サインインしてください。", en: "This email address or phone number is already registered. Please sign in." },
  login_required: { ja: "サインインに使うメールアドレスまたは電話番号を入力してください。", en: "Enter the email address or phone number you will sign in with." },
  sign_in_failed: { ja: "メールアドレス・電話番号またはパスワードが違います。", en: "The email address, phone number or password is wrong." },
  sign_in_locked: { ja: "パスワードを続けて間違えたため、しばらくサインインできません。15分ほど待つか、窓口で再設定してください。", en: "Too many wrong passwords. Wait about 15 minutes, or have it reset at the counter." },
  too_many_sign_ins: { ja: "この端末からのサインインの失敗が多すぎます。しばらく待ってからお試しください。", en: "Too many failed sign-ins from this device. Please wait a while and try again." },
  invalid_setup_code: { ja: "設定コードが正しくないか、使用済みまたは期限切れです。窓口で新しいコードを受け取ってください。", en: "The setup code is wrong, used or expired. Get a new code at the counter." },
  no_login_for_devices: { ja: "レジ端末にはサインインがありません。登録コードで登録してください。", en: "Cashier terminals do not sign in; enroll them with an enrollment code." },
  passwords_differ: { ja: "確認用のパスワードが一致しません。", en: "The two passwords do not match." },

  // Requests the app sent wrongly (mostly a bug of the app, or a form field)
  malformed_json: { ja: "送信内容を読み取れませんでした。もう一度お試しください。", en: "The request could not be read. Please try again." },
  unknown_field: { ja: "送信内容に不明な項目があります。アプリを再読み込みしてください。", en: "The request has an unknown field. Please reload the app." },
  missing_field: { ja: "必要な項目が入力されていません。", en: "A required field is missing." },
  invalid_field: { ja: "入力内容に誤りがあります。確認してください。", en: "Some input is not valid. Please check it." },
  invalid_path: { ja: "指定されたページや番号が正しくありません。", en: "The address or number is not valid." },
  invalid_query: { ja: "指定された条件が正しくありません。", en: "The search conditions are not valid." },
  invalid_format: { ja: "指定されたファイル形式には対応していません。", en: "That file format is not available." },
  invalid_limit: { ja: "表示件数は1件から200件までです。", en: "The number of entries must be 1 to 200." },
  unreadable_body: { ja: "送信内容を読み取れませんでした。もう一度お試しください。", en: "The request could not be read. Please try again." },
  body_too_large: { ja: "送信するデータが大きすぎます。", en: "The data sent is too large." },
  unsupported_media_type: { ja: "この形式のデータは受け付けていません。", en: "This kind of data is not accepted." },
  method_not_allowed: { ja: "この操作はできません。アプリを再読み込みしてください。", en: "This action is not possible. Please reload the app." },
  no_such_route: { ja: "この操作はできません。アプリを再読み込みしてください。", en: "This action is not possible. Please reload the app." },
  bad_request: { ja: "送信内容に不備があります。アプリを再読み込みしてください。", en: "The request is incomplete. Please reload the app." },
  request_timeout: { ja: "時間がかかりすぎたため中断しました。もう一度お試しください。", en: "It took too long and was stopped. Please try again." },
  missing_idempotency_key: { ja: "送信内容に不備があります。アプリを再読み込みしてください。", en: "The request is incomplete. Please reload the app." },
  invalid_idempotency_key: { ja: "送信内容に不備があります。アプリを再読み込みしてください。", en: "The request is incomplete. Please reload the app." },
  idempotency_key_reused: { ja: "前回と異なる内容で再送信されました。最初からやり直してください。", en: "This was resent with different details. Please start again." },

  // Amounts and balances
  invalid_amount: { ja: "金額が正しくありません。1以上の整数を入力してください。", en: "The amount is not valid. Enter a whole number of 1 or more." },
  invalid_charge_amount: { ja: "この金額はチャージできません。チャージできる単位と上限を確認してください。", en: "This amount cannot be charged. Check the steps and the limit." },
  insufficient_funds: { ja: "残高が足りません。", en: "The balance is not enough." },
  holding_cap_exceeded: { ja: "ウォレットに持てる残高の上限を超えます。", en: "This would go over the most a wallet may hold." },
  missing_amount: { ja: "金額を入力してください。", en: "Please enter the amount." },
  amount_mismatch: { ja: "金額がレジの請求額と違います。", en: "The amount differs from what the cashier asked." },
  same_wallet: { ja: "ご自身には送金できません。", en: "You cannot send money to yourself." },
  transfers_disabled: { ja: "このプログラムでは利用者どうしの送金はできません。", en: "This program does not allow transfers between people." },
  program_expired: { ja: "このプログラムは終了しました。", en: "This program has ended." },
  wrong_program_kind: { ja: "このプログラムではこの操作はできません。", en: "This program does not offer this." },
  merchant_not_participating: { ja: "このお店は現在このプログラムに参加していません。", en: "This store does not take part in this program now." },
  cash_out_not_allowed: { ja: "残高の払戻しはできません（市の承認が必要です）。", en: "A balance cannot be cashed out without the city’s approval." },

  // QR codes
  invalid_code: { ja: "QRコードを読み取れませんでした。", en: "The QR code could not be read." },
  unknown_code: { ja: "まちペイのQRコードではありません。", en: "This is not a machipay QR code." },
  forged_code: { ja: "このQRコードは使えません。お店の方にお知らせください。", en: "This QR code cannot be used. Please tell the store staff." },
  code_expired: { ja: "QRコードの有効期限が切れました。お店の方に新しいコードを表示してもらってください。", en: "The QR code has expired. Ask the cashier for a new one." },
  code_already_used: { ja: "このお支払いはすでに完了しています。", en: "This payment has already been made." },
  code_revoked: { ja: "この店舗コードは無効になりました。新しいコードを発行して印刷してください。", en: "This store code was revoked. Issue a new code and print it." },

  // Reversals, refunds and returns
  already_reversed: { ja: "この取引はすでに取り消されています。", en: "This transaction has already been reversed." },
  is_a_reversal: { ja: "取消の取引は取り消せません。", en: "A reversal cannot be reversed." },
  not_reversible: { ja: "この取引は取り消せません。", en: "This transaction cannot be reversed." },
  partially_returned: { ja: "一部返金・返品済みのため、取り消せません。", en: "Part of it was already refunded or returned, so it cannot be reversed." },
  not_refundable: { ja: "返金・返品の取引は返金できません。元のお支払いを選んでください。", en: "A refund or return cannot be refunded. Choose the original payment." },
  refund_exceeds_payment: { ja: "返金額がお支払いの残りを超えています。", en: "The refund is more than what is left of the payment." },
  refund_window_closed: { ja: "返金できる期間を過ぎています。", en: "The time for refunds has passed." },
  return_exceeds_original: { ja: "返品できる量を超えています。", en: "This is more than can be returned." },
  rebate_granted: { ja: "還元がすでに付与されているため、先に還元を取り消す必要があります。", en: "The rebate was already granted; that grant must be reversed first." },
  points_already_spent: { ja: "付与したポイントがすでに使われているため、返品できません。", en: "The points earned were already spent, so this cannot be returned." },

  // Point card
  unknown_card: { ja: "このカードは登録されていません。", en: "This card is not registered." },
  invalid_card_number: { ja: "カード番号が正しくありません。16桁の数字を確認してください。", en: "That card number is not right. Check the 16 digits." },
  card_blocked: { ja: "このカードは利用停止中です。", en: "This card is blocked." },
  card_replaced: { ja: "このカードは再発行済みです。新しいカードを使ってください。", en: "This card was replaced. Use the new card." },
  card_linked_elsewhere: { ja: "このカードは別の方に登録されています。", en: "This card is linked to someone else." },
  card_not_linked: { ja: "ポイントと残高を一緒に使うには、カードをウォレットに登録してください。", en: "Link the card to a wallet to pay with points and balance together." },
  insufficient_points: { ja: "ポイントが足りません。", en: "Not enough points on the card." },
  point_stock_insufficient: { ja: "お店のポイント在庫が足りません。", en: "The store’s point stock is too low." },
  purchase_too_large: { ja: "ポイント付与の対象となる金額の上限を超えています。", en: "The purchase is above the most that earns points." },
  invalid_rate: { ja: "ポイント付与率は0から1の間で入力してください。", en: "The earn rate must be between 0 and 1." },

  // Campaigns and settings
  invalid_campaign: { ja: "キャンペーンの内容に誤りがあります。", en: "The campaign details are not valid." },
  campaign_overlaps: { ja: "期間が重なるキャンペーンがあります。", en: "Another campaign runs at the same time." },
  campaign_not_on_sale: { ja: "このキャンペーンは現在販売していません。", en: "This campaign is not on sale now." },
  campaign_budget_exhausted: { ja: "このキャンペーンの予算はなくなりました。", en: "This campaign’s budget is used up." },
  campaign_sold_out: { ja: "完売しました。", en: "Sold out." },
  invalid_waiting_room: { ja: "待合室の設定が正しくありません（1秒あたりの入場は1〜10,000、購入できる時間は30〜3,600秒。抽選販売には設定できません）。", en: "The waiting room’s terms are wrong (1 to 10,000 admitted a second, 30 to 3,600 seconds to buy; not for lottery sales)." },
  no_waiting_room: { ja: "このキャンペーンには待合室がありません。そのままご購入ください。", en: "This campaign has no waiting room: buy right away." },
  ticket_required: { ja: "このキャンペーンは待合室からの購入です。順番が来た整理券でご購入ください。", en: "This campaign sells through its waiting room: buy with a ticket whose turn has come." },
  not_admitted_yet: { ja: "まだ順番が来ていません。画面の順番表示をお待ちください。", en: "Your turn has not come yet. Please wait for it on the screen." },
  admission_expired: { ja: "購入できる時間が過ぎました。もう一度待合室に並ぶことはできません。", en: "Your time to buy is over. The waiting room cannot be joined again." },
  lottery_winners_only: { ja: "現在は抽選の当選者のみ購入できます。", en: "Only the lottery’s winners may buy now." },
  purchase_period_over: { ja: "当選者の購入期間は終了しました。", en: "The winners’ purchase period is over." },
  invalid_lottery_period: { ja: "抽選の申込期間・購入期間の指定が正しくありません。", en: "The lottery’s periods are not in order." },
  invalid_seed_hash: { ja: "シードのハッシュは SHA-256 の16進64桁で指定してください。", en: "The seed hash must be a SHA-256 as 64 hex digits." },
  invalid_seed: { ja: "シードは16〜128文字の半角英数記号で指定してください。", en: "The seed must be 16 to 128 visible ASCII characters." },
  seed_mismatch: { ja: "シードが公表済みのハッシュと一致しません。", en: "The seed does not match the published hash." },
  not_a_lottery: { ja: "このキャンペーンは抽選販売ではありません。", en: "This campaign is not sold by lottery." },
  lottery_not_accepting: { ja: "現在は抽選の申込を受け付けていません。", en: "The lottery is not taking applications now." },
  already_applied: { ja: "この抽選にはすでに申し込んでいます。", en: "You have applied to this lottery already." },
  resident_not_verified: { ja: "この抽選は市が住民確認をした方のみ申し込めます。", en: "This lottery is for residents checked by the city." },
  draw_not_due: { ja: "現在は抽選を実施できません。", en: "No draw can run now." },
  invalid_method: { ja: "確認方法は1〜100文字で入力してください。", en: "The method must be 1 to 100 characters." },
  verified_on_in_future: { ja: "確認日に未来の日付は指定できません。", en: "The check date cannot be in the future." },
  set_limit_reached: { ja: "お一人様の購入上限に達しています。", en: "The limit per person has been reached." },
  invalid_budget: { ja: "予算が少なすぎます。", en: "The budget is too small." },
  invalid_units: { ja: "お一人様の購入上限は1から100までです。", en: "The limit per person must be 1 to 100." },
  invalid_sale_period: { ja: "販売終了日時は販売開始日時より後にしてください。", en: "The sale must end after it starts." },
  invalid_category: { ja: "業種は1文字から40文字で入力してください。", en: "The category must be 1 to 40 characters." },
  invalid_settings: { ja: "設定内容に誤りがあります。", en: "The settings are not valid." },
  point_value_fixed: { ja: "地域通貨のポイントは1ポイント1円です。別の値には設定できません。", en: "A currency program’s points are worth ¥1 each; no other value can be set." },
  effective_date_in_past: { ja: "設定の変更は過去の日付には適用できません。", en: "A settings change cannot apply to a past date." },
  expiry_too_early: { ja: "有効期限が早すぎます。", en: "The expiry is too early." },
  invalid_bank_reference: { ja: "銀行の参照番号が正しくありません。", en: "The bank reference is not valid." },
  external_ref_taken: { ja: "この店舗番号は別のお店で使われています。", en: "This store number belongs to another store." },

  // Registry, imports and reports
  invalid_name: { ja: "名前は1文字から100文字で入力してください。", en: "The name must be 1 to 100 characters." },
  invalid_reason: { ja: "理由は1文字から200文字で入力してください。", en: "The reason must be 1 to 200 characters." },
  missing_reason: { ja: "理由を入力してください。", en: "Please enter a reason." },
  invalid_order_reference: { ja: "注文番号は64文字までです。", en: "The order reference is at most 64 characters." },
  invalid_profile: { ja: "店舗情報に誤りがあります。", en: "The store details are not valid." },
  invalid_bank_account: { ja: "口座情報に誤りがあります。", en: "The bank account details are not valid." },
  missing_external_ref: { ja: "店舗番号を入力してください。", en: "Please enter the store number." },
  application_decided: { ja: "この申請はすでに審査済みです。", en: "This application was already decided." },
  invalid_participation_event: { ja: "お店の参加状況から見て、この変更はできません。", en: "This change does not fit the store’s participation." },
  invalid_joined_on: { ja: "参加日に未来の日付は指定できません。", en: "The joining date cannot be in the future." },
  import_conflict: { ja: "他の取り込みと重なりました。少し待ってからもう一度お試しください。", en: "Another import is running. Please try again shortly." },
  import_rejected: { ja: "ファイルに誤りがあるため、何も取り込みませんでした。", en: "The file has errors, so nothing was imported." },
  invalid_encoding: { ja: "ファイルの文字コードを読み取れません（UTF-8 または Shift_JIS にしてください）。", en: "The file’s text encoding cannot be read (use UTF-8 or Shift_JIS)." },
  invalid_csv: { ja: "CSVファイルを読み取れませんでした。", en: "The CSV file could not be read." },
  invalid_line: { ja: "ファイルの行に誤りがあります。", en: "A line of the file is not valid." },
  missing_column: { ja: "ファイルに必要な列がありません。", en: "The file is missing a column." },
  too_many_lines: { ja: "ファイルの行数が多すぎます。", en: "The file has too many lines." },
  duplicate_external_ref: { ja: "ファイル内で同じ店舗番号が重複しています。", en: "A store number appears twice in the file." },
  invalid_target: { ja: "目標の店舗数が正しくありません。", en: "The target number of stores is not valid." },
  target_year_out_of_range: { ja: "その年度の目標はまだ設定できません。", en: "Targets cannot be set that far ahead." },
  invalid_fiscal_year: { ja: "年度の指定が正しくありません。", en: "The fiscal year is not valid." },
  invalid_date: { ja: "日付が正しくありません。", en: "The date is not valid." },
  date_in_future: { ja: "まだ来ていない日付は指定できません。", en: "That date has not come yet." },
  as_of_in_future: { ja: "まだ来ていない日付は指定できません。", en: "That date has not come yet." },
  invalid_period: { ja: "期間の指定が正しくありません。", en: "The period is not valid." },
  period_ends_before_start: { ja: "期間の終わりが始まりより前になっています。", en: "The period ends before it starts." },
  period_in_future: { ja: "まだ始まっていない期間は指定できません。", en: "That period has not started yet." },

  // Settlement
  not_a_closing_day: { ja: "この日はこのプログラムの締め日ではありません。", en: "This is not a closing day of this program." },
  cycle_still_open: { ja: "この締め期間はまだ終わっていません。", en: "This settlement cycle has not ended yet." },
  cycle_already_passed: { ja: "この締め期間はすでに過ぎています。", en: "This settlement cycle has already passed." },
  nothing_to_pay: { ja: "支払う精算がありません。", en: "There is nothing to pay in this run." },
  payout_sender_missing: { ja: "振込元の口座が設定されていません。", en: "No payout sender account is set." },
  zengin_refused: { ja: "振込データを作成できませんでした。", en: "The bank transfer file could not be made." },
  invalid_transfer_date: { ja: "振込指定日が正しくありません。", en: "The transfer date is not valid." },
  transfer_date_not_business_day: { ja: "振込指定日が銀行の営業日ではありません。", en: "The transfer date is not a bank business day." },
  transfer_date_in_past: { ja: "振込指定日が過去の日付です。", en: "The transfer date is in the past." },
  holiday_data_not_covered: { ja: "その年の祝日データがないため、振込日を決められません。", en: "There is no holiday data for that year, so the transfer date cannot be set." },

  // Failures
  rate_limited: { ja: "操作が多すぎます。少し待ってから、もう一度お試しください。", en: "Too many attempts. Please wait a little and try again." },
  overloaded: { ja: "混み合っています。少し待ってから、もう一度同じ操作をしてください。", en: "The service is busy. Please wait a moment and try the same again." },
  outcome_unknown: { ja: "処理に時間がかかっています。二重に支払われることはありません。もう一度同じ操作をして結果を確認してください。", en: "This is taking long. It will not be paid twice: try the same again to see the result." },
  unavailable: { ja: "ただいま処理できません。少し待ってから、もう一度同じ操作をしてください。", en: "This cannot be done right now. Please wait a moment and try the same again." },
  internal: { ja: "問題が発生しました。時間をおいてもう一度お試しください。", en: "Something went wrong. Please try again later." },
  network: { ja: "通信できませんでした。電波の良い所でもう一度お試しください。", en: "Could not reach the server. Please try again where the connection is better." },

  // Back office (office.html)
  second_person_required: { ja: "精算を実行した職員は確定できません。別の職員が確認して確定してください（二人承認）。", en: "The staff member who ran this settlement cannot confirm it. Another staff member must check and confirm it (two-person rule)." },
  office_not_staff: { ja: "職員用のアカウントでサインインしてください。", en: "Please sign in with a staff account." },
  office_reason_required: { ja: "却下する理由を入力してください。", en: "Please enter the reason for rejecting." },
  office_pick_file: { ja: "CSVファイルを選んでください。", en: "Please choose a CSV file." },
  office_confirm_cancelled: { ja: "取り消しました。何も変更していません。", en: "Cancelled. Nothing was changed." },
};

/** What the app says when it has no text for a code. */
export const GENERIC = {
  ja: "エラーが発生しました。もう一度お試しください。",
  en: "Something went wrong. Please try again.",
};

/** The text for people of an error code in the language `lang` ("ja" or "en"). */
export function errorMessage(code, lang) {
  const entry = ERROR_MESSAGES[code];
  return (entry && entry[lang]) || GENERIC[lang] || GENERIC.ja;
}
