//! Approval limits (`requisition-approval-limit`…): an HR value that is an amount and an ISO
//! currency code (`1000.00 USD`) or the name of an approval limit that exists in Coupa, written as
//! Coupa's nested `ApprovalLimit`, and compared as Coupa means it: amounts as decimals (`1000` is
//! `1000.00`), currencies and names without regard to case.

use coupa_wire::{ApprovalLimit, Currency};

/// The forms an HR value may take, for error messages.
pub const EXPECTED: &str =
    "an amount and a currency code (1000.00 USD) or the name of an approval limit in Coupa";

/// What an approval limit is set to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limit {
    /// An amount (`1000.00`, at least two decimals) in a currency (`USD`).
    Amount { amount: String, currency: String },
    /// An existing approval limit, by name.
    Named(String),
}

/// `1000`, `1000.5`, `0.1234` as Coupa shows them (`1000.00`, `1000.50`, `0.1234`): not negative,
/// at most four decimals (`decimal(32,4)`). `None` when `text` is no such amount.
fn amount(text: &str) -> Option<String> {
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if !digits(whole) || text.ends_with('.') || !(fraction.is_empty() || digits(fraction)) {
        return None;
    }
    if fraction.len() > 4 {
        return None;
    }
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    Some(format!("{whole}.{fraction:0<2}"))
}

/// The comparison form of an amount: no leading zeros, no trailing decimal zeros.
fn decimal(amount: &str) -> String {
    let (whole, fraction) = amount.trim().split_once('.').unwrap_or((amount.trim(), ""));
    let whole = whole.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    format!("{whole}.{fraction}")
}

fn is_currency_code(text: &str) -> bool {
    text.len() == 3 && text.chars().all(|c| c.is_ascii_alphabetic())
}

impl Limit {
    /// Reads an HR value. A value that starts like a number must be an amount and a currency code;
    /// anything else names a limit.
    pub fn parse(text: &str) -> Result<Limit, String> {
        let text = text.trim();
        let wrong = |why: &str| format!("{text:?} {why}; expected {EXPECTED}");
        if !text.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '.' | '-' | '+')) {
            // `USD 1000` is an amount written the other way round, not a limit's name.
            if let Some((code, rest)) = text.split_once(' ')
                && is_currency_code(code)
                && amount(rest.trim()).is_some()
            {
                return Err(wrong("puts the currency before the amount"));
            }
            if text.chars().count() > 255 {
                return Err(wrong(
                    "is too long for a limit's name (at most 255 characters)",
                ));
            }
            return Ok(Limit::Named(text.to_string()));
        }
        let (number, code) = text
            .split_once(char::is_whitespace)
            .map_or((text, ""), |(n, c)| (n, c.trim()));
        if number.starts_with('-') {
            return Err(wrong("is negative"));
        }
        let Some(amount) = amount(number) else {
            return Err(wrong(
                "is not an amount of digits with at most four decimals after a point",
            ));
        };
        if code.is_empty() {
            return Err(wrong("has no currency code"));
        }
        if !is_currency_code(code) {
            return Err(wrong(&format!(
                "has {code:?} where a 3-letter currency code belongs"
            )));
        }
        Ok(Limit::Amount {
            amount,
            currency: code.to_ascii_uppercase(),
        })
    }

    /// The limit as HR gives it and the users CSV spells it: `1000.00 USD`, or the name.
    pub fn to_text(&self) -> String {
        match self {
            Limit::Amount { amount, currency } => format!("{amount} {currency}"),
            Limit::Named(name) => name.clone(),
        }
    }

    /// The nested record for a POST or PUT.
    pub fn to_wire(&self) -> ApprovalLimit {
        match self {
            Limit::Amount { amount, currency } => ApprovalLimit {
                amount: Some(amount.clone()),
                currency: Some(Currency {
                    code: Some(currency.clone()),
                    ..Currency::default()
                }),
                ..ApprovalLimit::default()
            },
            Limit::Named(name) => ApprovalLimit {
                name: Some(name.clone()),
                ..ApprovalLimit::default()
            },
        }
    }
}

/// The limit Coupa holds, as people read it: `Director (25000.00 EUR)`, `1000.00 USD`, or a name
/// alone. `None` when it holds none.
pub fn held(wire: &ApprovalLimit) -> Option<String> {
    fn text(s: &Option<String>) -> Option<&str> {
        s.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
    let name = text(&wire.name);
    let amount = text(&wire.amount);
    let currency = wire.currency.as_ref().and_then(|c| text(&c.code));
    let value = match (name, amount, currency) {
        (Some(n), Some(a), Some(c)) => format!("{n} ({a} {c})"),
        (Some(n), _, _) => n.to_string(),
        (None, Some(a), Some(c)) => format!("{a} {c}"),
        (None, Some(a), None) => a.to_string(),
        (None, None, _) => return None,
    };
    Some(value)
}

/// Splits what `held` wrote into the name and the amount with its currency.
fn parts(text: &str) -> (Option<&str>, Option<(&str, &str)>) {
    fn amount(s: &str) -> Option<(&str, &str)> {
        s.split_once(' ').filter(|(a, c)| {
            is_currency_code(c) && a.chars().all(|ch| ch.is_ascii_digit() || ch == '.')
        })
    }
    if let Some(inner) = text.strip_suffix(')')
        && let Some((name, inner)) = inner.rsplit_once(" (")
        && let Some(found) = amount(inner)
    {
        return (Some(name), Some(found));
    }
    match amount(text) {
        Some(found) => (None, Some(found)),
        None => (Some(text), None),
    }
}

/// Whether Coupa's limit (as `held` wrote it) is the one HR wants: the same amount in the same
/// currency for an amount, the same name for a name.
pub fn same(desired: &str, current: &str) -> bool {
    let (want_name, want_amount) = parts(desired);
    let (have_name, have_amount) = parts(current);
    match (want_amount, want_name) {
        (Some((a, c)), _) => {
            have_amount.is_some_and(|(b, d)| decimal(a) == decimal(b) && c.eq_ignore_ascii_case(d))
        }
        (None, Some(n)) => have_name.is_some_and(|m| m.eq_ignore_ascii_case(n)),
        (None, None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_amounts_with_a_currency_or_a_name() {
        let amount = |a: &str, c: &str| Limit::Amount {
            amount: a.into(),
            currency: c.into(),
        };
        assert_eq!(
            Limit::parse("1000.00 USD").unwrap(),
            amount("1000.00", "USD")
        );
        assert_eq!(
            Limit::parse(" 1000 usd ").unwrap(),
            amount("1000.00", "USD")
        );
        assert_eq!(
            Limit::parse("0250.5  EUR").unwrap(),
            amount("250.50", "EUR")
        );
        assert_eq!(
            Limit::parse("12.3456 CHF").unwrap(),
            amount("12.3456", "CHF")
        );
        assert_eq!(
            Limit::parse("Director EMEA").unwrap(),
            Limit::Named("Director EMEA".into())
        );
        assert_eq!(Limit::parse("1000 USD").unwrap().to_text(), "1000.00 USD");
    }

    #[test]
    fn refuses_amounts_that_are_not_amount_and_currency() {
        for (bad, why) in [
            ("1000", "has no currency code"),
            ("1,000.00 USD", "not an amount"),
            ("-5 USD", "is negative"),
            ("1.23456 USD", "at most four decimals"),
            ("1000 US Dollars", "3-letter currency code"),
            ("USD 1000", "currency before the amount"),
        ] {
            let err = Limit::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(err.contains("1000.00 USD"), "{bad}: {err}");
        }
    }

    #[test]
    fn compares_amounts_as_decimals_and_names_without_case() {
        let wire = ApprovalLimit {
            name: Some("Director".into()),
            amount: Some("25000.0000".into()),
            currency: Some(Currency {
                code: Some("EUR".into()),
                ..Currency::default()
            }),
            ..ApprovalLimit::default()
        };
        let held = held(&wire).unwrap();
        assert_eq!(held, "Director (25000.0000 EUR)");
        assert!(same("25000.00 EUR", &held));
        assert!(same("director", &held));
        assert!(!same("25000.00 USD", &held));
        assert!(!same("2500.00 EUR", &held));
        assert!(!same("Manager", &held));
        assert!(same("1000.00 USD", "1000 USD"));
        assert!(!same("Manager", "1000.00 USD"));
    }
}
