//! The WebAuthn relying party the passkey routes speak as: its id (the host name, never an IP
//! address: browsers refuse those) and its origin, from `serve --public-url`
//! (`MACHIPAY_PUBLIC_URL`), or else from the address the server listens on with `localhost` as
//! the host (`http://localhost:8080`). Set once per process, before the first request.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use webauthn_rs::prelude::Url;
use webauthn_rs::{Webauthn, WebauthnBuilder};

/// The name authenticators show beside the account ("まちペイ").
pub const RP_NAME: &str = "まちペイ";

/// The process's relying party, set once: cheap to clone (the `App` holds one).
#[derive(Clone, Default)]
pub struct RelyingParty {
    inner: Arc<OnceLock<Configured>>,
}

struct Configured {
    webauthn: Webauthn,
    origin: Url,
}

impl RelyingParty {
    /// Speaks as `public_url` (its host is the RP id, its scheme, host and port the origin).
    /// The first call wins; a later one changes nothing. Refuses a URL without a host name.
    pub fn configure(&self, public_url: &Url) -> Result<(), String> {
        let configured = build(public_url)?;
        let _ = self.inner.set(configured);
        Ok(())
    }

    /// Speaks as `http://localhost:{port}` of the address listened on, unless configured.
    pub fn configure_default(&self, listening: SocketAddr) {
        if self.inner.get().is_some() {
            return;
        }
        let url = Url::parse(&format!("http://localhost:{}", listening.port()))
            .expect("a localhost URL with a port parses");
        if let Ok(configured) = build(&url) {
            let _ = self.inner.set(configured);
        }
    }

    /// The WebAuthn ceremonies, once configured.
    pub fn webauthn(&self) -> Option<&Webauthn> {
        self.inner.get().map(|c| &c.webauthn)
    }

    /// The origin browsers must be on for passkeys to work, once configured.
    pub fn origin(&self) -> Option<&Url> {
        self.inner.get().map(|c| &c.origin)
    }
}

fn build(public_url: &Url) -> Result<Configured, String> {
    let host = match public_url.host() {
        Some(url::Host::Domain(name)) => name.to_owned(),
        Some(_) => {
            return Err(format!(
                "the public URL {public_url} names an IP address: passkeys (WebAuthn) need a \
                 host name, such as localhost or pay.example.jp"
            ));
        }
        None => return Err(format!("the public URL {public_url} has no host")),
    };
    let mut origin = public_url.clone();
    origin.set_path("");
    origin.set_query(None);
    origin.set_fragment(None);
    let webauthn = WebauthnBuilder::new(&host, &origin)
        .and_then(|b| b.rp_name(RP_NAME).build())
        .map_err(|e| format!("the public URL {public_url} cannot be a WebAuthn origin: {e}"))?;
    Ok(Configured { webauthn, origin })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_name_is_an_rp_and_an_ip_address_is_not() {
        let rp = RelyingParty::default();
        let ip = Url::parse("http://127.0.0.1:8080").unwrap();
        assert!(rp.configure(&ip).unwrap_err().contains("IP address"));
        rp.configure_default("127.0.0.1:8080".parse().unwrap());
        assert_eq!(rp.origin().unwrap().as_str(), "http://localhost:8080/");
        // The first configuration stays.
        rp.configure(&Url::parse("https://pay.example.jp/app/").unwrap())
            .unwrap();
        assert_eq!(rp.origin().unwrap().as_str(), "http://localhost:8080/");
        let other = RelyingParty::default();
        other
            .configure(&Url::parse("https://pay.example.jp/app/").unwrap())
            .unwrap();
        assert_eq!(other.origin().unwrap().as_str(), "https://pay.example.jp/");
    }
}
