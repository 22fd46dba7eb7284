//! Bulk import of a city's existing store list from CSV (the raw upload: UTF-8 with or without
//! a BOM, or Shift_JIS as Excel saves it; Japanese column headers, English names as aliases).
//! Every line is checked first; one bad line rejects the file with the errors of every line and
//! nothing is written. Lines are keyed by the city's store number (`external_ref`), so
//! importing the same file twice creates no second store and no second join.
//!
//! Re-sending the file is how a city keeps profiles current: a known store's name, profile
//! and bank account are updated from its line. Its participation is not: the file has no
//! participation column, so a file says nothing about a store the program already knows, and
//! participation events are only ever created for stores new to the program (no event in it
//! yet: they join on `joined_on`). A store that was suspended or left stays so however often
//! the file comes back; its history changes only through the participation-events route.

use std::collections::HashSet;

use chrono::NaiveDate;

use crate::app::App;
use crate::error::{AppError, ErrorBody, Refusal};
use crate::features::directory::check_name;
use crate::features::merchants::api::{
    ImportRejection, ImportRequest, ImportResult, ImportedStore, LineError,
};
use crate::features::merchants::store;
use crate::features::merchants::{
    MerchantRefusal, StoreRecord, bank_view, create_store, program_of_city, record,
};
use crate::writer::{Answer, Done, Work};
use machipay_domain::auth::{Capability, Principal};
use machipay_domain::calendar::jst_date;
use machipay_domain::ids::*;
use machipay_domain::registry::{
    BankAccountInput, BankAccountView, ParticipationKind, Profile, SizeClass,
};

/// Lines a file may hold (the route's body limit, `IMPORT_BODY_MAX_BYTES`, bounds it too).
pub const IMPORT_LINES_MAX: usize = 5_000;
/// The largest file accepted (this route only; every other route keeps the 64 KiB limit).
pub const IMPORT_BODY_MAX_BYTES: usize = 4 * 1024 * 1024;

/// The columns (canonical names), in any order; the bank columns may be left out or left
/// empty together, and 商店会 may be left out.
pub const COLUMNS: [&str; 16] = [
    "external_ref",
    "name",
    "name_kana",
    "industry",
    "association",
    "district",
    "size_class",
    "address",
    "contact",
    "bank_code",
    "bank_name_kana",
    "branch_code",
    "branch_name_kana",
    "account_type",
    "account_number",
    "holder_kana",
];

/// The Japanese header of each column, in the order of `COLUMNS`.
pub const COLUMNS_JA: [&str; 16] = [
    "店舗番号",
    "店舗名",
    "店舗名カナ",
    "業種",
    "商店会",
    "地区",
    "規模",
    "住所",
    "連絡先",
    "銀行コード",
    "銀行名カナ",
    "支店コード",
    "支店名カナ",
    "口座種別",
    "口座番号",
    "口座名義カナ",
];

/// Columns a file must have (besides the bank columns, all or none).
const REQUIRED: [usize; 8] = [0, 1, 2, 3, 5, 6, 7, 8];
/// The bank columns.
const BANK: std::ops::Range<usize> = 9..16;

crate::refusals! {
    /// What is wrong with one line of an import (shown in its `lines`, the file answering
    /// 422 `import_rejected`); a line's other refusals keep their own codes.
    pub enum ImportLineRefusal {
        /// The CSV reader's text.
        InvalidCsv(String) => Unprocessable, "invalid_csv", "{0}";
        /// The missing headers, in Japanese.
        MissingColumn(String) => Unprocessable, "missing_column", "missing columns: {0}";
        TooManyLines(usize) => Unprocessable, "too_many_lines", "at most {0} lines";
        DuplicateExternalRef(String) => Unprocessable, "duplicate_external_ref", "store number {0} appears twice in the file";
        /// A line failing otherwise than by a refusal.
        InvalidLine(String) => Unprocessable, "invalid_line", "{0}";
    }
}

impl LineError {
    fn new(line: u64, refusal: &impl Refusal) -> Self {
        Self {
            line,
            code: refusal.code().into(),
            message: refusal.to_string(),
        }
    }
}

/// What an import answers: the stores written, or the file refused with each bad line.
#[derive(Debug)]
pub enum Imported {
    Done(Answer<ImportResult>),
    Rejected(ImportRejection),
}

/// The file's text: UTF-8 (a BOM is dropped) or else Shift_JIS; anything else is
/// `invalid_encoding`.
pub fn decode(bytes: &[u8]) -> Result<String, AppError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(text.to_owned());
    }
    encoding_rs::SHIFT_JIS
        .decode_without_bom_handling_and_without_replacement(bytes)
        .map(|t| t.into_owned())
        .ok_or_else(|| crate::http::refusals::RequestRefusal::NotUtf8OrShiftJis.into())
}

/// One checked line.
#[derive(Clone)]
struct Line {
    line: u64,
    external_ref: String,
    record: StoreRecord,
}

/// Who may import a store list (operator staff, city admins): checked before the file is
/// read.
pub fn may_import(who: &Principal) -> Result<(), AppError> {
    if who.can(Capability::OperateProgram) {
        Ok(())
    } else {
        Err(AppError::forbidden())
    }
}

pub async fn import(
    app: &App,
    who: Principal,
    req: ImportRequest,
    file: &[u8],
) -> Result<Imported, AppError> {
    may_import(&who)?;
    if let Some(p) = req.program_id {
        program_of_city(app, &who, p).await?;
    }
    let today = jst_date(chrono::Utc::now());
    if let Some(on) = req.joined_on
        && on > today
    {
        return Err(MerchantRefusal::InvalidJoinedOn(on, today).into());
    }
    let text = decode(file)?;
    let lines = match parse(&text) {
        Ok(lines) => lines,
        Err(errors) => return Ok(Imported::Rejected(rejected(errors))),
    };
    let answer = app
        .writer
        .bulk()
        .answer(None, move |w| {
            Box::pin(import_in(w, who, lines, req.program_id, req.joined_on))
        })
        .await?;
    Ok(Imported::Done(answer))
}

fn rejected(lines: Vec<LineError>) -> ImportRejection {
    let refusal = crate::error::Common::MerchantImportRejected(lines.len());
    ImportRejection {
        error: ErrorBody {
            code: refusal.code().into(),
            message: refusal.to_string(),
        },
        lines,
    }
}

async fn import_in(
    w: &mut Work,
    who: Principal,
    lines: Vec<Line>,
    program: Option<ProgramId>,
    joined_on: Option<NaiveDate>,
) -> Result<Done<ImportResult>, AppError> {
    let on = joined_on.unwrap_or_else(|| jst_date(w.now));
    let mut stores = Vec::with_capacity(lines.len());
    for l in lines {
        let line = l.line;
        // The whole job rolls back on any refusal; the refusal still says which line.
        let imported = import_line(w, &who, l, program, on)
            .await
            .map_err(|e| at_line(line, e))?;
        stores.push(imported);
    }
    let created = stores.iter().filter(|s| s.created).count();
    let result = ImportResult {
        created,
        updated: stores.len() - created,
        stores,
    };
    Ok(Done::ok(result))
}

/// Writes one checked line: creates or updates the store, and joins it to `program` only if
/// the program has never heard of it.
async fn import_line(
    w: &mut Work,
    who: &Principal,
    l: Line,
    program: Option<ProgramId>,
    on: NaiveDate,
) -> Result<ImportedStore, AppError> {
    let existing = store::merchant_by_ref_tx(&mut w.tx, who.city(), &l.external_ref).await?;
    let (merchant, token_id, token, renamed) = match existing {
        Some(id) => {
            let renamed = update_store(w, who, id, &l.record).await?;
            (id, None, None, renamed)
        }
        None => {
            let issued = create_store(w, who, &l.record).await?;
            (
                issued.item.id,
                Some(issued.token_id),
                Some(issued.token),
                false,
            )
        }
    };
    let (joined, participation) = match program {
        Some(p) => join_if_new(w, who, p, merchant, on).await?,
        None => (false, None),
    };
    Ok(ImportedStore {
        line: l.line,
        external_ref: l.external_ref,
        merchant_id: merchant,
        created: token.is_some(),
        joined,
        participation,
        renamed,
        token_id,
        token,
    })
}

/// Records a join if the store has no event in the program yet; otherwise leaves its history
/// alone. Answers whether it joined and the store's participation afterwards.
async fn join_if_new(
    w: &mut Work,
    who: &Principal,
    program: ProgramId,
    merchant: MerchantId,
    on: NaiveDate,
) -> Result<(bool, Option<ParticipationKind>), AppError> {
    if let Some(latest) = store::latest_event_tx(&mut w.tx, program, merchant).await? {
        return Ok((false, Some(latest.kind)));
    }
    let kind = ParticipationKind::Joined;
    record(w, who, program, merchant, kind, on, None).await?;
    Ok((true, Some(kind)))
}

/// A refusal met while writing a line, labelled with that line (the status and code stay).
fn at_line(line: u64, e: AppError) -> AppError {
    match e {
        AppError::Rejected {
            kind,
            code,
            message,
        } => AppError::Rejected {
            kind,
            code,
            message: format!("line {line}: {message}; nothing was imported"),
        },
        other => other,
    }
}

/// Refreshes an imported store: its name (if the file's differs), its profile, and its bank
/// account if the file's differs. Answers whether the name changed.
async fn update_store(
    w: &mut Work,
    who: &Principal,
    id: MerchantId,
    s: &StoreRecord,
) -> Result<bool, AppError> {
    let current = crate::features::merchants::merchant_in_city(w, who, id).await?;
    // Only a real change renames: a rename makes the writer forget the stores it knows, and
    // a re-sent file mostly repeats names.
    let renamed = current.name != s.name;
    if renamed {
        store::rename_merchant(&mut w.tx, id, &s.name).await?;
    }
    store::upsert_profile(&mut w.tx, id, who.city(), &s.profile, w.now).await?;
    if let Some(bank) = &s.bank
        && store::current_bank_account_tx(&mut w.tx, id)
            .await?
            .as_ref()
            != Some(bank)
    {
        store::insert_bank_account(&mut w.tx, id, bank, who.scope_id(), w.now).await?;
    }
    Ok(renamed)
}

/// Reads and checks every line; returns every line's errors if any line has one.
fn parse(text: &str) -> Result<Vec<Line>, Vec<LineError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let fail = |line: u64, refusal: ImportLineRefusal| LineError::new(line, &refusal);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(vec![fail(1, ImportLineRefusal::InvalidCsv(e.to_string()))]),
    };
    let at: Vec<Option<usize>> = (0..COLUMNS.len())
        .map(|c| {
            headers
                .iter()
                .position(|h| h.trim() == COLUMNS[c] || h.trim() == COLUMNS_JA[c])
        })
        .collect();
    let has_bank = BANK.clone().any(|c| at[c].is_some());
    let missing: Vec<&str> = (0..COLUMNS.len())
        .filter(|&c| at[c].is_none() && (REQUIRED.contains(&c) || (has_bank && BANK.contains(&c))))
        .map(|c| COLUMNS_JA[c])
        .collect();
    if !missing.is_empty() {
        return Err(vec![fail(
            1,
            ImportLineRefusal::MissingColumn(missing.join(", ")),
        )]);
    }
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for (index, record) in reader.records().enumerate() {
        let line = index as u64 + 2;
        if index >= IMPORT_LINES_MAX {
            errors.push(fail(
                line,
                ImportLineRefusal::TooManyLines(IMPORT_LINES_MAX),
            ));
            break;
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(fail(line, ImportLineRefusal::InvalidCsv(e.to_string())));
                continue;
            }
        };
        let get = |name: &str| {
            COLUMNS
                .iter()
                .position(|c| *c == name)
                .and_then(|c| at[c])
                .and_then(|i| record.get(i))
                .map(str::trim)
                .unwrap_or_default()
                .to_owned()
        };
        match check_line(line, &get) {
            Ok(l) if !seen.insert(l.external_ref.clone()) => errors.push(fail(
                line,
                ImportLineRefusal::DuplicateExternalRef(l.external_ref),
            )),
            Ok(l) => lines.push(l),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(lines)
    } else {
        Err(errors)
    }
}

fn check_line(line: u64, get: &dyn Fn(&str) -> String) -> Result<Line, LineError> {
    let err = |e: AppError| match e {
        AppError::Rejected { code, message, .. } => LineError {
            line,
            code: code.into(),
            message,
        },
        other => LineError::new(line, &ImportLineRefusal::InvalidLine(other.to_string())),
    };
    let external_ref = get("external_ref");
    if external_ref.is_empty() {
        return Err(err(MerchantRefusal::MissingExternalRef.into()));
    }
    let name = get("name");
    check_name("name", &name).map_err(err)?;
    let optional = |v: String| (!v.is_empty()).then_some(v);
    let size = get("size_class");
    let size_class = SizeClass::parse(&size).or_else(|| SizeClass::parse_ja(&size));
    let profile = Profile {
        external_ref: Some(external_ref.clone()),
        name_kana: get("name_kana"),
        industry: get("industry"),
        association: optional(get("association")),
        district: get("district"),
        size_class: size_class.ok_or_else(|| {
            err(MerchantRefusal::InvalidProfile(format!(
                "規模 {size:?} is not 小, 中, 大 (small, medium, large)"
            ))
            .into())
        })?,
        address: get("address"),
        contact: get("contact"),
    };
    profile
        .validate()
        .map_err(|e| err(crate::features::merchants::invalid(e)))?;
    let bank = bank_of(get).map_err(err)?;
    Ok(Line {
        line,
        external_ref,
        record: StoreRecord {
            name,
            profile,
            bank,
        },
    })
}

/// The bank columns: all empty (no account yet) or a valid account.
fn bank_of(get: &dyn Fn(&str) -> String) -> Result<Option<BankAccountView>, AppError> {
    let input = BankAccountInput {
        bank_code: get("bank_code"),
        bank_name_kana: get("bank_name_kana"),
        branch_code: get("branch_code"),
        branch_name_kana: get("branch_name_kana"),
        account_type: account_type_alias(&get("account_type")),
        account_number: get("account_number"),
        holder_kana: get("holder_kana"),
    };
    let all_empty = COLUMNS[BANK].iter().all(|c| get(c).is_empty());
    if all_empty {
        return Ok(None);
    }
    bank_view(&input).map(Some)
}

/// 普通 / 当座 / 貯蓄 as the registry's account types; anything else is passed on as written.
fn account_type_alias(s: &str) -> String {
    match s {
        "普通" => "ordinary",
        "当座" => "current",
        "貯蓄" => "savings",
        other => other,
    }
    .to_owned()
}
