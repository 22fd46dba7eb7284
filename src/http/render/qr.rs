//! Pictures of QR codes: PNG and SVG for screens and merchant devices, and a printable A4
//! SVG poster for the shop counter.
//!
//! Every picture uses error-correction level M (15% of the code may be damaged or dirty and
//! still scan) and keeps the 4-module quiet zone scanners need around a code.
//!
//! A code whose text is not pure ASCII (a store code's Japanese name, field 64) is written as
//! an ECI designator for UTF-8 (ECI 26) followed by one byte segment. Without the designator a
//! reader has to guess the bytes' character set, and the crate's automatic segmentation puts
//! UTF-8 byte pairs that look like Shift_JIS into kanji segments: ZXing and its ports (most
//! Android scanners) then show mojibake for names such as みどり青果店 or さくら書店 and the
//! code fails its CRC. Readers that ignore ECI (rqrr, jsQR) still read the UTF-8 bytes.
//! Pure ASCII text reads the same in every character set, so it keeps the crate's optimal
//! segmentation (shopper codes stay as small as before).

use std::fmt::Write as _;
use std::io::Cursor;

use image::{ImageFormat, Luma};
use qrcode::bits::Bits;
use qrcode::render::svg;
use qrcode::types::QrError;
use qrcode::{Color, EcLevel, QrCode, Version};

use machipay_domain::jpqr::{self, Initiation, JpqrError, PAYLOAD_CHARS_MAX};

/// Pixels per QR module in PNGs and per user unit in the plain SVG.
pub(crate) const MODULE_PX: u32 = 8;
/// The quiet zone the QR standard requires around a (non-micro) code, in modules.
pub(crate) const QUIET_ZONE_MODULES: usize = 4;
/// Bound on the store and city names printed on a poster, in characters.
pub(crate) const POSTER_TEXT_CHARS_MAX: usize = 60;
/// The ECI assignment number of UTF-8 (ISO/IEC 18004, AIM ECI).
pub(crate) const ECI_UTF8: u32 = 26;
/// The error-correction level of every picture.
const EC_LEVEL: EcLevel = EcLevel::M;

#[derive(Debug, thiserror::Error)]
pub(crate) enum QrImageError {
    #[error("payload is longer than {PAYLOAD_CHARS_MAX} characters")]
    TooLong,
    #[error("payload does not fit in a QR code: {0}")]
    Qr(#[from] qrcode::types::QrError),
    #[error("PNG encoding failed: {0}")]
    Png(#[from] image::ImageError),
    #[error("{0} must be 1 to {POSTER_TEXT_CHARS_MAX} characters without control characters")]
    InvalidText(&'static str),
    #[error("payload is not a machipay code: {0}")]
    NotMachipay(#[from] JpqrError),
    /// Dynamic codes are single-use and expire; printing one is always a mistake.
    #[error("only static codes can be printed on a poster")]
    NotStatic,
}

/// The code as a greyscale PNG, `MODULE_PX` pixels per module, quiet zone included.
pub(crate) fn png(payload: &str) -> Result<Vec<u8>, QrImageError> {
    let picture = qr_code(payload)?
        .render::<Luma<u8>>()
        .quiet_zone(true)
        .module_dimensions(MODULE_PX, MODULE_PX)
        .build();
    let mut out = Vec::new();
    picture.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)?;
    Ok(out)
}

/// The code as a standalone SVG document, `MODULE_PX` user units per module.
pub(crate) fn svg(payload: &str) -> Result<String, QrImageError> {
    Ok(qr_code(payload)?
        .render::<svg::Color>()
        .quiet_zone(true)
        .module_dimensions(MODULE_PX, MODULE_PX)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build())
}

/// An A4 poster (210 mm × 297 mm) for a store's static code: the store's name, how to pay,
/// the code, a reminder to check the payee name the app shows (so a code pasted over this
/// one is noticed), and the code id in small print for support calls.
pub(crate) fn poster_svg(
    payload: &str,
    store_name: &str,
    city_name: &str,
) -> Result<String, QrImageError> {
    let store_name = poster_text(store_name, "store_name")?;
    let city_name = poster_text(city_name, "city_name")?;
    let parsed = jpqr::decode(payload)?;
    if parsed.payload().initiation != Initiation::Static {
        return Err(QrImageError::NotStatic);
    }
    let code_id = parsed.payload().code_id.as_str();
    let qr = qr_code(payload)?;
    let side = qr.width() + 2 * QUIET_ZONE_MODULES;
    let name_size = fit_font_size(store_name, 180.0, 16.0);
    let check_line = format!("「{store_name}」であることをご確認ください");
    let check_size = fit_font_size(&check_line, 180.0, 5.0);
    let (store, city) = (escape_xml(store_name), escape_xml(city_name));
    let mut out = String::with_capacity(16 * 1024);
    write!(
        out,
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            "\n",
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="210mm" height="297mm" viewBox="0 0 210 297" "#,
            r#"font-family="'Hiragino Sans','Noto Sans JP','Yu Gothic',sans-serif" text-anchor="middle">"#,
            "<title>{store} — machipay</title>",
            r##"<rect width="210" height="297" fill="#ffffff"/>"##,
            r##"<rect width="210" height="16" fill="#0b6e4f"/>"##,
            r##"<text x="105" y="10.5" font-size="6" fill="#ffffff">{city} デジタル地域通貨</text>"##,
            r#"<text x="105" y="42" font-size="{name_size:.1}" font-weight="bold">{store}</text>"#,
            r#"<text x="105" y="60" font-size="8">machipay でお支払いいただけます</text>"#,
            r#"<svg x="30" y="70" width="150" height="150" viewBox="0 0 {side} {side}" shape-rendering="crispEdges">"#,
            r##"<rect width="{side}" height="{side}" fill="#ffffff"/><path fill="#000000" d="{path}"/></svg>"##,
            r#"<text x="105" y="234" font-size="5">アプリでQRコードを読み取り、金額を入力してください</text>"#,
            r#"<text x="105" y="250" font-size="5">お支払いの前に、アプリに表示された店名が</text>"#,
            r#"<text x="105" y="258" font-size="{check_size:.1}">{check}</text>"#,
            r##"<text x="105" y="288" font-size="3" font-family="monospace" fill="#555555">コードID {code_id}</text>"##,
            "</svg>\n",
        ),
        store = store,
        city = city,
        name_size = name_size,
        side = side,
        path = qr_path(&qr),
        check_size = check_size,
        check = escape_xml(&check_line),
        code_id = escape_xml(code_id),
    )
    .expect("writing to a String cannot fail");
    Ok(out)
}

fn qr_code(payload: &str) -> Result<QrCode, QrImageError> {
    if payload.len() > 4 * PAYLOAD_CHARS_MAX || payload.chars().count() > PAYLOAD_CHARS_MAX {
        return Err(QrImageError::TooLong);
    }
    if payload.is_ascii() {
        return Ok(QrCode::with_error_correction_level(
            payload.as_bytes(),
            EC_LEVEL,
        )?);
    }
    Ok(QrCode::with_bits(utf8_bits(payload)?, EC_LEVEL)?)
}

/// `text` as ECI 26 (UTF-8) and one byte segment, in the smallest version it fits.
fn utf8_bits(text: &str) -> Result<Bits, QrError> {
    for version in 1..=40 {
        let mut bits = Bits::new(Version::Normal(version));
        let fits = bits
            .push_eci_designator(ECI_UTF8)
            .and_then(|()| bits.push_byte_data(text.as_bytes()))
            .and_then(|()| bits.push_terminator(EC_LEVEL));
        if fits.is_ok() {
            return Ok(bits);
        }
    }
    Err(QrError::DataTooLong)
}

fn poster_text<'a>(text: &'a str, what: &'static str) -> Result<&'a str, QrImageError> {
    let text = text.trim();
    let count = text.chars().count();
    if (1..=POSTER_TEXT_CHARS_MAX).contains(&count) && !text.chars().any(char::is_control) {
        Ok(text)
    } else {
        Err(QrImageError::InvalidText(what))
    }
}

/// The dark modules as one SVG path in module units, offset by the quiet zone; each run of
/// dark modules in a row is one rectangle, which keeps posters small.
fn qr_path(code: &QrCode) -> String {
    let width = code.width();
    let mut d = String::new();
    for (y, row) in code.to_colors().chunks(width).enumerate() {
        let mut x = 0;
        while x < width {
            let run = row[x..].iter().take_while(|&&c| c == Color::Dark).count();
            if run > 0 {
                let (left, top) = (x + QUIET_ZONE_MODULES, y + QUIET_ZONE_MODULES);
                write!(d, "M{left} {top}h{run}v1h-{run}z").expect("writing to a String");
            }
            x += run.max(1);
        }
    }
    d
}

/// A font size (in mm) that fits `text` into `width_mm`, at most `max_size`. Without font
/// metrics it estimates: full-width (Japanese) characters are 1 em wide, ASCII about 0.6.
fn fit_font_size(text: &str, width_mm: f64, max_size: f64) -> f64 {
    let ems: f64 = text
        .chars()
        .map(|c| if c.is_ascii() { 0.6 } else { 1.0 })
        .sum();
    (width_mm / ems.max(1.0)).min(max_size)
}

fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use machipay_domain::jpqr::{
        CodeId, JpqrPayload, LocalLanguage, LocalName, Mcc, MerchantCity, MerchantName,
    };
    use machipay_domain::money::Amount;

    const KEY: &[u8] = b"test key: 32 bytes of not-secret";
    const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

    fn payload(initiation: Initiation) -> String {
        let payload = JpqrPayload {
            initiation,
            code_id: CodeId::new("01J9ZQ3K7M").expect("valid"),
            merchant_category_code: Mcc::new("5411").expect("valid"),
            merchant_name: MerchantName::new("Machi Shoten").expect("valid"),
            merchant_city: MerchantCity::new("Minamicho").expect("valid"),
            postal_code: None,
            local: Some(LocalLanguage {
                merchant_name: LocalName::new("まち商店").expect("valid"),
                merchant_city: None,
            }),
        };
        jpqr::encode(&payload, KEY)
    }

    /// Reads a QR code back out of a greyscale picture.
    fn scan(width: usize, height: usize, pixel: impl FnMut(usize, usize) -> u8) -> String {
        let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(width, height, pixel);
        let grids = prepared.detect_grids();
        assert_eq!(grids.len(), 1, "exactly one code in the picture");
        grids[0].decode().expect("the code decodes").1
    }

    #[test]
    fn png_is_a_png_of_the_right_size_that_scans_back() {
        let text = payload(Initiation::Static);
        let bytes = png(&text).expect("renders");
        assert!(bytes.starts_with(PNG_SIGNATURE));
        let picture = image::load_from_memory_with_format(&bytes, ImageFormat::Png)
            .expect("decodes")
            .to_luma8();
        let modules = qr_code(&text).expect("encodes").width() + 2 * QUIET_ZONE_MODULES;
        let side = u32::try_from(modules).expect("small") * MODULE_PX;
        assert_eq!(picture.dimensions(), (side, side));
        let (w, h) = (side as usize, side as usize);
        let scanned = scan(w, h, |x, y| picture.get_pixel(x as u32, y as u32).0[0]);
        assert_eq!(scanned, text);
    }

    /// Reads a code the way ZXing-based scanners (most Android phones) do: rxing is a port of
    /// ZXing, with its character-set guessing.
    fn try_scan_zxing(picture: &image::GrayImage) -> Option<String> {
        let (w, h) = picture.dimensions();
        rxing::helpers::detect_in_luma(
            picture.as_raw().clone(),
            w,
            h,
            Some(rxing::BarcodeFormat::QR_CODE),
        )
        .ok()
        .map(|r| r.getText().to_owned())
    }

    fn scan_zxing(picture: &image::GrayImage) -> String {
        try_scan_zxing(picture).expect("rxing finds and decodes the code")
    }

    fn scan_rqrr(picture: &image::GrayImage) -> String {
        let (w, h) = picture.dimensions();
        scan(w as usize, h as usize, |x, y| {
            picture.get_pixel(x as u32, y as u32).0[0]
        })
    }

    /// Japanese store names as real stores have them: kana, kanji, the long-vowel mark, and
    /// the longest name field 64-01 holds.
    const NAMES: [&str; 7] = [
        "みどり青果店",
        "さくら書店",
        "スーパーマーケットみなみ",
        "ラーメン一番ー本店",
        "まちの八百屋",
        "株式会社みなみ町中央商店街ホールディングス",
        "カフェ・ド・ソレイユ",
    ];

    fn store_payload(name: &str) -> String {
        let local: String = name.chars().take(LocalName::CHARS_MAX).collect();
        let payload = JpqrPayload {
            initiation: Initiation::Static,
            code_id: CodeId::new("01J9ZQ3K7M").expect("valid"),
            merchant_category_code: Mcc::new("5999").expect("valid"),
            merchant_name: MerchantName::for_store(name, None),
            merchant_city: MerchantCity::for_city(Some("MINAMI"), "南町"),
            postal_code: None,
            local: Some(LocalLanguage {
                merchant_name: LocalName::new(&local).expect("valid"),
                merchant_city: Some(jpqr::LocalCity::new("南町").expect("valid")),
            }),
        };
        jpqr::encode(&payload, KEY)
    }

    #[test]
    fn japanese_names_scan_alike_in_zxing_and_rqrr_and_keep_their_crc() {
        for name in NAMES {
            let text = store_payload(name);
            let bytes = png(&text).expect("renders");
            let picture = image::load_from_memory_with_format(&bytes, ImageFormat::Png)
                .expect("decodes")
                .to_luma8();
            for (reader, scanned) in [
                ("rxing", scan_zxing(&picture)),
                ("rqrr", scan_rqrr(&picture)),
            ] {
                assert_eq!(scanned, text, "{reader} misread {name}");
                let parsed = jpqr::decode(&scanned).expect("the CRC and structure check out");
                jpqr::verify(&parsed, KEY).expect("the signature checks out");
            }
        }
    }

    /// Why the ECI designator is there: encoded as before (the crate's own segmentation, which
    /// may even put UTF-8 byte pairs that look like Shift_JIS into a kanji segment, and no
    /// character-set marker), ZXing reads some of these names wrongly or not at all.
    #[test]
    fn without_the_utf8_marker_zxing_misreads_some_names() {
        let misread: Vec<&str> = NAMES
            .into_iter()
            .filter(|name| {
                let text = store_payload(name);
                let code = QrCode::with_error_correction_level(text.as_bytes(), EC_LEVEL)
                    .expect("encodes");
                let picture = code
                    .render::<Luma<u8>>()
                    .quiet_zone(true)
                    .module_dimensions(MODULE_PX, MODULE_PX)
                    .build();
                try_scan_zxing(&picture).as_ref() != Some(&text)
            })
            .collect();
        // Measured with rxing 0.9.3: every one of these names, the issue's two among them.
        assert!(
            misread.contains(&"みどり青果店") && misread.contains(&"さくら書店"),
            "{misread:?}"
        );
    }

    #[test]
    fn ascii_text_keeps_its_small_code_and_others_carry_eci_26() {
        // A shopper code is ASCII: the same code as the crate's own optimal encoding.
        let shopper = format!("mpc_{}", "aZ09-_".repeat(7));
        let plain =
            QrCode::with_error_correction_level(shopper.as_bytes(), EC_LEVEL).expect("encodes");
        assert_eq!(
            qr_code(&shopper).expect("encodes").to_colors(),
            plain.to_colors()
        );
        // ECI mode (0111) and assignment 26 (0001 1010) lead the bit stream.
        let bits = utf8_bits("みどり").expect("fits");
        let bytes = bits.into_bytes();
        assert_eq!(&bytes[..2], &[0b0111_0001, 0b1010_0100]);
    }

    #[test]
    fn svg_is_a_document() {
        let out = svg(&payload(Initiation::Static)).expect("renders");
        assert!(out.contains("<svg") && out.trim_end().ends_with("</svg>"));
        roxmltree::Document::parse(&out).expect("well-formed XML");
    }

    #[test]
    fn poster_escapes_names_and_carries_a_scannable_code() {
        let text = payload(Initiation::Static);
        let name = r#"<&>"' まち商店"#;
        let out = poster_svg(&text, name, "南町 & 北町").expect("renders");
        assert!(out.contains("&lt;&amp;&gt;&quot;&apos; まち商店"));
        assert!(!out.contains(name));
        let doc = roxmltree::Document::parse(&out).expect("well-formed XML");
        let root = doc.root_element();
        assert_eq!(root.attribute("viewBox"), Some("0 0 210 297"));
        let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
        assert!(texts.contains(&name), "{texts:?}");
        assert!(texts.contains(&"南町 & 北町 デジタル地域通貨"));
        assert!(texts.contains(&"コードID 01J9ZQ3K7M"));
        let path = doc
            .descendants()
            .find(|n| n.has_tag_name("path"))
            .and_then(|n| n.attribute("d"))
            .expect("the code's path");
        assert_eq!(scan_path(path), text);
    }

    /// Paints the poster's path (runs `M{x} {y}h{n}v1h-{n}z`) at 4 px per module and scans it.
    fn scan_path(path: &str) -> String {
        let side = qr_code(&payload(Initiation::Static))
            .expect("encodes")
            .width()
            + 2 * QUIET_ZONE_MODULES;
        let mut dark = vec![false; side * side];
        for run in path.split('M').filter(|r| !r.is_empty()) {
            let numbers: Vec<usize> = run
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().expect("digits"))
                .collect();
            let [x, y, n, ..] = numbers[..] else {
                panic!("bad run {run}")
            };
            dark[y * side + x..y * side + x + n].fill(true);
        }
        let px = 4;
        scan(side * px, side * px, |x, y| {
            if dark[(y / px) * side + x / px] {
                0
            } else {
                255
            }
        })
    }

    #[test]
    fn poster_refuses_what_it_should_not_print() {
        let text = payload(Initiation::Static);
        let amount = Amount::new(500).expect("valid");
        let dynamic = payload(Initiation::Dynamic { amount });
        assert!(matches!(
            poster_svg(&dynamic, "まち商店", "南町"),
            Err(QrImageError::NotStatic)
        ));
        assert!(matches!(
            poster_svg("not a code", "まち商店", "南町"),
            Err(QrImageError::NotMachipay(_))
        ));
        assert!(matches!(
            poster_svg(&text, "", "南町"),
            Err(QrImageError::InvalidText("store_name"))
        ));
        assert!(matches!(
            poster_svg(&text, "まち\u{7}商店", "南町"),
            Err(QrImageError::InvalidText("store_name"))
        ));
        let long = "店".repeat(POSTER_TEXT_CHARS_MAX + 1);
        assert!(matches!(
            poster_svg(&text, "まち商店", &long),
            Err(QrImageError::InvalidText("city_name"))
        ));
    }

    #[test]
    fn payload_length_is_bounded() {
        let long = "0".repeat(PAYLOAD_CHARS_MAX + 1);
        assert!(matches!(png(&long), Err(QrImageError::TooLong)));
        assert!(matches!(svg(&long), Err(QrImageError::TooLong)));
    }
}
