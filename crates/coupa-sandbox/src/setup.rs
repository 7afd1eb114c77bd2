//! Coupa's setup records that users refer to: roles, currencies, departments, content groups,
//! approval limits and custom-field definitions, each found by its natural key (a name, or a
//! currency's code).
//!
//! Natural keys compare case-insensitively, as Coupa's MySQL collation does.

use coupa_wire::{ApprovalLimit, ContentGroup, Currency, Department, Role};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A custom field defined on users (Setup > Custom Fields): users carry values under its `name`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CustomField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// The field name, the element under `<custom-fields>` (`cost-center`).
    #[serde(default)]
    pub name: Option<String>,
    /// The label Coupa shows, and the CSV column header. Defaults to the name.
    #[serde(default)]
    pub prompt: Option<String>,
}

/// What the store needs from every kind of setup record.
pub(crate) trait SetupRecord: Clone + Serialize + DeserializeOwned + Send + Sync {
    /// The table tag in SQLite and the singular XML root (`department`).
    const KIND: &'static str;
    /// The plural used by the XML list root (`departments`).
    const COLLECTION: &'static str;
    /// The key attribute's element name (`name`, or `code`).
    const KEY: &'static str;
    /// The longest key Coupa accepts.
    const KEY_MAX: usize;
    fn id(&self) -> Option<i64>;
    fn set_id(&mut self, id: i64);
    fn key(&self) -> Option<&str>;
    fn table(setup: &Setup) -> &Table<Self>;
    fn table_mut(setup: &mut Setup) -> &mut Table<Self>;
    /// What is wrong with the record beyond its key, in Rails' words.
    fn problems(&self, _setup: &Setup) -> Vec<String> {
        Vec::new()
    }
}

macro_rules! setup_record {
    ($ty:ty, $kind:literal, $collection:literal, $key:ident, $max:literal, $table:ident $(, $checks:path)?) => {
        impl SetupRecord for $ty {
            const KIND: &'static str = $kind;
            const COLLECTION: &'static str = $collection;
            const KEY: &'static str = stringify!($key);
            const KEY_MAX: usize = $max;
            fn id(&self) -> Option<i64> {
                self.id
            }
            fn set_id(&mut self, id: i64) {
                self.id = Some(id);
            }
            fn key(&self) -> Option<&str> {
                self.$key.as_deref()
            }
            fn table(setup: &Setup) -> &Table<Self> {
                &setup.$table
            }
            fn table_mut(setup: &mut Setup) -> &mut Table<Self> {
                &mut setup.$table
            }
            $(
                fn problems(&self, setup: &Setup) -> Vec<String> {
                    $checks(self, setup)
                }
            )?
        }
    };
}

setup_record!(Role, "role", "roles", name, 255, roles);
setup_record!(Currency, "currency", "currencies", code, 6, currencies);
setup_record!(
    Department,
    "department",
    "departments",
    name,
    255,
    departments
);
setup_record!(
    ContentGroup,
    "business-group",
    "business-groups",
    name,
    100,
    content_groups
);
setup_record!(
    ApprovalLimit,
    "approval-limit",
    "approval-limits",
    name,
    255,
    approval_limits,
    crate::nested::limit_problems
);
setup_record!(
    CustomField,
    "custom-field",
    "custom-fields",
    name,
    255,
    custom_fields
);

/// A setup record a caller may add (API or reference file): what it keeps of what was sent.
pub(crate) trait Creatable: SetupRecord {
    /// The record as stored: ids are assigned by the sandbox, flags get their defaults.
    fn prepared(self) -> Self;
}

impl Creatable for Role {
    fn prepared(self) -> Role {
        Role {
            id: None,
            omnipotent: Some(self.omnipotent.unwrap_or(false)),
            // Only Coupa's own roles are system roles.
            system_role: Some(false),
            ..self
        }
    }
}

impl Creatable for Department {
    fn prepared(self) -> Department {
        Department {
            id: None,
            active: Some(self.active.unwrap_or(true)),
            ..self
        }
    }
}

impl Creatable for ContentGroup {
    fn prepared(self) -> ContentGroup {
        ContentGroup { id: None, ..self }
    }
}

impl Creatable for Currency {
    fn prepared(self) -> Currency {
        Currency {
            id: None,
            enabled: Some(self.enabled.unwrap_or(true)),
            ..self
        }
    }
}

impl Creatable for ApprovalLimit {
    fn prepared(self) -> ApprovalLimit {
        // Coupa shows amounts with their decimals (`1000.00`); an amount that is no number is left
        // as sent, for `problems` to name.
        let amount = self.amount.map(|a| crate::nested::amount(&a).unwrap_or(a));
        ApprovalLimit {
            id: None,
            amount,
            ..self
        }
    }
}

impl Creatable for CustomField {
    fn prepared(self) -> CustomField {
        CustomField {
            id: None,
            prompt: self.prompt.or_else(|| self.name.clone()),
            ..self
        }
    }
}

/// The comparison form of a natural key. Custom-field names also treat `_` and `-` alike, as query
/// strings and element names spell them either way.
pub(crate) fn fold(key: &str) -> String {
    key.trim().to_lowercase().replace('_', "-")
}

/// One kind of setup record, in id order, with lookups by id and by natural key.
#[derive(Debug, Clone)]
pub(crate) struct Table<T> {
    items: Vec<T>,
    by_id: HashMap<i64, usize>,
    by_key: HashMap<String, usize>,
}

impl<T> Default for Table<T> {
    fn default() -> Table<T> {
        Table {
            items: Vec::new(),
            by_id: HashMap::new(),
            by_key: HashMap::new(),
        }
    }
}

impl<T: SetupRecord> Table<T> {
    pub fn all(&self) -> &[T] {
        &self.items
    }

    pub fn get(&self, id: i64) -> Option<&T> {
        self.by_id.get(&id).map(|&i| &self.items[i])
    }

    pub fn find(&self, key: &str) -> Option<&T> {
        self.by_key.get(&fold(key)).map(|&i| &self.items[i])
    }

    /// The record a reference names: by id, by key, or by both (then both must agree), as Coupa
    /// looks a record up by every key it was sent.
    pub fn resolve(&self, id: Option<i64>, key: Option<&str>) -> Option<&T> {
        match (id, key) {
            (Some(id), Some(key)) => self
                .get(id)
                .filter(|r| r.key().is_some_and(|k| fold(k) == fold(key))),
            (Some(id), None) => self.get(id),
            (None, Some(key)) => self.find(key),
            (None, None) => None,
        }
    }

    pub fn next_id(&self) -> i64 {
        self.items.iter().filter_map(T::id).max().unwrap_or(0) + 1
    }

    /// Adds a record that already has its id and a key no other record has.
    pub fn insert(&mut self, record: T) {
        let index = self.items.len();
        if let Some(id) = record.id() {
            self.by_id.insert(id, index);
        }
        if let Some(key) = record.key() {
            self.by_key.insert(fold(key), index);
        }
        self.items.push(record);
    }
}

/// Every setup record the sandbox knows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Setup {
    pub roles: Table<Role>,
    pub currencies: Table<Currency>,
    pub departments: Table<Department>,
    pub content_groups: Table<ContentGroup>,
    pub approval_limits: Table<ApprovalLimit>,
    pub custom_fields: Table<CustomField>,
    /// The currency a new user gets when none is sent (Coupa: the instance's reporting currency).
    pub reporting_currency: Option<String>,
}

/// Coupa's standard roles, present on every instance.
pub(crate) fn standard_roles() -> Vec<Role> {
    [
        ("User", "Default role for every user", false),
        ("Buyer", "Manages requisitions and purchase orders", false),
        ("Accounts Payable", "Processes invoices and payments", false),
        (
            "Central Receiving",
            "Receives goods for the whole company",
            false,
        ),
        ("Accounting Supervisor", "Oversees accounting set-up", false),
        (
            "Edit as Approver",
            "May edit documents while approving",
            false,
        ),
        ("Inventory Manager", "Manages inventory", false),
        ("Admin", "Full administrator", true),
    ]
    .into_iter()
    .map(|(name, description, omnipotent)| Role {
        id: None,
        name: Some(name.into()),
        description: Some(description.into()),
        omnipotent: Some(omnipotent),
        system_role: Some(true),
    })
    .collect()
}

/// Common currencies, enabled.
pub(crate) fn common_currencies() -> Vec<Currency> {
    [
        ("USD", "US Dollar", "$", 2),
        ("EUR", "Euro", "€", 2),
        ("GBP", "British Pound", "£", 2),
        ("CAD", "Canadian Dollar", "$", 2),
        ("AUD", "Australian Dollar", "$", 2),
        ("JPY", "Japanese Yen", "¥", 0),
        ("CHF", "Swiss Franc", "CHF", 2),
        ("INR", "Indian Rupee", "₹", 2),
        ("CNY", "Chinese Yuan", "¥", 2),
        ("SEK", "Swedish Krona", "kr", 2),
        ("NOK", "Norwegian Krone", "kr", 2),
        ("DKK", "Danish Krone", "kr", 2),
        ("NZD", "New Zealand Dollar", "$", 2),
        ("SGD", "Singapore Dollar", "$", 2),
        ("HKD", "Hong Kong Dollar", "$", 2),
        ("MXN", "Mexican Peso", "$", 2),
        ("BRL", "Brazilian Real", "R$", 2),
        ("ZAR", "South African Rand", "R", 2),
        ("PLN", "Polish Zloty", "zł", 2),
        ("CZK", "Czech Koruna", "Kč", 2),
    ]
    .into_iter()
    .map(|(code, name, symbol, decimals)| Currency {
        id: None,
        code: Some(code.into()),
        name: Some(name.into()),
        decimals: Some(decimals),
        symbol: Some(symbol.into()),
        enabled: Some(true),
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_by_id_key_or_both() {
        let mut t = Table::<Department>::default();
        t.insert(Department {
            id: Some(4),
            name: Some("Finance".into()),
            active: Some(true),
        });
        assert_eq!(t.find("FINANCE").and_then(|d| d.id), Some(4));
        assert_eq!(t.resolve(Some(4), None).and_then(|d| d.id), Some(4));
        assert!(t.resolve(Some(4), Some("Legal")).is_none());
        assert!(t.resolve(None, Some("Legal")).is_none());
        assert!(t.resolve(None, None).is_none());
        assert_eq!(t.next_id(), 5);
    }
}
