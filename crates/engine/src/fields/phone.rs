//! Phone numbers (`phone-work`, `phone-mobile`): an HR value split into Coupa's `PhoneNumber`
//! parts (country code, area code, number, extension), kept as the users CSV spells it
//! (`+41 44-668-1800 x12`), and compared part by part on their digits.

use coupa_wire::PhoneNumber;

/// The forms an HR value may take, for error messages.
pub const EXPECTED: &str = "xxx-yyy-zzzz or +aa xxx-yyy-zzzz (country code, area code, number), \
     optionally followed by \" x123\" or \" ext 123\"";

/// A phone number in Coupa's parts; `number` keeps its groups (`668-1800`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Phone {
    pub country_code: String,
    pub area_code: String,
    pub number: String,
    pub extension: String,
}

fn all_digits(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_digit())
}

fn only_digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// Splits ` x123`, ` ext 123`, ` ext. 123` off the end of a number.
fn split_extension(text: &str) -> (&str, Option<&str>) {
    let digits_at = text
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    let (rest, extension) = text.split_at(digits_at);
    if extension.is_empty() {
        return (text, None);
    }
    let rest = rest.trim_end();
    let lower = rest.to_ascii_lowercase();
    for marker in [" extension", " ext.", " ext", " x"] {
        if lower.ends_with(marker) {
            return (
                rest[..rest.len() - marker.len()].trim_end(),
                Some(extension),
            );
        }
    }
    (text, None)
}

impl Phone {
    /// Reads an HR value. Spaces, dots and hyphens may separate the groups and the area code may
    /// stand in parentheses, as long as the value still splits one way only: a `+` and a country
    /// code, then exactly three groups of digits (area code, then the number's two groups).
    pub fn parse(text: &str) -> Result<Phone, String> {
        let wrong =
            || format!("{text:?} is not a phone number Coupa can take; expected {EXPECTED}");
        let (main, extension) = split_extension(text.trim());
        let mut groups: Vec<(String, bool)> = Vec::new();
        let mut current = String::new();
        let mut in_parens = false;
        let mut parenthesised = false;
        let plus = main.starts_with('+');
        for c in main.chars().skip(usize::from(plus)) {
            match c {
                '0'..='9' => current.push(c),
                ' ' | '-' | '.' | '(' | ')' => {
                    if !current.is_empty() {
                        groups.push((std::mem::take(&mut current), parenthesised));
                        parenthesised = false;
                    }
                    match c {
                        '(' if !in_parens => {
                            in_parens = true;
                            parenthesised = true;
                        }
                        ')' if in_parens => in_parens = false,
                        '(' | ')' => return Err(wrong()),
                        _ if in_parens => return Err(wrong()),
                        _ => {}
                    }
                }
                _ => return Err(wrong()),
            }
        }
        if in_parens {
            return Err(wrong());
        }
        if !current.is_empty() {
            groups.push((current, parenthesised));
        }
        let country_code = if plus {
            if groups.is_empty() || groups[0].1 || groups[0].0.len() > 3 {
                return Err(wrong());
            }
            groups.remove(0).0
        } else {
            String::new()
        };
        let [(area, _), (exchange, false), (line, false)] = &groups[..] else {
            return Err(wrong());
        };
        let phone = Phone {
            country_code,
            area_code: area.clone(),
            number: format!("{exchange}-{line}"),
            extension: extension.unwrap_or_default().to_string(),
        };
        // E.164: at most 15 digits without the extension.
        if phone.country_code.len() + phone.area_code.len() + exchange.len() + line.len() > 15 {
            return Err(wrong());
        }
        Ok(phone)
    }

    /// The number Coupa holds; `None` when every part is blank.
    pub fn from_wire(wire: &PhoneNumber) -> Option<Phone> {
        let part = |p: &Option<String>| p.as_deref().unwrap_or_default().trim().to_string();
        let phone = Phone {
            country_code: part(&wire.country_code).trim_start_matches('+').to_string(),
            area_code: part(&wire.area_code),
            number: part(&wire.number),
            extension: part(&wire.extension),
        };
        (phone != Phone::default()).then_some(phone)
    }

    /// Reads back the text `to_text` wrote: `[+cc ]area-number[ xext]`.
    pub fn from_text(text: &str) -> Phone {
        let (main, extension) = match text.rsplit_once(" x") {
            Some((main, ext)) if all_digits(ext) => (main, ext),
            _ => (text, ""),
        };
        let (country_code, local) = match main.strip_prefix('+') {
            Some(rest) => rest.split_once(' ').unwrap_or((rest, "")),
            None => ("", main),
        };
        let (area_code, number) = local.split_once('-').unwrap_or(("", local));
        Phone {
            country_code: country_code.into(),
            area_code: area_code.into(),
            number: number.into(),
            extension: extension.into(),
        }
    }

    /// The users CSV's spelling: `+41 44-668-1800 x12`, `415-555-0100`.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if !self.country_code.is_empty() {
            out.push('+');
            out.push_str(&self.country_code);
            out.push(' ');
        }
        out.push_str(&self.area_code);
        if !self.area_code.is_empty() && !self.number.is_empty() {
            out.push('-');
        }
        out.push_str(&self.number);
        if !self.extension.is_empty() {
            out.push_str(" x");
            out.push_str(&self.extension);
        }
        out
    }

    /// The nested record for a POST or PUT: every part sent, blank ones empty, so that a part
    /// the number no longer has is cleared.
    pub fn to_wire(&self) -> PhoneNumber {
        PhoneNumber {
            id: None,
            country_code: Some(self.country_code.clone()),
            area_code: Some(self.area_code.clone()),
            number: Some(self.number.clone()),
            extension: Some(self.extension.clone()),
        }
    }

    /// Whether two numbers have the same digits in each part.
    pub fn same(&self, other: &Phone) -> bool {
        let parts = |p: &Phone| {
            [&p.country_code, &p.area_code, &p.number, &p.extension].map(|s| only_digits(s))
        };
        parts(self) == parts(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text: &str) -> [String; 4] {
        let p = Phone::parse(text).unwrap();
        [p.country_code, p.area_code, p.number, p.extension]
    }

    #[test]
    fn reads_the_documented_forms_and_lenient_spellings_that_split_one_way() {
        let s = |v: [&str; 4]| v.map(String::from);
        assert_eq!(parts("415-555-0100"), s(["", "415", "555-0100", ""]));
        assert_eq!(parts("+41 44-668-1800"), s(["41", "44", "668-1800", ""]));
        assert_eq!(
            parts(" +1 415-555-0100 x12 "),
            s(["1", "415", "555-0100", "12"])
        );
        assert_eq!(parts("415-555-0100 ext 7"), s(["", "415", "555-0100", "7"]));
        assert_eq!(
            parts("415-555-0100 Ext. 7"),
            s(["", "415", "555-0100", "7"])
        );
        assert_eq!(parts("(415) 555-0100"), s(["", "415", "555-0100", ""]));
        assert_eq!(parts("+1 (415) 555 0100"), s(["1", "415", "555-0100", ""]));
        assert_eq!(parts("415.555.0100"), s(["", "415", "555-0100", ""]));
        assert_eq!(parts("+44-20-7946-0958"), s(["44", "20", "7946-0958", ""]));
    }

    #[test]
    fn refuses_what_splits_more_than_one_way_or_is_no_number() {
        for bad in [
            "4155550100",
            "555-0100",
            "1 415 555 0100",
            "+1234 415-555-0100",
            "415-555-0100 x",
            "415-555-0100x12",
            "415-555-01OO",
            "call 415-555-0100",
            "(415 555-0100",
            "415 (555) 0100",
            "+ 415-555-0100",
            "",
        ] {
            let err = Phone::parse(bad).unwrap_err();
            assert!(
                err.contains("xxx-yyy-zzzz or +aa xxx-yyy-zzzz"),
                "{bad}: {err}"
            );
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
    }

    #[test]
    fn text_round_trips_and_compares_on_digits_part_by_part() {
        for text in ["+41 44-668-1800 x12", "415-555-0100"] {
            assert_eq!(Phone::parse(text).unwrap().to_text(), text);
            assert_eq!(Phone::from_text(text), Phone::parse(text).unwrap());
        }
        let wire = PhoneNumber {
            country_code: Some("+41".into()),
            area_code: Some("44".into()),
            number: Some("6681800".into()),
            ..PhoneNumber::default()
        };
        let held = Phone::from_wire(&wire).unwrap();
        assert!(held.same(&Phone::parse("+41 (44) 668 1800").unwrap()));
        assert!(
            !held.same(&Phone::parse("+41 446-68-1800").unwrap()),
            "parts differ"
        );
        assert!(!held.same(&Phone::parse("+41 44-668-1800 x1").unwrap()));
        assert_eq!(Phone::from_wire(&PhoneNumber::default()), None);
    }
}
