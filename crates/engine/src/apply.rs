//! Applying a plan: its calls sent through one Coupa client (whose governor paces them), a person's
//! calls in order (clear-then-set), up to `[sync].concurrency` people at once. One person's failure
//! never stops the others; within a person, a failed call ends their sequence, since the calls after
//! it (setting roles after a clear) assume it landed.

use crate::plan::{Call, Step};
use coupa_client::{Error, Users, Written};
use coupa_wire::User;
use futures::StreamExt;

tokio::task_local! {
    /// The HR key of the person whose calls are being sent, so the call hook can file each
    /// exchange under them. Lookups run outside it: they serve many people.
    static PERSON: String;
}

/// The person the current call is made for, when it is made for one (see the call hook).
pub fn current_person() -> Option<String> {
    PERSON.try_with(Clone::clone).ok()
}

/// One call sent, and what came of it.
#[derive(Debug)]
pub struct Sent {
    pub step: Step,
    pub result: Result<Written, Error>,
}

/// What happened to one person's calls.
#[derive(Debug)]
pub struct PersonCalls {
    /// Index of the person in `Plan::people`.
    pub person: usize,
    /// The calls sent, in order; only the last one can have failed.
    pub sent: Vec<Sent>,
    /// Calls not sent because an earlier one failed.
    pub unsent: Vec<Step>,
    /// The user read back after every call succeeded (`verify = "reread"`).
    pub reread: Option<Result<User, Error>>,
}

impl PersonCalls {
    /// The last answer Coupa gave with the user in it: every earlier write is reflected in it.
    pub fn last_answer(&self) -> Option<&User> {
        self.sent
            .iter()
            .rev()
            .find_map(|s| s.result.as_ref().ok().map(|w| &w.user))
    }

    pub fn all_succeeded(&self) -> bool {
        self.unsent.is_empty() && self.sent.iter().all(|s| s.result.is_ok())
    }
}

/// Sends `calls` (in `Plan::calls` order: each person's calls together) with at most `concurrency`
/// people in flight. With `reread`, a person whose calls all succeeded is read back with a GET.
/// `done` is told about each person as they finish; the result is in person order.
pub async fn apply(
    users: &Users,
    calls: Vec<Call>,
    concurrency: usize,
    reread: bool,
    done: &(dyn Fn(&PersonCalls) + Sync),
) -> Vec<PersonCalls> {
    let mut people: Vec<Vec<Call>> = Vec::new();
    for call in calls {
        match people.last_mut() {
            Some(group) if group[0].person == call.person => group.push(call),
            _ => people.push(vec![call]),
        }
    }
    let mut results: Vec<PersonCalls> = futures::stream::iter(people)
        .map(|group| {
            let hr_key = group[0].hr_key.clone();
            PERSON.scope(hr_key, send_person(users, group, reread))
        })
        .buffer_unordered(concurrency.max(1))
        .inspect(|person| done(person))
        .collect()
        .await;
    results.sort_by_key(|p| p.person);
    results
}

async fn send_person(users: &Users, calls: Vec<Call>, reread: bool) -> PersonCalls {
    let person = calls[0].person;
    let mut done = PersonCalls {
        person,
        sent: Vec::with_capacity(calls.len()),
        unsent: Vec::new(),
        reread: None,
    };
    for call in calls {
        if !done.all_succeeded() {
            done.unsent.push(call.step);
            continue;
        }
        // The plan gives every PUT the user's id, and a POST none.
        let result = match call.user_id {
            Some(id) => users.update(id, &call.body).await,
            None => users.create(&call.body).await,
        };
        done.sent.push(Sent {
            step: call.step,
            result,
        });
    }
    if reread
        && done.all_succeeded()
        && let Some(id) = done.last_answer().and_then(|u| u.id)
    {
        done.reread = Some(users.get(id).await);
    }
    done
}
