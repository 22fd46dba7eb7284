//! QR use-cases: store codes (issue, list, revoke, images), dynamic payment requests,
//! shopper-presented one-time codes, resolving a scanned code, and paying by code.
//!
//! A code is trusted only after its CRC and HMAC signature check out and its opaque id
//! resolves on the server; the payee shown to the shopper is the store as the server knows
//! it, never the name printed in the code.

pub mod api;
pub(crate) mod http;
pub mod store;

use chrono::Duration;

pub use self::api::*;
pub(crate) use self::store::warm_store_codes;
use crate::app::App;
use crate::error::internal;
use crate::error::{AppError, Common};
use crate::features::directory::{self as dir, MerchantRow as Merchant};
use crate::features::payments::{MovementResponse, Spend, movement_done, pay_merchant};
use crate::features::program_in_city;
use crate::features::qr::store::{PaymentRequestRow, QR_KEY};
use crate::writer::{Answer, Done, Idempotency, Work};
use machipay_domain::auth::{self, Capability, Principal};
use machipay_domain::ids::*;
use machipay_domain::jpqr::{
    self, CodeId, Initiation, JpqrError, JpqrPayload, LocalCity, LocalLanguage, LocalName, Mcc,
    MerchantCity, MerchantName,
};
use machipay_domain::program::ProgramKind;

/// How long a cashier's dynamic code stays payable.
pub const PAYMENT_REQUEST_TTL_SECONDS: i64 = 300;
/// How long a shopper-presented code stays valid.
pub const SHOPPER_CODE_TTL_SECONDS: i64 = 60;
/// Longest order reference a cashier may attach.
pub const ORDER_REFERENCE_LEN_MAX: usize = 64;
/// The MCC printed in store codes (miscellaneous retail); the server never relies on it.
const DEFAULT_MCC: &str = "5999";

crate::refusals! {
    /// What the QR use-cases refuse.
    pub enum QrRefusal {
        /// The signature does not check out.
        ForgedCode => Unprocessable, "forged_code", "this code was not issued by machipay";
        /// A well-formed JPQR code of another payment scheme.
        UnknownCode => Unprocessable, "unknown_code", "this is not a machipay code";
        /// The scanned text is no JPQR code (the reason given).
        UnreadableCode(String) => Unprocessable, "invalid_code", "the code cannot be read: {0}";
        /// The scanned text is longer than any code.
        CodeTooLong => Unprocessable, "invalid_code", "the code is too long";
        /// No such shopper code, or one of another city.
        UnknownShopperCode => Unprocessable, "invalid_code", "unknown shopper code";
        /// A revoked store code, scanned.
        StoreCodeRevoked => Unprocessable, "code_revoked", "this store code was revoked; ask the store for its new code";
        /// A revoked store code's image, asked for: gone, never printed again.
        StoreCodeImageRevoked => Gone, "code_revoked", "this store code was revoked; issue a new code and print that one";
        RequestPaid => Conflict, "code_already_used", "this payment request has been paid";
        ShopperCodeUsed => Conflict, "code_already_used", "this shopper code has been used";
        RequestExpired => Unprocessable, "code_expired", "this payment request expired; ask the cashier for a new one";
        ShopperCodeExpired => Unprocessable, "code_expired", "this shopper code expired; ask for a new one";
        /// A dynamic code paid with another amount than the cashier asked.
        AmountMismatch => Unprocessable, "amount_mismatch", "the amount differs from the cashier's request";
        /// A static code paid without an amount.
        MissingAmount => BadRequest, "missing_amount", "a store code needs the amount to pay";
        InvalidOrderReference => BadRequest, "invalid_order_reference", "order_reference is at most 64 characters";
    }
}

fn code_error(e: JpqrError) -> AppError {
    match e {
        JpqrError::BadSignature => QrRefusal::ForgedCode.into(),
        JpqrError::NotOurs => QrRefusal::UnknownCode.into(),
        other => QrRefusal::UnreadableCode(other.to_string()).into(),
    }
}

async fn qr_key_tx(w: &mut Work) -> Result<Vec<u8>, AppError> {
    store::secret_tx(&mut w.tx, QR_KEY)
        .await?
        .ok_or_else(|| internal("QR signing key missing"))
}

/// The caller may manage this store's codes: its owner, or operator staff.
fn manages(who: &Principal, merchant: MerchantId) -> bool {
    matches!(*who, Principal::MerchantOwner { merchant: m, .. } if m == merchant)
        || who.can(Capability::OperateProgram)
}

async fn merchant_in_city(
    w: &mut Work,
    who: &Principal,
    id: MerchantId,
) -> Result<Merchant, AppError> {
    dir::merchant_tx(&mut w.tx, id)
        .await?
        .filter(|m| m.city_id == who.city())
        .ok_or_else(|| AppError::not_found("merchant"))
}

/// What a code says about its store, read once per issue: the registered name and reading
/// (店舗名カナ, for field 59), and the city's name and the program's ASCII name for it (60).
struct CodeNames {
    store: String,
    store_kana: Option<String>,
    city: String,
    city_ascii: Option<String>,
}

/// Reads what a new code of `merchant` in `program` says about the store, after refusing a
/// program whose kind takes no store codes: codes pay in currency, a point card is scanned.
async fn code_names(
    w: &mut Work,
    who: &Principal,
    m: &Merchant,
    program: ProgramId,
) -> Result<CodeNames, AppError> {
    let (p, settings) = program_in_city(&mut w.tx, who, program).await?;
    if p.kind != ProgramKind::Currency {
        return Err(Common::WrongProgramKind(
            "QR codes are for currency programs; a point card program takes cards at the till",
        )
        .into());
    }
    let city = dir::city_tx(&mut w.tx, m.city_id)
        .await?
        .map(|c| c.name)
        .unwrap_or_default();
    Ok(CodeNames {
        store: m.name.clone(),
        store_kana: store::name_kana_tx(&mut w.tx, m.id).await?,
        city,
        city_ascii: settings.merchant_city_ascii,
    })
}

fn build_payload(
    initiation: Initiation,
    code_id: CodeId,
    names: &CodeNames,
    key: &[u8],
) -> Result<String, AppError> {
    let (store, city) = (names.store.as_str(), names.city.as_str());
    let truncate = |s: &str, n: usize| {
        s.chars()
            .filter(|c| !c.is_control())
            .take(n)
            .collect::<String>()
    };
    let local = LocalLanguage {
        merchant_name: LocalName::new(&truncate(store, LocalName::CHARS_MAX)).map_err(internal)?,
        merchant_city: LocalCity::new(&truncate(city, LocalCity::CHARS_MAX)).ok(),
    };
    let payload = JpqrPayload {
        initiation,
        code_id,
        merchant_category_code: Mcc::new(DEFAULT_MCC).map_err(internal)?,
        merchant_name: MerchantName::for_store(store, names.store_kana.as_deref()),
        merchant_city: MerchantCity::for_city(names.city_ascii.as_deref(), city),
        postal_code: None,
        local: Some(local),
    };
    Ok(jpqr::encode(&payload, key))
}

/// Issues a static store code (the store's owner, or operator staff).
pub async fn issue_store_code(
    app: &App,
    who: Principal,
    merchant: MerchantId,
    req: NewStoreCodeRequest,
) -> Result<Answer<StoreCode>, AppError> {
    if !manages(&who, merchant) && !matches!(who, Principal::MerchantOwner { .. }) {
        return Err(AppError::forbidden());
    }
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                let m = merchant_in_city(w, &who, merchant).await?;
                if !manages(&who, merchant) {
                    return Err(AppError::not_found("merchant"));
                }
                let names = code_names(w, &who, &m, req.program_id).await?;
                let id = StoreCodeId::new();
                let code_id = CodeId::from_uuid(id.0);
                let key = qr_key_tx(w).await?;
                let payload = build_payload(Initiation::Static, code_id.clone(), &names, &key)?;
                let code = store::StoreCode {
                    id,
                    code_id: code_id.as_str().to_owned(),
                    merchant_id: merchant,
                    program_id: req.program_id,
                    payload,
                    created_at: w.now,
                    revoked_at: None,
                };
                store::insert_store_code(&mut w.tx, &code).await?;
                crate::features::payments::open_store_accounts(&mut w.tx, req.program_id, merchant)
                    .await?;
                Ok(Done::created(StoreCode::from(code)))
            })
        })
        .await
}

/// A store's codes (its owner and devices, or staff).
pub async fn list_store_codes(
    app: &App,
    who: Principal,
    merchant: MerchantId,
) -> Result<Vec<StoreCode>, AppError> {
    crate::features::directory::get_merchant(app, who, merchant).await?;
    let codes = store::list_store_codes(&app.db, merchant).await?;
    Ok(codes.into_iter().map(StoreCode::from).collect())
}

/// Revokes a store code at once; a new one can be issued (the store's owner, or operator staff).
pub async fn revoke_store_code(
    app: &App,
    who: Principal,
    merchant: MerchantId,
    code: StoreCodeId,
) -> Result<Answer<RevokedStoreCode>, AppError> {
    if !manages(&who, merchant) && !matches!(who, Principal::MerchantOwner { .. }) {
        return Err(AppError::forbidden());
    }
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                merchant_in_city(w, &who, merchant).await?;
                if !manages(&who, merchant)
                    || !store::revoke_store_code(&mut w.tx, code, merchant, w.now).await?
                {
                    return Err(AppError::not_found("store code"));
                }
                Ok(Done::ok(RevokedStoreCode { revoked: code }))
            })
        })
        .await
}

/// A store code's image: (content type, bytes).
pub async fn store_code_image(
    app: &App,
    who: Principal,
    merchant: MerchantId,
    code: StoreCodeId,
    format: ImageFormat,
) -> Result<(&'static str, Vec<u8>), AppError> {
    let m = crate::features::directory::get_merchant(app, who, merchant).await?;
    let c = store::get_store_code(&app.db, code)
        .await?
        .filter(|c| c.merchant_id == merchant)
        .ok_or_else(|| AppError::not_found("store code"))?;
    // A revoked code's picture is never handed out again: printed, it would take shoppers to
    // a code that is refused (and a sticker is what a fraudster would reprint).
    if c.revoked_at.is_some() {
        return Err(QrRefusal::StoreCodeImageRevoked.into());
    }
    let image = |e: crate::http::render::qr::QrImageError| internal(e.to_string());
    Ok(match format {
        ImageFormat::Png => (
            "image/png",
            crate::http::render::qr::png(&c.payload).map_err(image)?,
        ),
        ImageFormat::Svg => (
            "image/svg+xml",
            crate::http::render::qr::svg(&c.payload)
                .map_err(image)?
                .into_bytes(),
        ),
        ImageFormat::Poster => {
            let city = dir::city(&app.db, m.city_id)
                .await?
                .map(|c| c.name)
                .unwrap_or_default();
            let name: String = m
                .name
                .chars()
                .take(crate::http::render::qr::POSTER_TEXT_CHARS_MAX)
                .collect();
            let city: String = city
                .chars()
                .take(crate::http::render::qr::POSTER_TEXT_CHARS_MAX)
                .collect();
            (
                "image/svg+xml",
                crate::http::render::qr::poster_svg(&c.payload, &name, &city)
                    .map_err(image)?
                    .into_bytes(),
            )
        }
    })
}

/// A cashier terminal (or the owner) asks for an amount: a single-use dynamic code that
/// expires after five minutes.
pub async fn create_payment_request(
    app: &App,
    who: Principal,
    merchant: MerchantId,
    req: NewPaymentRequest,
) -> Result<Answer<PaymentRequest>, AppError> {
    if !matches!(
        who,
        Principal::MerchantOwner { .. } | Principal::Device { .. }
    ) {
        return Err(AppError::forbidden());
    }
    if req
        .order_reference
        .as_ref()
        .is_some_and(|r| r.chars().count() > ORDER_REFERENCE_LEN_MAX)
    {
        return Err(QrRefusal::InvalidOrderReference.into());
    }
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                let m = merchant_in_city(w, &who, merchant).await?;
                if !who.acts_for_merchant(merchant) {
                    return Err(AppError::not_found("merchant"));
                }
                let names = code_names(w, &who, &m, req.program_id).await?;
                let id = PaymentRequestId::new();
                let code_id = CodeId::from_uuid(id.0);
                let key = qr_key_tx(w).await?;
                let payload = build_payload(
                    Initiation::Dynamic { amount: req.amount },
                    code_id.clone(),
                    &names,
                    &key,
                )?;
                let device_id = match who {
                    Principal::Device { id, .. } => Some(id.0),
                    _ => None,
                };
                let row = PaymentRequestRow {
                    id,
                    code_id: code_id.as_str().to_owned(),
                    merchant_id: merchant,
                    device_id,
                    program_id: req.program_id,
                    amount: req.amount.get(),
                    order_reference: req.order_reference,
                    payload,
                    expires_at: w.now + Duration::seconds(PAYMENT_REQUEST_TTL_SECONDS),
                    paid_transaction_id: None,
                    created_at: w.now,
                };
                store::insert_payment_request(&mut w.tx, &row).await?;
                Ok(Done::created(PaymentRequest::from(row)))
            })
        })
        .await
}

/// A payment request's state, for the till to poll (the store's owner and devices).
pub async fn get_payment_request(
    app: &App,
    who: Principal,
    merchant: MerchantId,
    id: PaymentRequestId,
) -> Result<PaymentRequest, AppError> {
    payment_request_row(app, who, merchant, id)
        .await
        .map(PaymentRequest::from)
}

async fn payment_request_row(
    app: &App,
    who: Principal,
    merchant: MerchantId,
    id: PaymentRequestId,
) -> Result<PaymentRequestRow, AppError> {
    if !who.acts_for_merchant(merchant) {
        return Err(AppError::not_found("payment request"));
    }
    store::get_payment_request(&app.db, id)
        .await?
        .filter(|r| r.merchant_id == merchant)
        .ok_or_else(|| AppError::not_found("payment request"))
}

/// A payment request's code as PNG or SVG, for the till's screen (the store's owner and
/// devices). A poster is for store codes only.
pub async fn payment_request_image(
    app: &App,
    who: Principal,
    merchant: MerchantId,
    id: PaymentRequestId,
    format: ImageFormat,
) -> Result<(&'static str, Vec<u8>), AppError> {
    let r = payment_request_row(app, who, merchant, id).await?;
    let image = |e: crate::http::render::qr::QrImageError| internal(e.to_string());
    match format {
        ImageFormat::Png => Ok((
            "image/png",
            crate::http::render::qr::png(&r.payload).map_err(image)?,
        )),
        ImageFormat::Svg => Ok((
            "image/svg+xml",
            crate::http::render::qr::svg(&r.payload)
                .map_err(image)?
                .into_bytes(),
        )),
        ImageFormat::Poster => Err(crate::http::refusals::RequestRefusal::InvalidFormat(
            "a payment request's image is png or svg",
        )
        .into()),
    }
}

/// A shopper asks for a one-time code to show at the till.
pub async fn create_shopper_code(
    app: &App,
    who: Principal,
    program: ProgramId,
) -> Result<Answer<ShopperCode>, AppError> {
    let Principal::Shopper { id: shopper, .. } = who else {
        return Err(AppError::forbidden());
    };
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                program_in_city(&mut w.tx, &who, program).await?;
                let secret = auth::new_enrollment_code();
                let code = format!("mpc_{}", &secret.plaintext["enr_".len()..]);
                let expires_at = w.now + Duration::seconds(SHOPPER_CODE_TTL_SECONDS);
                store::insert_shopper_code(
                    &mut w.tx,
                    &auth::hash_secret(&code),
                    shopper,
                    program,
                    expires_at,
                    w.now,
                )
                .await?;
                let qr_svg =
                    crate::http::render::qr::svg(&code).map_err(|e| internal(e.to_string()))?;
                Ok(Done::created(ShopperCode {
                    code,
                    program_id: program,
                    expires_at,
                    qr_svg,
                }))
            })
        })
        .await
}

/// The payee of a code, checked: signature, revocation, expiry, use, city.
async fn resolve_in(
    w: &mut Work,
    who: &Principal,
    payload: &str,
) -> Result<(ResolvedCode, Merchant), AppError> {
    let parsed = jpqr::decode(payload).map_err(code_error)?;
    let key = qr_key_tx(w).await?;
    let code = jpqr::verify(&parsed, &key).map_err(code_error)?;
    let (mut resolved, merchant_id) = match code.initiation {
        Initiation::Static => {
            let c = store::store_code_by_code_id_tx(&mut w.tx, code.code_id.as_str())
                .await?
                .ok_or_else(|| AppError::not_found("store code"))?;
            if c.revoked_at.is_some() {
                return Err(QrRefusal::StoreCodeRevoked.into());
            }
            (
                ResolvedCode {
                    kind: "static".into(),
                    merchant_id: c.merchant_id,
                    merchant_name: String::new(),
                    program_id: c.program_id,
                    amount: None,
                    payment_request_id: None,
                    expires_at: None,
                },
                c.merchant_id,
            )
        }
        Initiation::Dynamic { .. } => {
            let r = store::payment_request_by_code_id_tx(&mut w.tx, code.code_id.as_str())
                .await?
                .ok_or_else(|| AppError::not_found("payment request"))?;
            if r.paid_transaction_id.is_some() {
                return Err(QrRefusal::RequestPaid.into());
            }
            if r.expires_at <= w.now {
                return Err(QrRefusal::RequestExpired.into());
            }
            let resolved = ResolvedCode {
                kind: "dynamic".into(),
                merchant_id: r.merchant_id,
                merchant_name: String::new(),
                program_id: r.program_id,
                amount: Some(r.amount),
                payment_request_id: Some(r.id),
                expires_at: Some(r.expires_at),
            };
            (resolved, r.merchant_id)
        }
    };
    let merchant = merchant_in_city(w, who, merchant_id).await?;
    resolved.merchant_name = merchant.name.clone();
    Ok((resolved, merchant))
}

/// A shopper's app resolves a scanned code before asking the shopper to confirm.
pub async fn resolve(
    app: &App,
    who: Principal,
    req: ResolveRequest,
) -> Result<Answer<ResolvedCode>, AppError> {
    if !matches!(who, Principal::Shopper { .. }) {
        return Err(AppError::forbidden());
    }
    check_payload_len(&req.payload)?;
    // Runs on the writer so it sees exactly what a payment would see; it writes nothing.
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                let (resolved, _) = resolve_in(w, &who, &req.payload).await?;
                Ok(Done::ok(resolved))
            })
        })
        .await
}

fn check_payload_len(payload: &str) -> Result<(), AppError> {
    if payload.chars().count() > jpqr::PAYLOAD_CHARS_MAX {
        return Err(QrRefusal::CodeTooLong.into());
    }
    Ok(())
}

/// A shopper pays by a scanned store code (static or dynamic).
pub async fn pay_by_code(
    app: &App,
    who: Principal,
    req: CodePaymentRequest,
    idem: Idempotency,
) -> Result<Answer<MovementResponse>, AppError> {
    let Principal::Shopper { id: shopper, .. } = who else {
        return Err(AppError::forbidden());
    };
    check_payload_len(&req.payload)?;
    app.writer
        .answer_for(Some(shopper.0), Some(idem), move |w| {
            Box::pin(pay_by_code_in(w, who, req))
        })
        .await
}

async fn pay_by_code_in(
    w: &mut Work,
    who: Principal,
    req: CodePaymentRequest,
) -> Result<Done<MovementResponse>, AppError> {
    let Principal::Shopper { id: shopper, .. } = who else {
        return Err(AppError::forbidden());
    };
    let (resolved, merchant) = resolve_in(w, &who, &req.payload).await?;
    let amount = match (resolved.amount, req.amount) {
        (Some(asked), None) => asked,
        (Some(asked), Some(given)) if given.get() == asked => asked,
        (Some(_), Some(_)) => return Err(QrRefusal::AmountMismatch.into()),
        (None, Some(given)) => given.get(),
        (None, None) => return Err(QrRefusal::MissingAmount.into()),
    };
    let (program, settings) = program_in_city(&mut w.tx, &who, resolved.program_id).await?;
    let spend = Spend {
        program: &program,
        settings: &settings,
        shopper,
        merchant: merchant.id,
        amount: machipay_domain::money::Yen::new(amount),
    };
    let request = resolved.payment_request_id;
    let id = pay_merchant(w, &spend, request.map(|r| r.0)).await?;
    if let Some(request) = request
        && !store::mark_request_paid(&mut w.tx, request, id).await?
    {
        return Err(QrRefusal::RequestPaid.into());
    }
    movement_done(w, id, "payment", program.id, shopper, spend.amount).await
}

/// A till scans a shopper's one-time code and takes the amount (the store's devices or owner).
pub async fn charge_shopper_code(
    app: &App,
    who: Principal,
    merchant: MerchantId,
    req: ShopperCodePaymentRequest,
    idem: Idempotency,
) -> Result<Answer<ShopperCodePayment>, AppError> {
    if !matches!(
        who,
        Principal::MerchantOwner { .. } | Principal::Device { .. }
    ) {
        return Err(AppError::forbidden());
    }
    if req.code.len() > 64 {
        return Err(QrRefusal::UnknownShopperCode.into());
    }
    app.writer
        .answer(Some(idem), move |w| {
            Box::pin(charge_shopper_code_in(w, who, merchant, req))
        })
        .await
}

async fn charge_shopper_code_in(
    w: &mut Work,
    who: Principal,
    merchant: MerchantId,
    req: ShopperCodePaymentRequest,
) -> Result<Done<ShopperCodePayment>, AppError> {
    merchant_in_city(w, &who, merchant).await?;
    if !who.acts_for_merchant(merchant) {
        return Err(AppError::not_found("merchant"));
    }
    let hash = auth::hash_secret(&req.code);
    let code = store::shopper_code_tx(&mut w.tx, &hash)
        .await?
        .ok_or(QrRefusal::UnknownShopperCode)?;
    if code.used_transaction_id.is_some() {
        return Err(QrRefusal::ShopperCodeUsed.into());
    }
    if code.expires_at <= w.now {
        return Err(QrRefusal::ShopperCodeExpired.into());
    }
    let (program, settings) = program_in_city(&mut w.tx, &who, code.program_id)
        .await
        .map_err(crate::features::refusal_as(
            QrRefusal::UnknownShopperCode.into(),
        ))?;
    let spend = Spend {
        program: &program,
        settings: &settings,
        shopper: code.shopper_id,
        merchant,
        amount: machipay_domain::money::Yen::new(req.amount.get()),
    };
    let id = pay_merchant(w, &spend, None).await?;
    store::mark_shopper_code_used(&mut w.tx, &hash, id).await?;
    // The till sees the payment, not the shopper's balances.
    Ok(Done::created(ShopperCodePayment {
        transaction_id: id,
        kind: "payment".into(),
        program_id: program.id,
        amount: spend.amount.get(),
        created_at: w.now,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_their_codes_and_statuses() {
        let cases = [
            (QrRefusal::ForgedCode, 422, "forged_code"),
            (QrRefusal::UnknownCode, 422, "unknown_code"),
            (QrRefusal::UnreadableCode("x".into()), 422, "invalid_code"),
            (QrRefusal::CodeTooLong, 422, "invalid_code"),
            (QrRefusal::UnknownShopperCode, 422, "invalid_code"),
            (QrRefusal::StoreCodeRevoked, 422, "code_revoked"),
            (QrRefusal::StoreCodeImageRevoked, 410, "code_revoked"),
            (QrRefusal::RequestPaid, 409, "code_already_used"),
            (QrRefusal::ShopperCodeUsed, 409, "code_already_used"),
            (QrRefusal::RequestExpired, 422, "code_expired"),
            (QrRefusal::ShopperCodeExpired, 422, "code_expired"),
            (QrRefusal::AmountMismatch, 422, "amount_mismatch"),
            (QrRefusal::MissingAmount, 400, "missing_amount"),
            (
                QrRefusal::InvalidOrderReference,
                400,
                "invalid_order_reference",
            ),
        ];
        for (refusal, status, code) in cases {
            let (s, body) = AppError::from(refusal.clone()).status_and_body();
            assert_eq!((s, body.error.code.as_str()), (status, code), "{refusal:?}");
        }
        let (_, body) =
            AppError::from(QrRefusal::UnreadableCode("bad CRC".into())).status_and_body();
        assert_eq!(body.error.message, "the code cannot be read: bad CRC");
    }
}
