//! Planning a batch lookup (`find_by`): many values of one field in as few `field[in]=a,b,c` queries
//! as Coupa's 50-record pages and the URL length allow.

use crate::error::{Error, Result};
use coupa_wire::query::MAX_LIMIT;
use coupa_wire::{Condition, Op, Query};

/// Fields Coupa keeps unique on users: a lookup by them returns at most one user per value, so one
/// page per query of at most 50 values holds every match.
const UNIQUE: &[&str] = &["id", "login", "email", "employee-number", "mention-name"];

/// The attribute path of `field`, written as in Coupa's query syntax: `login`, `employee_number`,
/// `manager[login]`, `custom_fields[cost_center]`.
pub(crate) fn field_path(field: &str) -> Result<Vec<String>> {
    let parsed = Query::parse(&format!("{}=", field.trim()))
        .ok()
        .filter(|q| q.conditions.len() == 1 && q.conditions[0].op == Op::Eq)
        .filter(|q| q.limit.is_none() && q.offset.is_none() && q.order_by.is_none());
    match parsed {
        Some(mut q) => Ok(q.conditions.remove(0).path),
        None => Err(Error::invalid(format!(
            "find_by: {field:?} is not a queryable attribute (write it as Coupa does: \
             login, employee_number, manager[login], custom_fields[cost_center])"
        ))),
    }
}

/// Whether every match of a lookup by `path` fits in one page per query.
pub(crate) fn is_unique(path: &[String]) -> bool {
    path.len() == 1 && UNIQUE.contains(&path[0].as_str())
}

fn encoded_len(value: &str) -> usize {
    form_urlencoded::byte_serialize(value.as_bytes())
        .map(str::len)
        .sum()
}

/// The queries that look up `values` of the attribute `path`: `[in]` lists of at most 50 values whose
/// URL (`prefix_len` bytes of base URL and path, then the query string) stays within `max_url_len`,
/// and one exact-match query per value holding a comma (Coupa splits `[in]` lists on commas).
/// Values are deduplicated; empty ones are skipped. `shape` carries `return_object` and `fields`.
pub(crate) fn plan(
    path: &[String],
    values: &[&str],
    shape: &Query,
    prefix_len: usize,
    max_url_len: usize,
) -> Vec<Query> {
    let query = |op: Op, value: String| {
        let mut q = shape.clone();
        q.conditions = vec![Condition {
            path: path.to_vec(),
            op,
            value,
        }];
        q.limit = Some(MAX_LIMIT);
        q
    };
    // The URL of an [in] query with no values; each value adds its encoded length, and each
    // separator an encoded comma (%2C).
    let empty_len = prefix_len + query(Op::In, String::new()).to_query_string().len();
    let mut seen = std::collections::HashSet::new();
    let mut queries = Vec::new();
    let mut chunk: Vec<&str> = Vec::new();
    let mut chunk_len = empty_len;
    for value in values.iter().copied().filter(|v| !v.is_empty()) {
        if !seen.insert(value) {
            continue;
        }
        if !Condition::in_list_allows(value) {
            queries.push(query(Op::Eq, value.to_string()));
            continue;
        }
        let len = encoded_len(value);
        if !chunk.is_empty()
            && (chunk.len() == MAX_LIMIT as usize || chunk_len + 3 + len > max_url_len)
        {
            queries.push(query(Op::In, chunk.join(",")));
            chunk.clear();
            chunk_len = empty_len;
        }
        chunk_len += len + if chunk.is_empty() { 0 } else { 3 };
        chunk.push(value);
    }
    if !chunk.is_empty() {
        queries.push(query(Op::In, chunk.join(",")));
    }
    queries
}

#[cfg(test)]
mod tests {
    use super::*;
    use coupa_wire::ReturnObject;

    fn logins(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("user{i:04}")).collect()
    }

    fn run(values: &[String], max: usize) -> Vec<Query> {
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        plan(&["login".into()], &refs, &Query::new(), 40, max)
    }

    #[test]
    fn fifty_values_per_query() {
        for (n, calls) in [(0, 0), (1, 1), (50, 1), (51, 2), (1000, 20)] {
            let queries = run(&logins(n), 2000);
            assert_eq!(queries.len(), calls, "{n} values");
            let total: usize = queries.iter().map(|q| q.conditions[0].values().len()).sum();
            assert_eq!(total, n);
        }
    }

    #[test]
    fn long_values_split_by_url_length() {
        let long: Vec<String> = (0..50)
            .map(|i| format!("{i:02}{}", "é".repeat(30)))
            .collect();
        let queries = run(&long, 2000);
        assert!(queries.len() > 1);
        for q in &queries {
            assert!(
                40 + q.to_query_string().len() <= 2000,
                "{}",
                q.to_query_string().len()
            );
        }
        let back: Vec<&str> = queries
            .iter()
            .flat_map(|q| q.conditions[0].values())
            .collect();
        assert_eq!(back, long.iter().map(String::as_str).collect::<Vec<_>>());
    }

    #[test]
    fn url_length_is_measured_exactly() {
        let values = logins(50);
        let one = run(&values, 10_000);
        let exact = 40 + one[0].to_query_string().len();
        assert_eq!(run(&values, exact).len(), 1);
        assert_eq!(run(&values, exact - 1).len(), 2);
    }

    #[test]
    fn commas_get_their_own_exact_queries() {
        let values = vec!["a".to_string(), "Doe, Jane".into(), "b".into()];
        let queries = run(&values, 2000);
        assert_eq!(queries.len(), 2);
        assert_eq!(queries[0].conditions[0].op, Op::Eq);
        assert_eq!(queries[0].conditions[0].value, "Doe, Jane");
        assert_eq!(queries[1].conditions[0].values(), ["a", "b"]);
    }

    #[test]
    fn duplicates_and_empty_values_are_dropped() {
        let values = vec!["a".to_string(), "".into(), "a".into(), "b".into()];
        let queries = run(&values, 2000);
        assert_eq!(queries[0].conditions[0].values(), ["a", "b"]);
    }

    #[test]
    fn shaping_is_kept_and_counted() {
        let shape = Query::new().return_object(ReturnObject::Limited);
        let queries = plan(&["email".into()], &["a@x.com"], &shape, 0, 2000);
        assert_eq!(
            queries[0].to_query_string(),
            "email[in]=a%40x.com&limit=50&return_object=limited"
        );
    }

    #[test]
    fn fields_are_written_as_coupa_does() {
        assert_eq!(field_path("employee_number").unwrap(), ["employee-number"]);
        assert_eq!(field_path("manager[login]").unwrap(), ["manager", "login"]);
        assert_eq!(
            field_path("custom_fields[cost_center]").unwrap(),
            ["custom-fields", "cost-center"]
        );
        assert!(is_unique(&field_path("login").unwrap()));
        assert!(!is_unique(&field_path("manager[login]").unwrap()));
        for bad in ["", "login[in]", "limit", "a b", "login&x"] {
            assert!(field_path(bad).is_err(), "{bad:?}");
        }
    }
}
