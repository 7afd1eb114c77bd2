//! The two formats Coupa speaks, and how they are named in HTTP headers.

/// Coupa answers in the format named by `Accept`; request bodies carry a matching `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// `application/xml`: Coupa's historical default and what its playbooks use.
    #[default]
    Xml,
    /// `application/json`.
    Json,
}

impl Format {
    /// The media type for `Accept` and `Content-Type`.
    pub fn mime(self) -> &'static str {
        match self {
            Format::Xml => "application/xml",
            Format::Json => "application/json",
        }
    }

    /// Reads a `Content-Type` or `Accept` value; `None` when it names neither format.
    /// `*/*` and an empty value mean XML, Coupa's default.
    pub fn from_media_type(value: &str) -> Option<Format> {
        let v = value.trim().to_ascii_lowercase();
        if v.is_empty() {
            return Some(Format::Xml);
        }
        // Accept may list several types; the first one we know wins.
        for part in v.split(',') {
            let mime = part.split(';').next().unwrap_or("").trim();
            match mime {
                "application/json" | "text/json" => return Some(Format::Json),
                "application/xml" | "text/xml" | "*/*" | "application/*" => {
                    return Some(Format::Xml);
                }
                _ => {}
            }
        }
        None
    }
}
