//! Kana to ASCII romaji (modified Hepburn, upper case), for the ASCII fields of a store's QR
//! code (EMVCo fields 59 and 60 hold ASCII only): a store's registered reading (店舗名カナ)
//! becomes e.g. `MIDORI SEIKATEN` instead of the same placeholder for every store.
//!
//! What it does, and why each choice:
//! - Hiragana and katakana (full width) are read the same way; digraphs (キャ kya, シャ sha,
//!   チャ cha, ジャ ja) and the small vowels of loan words (ファ fa, ティ ti, ウィ wi, シェ she)
//!   follow the usual Hepburn spellings.
//! - ッ doubles the next consonant (ch becomes tch); ン is always `n`.
//! - The long-vowel mark ー is dropped (スーパー is `SUPA`), as passports write Hepburn: plain
//!   ASCII has no macrons, and doubling vowels reads oddly on a receipt.
//! - Spaces (ASCII and full width) and the middle dots ・ ･ separate words; ASCII letters and
//!   digits (full-width ones too) and ASCII punctuation are kept.
//! - Anything else (kanji, half-width kana, symbols) cannot be read without a dictionary, so
//!   `romanize` answers None rather than a partial, misleading name.

/// The romaji of one full-width katakana syllable (hiragana is mapped to katakana first).
#[rustfmt::skip]
fn syllable(c: char) -> Option<&'static str> {
    Some(match c {
        'ア' => "a", 'イ' => "i", 'ウ' => "u", 'エ' => "e", 'オ' => "o",
        'カ' => "ka", 'キ' => "ki", 'ク' => "ku", 'ケ' => "ke", 'コ' => "ko",
        'サ' => "sa", 'シ' => "shi", 'ス' => "su", 'セ' => "se", 'ソ' => "so",
        'タ' => "ta", 'チ' => "chi", 'ツ' => "tsu", 'テ' => "te", 'ト' => "to",
        'ナ' => "na", 'ニ' => "ni", 'ヌ' => "nu", 'ネ' => "ne", 'ノ' => "no",
        'ハ' => "ha", 'ヒ' => "hi", 'フ' => "fu", 'ヘ' => "he", 'ホ' => "ho",
        'マ' => "ma", 'ミ' => "mi", 'ム' => "mu", 'メ' => "me", 'モ' => "mo",
        'ヤ' => "ya", 'ユ' => "yu", 'ヨ' => "yo",
        'ラ' => "ra", 'リ' => "ri", 'ル' => "ru", 'レ' => "re", 'ロ' => "ro",
        'ワ' => "wa", 'ヰ' => "i", 'ヱ' => "e", 'ヲ' => "o", 'ン' => "n",
        'ガ' => "ga", 'ギ' => "gi", 'グ' => "gu", 'ゲ' => "ge", 'ゴ' => "go",
        'ザ' => "za", 'ジ' => "ji", 'ズ' => "zu", 'ゼ' => "ze", 'ゾ' => "zo",
        'ダ' => "da", 'ヂ' => "ji", 'ヅ' => "zu", 'デ' => "de", 'ド' => "do",
        'バ' => "ba", 'ビ' => "bi", 'ブ' => "bu", 'ベ' => "be", 'ボ' => "bo",
        'パ' => "pa", 'ピ' => "pi", 'プ' => "pu", 'ペ' => "pe", 'ポ' => "po",
        'ヴ' => "vu", 'ヵ' => "ka", 'ヶ' => "ke", 'ヮ' => "wa",
        _ => return None,
    })
}

/// Small ャュョ: they turn the syllable before them (ending in i) into a digraph.
fn small_y(c: char) -> Option<char> {
    match c {
        'ャ' => Some('a'),
        'ュ' => Some('u'),
        'ョ' => Some('o'),
        _ => None,
    }
}

/// Small ァィゥェォ: they replace the vowel of the syllable before them.
fn small_vowel(c: char) -> Option<char> {
    match c {
        'ァ' => Some('a'),
        'ィ' => Some('i'),
        'ゥ' => Some('u'),
        'ェ' => Some('e'),
        'ォ' => Some('o'),
        _ => None,
    }
}

/// Hiragana to katakana (the blocks are 0x60 apart); everything else unchanged.
fn to_katakana(c: char) -> char {
    match c {
        'ぁ'..='ゖ' => char::from_u32(c as u32 + 0x60).unwrap_or(c),
        _ => c,
    }
}

/// Full-width ASCII (Ａ, ０, ＆...) to ASCII; everything else unchanged.
fn to_ascii_width(c: char) -> char {
    match c {
        '！'..='～' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

/// One piece of the reading: a syllable's romaji, a sokuon waiting for the next syllable, or
/// a word break.
enum Piece {
    Text(String),
    Sokuon,
    Space,
}

/// The reading of `text` in upper-case ASCII romaji, words separated by single spaces; None
/// if any character cannot be read (see the module comment) or nothing readable is left.
pub fn romanize(text: &str) -> Option<String> {
    let mut pieces: Vec<Piece> = Vec::new();
    for c in text.chars().map(to_katakana).map(to_ascii_width) {
        if let Some(s) = syllable(c) {
            pieces.push(Piece::Text(s.to_owned()));
        } else if let Some(v) = small_y(c) {
            let Some(Piece::Text(prev)) = pieces.last_mut() else {
                return None;
            };
            if !prev.ends_with('i') || prev.len() < 2 {
                return None;
            }
            prev.pop();
            // shi, chi, ji take the vowel directly (sha, cha, ja); the rest add y (kya).
            if !(prev.ends_with("sh") || prev.ends_with("ch") || prev.ends_with('j')) {
                prev.push('y');
            }
            prev.push(v);
        } else if let Some(v) = small_vowel(c) {
            match pieces.last_mut() {
                // ウィ, ウェ, ウォ: wi, we, wo.
                Some(Piece::Text(prev)) if prev == "u" => *prev = format!("w{v}"),
                Some(Piece::Text(prev)) if prev.len() >= 2 => {
                    prev.pop();
                    prev.push(v);
                }
                // A small vowel on its own is read as the vowel.
                _ => pieces.push(Piece::Text(v.to_string())),
            }
        } else if c == 'ッ' {
            pieces.push(Piece::Sokuon);
        } else if c == 'ー' {
            // The long-vowel mark is dropped (see the module comment).
        } else if c == ' ' || c == '\u{3000}' || c == '・' || c == '･' {
            pieces.push(Piece::Space);
        } else if c.is_ascii_graphic() {
            pieces.push(Piece::Text(c.to_string()));
        } else {
            return None;
        }
    }
    let mut out = String::new();
    let mut doubling = false;
    for piece in pieces {
        match piece {
            Piece::Sokuon => doubling = true,
            Piece::Space => {
                doubling = false;
                if !out.is_empty() && !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            Piece::Text(t) => {
                if doubling && t.starts_with("ch") {
                    out.push('t');
                } else if let Some(first) = t
                    .chars()
                    .next()
                    .filter(|f| doubling && f.is_ascii_lowercase() && !"aiueon".contains(*f))
                {
                    out.push(first);
                }
                doubling = false;
                out.push_str(&t);
            }
        }
    }
    let out = out.trim().to_ascii_uppercase();
    out.chars()
        .any(|c| c.is_ascii_alphanumeric())
        .then_some(out)
}

/// `text` cut to at most `max` characters, at the last word break that fits when there is
/// one (so `MIDORI SEIKATEN HONTEN` cut to 20 is `MIDORI SEIKATEN`, not a half word).
/// `text` is ASCII, as `romanize` answers.
pub fn fit(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let cut = &text[..max];
    let at_break = text.as_bytes()[max] == b' ';
    match cut.rfind(' ') {
        _ if at_break => cut.trim_end().to_owned(),
        Some(space) if space > 0 => cut[..space].trim_end().to_owned(),
        _ => cut.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_store_names_in_hepburn() {
        let cases = [
            ("ミドリセイカテン", "MIDORISEIKATEN"),
            ("ミドリ セイカテン", "MIDORI SEIKATEN"),
            ("さくら書店", ""),
            ("サクラショテン", "SAKURASHOTEN"),
            ("スーパー", "SUPA"),
            ("ラーメン・タロウ", "RAMEN TAROU"),
            ("キッチャテン", "KITCHATEN"),
            ("ガッコウ", "GAKKOU"),
            ("チャヤ", "CHAYA"),
            ("ジュース", "JUSU"),
            ("キョウト", "KYOUTO"),
            ("カフェ　ティー", "KAFE TI"),
            ("ファミリー", "FAMIRI"),
            ("ウィスキー", "WISUKI"),
            ("ヴァイオリン", "VAIORIN"),
            ("まちのパンや", "MACHINOPANYA"),
            ("ＡＢＣ　マート", "ABC MATO"),
            ("セブン-イレブン", "SEBUN-IREBUN"),
            ("ツッチー", "TSUTCHI"),
        ];
        for (kana, expected) in cases {
            let got = romanize(kana);
            if expected.is_empty() {
                assert_eq!(got, None, "{kana}");
            } else {
                assert_eq!(got.as_deref(), Some(expected), "{kana}");
            }
        }
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for text in ["青果店", "ﾐﾄﾞﾘ", "", "ー", "・", "ャ", "ミドリ\u{7}"] {
            assert_eq!(romanize(text), None, "{text:?}");
        }
    }

    #[test]
    fn fits_at_word_breaks() {
        assert_eq!(fit("MIDORI SEIKATEN HONTEN", 20), "MIDORI SEIKATEN");
        assert_eq!(fit("MIDORI SEIKATEN HONTEN", 15), "MIDORI SEIKATEN");
        assert_eq!(fit("MIDORISEIKATENHONTEN", 15), "MIDORISEIKATENH");
        assert_eq!(fit("SHORT", 15), "SHORT");
    }
}
