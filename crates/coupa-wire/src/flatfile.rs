//! Coupa's users flat file (reference §5): the documented column headers in order, the API element each
//! one sets, Coupa's value spellings, and RFC 4180 writing with every field quoted.
//!
//! The connector writes these files and the sandbox's loader reads them, so both sides share this one
//! table of Coupa's documented headers; the header fixture recorded from Coupa's template checks it.

use std::fmt::Write as _;

/// Coupa's limits for one file: at most 5,000 data rows and 8 MB.
pub const MAX_ROWS: usize = 5_000;
pub const MAX_BYTES: usize = 8 * 1024 * 1024;
/// The value that clears a field (documented for `User Role Names`).
pub const NULL: &str = "--NULL--";

/// How a column's cells are spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// `Yes`/`No` when written; Yes/No, True/False, Y/N, T/F read.
    Bool,
    /// `active` / `inactive`, for the API's `active` boolean.
    Status,
    /// Comma-separated names (`Buyer,User`).
    List,
    Integer,
    /// A phone number, `xxx-yyy-zzzz` or `+aa xxx-yyy-zzzz`, for a nested `PhoneNumber`.
    Phone,
    /// An approval limit, `1000.00 USD` or the name of an existing limit, for a nested `ApprovalLimit`.
    ApprovalLimit,
}

/// One documented column: its header and the API element it sets (dashed path, `department.name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub header: &'static str,
    /// The API element path; `None` for a column with no API element of the user (e.g. `Receipt
    /// Approval Limit`).
    pub field: Option<&'static str>,
    pub kind: Kind,
    /// Matching keys (§5.4): `Id`, `Employee Number`, `Login`.
    pub key: bool,
}

const fn col(header: &'static str, field: &'static str, kind: Kind) -> Column {
    Column {
        header,
        field: Some(field),
        kind,
        key: false,
    }
}
const fn key(header: &'static str, field: &'static str, kind: Kind) -> Column {
    Column {
        header,
        field: Some(field),
        kind,
        key: true,
    }
}
const fn other(header: &'static str) -> Column {
    Column {
        header,
        field: None,
        kind: Kind::Text,
        key: false,
    }
}

/// The users import columns in Coupa's documented order (Users Import article, 2026 edition).
pub const USER_COLUMNS: &[Column] = &[
    key("Id", "id", Kind::Integer),
    key("Login", "login", Kind::Text),
    col("Status", "active", Kind::Status),
    col("Purchasing User", "purchasing-user", Kind::Bool),
    other("Coupa Navi Ai Agent User"),
    col("Expense User", "expense-user", Kind::Bool),
    col("Sourcing User", "sourcing-user", Kind::Bool),
    col("Inventory User", "inventory-user", Kind::Bool),
    col("Contracts User", "contracts-user", Kind::Bool),
    col("Analytics User", "analytics-user", Kind::Bool),
    col("AI Classification User", "aic-user", Kind::Bool),
    col("Spend Guard User", "spend-guard-user", Kind::Bool),
    other("Navi Chatbot User"),
    col("Contingent Workforce User", "ccw-user", Kind::Bool),
    col("Risk Assess User", "risk-assess-user", Kind::Bool),
    col(
        "Does the user have a Contract Lifecycle Management Advanced License?",
        "clm-advanced-user",
        Kind::Bool,
    ),
    col("Supply Chain User", "supply-chain-user", Kind::Bool),
    col("Travel User", "travel-user", Kind::Bool),
    col("Treasury User", "treasury-user", Kind::Bool),
    col("Authentication Method", "authentication-method", Kind::Text),
    col("Sso Identifier", "sso-identifier", Kind::Text),
    col(
        "Generate Password And Notify User",
        "generate-password-and-notify",
        Kind::Bool,
    ),
    col("Email", "email", Kind::Text),
    col("First Name", "firstname", Kind::Text),
    col("Last Name", "lastname", Kind::Text),
    key("Employee Number", "employee-number", Kind::Text),
    col("Department", "department.name", Kind::Text),
    col("Phone Work", "phone-work", Kind::Phone),
    col("Phone Mobile", "phone-mobile", Kind::Phone),
    // The write-only shortcut: sets the requisition, expense and invoice limits.
    col("Approval Limit", "approval-limit", Kind::ApprovalLimit),
    col(
        "Requisition Approval Limit",
        "requisition-approval-limit",
        Kind::ApprovalLimit,
    ),
    col(
        "Expense Approval Limit",
        "expense-approval-limit",
        Kind::ApprovalLimit,
    ),
    col(
        "Invoice Approval Limit",
        "invoice-approval-limit",
        Kind::ApprovalLimit,
    ),
    col(
        "Contract Approval Limit",
        "contract-approval-limit",
        Kind::ApprovalLimit,
    ),
    // No API element of the user carries these.
    other("Service/Time Sheets Approval Limit"),
    other("Receipt Approval Limit"),
    other("Sourcing Launch Approval Limit"),
    other("Sourcing Award Approval Limit"),
    // The write-only shortcut: sets the requisition and expense self-approval limits.
    col(
        "Self Approval Limit",
        "self-approval-limit",
        Kind::ApprovalLimit,
    ),
    col(
        "Requisition Self Approval Limit",
        "requisition-self-approval-limit",
        Kind::ApprovalLimit,
    ),
    col(
        "Expense Self Approval Limit",
        "expense-self-approval-limit",
        Kind::ApprovalLimit,
    ),
    col(
        "Invoice Self Approval Limit",
        "invoice-self-approval-limit",
        Kind::ApprovalLimit,
    ),
    col(
        "Contract Self Approval Limit",
        "contract-self-approval-limit",
        Kind::ApprovalLimit,
    ),
    other("Receipt Self Approval Limit"),
    other("Sourcing Launch Self Approval Limit"),
    other("Sourcing Award Self Approval Limit"),
    col(
        "Escalation Threshold Limit",
        "escalation-threshold",
        Kind::ApprovalLimit,
    ),
    col("Approver Login", "manager.login", Kind::Text),
    other("Default Chart of Accounts Name"),
    col("Default Account Code", "default-account.code", Kind::Text),
    col("User Role Names", "roles", Kind::List),
    col("Default Currency", "default-currency.code", Kind::Text),
    col("Default Locale", "default-locale", Kind::Text),
    col("Content Groups", "content-groups", Kind::List),
    col(
        "Default Address Location Code",
        "default-address.location-code",
        Kind::Text,
    ),
    col(
        "Default Address Street 1",
        "default-address.street1",
        Kind::Text,
    ),
    col(
        "Default Address Street 2",
        "default-address.street2",
        Kind::Text,
    ),
    col(
        "Default Address Street 3",
        "default-address.street3",
        Kind::Text,
    ),
    col(
        "Default Address Street 4",
        "default-address.street4",
        Kind::Text,
    ),
    col("Default Address City", "default-address.city", Kind::Text),
    col("Default Address State", "default-address.state", Kind::Text),
    col(
        "Default Address Postal Code",
        "default-address.postal-code",
        Kind::Text,
    ),
    col(
        "Default Address Country Code",
        "default-address.country.code",
        Kind::Text,
    ),
    col(
        "Default Address Attention",
        "default-address.attention",
        Kind::Text,
    ),
    col("Default Address Name", "default-address.name", Kind::Text),
    other("Remove Default Address"),
    other("Receive Coupa Emails"),
    other("Limit Showing of DataTable Views"),
    col(
        "Account Security Type",
        "account-security-type",
        Kind::Integer,
    ),
    col(
        "Business Group Security Type",
        "business-group-security-type",
        Kind::Integer,
    ),
    col("Account Group Names", "account-groups", Kind::List),
    col("Approval Group Names", "approval-groups", Kind::List),
    col("Warehouses", "working-warehouses", Kind::List),
    col(
        "Inventory Organizations",
        "inventory-organizations",
        Kind::List,
    ),
    col(
        "Allow user to upload Invoice images from Coupa Mobile to Invoice Inbox",
        "allow-user-to-upload-invoice-from-mobile",
        Kind::Bool,
    ),
    col("Mention Name", "mention-name", Kind::Text),
    col(
        "Country Of Residence Code",
        "country-of-residence.code",
        Kind::Text,
    ),
    col("Legal Entity Name", "legal-entity.name", Kind::Text),
    col("Seniority Level", "seniority-level", Kind::Text),
    col("Business Function", "business-function", Kind::Text),
    col(
        "Employee Payment Channel",
        "employee-payment-channel",
        Kind::Text,
    ),
    col(
        "Allow Employee Payment Account Creation",
        "allow-employee-payment-account-creation",
        Kind::Bool,
    ),
    col("Groups", "user-groups", Kind::List),
    col("Middle Name", "middlename", Kind::Text),
    other("Pcard Name"),
    other("Pcard Number"),
    other("Pcard Expiration"),
    other("Projects"),
    col("Invoicing User", "invoicing-user", Kind::Bool),
];

/// The column whose header is `header` (exact, then ignoring case and a trailing `*` as in the R35
/// template's `Email*`).
pub fn column_by_header(header: &str) -> Option<&'static Column> {
    let h = header.trim().trim_end_matches('*').trim();
    USER_COLUMNS.iter().find(|c| c.header == h).or_else(|| {
        USER_COLUMNS
            .iter()
            .find(|c| c.header.eq_ignore_ascii_case(h))
    })
}

/// The column that sets the API element `field` (`lastname`, `department.name`).
pub fn column_by_field(field: &str) -> Option<&'static Column> {
    USER_COLUMNS.iter().find(|c| c.field == Some(field))
}

/// Coupa's spelling of a boolean cell.
pub fn bool_cell(value: bool) -> &'static str {
    if value { "Yes" } else { "No" }
}

/// Reads a boolean cell: Yes/No, True/False, Y/N, T/F in any case (and 1/0).
pub fn parse_bool_cell(cell: &str) -> Option<bool> {
    crate::de::parse_bool(cell)
}

/// Coupa's spelling of the `Status` cell.
pub fn status_cell(active: bool) -> &'static str {
    if active { "active" } else { "inactive" }
}

/// Reads the `Status` cell.
pub fn parse_status_cell(cell: &str) -> Option<bool> {
    match cell.trim().to_ascii_lowercase().as_str() {
        "active" => Some(true),
        "inactive" => Some(false),
        _ => None,
    }
}

/// A cell that would start a spreadsheet formula when the file is opened in a spreadsheet (`=`, `+`,
/// `-`, `@`) gets a leading apostrophe (OWASP's CSV-injection advice). Numbers such as `-5` or `+41 44`
/// phone-style values are left alone: they are not formulas.
pub fn neutralise_formula(cell: &str) -> std::borrow::Cow<'_, str> {
    let starts_formula = cell.starts_with(['=', '+', '-', '@']);
    // `get`, not slicing: the first character may be wider than one byte.
    let numeric = cell
        .get(1..)
        .unwrap_or_default()
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '.' | '-' | '(' | ')'));
    if starts_formula && !(numeric && cell.len() > 1) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// Appends one CSV record: every field double-quoted, `"` doubled, newlines kept inside the quotes.
pub fn write_record<S: AsRef<str>>(out: &mut String, cells: &[S]) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "\"{}\"", cell.as_ref().replace('"', "\"\""));
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_unique_and_fields_map_back() {
        for (i, c) in USER_COLUMNS.iter().enumerate() {
            assert_eq!(column_by_header(c.header), Some(c), "{}", c.header);
            assert!(
                USER_COLUMNS[i + 1..].iter().all(|d| d.header != c.header),
                "{}",
                c.header
            );
            if let Some(f) = c.field {
                assert_eq!(column_by_field(f).map(|c| c.header), Some(c.header));
            }
        }
        assert_eq!(
            column_by_header("Email*").map(|c| c.field),
            Some(Some("email"))
        );
    }

    #[test]
    fn quoting_and_formulas() {
        let mut out = String::new();
        write_record(&mut out, &["a", "b \"c\"", "x,y\nz", ""]);
        assert_eq!(out, "\"a\",\"b \"\"c\"\"\",\"x,y\nz\",\"\"\r\n");
        assert_eq!(neutralise_formula("=1+1"), "'=1+1");
        assert_eq!(neutralise_formula("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise_formula("-cmd"), "'-cmd");
        assert_eq!(neutralise_formula("+41 44 123 45 67"), "+41 44 123 45 67");
        assert_eq!(neutralise_formula("-5"), "-5");
        assert_eq!(neutralise_formula("Smith"), "Smith");
        assert_eq!(neutralise_formula("-"), "'-");
        assert_eq!(neutralise_formula("éva"), "éva");
        assert_eq!(neutralise_formula("€"), "€");
    }
}
