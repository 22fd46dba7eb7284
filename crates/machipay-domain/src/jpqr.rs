//! JPQR store codes (EMVCo Merchant-Presented Mode): TLV encoding and decoding, the CRC, and
//! the HMAC signature that tells a code machipay issued from one pasted over it (QR貼り替え).
//!
//! Wire format: a sequence of fields `ID(2 digits) LEN(2 digits) VALUE`, where LEN counts
//! *characters*, not bytes (the Japanese names in template 64 are multi-byte in UTF-8). The
//! fields machipay writes, in this order:
//!
//! | ID | value                                                                 |
//! |----|-----------------------------------------------------------------------|
//! | 00 | `01` (payload format indicator)                                       |
//! | 01 | `11` static / `12` dynamic (point of initiation)                      |
//! | 26 | machipay template: `00` = `jp.machipay`, `01` = code id, `02` = signature |
//! | 52 | merchant category code (4 digits)                                     |
//! | 53 | `392` (yen)                                                           |
//! | 54 | amount in whole yen, dynamic codes only                               |
//! | 58 | `JP`                                                                  |
//! | 59 | merchant name (ASCII / romaji)                                        |
//! | 60 | merchant city (ASCII / romaji)                                        |
//! | 61 | postal code (optional)                                                |
//! | 64 | local-language template (optional): `00` = `JA`, `01` name, `02` city |
//! | 63 | CRC-16/CCITT-FALSE over the UTF-8 bytes of everything before it, including `6304`, as 4 upper-case hex digits |
//!
//! The signature (field 26-02) is HMAC-SHA256, truncated to its first 16 bytes and written as
//! 32 upper-case hex digits, over `SIGNATURE_CONTEXT` followed by the canonical encoding of
//! every field above *except* 26-02 and 63. Signing every field, not just the code id and
//! amount, makes the whole code tamper-evident: any edit that survives the CRC changes a
//! signed field. The server still resolves the payee from the code id and never shows the
//! shopper a name taken from the code: a valid signature proves machipay issued the code,
//! not that it hangs in the right shop.

use std::fmt::Write as _;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::money::Amount;
use crate::romaji::{fit, romanize};

/// Subfield 00 of our merchant-account template: the globally unique id that marks a code
/// as machipay's. Other providers' templates (fields 26-51) carry their own.
pub const GLOBALLY_UNIQUE_ID: &str = "jp.machipay";
/// EMVCo's bound on a whole payload, in characters. What machipay writes stays far below it.
pub const PAYLOAD_CHARS_MAX: usize = 512;
/// The two-digit length field cannot say more than this.
pub const VALUE_CHARS_MAX: usize = 99;
/// The signature is the first 16 bytes (128 bits) of the HMAC-SHA256 tag.
pub const SIGNATURE_BYTES: usize = 16;
/// Prefixed to the signed message so this key's tags can never be replayed as another
/// message kind; bump the version if the signed encoding ever changes.
pub const SIGNATURE_CONTEXT: &[u8] = b"machipay/jpqr/v1\n";

type HmacSha256 = Hmac<Sha256>;

/// Top-level field ids.
mod id {
    pub(super) const FORMAT: u8 = 0;
    pub(super) const INITIATION: u8 = 1;
    pub(super) const MACHIPAY: u8 = 26;
    pub(super) const MCC: u8 = 52;
    pub(super) const CURRENCY: u8 = 53;
    pub(super) const AMOUNT: u8 = 54;
    pub(super) const COUNTRY: u8 = 58;
    pub(super) const NAME: u8 = 59;
    pub(super) const CITY: u8 = 60;
    pub(super) const POSTAL: u8 = 61;
    pub(super) const CRC: u8 = 63;
    pub(super) const LOCAL: u8 = 64;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JpqrError {
    #[error("payload is longer than {PAYLOAD_CHARS_MAX} characters")]
    TooLong,
    #[error("payload CRC does not match its contents")]
    BadCrc,
    #[error("payload is not well-formed: {0}")]
    Malformed(&'static str),
    #[error("mandatory field {0} is missing")]
    MissingField(&'static str),
    #[error("field {0} has an invalid value")]
    InvalidField(&'static str),
    #[error("transaction currency is not yen (field 53 must be 392)")]
    WrongCurrency,
    #[error("country is not Japan (field 58 must be JP)")]
    WrongCountry,
    #[error("not a machipay code (no jp.machipay merchant-account template)")]
    NotOurs,
    #[error("code signature does not match")]
    BadSignature,
}

/// Printable ASCII: EMVCo's "ans" character set for names, cities and postal codes.
fn is_ans(c: char) -> bool {
    c.is_ascii() && !c.is_ascii_control()
}

/// Any character a person would read: no control characters and no invisible formatting
/// (zero-width, bidirectional overrides), which could make a name display as another.
fn is_visible(c: char) -> bool {
    !c.is_control()
        && !matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}')
}

/// A short text field, validated once: 1 to `CHARS_MAX` characters from one character set.
macro_rules! text_field {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:literal, $allowed:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub const CHARS_MAX: usize = $max;

            pub fn new(value: &str) -> Result<Self, JpqrError> {
                let count = value.chars().count();
                if (1..=$max).contains(&count) && value.chars().all($allowed) {
                    Ok(Self(value.to_owned()))
                } else {
                    Err(JpqrError::InvalidField($field))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_field!(
    /// The opaque id the server resolves to a store code (26-01). Case-sensitive ASCII
    /// letters and digits, so it survives every QR reader; `from_uuid` gives the usual form.
    CodeId,
    "26-01 code id",
    32,
    |c: char| c.is_ascii_alphanumeric()
);
// Character limits below are EMVCo's per-field maxima.
text_field!(
    /// Field 59: the store's name in ASCII (romaji).
    MerchantName,
    "59 merchant name",
    25,
    is_ans
);
text_field!(
    /// Field 60: the store's city in ASCII (romaji).
    MerchantCity,
    "60 merchant city",
    15,
    is_ans
);
text_field!(
    /// Field 61: postal code, e.g. `123-4567`.
    PostalCode,
    "61 postal code",
    10,
    is_ans
);
text_field!(
    /// Field 64-01: the store's name in Japanese.
    LocalName,
    "64-01 merchant name (Japanese)",
    25,
    is_visible
);
text_field!(
    /// Field 64-02: the store's city in Japanese.
    LocalCity,
    "64-02 merchant city (Japanese)",
    15,
    is_visible
);

impl CodeId {
    /// The UUID's 32-digit lower-case hex ("simple") form.
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id.simple().to_string())
    }
}

/// Field 59 of a store that has no readable reading and no ASCII name.
pub const MERCHANT_NAME_FALLBACK: &str = "MACHIPAY STORE";
/// Field 60 when the city's ASCII name is not set and its name is not kana.
pub const MERCHANT_CITY_FALLBACK: &str = "JAPAN";

impl MerchantName {
    /// Field 59 of a store's code: its registered reading (店舗名カナ) in Hepburn romaji,
    /// else its name if that is kana or ASCII, else `MERCHANT_NAME_FALLBACK`; cut to 25
    /// characters at a word break. The reading comes first because a store's name is mostly
    /// kanji, which cannot be read without a dictionary.
    pub fn for_store(name: &str, name_kana: Option<&str>) -> Self {
        name_kana
            .and_then(romanize)
            .or_else(|| romanize(name))
            .and_then(|text| Self::new(&fit(&text, Self::CHARS_MAX)).ok())
            .unwrap_or_else(|| Self(MERCHANT_NAME_FALLBACK.to_owned()))
    }
}

impl MerchantCity {
    /// Field 60: the city's ASCII name where the program sets one (`merchant_city_ascii`),
    /// else the city's name romanized if it is kana or ASCII, else `MERCHANT_CITY_FALLBACK`.
    pub fn for_city(ascii: Option<&str>, city: &str) -> Self {
        ascii
            .and_then(|a| Self::new(a.trim()).ok())
            .or_else(|| {
                romanize(city).and_then(|text| Self::new(&fit(&text, Self::CHARS_MAX)).ok())
            })
            .unwrap_or_else(|| Self(MERCHANT_CITY_FALLBACK.to_owned()))
    }
}

/// Field 52: ISO 18245 merchant category code, exactly four digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mcc([u8; 4]);

impl Mcc {
    pub fn new(value: &str) -> Result<Self, JpqrError> {
        let bytes: [u8; 4] = value
            .as_bytes()
            .try_into()
            .map_err(|_| JpqrError::InvalidField("52 merchant category code"))?;
        if bytes.iter().all(u8::is_ascii_digit) {
            Ok(Self(bytes))
        } else {
            Err(JpqrError::InvalidField("52 merchant category code"))
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("four ASCII digits are UTF-8")
    }
}

/// Field 01, with the amount folded in: a dynamic code always names its amount (field 54),
/// a static one never does (the shopper types it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Initiation {
    Static,
    Dynamic { amount: Amount },
}

impl Initiation {
    pub fn amount(self) -> Option<Amount> {
        match self {
            Self::Static => None,
            Self::Dynamic { amount } => Some(amount),
        }
    }

    fn code(self) -> &'static str {
        match self {
            Self::Static => "11",
            Self::Dynamic { .. } => "12",
        }
    }
}

/// Template 64: the store's name (and optionally city) in Japanese; language is always `JA`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LocalLanguage {
    pub merchant_name: LocalName,
    pub merchant_city: Option<LocalCity>,
}

/// Everything a machipay code says, apart from the signature and CRC, which `encode`
/// computes. Every field is validated by its type, so any value encodes within the limits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JpqrPayload {
    pub initiation: Initiation,
    pub code_id: CodeId,
    pub merchant_category_code: Mcc,
    pub merchant_name: MerchantName,
    pub merchant_city: MerchantCity,
    pub postal_code: Option<PostalCode>,
    pub local: Option<LocalLanguage>,
}

/// A payload whose structure and CRC check out but whose signature is not yet verified.
/// Its fields are the code's claims: display them only as "what the sticker says".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedJpqr {
    payload: JpqrPayload,
    signature: [u8; SIGNATURE_BYTES],
}

impl ParsedJpqr {
    pub fn payload(&self) -> &JpqrPayload {
        &self.payload
    }
}

/// What a verified code lets the server act on: which code, and static or dynamic with
/// which amount. The payee comes from looking `code_id` up, never from the code's text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CodeRef {
    pub code_id: CodeId,
    pub initiation: Initiation,
}

/// CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, no reflection, no final xor.
pub fn crc16_ccitt_false(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The code's text, signed with `key` (at least 32 random bytes; HMAC takes any length).
pub fn encode(payload: &JpqrPayload, key: &[u8]) -> String {
    let signature = hex::encode_upper(sign(payload, key));
    let mut out = write_fields(payload, Some(&signature));
    out.push_str("6304");
    let crc = crc16_ccitt_false(out.as_bytes());
    write!(out, "{crc:04X}").expect("writing to a String cannot fail");
    // The field types bound every value, so this holds for any payload (about 270 at most).
    assert!(out.chars().count() <= PAYLOAD_CHARS_MAX);
    out
}

/// Parses a scanned code: length, CRC, TLV structure, mandatory fields, yen, Japan, and our
/// template in field 26. Fields of other providers (their merchant-account templates in
/// 27-51, additional data in 62) are skipped. The result still has to pass `verify`.
pub fn decode(text: &str) -> Result<ParsedJpqr, JpqrError> {
    // The byte test first bounds the cost of counting characters in a hostile input.
    if text.len() > 4 * PAYLOAD_CHARS_MAX || text.chars().count() > PAYLOAD_CHARS_MAX {
        return Err(JpqrError::TooLong);
    }
    check_crc(text)?;
    let fields = parse_tlv(text)?;
    if fields.first().map(|f| f.0) != Some(id::FORMAT) {
        return Err(JpqrError::Malformed("field 00 must come first"));
    }
    if fields.last().map(|f| f.0) != Some(id::CRC) {
        return Err(JpqrError::Malformed("field 63 must come last"));
    }
    if get(&fields, id::FORMAT) != Some("01") {
        return Err(JpqrError::InvalidField("00 payload format indicator"));
    }
    let (code_id, signature) = machipay_account(&fields)?;
    let payload = JpqrPayload {
        initiation: initiation(&fields)?,
        code_id,
        merchant_category_code: Mcc::new(require(&fields, id::MCC, "52 merchant category code")?)?,
        merchant_name: MerchantName::new(require(&fields, id::NAME, "59 merchant name")?)?,
        merchant_city: MerchantCity::new(require(&fields, id::CITY, "60 merchant city")?)?,
        postal_code: get(&fields, id::POSTAL).map(PostalCode::new).transpose()?,
        local: get(&fields, id::LOCAL).map(local_language).transpose()?,
    };
    if require(&fields, id::CURRENCY, "53 transaction currency")? != "392" {
        return Err(JpqrError::WrongCurrency);
    }
    if require(&fields, id::COUNTRY, "58 country code")? != "JP" {
        return Err(JpqrError::WrongCountry);
    }
    Ok(ParsedJpqr { payload, signature })
}

/// Checks the signature in constant time and hands back what the server may act on.
pub fn verify(parsed: &ParsedJpqr, key: &[u8]) -> Result<CodeRef, JpqrError> {
    signing_mac(&parsed.payload, key)
        .verify_truncated_left(&parsed.signature)
        .map_err(|_| JpqrError::BadSignature)?;
    Ok(CodeRef {
        code_id: parsed.payload.code_id.clone(),
        initiation: parsed.payload.initiation,
    })
}

fn signing_mac(payload: &JpqrPayload, key: &[u8]) -> HmacSha256 {
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(SIGNATURE_CONTEXT);
    mac.update(write_fields(payload, None).as_bytes());
    mac
}

fn sign(payload: &JpqrPayload, key: &[u8]) -> [u8; SIGNATURE_BYTES] {
    let tag = signing_mac(payload, key).finalize().into_bytes();
    let mut out = [0u8; SIGNATURE_BYTES];
    out.copy_from_slice(&tag[..SIGNATURE_BYTES]);
    out
}

/// The canonical encoding of every field before the CRC. Without a signature it is the
/// signed message; with one it is the code's text up to field 63.
fn write_fields(p: &JpqrPayload, signature: Option<&str>) -> String {
    let mut account = String::new();
    put(&mut account, 0, GLOBALLY_UNIQUE_ID);
    put(&mut account, 1, p.code_id.as_str());
    if let Some(signature) = signature {
        put(&mut account, 2, signature);
    }
    let mut out = String::with_capacity(320);
    put(&mut out, id::FORMAT, "01");
    put(&mut out, id::INITIATION, p.initiation.code());
    put(&mut out, id::MACHIPAY, &account);
    put(&mut out, id::MCC, p.merchant_category_code.as_str());
    put(&mut out, id::CURRENCY, "392");
    if let Some(amount) = p.initiation.amount() {
        put(&mut out, id::AMOUNT, &amount.get().to_string());
    }
    put(&mut out, id::COUNTRY, "JP");
    put(&mut out, id::NAME, p.merchant_name.as_str());
    put(&mut out, id::CITY, p.merchant_city.as_str());
    if let Some(postal) = &p.postal_code {
        put(&mut out, id::POSTAL, postal.as_str());
    }
    if let Some(local) = &p.local {
        let mut template = String::new();
        put(&mut template, 0, "JA");
        put(&mut template, 1, local.merchant_name.as_str());
        if let Some(city) = &local.merchant_city {
            put(&mut template, 2, city.as_str());
        }
        put(&mut out, id::LOCAL, &template);
    }
    out
}

fn put(out: &mut String, id: u8, value: &str) {
    let len = value.chars().count();
    // Field types bound every value; a longer one here is a bug in this module.
    assert!(
        (1..=VALUE_CHARS_MAX).contains(&len),
        "field {id}: {len} characters"
    );
    write!(out, "{id:02}{len:02}{value}").expect("writing to a String cannot fail");
}

/// Field 63 must close the payload as `6304` plus the upper-case hex CRC of all before it.
fn check_crc(text: &str) -> Result<(), JpqrError> {
    let missing = Err(JpqrError::MissingField("63 CRC"));
    let Some(split) = text.len().checked_sub(4) else {
        return missing;
    };
    if !text.is_char_boundary(split) {
        return missing;
    }
    let (covered, crc) = text.split_at(split);
    if !covered.ends_with("6304") {
        return missing;
    }
    // Compared as text, so a lower-case CRC (which we never write) is an edit, too.
    if crc != format!("{:04X}", crc16_ccitt_false(covered.as_bytes())) {
        return Err(JpqrError::BadCrc);
    }
    Ok(())
}

/// Splits `ID LEN VALUE` fields, counting LEN in characters. Ids must not repeat.
fn parse_tlv(mut rest: &str) -> Result<Vec<(u8, &str)>, JpqrError> {
    let mut fields: Vec<(u8, &str)> = Vec::new();
    while !rest.is_empty() {
        let id = two_digits(rest)?;
        let len = usize::from(two_digits(&rest[2..])?);
        if len == 0 {
            return Err(JpqrError::Malformed("empty field value"));
        }
        let value_and_rest = &rest[4..];
        // The byte offset just past `len` characters, if there are that many.
        let end = value_and_rest
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(value_and_rest.len()))
            .nth(len)
            .ok_or(JpqrError::Malformed("field value shorter than its length"))?;
        if fields.iter().any(|f| f.0 == id) {
            return Err(JpqrError::Malformed("repeated field id"));
        }
        fields.push((id, &value_and_rest[..end]));
        rest = &value_and_rest[end..];
    }
    Ok(fields)
}

/// The two ASCII digits at the start of `text`; only ever sliced past when they are ASCII.
fn two_digits(text: &str) -> Result<u8, JpqrError> {
    match text.as_bytes() {
        [a @ b'0'..=b'9', b @ b'0'..=b'9', ..] => Ok((a - b'0') * 10 + (b - b'0')),
        _ => Err(JpqrError::Malformed("field id or length is not two digits")),
    }
}

fn get<'a>(fields: &[(u8, &'a str)], id: u8) -> Option<&'a str> {
    fields.iter().find(|f| f.0 == id).map(|f| f.1)
}

fn require<'a>(fields: &[(u8, &'a str)], id: u8, name: &'static str) -> Result<&'a str, JpqrError> {
    get(fields, id).ok_or(JpqrError::MissingField(name))
}

/// Reads the code id and signature from our template. machipay always writes it as field
/// 26, so the encoding stays canonical; a code whose 26 is absent or another provider's
/// (EMVCo leaves 26-51 to payment networks) is not ours, whatever else it carries.
fn machipay_account(fields: &[(u8, &str)]) -> Result<(CodeId, [u8; SIGNATURE_BYTES]), JpqrError> {
    let sub = get(fields, id::MACHIPAY)
        .and_then(|value| parse_tlv(value).ok())
        .filter(|sub| get(sub, 0) == Some(GLOBALLY_UNIQUE_ID))
        .ok_or(JpqrError::NotOurs)?;
    if sub.iter().any(|f| f.0 > 2) {
        return Err(JpqrError::Malformed(
            "unknown subfield in machipay template",
        ));
    }
    let code_id = CodeId::new(require(&sub, 1, "26-01 code id")?)?;
    let signature = parse_signature(require(&sub, 2, "26-02 signature")?)?;
    Ok((code_id, signature))
}

/// Exactly the upper-case hex that `encode` writes, so every signature has one spelling.
fn parse_signature(text: &str) -> Result<[u8; SIGNATURE_BYTES], JpqrError> {
    let invalid = JpqrError::InvalidField("26-02 signature");
    if !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F')) {
        return Err(invalid);
    }
    let mut out = [0u8; SIGNATURE_BYTES];
    hex::decode_to_slice(text, &mut out).map_err(|_| invalid)?;
    Ok(out)
}

fn initiation(fields: &[(u8, &str)]) -> Result<Initiation, JpqrError> {
    let amount = get(fields, id::AMOUNT);
    match (
        require(fields, id::INITIATION, "01 point of initiation")?,
        amount,
    ) {
        ("11", None) => Ok(Initiation::Static),
        ("11", Some(_)) => Err(JpqrError::InvalidField("54 amount (on a static code)")),
        ("12", Some(amount)) => Ok(Initiation::Dynamic {
            amount: parse_amount(amount)?,
        }),
        ("12", None) => Err(JpqrError::MissingField("54 amount")),
        _ => Err(JpqrError::InvalidField("01 point of initiation")),
    }
}

/// Whole yen as `encode` writes them: digits, no sign, no leading zero, no decimal point.
fn parse_amount(text: &str) -> Result<Amount, JpqrError> {
    let invalid = JpqrError::InvalidField("54 amount");
    if text.starts_with('0') || text.len() > 13 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid);
    }
    let yen: i64 = text.parse().map_err(|_| invalid.clone())?;
    Amount::new(yen).map_err(|_| invalid)
}

fn local_language(text: &str) -> Result<LocalLanguage, JpqrError> {
    let sub = parse_tlv(text)?;
    if sub.iter().any(|f| f.0 > 2) {
        return Err(JpqrError::Malformed("unknown subfield in template 64"));
    }
    if require(&sub, 0, "64-00 language preference")? != "JA" {
        return Err(JpqrError::InvalidField("64-00 language preference"));
    }
    Ok(LocalLanguage {
        merchant_name: LocalName::new(require(&sub, 1, "64-01 merchant name (Japanese)")?)?,
        merchant_city: get(&sub, 2).map(LocalCity::new).transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &[u8] = b"test key: 32 bytes of not-secret";

    fn example(initiation: Initiation) -> JpqrPayload {
        JpqrPayload {
            initiation,
            code_id: CodeId::new("01J9ZQ3K7M").expect("valid"),
            merchant_category_code: Mcc::new("5411").expect("valid"),
            merchant_name: MerchantName::new("Machi Shoten").expect("valid"),
            merchant_city: MerchantCity::new("Minamicho").expect("valid"),
            postal_code: Some(PostalCode::new("123-4567").expect("valid")),
            local: Some(LocalLanguage {
                merchant_name: LocalName::new("まち商店").expect("valid"),
                merchant_city: Some(LocalCity::new("南町").expect("valid")),
            }),
        }
    }

    /// Re-encodes `text` with its CRC fixed, as a forger who knows the CRC would.
    fn with_fresh_crc(text: &str) -> String {
        let body = &text[..text.len() - 4];
        format!("{body}{:04X}", crc16_ccitt_false(body.as_bytes()))
    }

    #[test]
    fn crc_check_value() {
        assert_eq!(crc16_ccitt_false(b"123456789"), 0x29B1);
        assert_eq!(crc16_ccitt_false(b""), 0xFFFF);
    }

    #[test]
    fn known_static_payload() {
        let text = encode(&example(Initiation::Static), KEY);
        // Every length is counted by hand. Signature and CRC were computed independently (with
        // Python's hmac and a bitwise CRC) and are pinned because printed stickers carry them:
        // if they change, the signed encoding changed and every sticker already out stops working.
        let expected = "000201010211\
            2665\
            0011jp.machipay\
            011001J9ZQ3K7M\
            02322A1FFDA7804BBDC94C4D2D47973589B6\
            52045411\
            5303392\
            5802JP\
            5912Machi Shoten\
            6009Minamicho\
            6108123-4567\
            6420\
            0002JA0104まち商店0202南町\
            6304FA0B";
        assert_eq!(text, expected);
        let parsed = decode(&text).expect("decodes");
        assert_eq!(parsed.payload(), &example(Initiation::Static));
        let code = verify(&parsed, KEY).expect("verifies");
        assert_eq!(code.code_id.as_str(), "01J9ZQ3K7M");
        assert_eq!(code.initiation, Initiation::Static);
    }

    #[test]
    fn known_dynamic_payload() {
        let amount = Amount::new(1500).expect("valid");
        let text = encode(&example(Initiation::Dynamic { amount }), KEY);
        assert!(text.starts_with("000201010212"));
        assert!(text.contains("5303392540415005802JP"), "{text}");
        let code = verify(&decode(&text).expect("decodes"), KEY).expect("verifies");
        assert_eq!(code.initiation.amount(), Some(amount));
    }

    #[test]
    fn japanese_lengths_count_characters() {
        let mut payload = example(Initiation::Static);
        payload.local = Some(LocalLanguage {
            merchant_name: LocalName::new("まちペイ商店").expect("valid"),
            merchant_city: None,
        });
        let text = encode(&payload, KEY);
        // 6 characters, 18 bytes: the length says 06. The template is 6 + 10 characters.
        assert!(text.contains("64160002JA0106まちペイ商店6304"), "{text}");
        assert_eq!(decode(&text).expect("decodes").payload(), &payload);
    }

    #[test]
    fn other_keys_and_forged_fields_fail_verification() {
        let text = encode(&example(Initiation::Static), KEY);
        let parsed = decode(&text).expect("decodes");
        assert_eq!(
            verify(&parsed, b"another key"),
            Err(JpqrError::BadSignature)
        );
        // A forger edits the Japanese name and fixes the CRC: decodes, but is not ours.
        let forged = with_fresh_crc(&text.replace("まち商店", "にせ商店"));
        let parsed = decode(&forged).expect("structure and CRC are fine");
        assert_eq!(verify(&parsed, KEY), Err(JpqrError::BadSignature));
    }

    #[test]
    fn named_errors() {
        let text = encode(&example(Initiation::Static), KEY);
        let last = text.len() - 1;
        let flipped = format!(
            "{}{}",
            &text[..last],
            if text.ends_with('0') { '1' } else { '0' }
        );
        assert_eq!(decode(&flipped), Err(JpqrError::BadCrc));
        let yen_to_dollar = with_fresh_crc(&text.replace("5303392", "5303840"));
        assert_eq!(decode(&yen_to_dollar), Err(JpqrError::WrongCurrency));
        let to_us = with_fresh_crc(&text.replace("5802JP", "5802US"));
        assert_eq!(decode(&to_us), Err(JpqrError::WrongCountry));
        let foreign = with_fresh_crc(&text.replace("jp.machipay", "jp.otherpay"));
        assert_eq!(decode(&foreign), Err(JpqrError::NotOurs));
        let no_name = with_fresh_crc(&text.replace("5912Machi Shoten", ""));
        assert_eq!(
            decode(&no_name),
            Err(JpqrError::MissingField("59 merchant name"))
        );
        let long = format!("{}{}", "x".repeat(PAYLOAD_CHARS_MAX), text);
        assert_eq!(decode(&long), Err(JpqrError::TooLong));
        assert_eq!(decode("000201"), Err(JpqrError::MissingField("63 CRC")));
    }

    #[test]
    fn foreign_fields_are_skipped() {
        let text = encode(&example(Initiation::Static), KEY);
        // Another provider's template in 29 and additional data in 62 sit beside ours.
        let (body, _) = text.split_at(text.len() - 8);
        let body = body.replacen("52045411", "29120008jp.other52045411", 1);
        let mixed = with_fresh_crc(&format!("{body}62050501X6304XXXX"));
        let parsed = decode(&mixed).expect("decodes");
        assert_eq!(parsed.payload(), &example(Initiation::Static));
        assert!(verify(&parsed, KEY).is_ok());
        // Our template anywhere but 26 is not ours.
        let moved = with_fresh_crc(&text.replacen("26650011jp.machipay", "27650011jp.machipay", 1));
        assert_eq!(decode(&moved), Err(JpqrError::NotOurs));
    }

    #[test]
    fn ascii_names_come_from_the_reading_then_the_name_then_a_default() {
        let name = |n: &str, kana: Option<&str>| MerchantName::for_store(n, kana).to_string();
        assert_eq!(
            name("みどり青果店", Some("ミドリセイカテン")),
            "MIDORISEIKATEN"
        );
        assert_eq!(name("さくら書店", Some("サクラ ショテン")), "SAKURA SHOTEN");
        assert_eq!(name("スーパー", None), "SUPA");
        assert_eq!(name("Cafe Bleu", None), "CAFE BLEU");
        assert_eq!(name("みどり青果店", None), MERCHANT_NAME_FALLBACK);
        // A reading that is not kana falls through to the name, then the default.
        assert_eq!(name("八百屋", Some("八百屋")), MERCHANT_NAME_FALLBACK);
        let long = name("x", Some("ショウテンガイ イチバン ノ オオキナ ヤオヤサン"));
        assert_eq!(long, "SHOUTENGAI ICHIBAN NO");
        assert!(long.len() <= MerchantName::CHARS_MAX);
        let city = |a: Option<&str>, c: &str| MerchantCity::for_city(a, c).to_string();
        assert_eq!(city(Some("ITABASHI"), "板橋区"), "ITABASHI");
        assert_eq!(city(None, "板橋区"), MERCHANT_CITY_FALLBACK);
        assert_eq!(city(None, "みなみまち"), "MINAMIMACHI");
        assert_eq!(city(Some("まち"), "あきるの"), "AKIRUNO");
        assert_eq!(city(None, "ながいながいなまえのまち"), "NAGAINAGAINAMAE");
    }

    #[test]
    fn field_types_reject_bad_values() {
        assert!(Mcc::new("541").is_err());
        assert!(Mcc::new("54a1").is_err());
        assert!(MerchantName::new("").is_err());
        assert!(MerchantName::new(&"a".repeat(26)).is_err());
        assert!(MerchantName::new("まち").is_err());
        assert!(LocalName::new("まち\u{202E}店").is_err());
        assert!(CodeId::new("abc-def").is_err());
        assert_eq!(CodeId::from_uuid(Uuid::nil()).as_str(), "0".repeat(32));
    }

    fn payloads() -> impl Strategy<Value = JpqrPayload> {
        let initiation = prop_oneof![
            Just(Initiation::Static),
            (1..=crate::money::AMOUNT_MAX).prop_map(|yen| Initiation::Dynamic {
                amount: Amount::new(yen).expect("in range"),
            }),
        ];
        let local = proptest::option::of((
            "[ぁ-ゖァ-ヺー一-龯0-9A-Za-z 　・]{1,25}",
            proptest::option::of("[ぁ-ゖァ-ヺ一-龯]{1,15}"),
        ));
        (
            initiation,
            "[0-9A-Za-z]{1,32}",
            "[0-9]{4}",
            "[ -~]{1,25}",
            "[ -~]{1,15}",
            proptest::option::of("[0-9]{3}-[0-9]{4}"),
            local,
        )
            .prop_map(
                |(initiation, code, mcc, name, city, postal, local)| JpqrPayload {
                    initiation,
                    code_id: CodeId::new(&code).expect("strategy"),
                    merchant_category_code: Mcc::new(&mcc).expect("strategy"),
                    merchant_name: MerchantName::new(&name).expect("strategy"),
                    merchant_city: MerchantCity::new(&city).expect("strategy"),
                    postal_code: postal.map(|p| PostalCode::new(&p).expect("strategy")),
                    local: local.map(|(name, city)| LocalLanguage {
                        merchant_name: LocalName::new(&name).expect("strategy"),
                        merchant_city: city.map(|c| LocalCity::new(&c).expect("strategy")),
                    }),
                },
            )
    }

    fn replacement_chars() -> impl Strategy<Value = char> {
        prop_oneof![
            proptest::char::range(' ', '~'),
            proptest::char::range('ぁ', 'ゖ'),
            proptest::char::range('一', '龯'),
            any::<char>(),
        ]
    }

    proptest! {
        #[test]
        fn round_trips(payload in payloads()) {
            let text = encode(&payload, KEY);
            prop_assert!(text.chars().count() <= PAYLOAD_CHARS_MAX);
            let parsed = decode(&text).expect("our own code decodes");
            prop_assert_eq!(parsed.payload(), &payload);
            let code = verify(&parsed, KEY).expect("our own code verifies");
            prop_assert_eq!(code.code_id, payload.code_id);
            prop_assert_eq!(code.initiation, payload.initiation);
        }

        #[test]
        fn any_single_character_change_is_caught(
            payload in payloads(),
            position in any::<prop::sample::Index>(),
            replacement in replacement_chars(),
        ) {
            let text = encode(&payload, KEY);
            let mut chars: Vec<char> = text.chars().collect();
            let i = position.index(chars.len());
            prop_assume!(chars[i] != replacement);
            chars[i] = replacement;
            let edited: String = chars.into_iter().collect();
            let outcome = decode(&edited).and_then(|parsed| verify(&parsed, KEY));
            prop_assert!(outcome.is_err(), "accepted {edited:?}");
        }

        /// A forger who also fixes the CRC gets nothing past the signature: whatever still
        /// verifies means exactly what the original said.
        #[test]
        fn edits_with_a_fixed_crc_change_nothing_that_verifies(
            payload in payloads(),
            position in any::<prop::sample::Index>(),
            replacement in replacement_chars(),
        ) {
            let text = encode(&payload, KEY);
            let mut chars: Vec<char> = text.chars().collect();
            // Everything before field 63; the forger recomputes that.
            let i = position.index(chars.len() - 8);
            prop_assume!(chars[i] != replacement);
            chars[i] = replacement;
            let body: String = chars[..chars.len() - 4].iter().collect();
            let forged = format!("{body}{:04X}", crc16_ccitt_false(body.as_bytes()));
            if let Ok(parsed) = decode(&forged)
                && verify(&parsed, KEY).is_ok()
            {
                prop_assert_eq!(parsed.payload(), &payload);
            }
        }
    }
}
