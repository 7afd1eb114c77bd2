//! The Coupa lookups a plan needs, as batched `[in]` queries: first every affected person by the
//! match field, then, for people to be created or whose login, e-mail or employee number changes,
//! those new values, so a collision with another Coupa user is seen before anything is sent.

use crate::detect::Change;
use crate::fields::Field;
use coupa_wire::{Condition, Query, User};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Values per `[in]` query: one page of Coupa results when each value matches one user.
pub const LOOKUP_BATCH: usize = coupa_wire::query::MAX_LIMIT as usize;

/// Users to look up in Coupa by one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lookup {
    pub field: Field,
    /// Distinct values, in the order first met.
    pub values: Vec<String>,
}

impl Lookup {
    fn new(field: Field) -> Lookup {
        Lookup {
            field,
            values: Vec::new(),
        }
    }

    fn push(&mut self, seen: &mut HashSet<String>, value: &str) {
        let value = value.trim();
        if !value.is_empty() && seen.insert(Field::key_form(value)) {
            self.values.push(value.to_string());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The queries, `field[in]=a,b,…` in batches of `LOOKUP_BATCH`; a value holding a comma cannot
    /// travel in a list and gets an exact-match query of its own. The client pages each one.
    pub fn queries(&self) -> Vec<Query> {
        let path = self.field.query_path();
        let (listed, alone): (Vec<&String>, Vec<&String>) = self
            .values
            .iter()
            .partition(|v| Condition::in_list_allows(v));
        let one = |condition: Condition| Query {
            conditions: vec![condition],
            ..Query::default()
        };
        listed
            .chunks(LOOKUP_BATCH)
            .map(|chunk| one(Condition::in_list(&path, chunk)))
            .chain(
                alone
                    .into_iter()
                    .map(|v| Query::new().eq(&path, v.as_str())),
            )
            .collect()
    }
}

/// Round one: every affected person by the match field.
pub fn match_lookup(changes: &[Change], match_field: &Field) -> Lookup {
    let mut lookup = Lookup::new(match_field.clone());
    let mut seen = HashSet::new();
    for change in changes {
        lookup.push(&mut seen, &change.match_value);
    }
    lookup
}

/// Round two, given the users round one found: the login, e-mail and employee number of each
/// active person that Coupa does not already hold for them.
pub fn key_lookups(changes: &[Change], found: &[User], match_field: &Field) -> Vec<Lookup> {
    let mut by_match: HashMap<String, Vec<&User>> = HashMap::new();
    for user in found {
        if let Some(v) = match_field.read(user).as_ref().and_then(|v| v.as_text()) {
            by_match.entry(Field::key_form(v)).or_default().push(user);
        }
    }
    let mut lookups: BTreeMap<Field, (Lookup, HashSet<String>)> = BTreeMap::new();
    for change in changes {
        let Some(desired) = change.desired.as_ref().filter(|d| d.active) else {
            continue;
        };
        let matched = by_match
            .get(&Field::key_form(&change.match_value))
            .map_or(&[][..], Vec::as_slice);
        for field in Field::UNIQUE.iter().filter(|f| *f != match_field) {
            let Some(value) = desired.fields.get(field).and_then(|v| v.as_text()) else {
                continue;
            };
            let held = matched.iter().any(|u| {
                field.read(u).and_then(|v| v.as_text().map(Field::key_form))
                    == Some(Field::key_form(value))
            });
            if !held {
                let (lookup, seen) = lookups
                    .entry(field.clone())
                    .or_insert_with(|| (Lookup::new(field.clone()), HashSet::new()));
                lookup.push(seen, value);
            }
        }
    }
    lookups.into_values().map(|(l, _)| l).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_in_lists_and_isolates_values_with_commas() {
        let lookup = Lookup {
            field: Field::EMPLOYEE_NUMBER,
            values: (0..120)
                .map(|i| format!("E{i}"))
                .chain(["Doe, Jane".to_string()])
                .collect(),
        };
        let queries: Vec<String> = lookup
            .queries()
            .iter()
            .map(Query::to_query_string)
            .collect();
        assert_eq!(queries.len(), 4);
        assert!(queries[0].starts_with("employee_number[in]=E0%2CE1%2C"));
        assert_eq!(queries[0].matches("%2C").count(), LOOKUP_BATCH - 1);
        assert_eq!(queries[2].matches("%2C").count(), 19);
        assert_eq!(queries[3], "employee_number=Doe%2C+Jane");
    }

    #[test]
    fn custom_field_lookups_use_coupa_bracket_syntax() {
        let lookup = Lookup {
            field: "custom-fields.badge".parse().unwrap(),
            values: vec!["B1".into(), "B2".into()],
        };
        assert_eq!(
            lookup.queries()[0].to_query_string(),
            "custom_fields[badge][in]=B1%2CB2"
        );
    }
}
