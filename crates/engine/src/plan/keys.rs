//! Finding Coupa users, and people of the plan, by the key form of a unique key (trimmed,
//! lower-case), in little memory: per field, positions sorted by the hash of the key form, with
//! the key itself compared again on a hit. A map of 100,000 users' keys as strings costs tens of
//! MB; this costs 16 bytes a key, which keeps planning 100,000 people inside its 100 MB budget.

use crate::fields::{Field, Value};
use coupa_wire::User;
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

/// The hash of a field and a key form. `DefaultHasher::new` uses fixed keys, so equal keys hash
/// equally within a run; a collision costs one extra comparison, never a wrong answer.
fn key_hash(field: &Field, key: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    field.hash(&mut hasher);
    key.hash(&mut hasher);
    hasher.finish()
}

/// The text key of `field` on `user`, in key form.
fn user_key(field: &Field, user: &User) -> Option<String> {
    match field.read(user) {
        Some(Value::Text(v)) => Some(Field::key_form(&v)),
        _ => None,
    }
}

/// Positions sorted by `(hash, position)`, so equal keys are found together and in the order
/// they were given.
#[derive(Default)]
struct Sorted(Vec<(u64, u32)>);

impl Sorted {
    fn new(mut entries: Vec<(u64, u32)>) -> Sorted {
        entries.sort_unstable();
        Sorted(entries)
    }

    /// The positions whose hash is `hash`, in order.
    fn with_hash(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        let start = self.0.partition_point(|(h, _)| *h < hash);
        self.0[start..]
            .iter()
            .take_while(move |(h, _)| *h == hash)
            .map(|(_, at)| *at as usize)
    }

    /// Runs of two or more positions sharing a hash.
    fn shared_hashes(&self) -> impl Iterator<Item = Vec<usize>> + '_ {
        self.0
            .chunk_by(|a, b| a.0 == b.0)
            .filter(|run| run.len() > 1)
            .map(|run| run.iter().map(|(_, at)| *at as usize).collect())
    }
}

/// Coupa's users with an id, findable by the unique keys and the match field.
pub(super) struct Index<'a> {
    users: Vec<&'a User>,
    by: Vec<(Field, Sorted)>,
}

impl<'a> Index<'a> {
    pub(super) fn new(users: &'a [User], match_field: &Field) -> Index<'a> {
        let mut seen = std::collections::HashSet::new();
        // A user without an id cannot be updated; the two lookup rounds may return a user twice.
        let users: Vec<&User> = users
            .iter()
            .filter(|u| u.id.is_some_and(|id| seen.insert(id)))
            .collect();
        let mut by: Vec<(Field, Sorted)> = Vec::new();
        for field in Field::UNIQUE.iter().chain([match_field]) {
            if by.iter().any(|(f, _)| f == field) {
                continue;
            }
            let entries = (users.iter().enumerate())
                .filter_map(|(at, user)| {
                    let key = user_key(field, user)?;
                    Some((key_hash(field, &key), u32::try_from(at).ok()?))
                })
                .collect();
            by.push((field.clone(), Sorted::new(entries)));
        }
        Index { users, by }
    }

    /// The users whose `field` is `value`, compared in key form, in the order they were given.
    pub(super) fn find(&self, field: &Field, value: &str) -> Vec<&'a User> {
        let Some((_, sorted)) = self.by.iter().find(|(f, _)| f == field) else {
            return Vec::new();
        };
        let key = Field::key_form(value);
        sorted
            .with_hash(key_hash(field, &key))
            .map(|at| self.users[at])
            .filter(|user| user_key(field, user).is_some_and(|k| k == key))
            .collect()
    }
}

/// The keys claimed more than once: for each `(field, key form)` given by two or more claimants,
/// the claimants in the order given. Sorted by field and key.
pub(super) fn shared_claims<'c>(
    claims: impl Iterator<Item = (usize, &'c Field, &'c str)>,
) -> Vec<((Field, String), Vec<usize>)> {
    let all: Vec<(usize, &Field, &str)> = claims.collect();
    let entries = (all.iter().enumerate())
        .filter_map(|(at, (_, field, value))| {
            Some((
                key_hash(field, &Field::key_form(value)),
                u32::try_from(at).ok()?,
            ))
        })
        .collect();
    let mut shared: BTreeMap<(Field, String), Vec<usize>> = BTreeMap::new();
    for run in Sorted::new(entries).shared_hashes() {
        // A run may mix keys whose hashes collide: group by the key itself.
        let mut by_key: BTreeMap<(Field, String), Vec<usize>> = BTreeMap::new();
        for at in run {
            let (who, field, value) = all[at];
            by_key
                .entry((field.clone(), Field::key_form(value)))
                .or_default()
                .push(who);
        }
        shared.extend(by_key.into_iter().filter(|(_, who)| who.len() > 1));
    }
    shared.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64, login: &str) -> User {
        User {
            id: Some(id),
            login: Some(login.into()),
            ..User::default()
        }
    }

    #[test]
    fn finds_users_by_key_form_in_the_order_given() {
        let users = [
            user(1, "Ann"),
            user(2, "bob"),
            user(3, " ANN "),
            user(4, "carl"),
        ];
        let index = Index::new(&users, &Field::LOGIN);
        let ids = |found: Vec<&User>| found.iter().filter_map(|u| u.id).collect::<Vec<_>>();
        assert_eq!(ids(index.find(&Field::LOGIN, "ann")), [1, 3]);
        assert_eq!(ids(index.find(&Field::LOGIN, "BOB")), [2]);
        assert!(index.find(&Field::LOGIN, "dora").is_empty());
        assert!(index.find(&Field::EMAIL, "ann").is_empty());
    }

    #[test]
    fn a_user_without_an_id_or_given_twice_is_indexed_once_or_not_at_all() {
        let users = [user(1, "ann"), user(1, "ann"), User::default()];
        let index = Index::new(&users, &Field::LOGIN);
        assert_eq!(index.find(&Field::LOGIN, "ann").len(), 1);
    }

    #[test]
    fn claims_shared_by_key_form_within_a_field_only() {
        let claims = [
            (0, &Field::LOGIN, "ann"),
            (1, &Field::EMAIL, "ann"),
            (2, &Field::LOGIN, "Ann "),
            (3, &Field::LOGIN, "bob"),
            (4, &Field::EMAIL, "x@y.com"),
            (5, &Field::EMAIL, "X@Y.COM"),
        ];
        assert_eq!(
            shared_claims(claims.into_iter()),
            [
                ((Field::LOGIN, "ann".to_string()), vec![0, 2]),
                ((Field::EMAIL, "x@y.com".to_string()), vec![4, 5]),
            ]
            .into_iter()
            .collect::<BTreeMap<_, _>>()
            .into_iter()
            .collect::<Vec<_>>()
        );
    }
}
