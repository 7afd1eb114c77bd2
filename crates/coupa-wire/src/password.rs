//! A user's password: written to Coupa, never shown by `Debug` or a log line.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The write-only `password` element. Only the encoder sees the text.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    pub fn new(text: impl Into<String>) -> Password {
        Password(SecretString::from(text.into()))
    }

    /// The text, for the one place that must send it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl PartialEq for Password {
    fn eq(&self, other: &Password) -> bool {
        self.expose() == other.expose()
    }
}

impl Serialize for Password {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for Password {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Password, D::Error> {
        String::deserialize(d).map(Password::new)
    }
}
