//! The user's own nested records that a write sets whole, checked and stored as Coupa keeps them:
//! phone numbers (`phone-work`, `phone-mobile`: country code, area code, number, extension) and
//! approval limits (`requisition-approval-limit`…: an amount in an existing currency, or an
//! existing approval limit named by id or name) (reference §1.2).
//!
//! Choices where Coupa is silent: a record sent with every part blank clears it; an approval limit
//! sent as an amount is kept on the user as that amount and currency (no limit record is made); a
//! currency or named limit that does not exist refuses the write, as Coupa's lookup of a record by
//! its keys does, rather than keeping the old value.

use crate::setup::Setup;
use crate::validate::humanize;
use coupa_wire::{ApprovalLimit, Currency, PhoneNumber, User};

/// The nested records a body sent, taken out of it until the rest of the body is applied.
pub(crate) struct Sent {
    phones: Vec<(&'static str, Option<Box<PhoneNumber>>)>,
    limits: Vec<(&'static str, Option<Box<ApprovalLimit>>)>,
}

impl Sent {
    /// Takes the phone numbers and approval limits out of a write's body.
    pub fn take(input: &mut User) -> Sent {
        Sent {
            phones: phone_slots(input)
                .into_iter()
                .map(|(name, slot)| (name, slot.take()))
                .collect(),
            limits: limit_slots(input)
                .into_iter()
                .map(|(name, slot)| (name, slot.take()))
                .collect(),
        }
    }

    /// Checks every record sent and sets it on `user`; every problem is reported.
    pub fn apply(self, setup: &Setup, user: &mut User) -> Result<(), Vec<String>> {
        let mut messages = Vec::new();
        for ((name, sent), (_, slot)) in self.phones.into_iter().zip(phone_slots(user)) {
            if let Some(sent) = sent {
                match phone(name, *sent) {
                    Ok(kept) => *slot = kept.map(Box::new),
                    Err(m) => messages.extend(m),
                }
            }
        }
        for ((name, sent), (_, slot)) in self.limits.into_iter().zip(limit_slots(user)) {
            if let Some(sent) = sent {
                match limit(setup, name, *sent) {
                    Ok(kept) => *slot = kept.map(Box::new),
                    Err(m) => messages.extend(m),
                }
            }
        }
        if messages.is_empty() {
            Ok(())
        } else {
            Err(messages)
        }
    }
}

fn phone_slots(user: &mut User) -> [(&'static str, &mut Option<Box<PhoneNumber>>); 2] {
    [
        ("phone-work", &mut user.phone_work),
        ("phone-mobile", &mut user.phone_mobile),
    ]
}

/// The approval limits a user keeps (the write-only shortcuts are spread over these first).
fn limit_slots(user: &mut User) -> [(&'static str, &mut Option<Box<ApprovalLimit>>); 9] {
    [
        (
            "requisition-approval-limit",
            &mut user.requisition_approval_limit,
        ),
        ("expense-approval-limit", &mut user.expense_approval_limit),
        ("invoice-approval-limit", &mut user.invoice_approval_limit),
        ("contract-approval-limit", &mut user.contract_approval_limit),
        (
            "requisition-self-approval-limit",
            &mut user.requisition_self_approval_limit,
        ),
        (
            "expense-self-approval-limit",
            &mut user.expense_self_approval_limit,
        ),
        (
            "invoice-self-approval-limit",
            &mut user.invoice_self_approval_limit,
        ),
        (
            "contract-self-approval-limit",
            &mut user.contract_self_approval_limit,
        ),
        ("escalation-threshold", &mut user.escalation_threshold),
    ]
}

fn part(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn digits(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_digit())
}

/// A phone number as kept; `None` clears it.
fn phone(element: &str, sent: PhoneNumber) -> Result<Option<PhoneNumber>, Vec<String>> {
    let name = humanize(element);
    let country_code = part(sent.country_code).map(|c| c.trim_start_matches('+').to_string());
    let area_code = part(sent.area_code);
    let number = part(sent.number);
    let extension = part(sent.extension);
    if country_code.is_none() && area_code.is_none() && number.is_none() && extension.is_none() {
        return Ok(None);
    }
    let mut messages = Vec::new();
    if country_code
        .as_deref()
        .is_some_and(|c| !digits(c) || c.len() > 3)
    {
        messages.push(format!("{name} country code is invalid"));
    }
    if area_code.as_deref().is_some_and(|a| !digits(a)) {
        messages.push(format!("{name} area code is invalid"));
    }
    match number.as_deref() {
        None => messages.push(format!("{name} number can't be blank")),
        // Digits, with the single separators people write between groups (`555-0100`).
        Some(n) => {
            let groups_ok = n.split(['-', ' ', '.']).all(digits);
            if !groups_ok {
                messages.push(format!("{name} number is invalid"));
            }
        }
    }
    if extension.as_deref().is_some_and(|e| !digits(e)) {
        messages.push(format!("{name} extension is invalid"));
    }
    if !messages.is_empty() {
        return Err(messages);
    }
    Ok(Some(PhoneNumber {
        id: None,
        country_code,
        area_code,
        number,
        extension,
    }))
}

/// An amount as Coupa shows it (`1000.00`): a decimal that is not negative, with at most four
/// decimals (`decimal(32,4)`), written with at least two. `None` when `text` is no such amount.
pub(crate) fn amount(text: &str) -> Option<String> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let whole_ok = digits(whole);
    let fraction_ok = fraction.is_empty() || (digits(fraction) && fraction.len() <= 4);
    if !whole_ok || !fraction_ok || text.ends_with('.') {
        return None;
    }
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    Some(format!("{whole}.{fraction:0<2}"))
}

/// Ruby's inspect of a lookup key, as Coupa quotes it in "unable to find" messages.
fn keys(key: &str, value: &str) -> String {
    format!(
        "{{\"{key}\"=>\"{}\"}}",
        value.replace('\\', "\\\\").replace('"', "\\\"")
    )
}

/// An approval limit as kept; `None` clears it.
fn limit(
    setup: &Setup,
    element: &str,
    sent: ApprovalLimit,
) -> Result<Option<ApprovalLimit>, Vec<String>> {
    let name = humanize(element);
    let limit_name = part(sent.name);
    let amount_sent = part(sent.amount);
    let code = part(sent.currency.and_then(|c| c.code));
    if sent.id.is_some() || limit_name.is_some() {
        return match setup
            .approval_limits
            .resolve(sent.id, limit_name.as_deref())
        {
            Some(found) => Ok(Some(ApprovalLimit {
                subject: None,
                ..found.clone()
            })),
            None => {
                let keys = match (&limit_name, sent.id) {
                    (Some(n), _) => keys("name", n),
                    (None, id) => format!("{{\"id\"=>{}}}", id.unwrap_or_default()),
                };
                Err(vec![format!(
                    "{name} unable to find valid ApprovalLimit record with keys {keys}"
                )])
            }
        };
    }
    if amount_sent.is_none() && code.is_none() {
        return Ok(None);
    }
    let mut messages = Vec::new();
    let amount = match amount_sent.as_deref() {
        None => {
            messages.push(format!("{name} amount can't be blank"));
            None
        }
        Some(a) => {
            let normal = amount(a);
            if normal.is_none() {
                messages.push(format!("{name} amount is not a number"));
            }
            normal
        }
    };
    let currency = match code.as_deref() {
        None => {
            messages.push(format!("{name} currency can't be blank"));
            None
        }
        Some(c) => {
            let found = setup.currencies.find(c);
            if found.is_none() {
                messages.push(format!(
                    "{name} currency unable to find valid Currency record with keys {}",
                    keys("code", c)
                ));
            }
            found.map(|f| Currency {
                id: f.id,
                code: f.code.clone(),
                ..Currency::default()
            })
        }
    };
    if !messages.is_empty() {
        return Err(messages);
    }
    Ok(Some(ApprovalLimit {
        amount,
        currency,
        ..ApprovalLimit::default()
    }))
}

/// The rules for a new approval limit record: an amount and an existing currency.
pub(crate) fn limit_problems(record: &ApprovalLimit, setup: &Setup) -> Vec<String> {
    let mut messages = Vec::new();
    match record.amount.as_deref().map(str::trim) {
        None | Some("") => messages.push("Amount can't be blank".to_string()),
        Some(a) if amount(a).is_none() => messages.push("Amount is not a number".to_string()),
        Some(_) => {}
    }
    match record.currency.as_ref().and_then(|c| c.code.as_deref()) {
        None => messages.push("Currency can't be blank".to_string()),
        Some(code) if setup.currencies.find(code).is_none() => messages.push(format!(
            "Currency unable to find valid Currency record with keys {}",
            keys("code", code)
        )),
        Some(_) => {}
    }
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_shown_with_their_decimals() {
        assert_eq!(amount("1000").as_deref(), Some("1000.00"));
        assert_eq!(amount(" 0050.5 ").as_deref(), Some("50.50"));
        assert_eq!(amount("12.3456").as_deref(), Some("12.3456"));
        for bad in ["", "-5", "1,000", "1.23456", "1.", ".5", "ten", "1e3"] {
            assert_eq!(amount(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_phone_with_every_part_blank_clears_it_and_letters_are_refused() {
        let blank = PhoneNumber {
            number: Some(" ".into()),
            ..PhoneNumber::default()
        };
        assert_eq!(phone("phone-work", blank), Ok(None));
        let bad = PhoneNumber {
            country_code: Some("+1".into()),
            area_code: Some("4x5".into()),
            number: Some("555-01OO".into()),
            ..PhoneNumber::default()
        };
        assert_eq!(
            phone("phone-mobile", bad),
            Err(vec![
                "Phone mobile area code is invalid".to_string(),
                "Phone mobile number is invalid".to_string()
            ])
        );
    }
}
