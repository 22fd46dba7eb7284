//! Passwords, logins and setup codes as values: argon2id hashing and checking (off the async
//! runtime, a few at a time), the login's normal form (an email in lower case, or a phone
//! number's digits), the password rule, and the one-time setup codes staff hand over.

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;
use tokio::sync::Semaphore;

use crate::error::{AppError, internal};

/// The password rule: 8 to 128 characters, any characters (NIST SP 800-63B: length, not
/// composition rules).
pub(crate) const PASSWORD_CHARS_MIN: usize = 8;
pub(crate) const PASSWORD_CHARS_MAX: usize = 128;
/// Longest login (an email address's limit).
pub(crate) const LOGIN_LEN_MAX: usize = 254;
/// Hashes computed at once: argon2id takes ~19 MiB and tens of milliseconds each, so a burst
/// of sign-ins queues here instead of starving the server.
const HASHING_CONCURRENT_MAX: usize = 2;

static HASHING: Semaphore = Semaphore::const_new(HASHING_CONCURRENT_MAX);

/// argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane): the crate's defaults, named.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string (`$argon2id$v=19$...`) of a password with a fresh random salt.
pub(crate) async fn hash(password: String) -> Result<String, AppError> {
    let _turn = HASHING.acquire().await.map_err(internal)?;
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(internal)?;
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(internal)
    })
    .await
    .map_err(internal)?
}

/// A hash no password matches in practice, checked when a login does not exist so that an
/// unknown login takes as long to refuse as a wrong password.
static DECOY: LazyLock<String> = LazyLock::new(|| {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes encode");
    argon2()
        .hash_password(b"machipay decoy password", &salt)
        .expect("hashing a constant succeeds")
        .to_string()
});

/// What a login registered with a passkey alone keeps for its password: no password matches
/// it (`verify` checks the decoy instead and answers no), and a setup code replaces it. It
/// starts like a PHC string because the column's check asks for one; it is not one.
pub(crate) const NO_PASSWORD: &str = "$argon2id$none";

/// Whether `password` matches the stored PHC string (`None`, or `NO_PASSWORD`: check the
/// decoy and answer no).
pub(crate) async fn verify(password: String, stored: Option<String>) -> Result<bool, AppError> {
    let stored = stored.filter(|s| s != NO_PASSWORD);
    let _turn = HASHING.acquire().await.map_err(internal)?;
    tokio::task::spawn_blocking(move || {
        let real = stored.is_some();
        let phc = stored.unwrap_or_else(|| DECOY.clone());
        let parsed = PasswordHash::new(&phc).map_err(internal)?;
        let ok = argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(ok && real)
    })
    .await
    .map_err(internal)?
}

/// Whether a password keeps the rule.
pub(crate) fn password_ok(password: &str) -> bool {
    (PASSWORD_CHARS_MIN..=PASSWORD_CHARS_MAX).contains(&password.chars().count())
}

/// A login in its normal form: an email address in lower case, or a phone number as its
/// digits (a leading `+` kept; hyphens, spaces and brackets dropped; full-width digits, as a
/// Japanese keyboard types them, read as digits). `None` if it is neither.
pub(crate) fn normalise_login(raw: &str) -> Option<String> {
    let s = raw.trim();
    if s.is_empty() || s.len() > LOGIN_LEN_MAX {
        return None;
    }
    if s.contains('@') {
        normalise_email(s)
    } else {
        normalise_phone(s)
    }
}

fn normalise_email(s: &str) -> Option<String> {
    let lower = s.to_lowercase();
    let (local, domain) = lower.split_once('@')?;
    let fine = !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !lower.chars().any(|c| c.is_whitespace() || c.is_control());
    fine.then_some(lower)
}

fn normalise_phone(s: &str) -> Option<String> {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        match c {
            '0'..='9' => out.push(c),
            '０'..='９' => out.push(char::from(b'0' + (c as u32 - '０' as u32) as u8)),
            '+' | '＋' if i == 0 => out.push('+'),
            '-' | ' ' | '(' | ')' | '－' | 'ー' | '‐' | '−' | '　' => {}
            _ => return None,
        }
    }
    let digits = out.chars().filter(char::is_ascii_digit).count();
    (10..=15).contains(&digits).then_some(out)
}

/// Letters of a setup code: no 0/O, 1/I/L, so it reads back from paper without doubt.
const SETUP_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// Characters of a setup code (in groups of four): 12 × log2(31) ≈ 59 bits.
const SETUP_CODE_CHARS: usize = 12;

/// A new setup code as it is printed for the person: `ABCD-EFGH-JKMN`.
pub(crate) fn new_setup_code() -> String {
    let mut raw = [0u8; SETUP_CODE_CHARS];
    rand::rng().fill_bytes(&mut raw);
    let chars: Vec<char> = raw
        .iter()
        .map(|b| char::from(SETUP_ALPHABET[usize::from(*b) % SETUP_ALPHABET.len()]))
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// A typed setup code in the form it is hashed in: upper case, without hyphens or spaces.
/// `None` if it cannot be one of ours.
pub(crate) fn normalise_setup_code(raw: &str) -> Option<String> {
    let code: String = raw
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '　' | '－'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let fits = code.len() == SETUP_CODE_CHARS && code.bytes().all(|b| SETUP_ALPHABET.contains(&b));
    fits.then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_take_their_normal_form() {
        assert_eq!(
            normalise_login(" Hanako@Example.JP ").as_deref(),
            Some("hanako@example.jp")
        );
        assert_eq!(
            normalise_login("090-1234-5678").as_deref(),
            Some("09012345678")
        );
        assert_eq!(
            normalise_login("０９０－１２３４－５６７８").as_deref(),
            Some("09012345678")
        );
        assert_eq!(
            normalise_login("+81 90 1234 5678").as_deref(),
            Some("+819012345678")
        );
        for bad in ["", "hanako", "a@b", "@example.jp", "12345", "090-1234-567x"] {
            assert_eq!(normalise_login(bad), None, "{bad}");
        }
    }

    #[test]
    fn setup_codes_read_back_however_they_are_typed() {
        let code = new_setup_code();
        assert_eq!(code.len(), 14);
        let typed = code.to_lowercase().replace('-', " ");
        assert_eq!(normalise_setup_code(&typed), Some(code.replace('-', "")));
        assert_eq!(normalise_setup_code("ABCD-EFGH-IJK0"), None);
    }

    #[tokio::test]
    async fn a_password_matches_its_hash_only() {
        let phc = hash("correct horse".into()).await.expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify("correct horse".into(), Some(phc.clone()))
                .await
                .expect("verify")
        );
        assert!(
            !verify("wrong horse".into(), Some(phc))
                .await
                .expect("verify")
        );
        assert!(!verify("correct horse".into(), None).await.expect("verify"));
    }
}
