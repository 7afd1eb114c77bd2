//! The users API: get, create, update, query (paged stream) and find_by (batch lookup).

use crate::client::{Client, Outgoing};
use crate::error::{Error, Result};
use crate::page::{self, Paging};
use crate::written::Written;
use crate::{decode, lookup, retry};
use bytes::Bytes;
use coupa_wire::{Query, ReturnObject, User};
use futures::{Stream, StreamExt, TryStreamExt};
use reqwest::Method;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

/// How many lookup queries of a `find_by` run at once; the governor still paces them.
const LOOKUP_CONCURRENCY: usize = 8;

/// `/api/users`, with the answer shaping (`return_object`, `fields`) applied to every call made
/// through this handle. Get it with [`Client::users`].
#[derive(Debug, Clone)]
pub struct Users {
    client: Client,
    return_object: Option<ReturnObject>,
    fields: Option<Value>,
}

impl Users {
    pub(crate) fn new(client: Client) -> Users {
        Users {
            client,
            return_object: None,
            fields: None,
        }
    }

    /// Ask for `limited` (ids only) or `shallow` answers. `none` is refused when a call is made:
    /// every method here returns the user Coupa answers with.
    pub fn return_object(mut self, r: ReturnObject) -> Users {
        self.return_object = Some(r);
        self
    }

    /// Ask only for these fields: `json!(["id", "login", {"roles": ["name"]}])`.
    pub fn fields(mut self, fields: Value) -> Users {
        self.fields = Some(fields);
        self
    }

    /// A query holding only the shaping, or an error for shaping these calls cannot honour.
    fn shape(&self) -> Result<Query> {
        if self.return_object == Some(ReturnObject::None) {
            return Err(Error::invalid(
                "return_object=none makes Coupa answer without the user; this client returns it",
            ));
        }
        if self.fields.as_ref().is_some_and(|f| !f.is_array()) {
            return Err(Error::invalid("fields must be a JSON array"));
        }
        Ok(Query {
            return_object: self.return_object,
            fields: self.fields.clone(),
            ..Query::default()
        })
    }

    fn shaped(&self) -> bool {
        self.return_object.is_some() || self.fields.is_some()
    }

    fn path(base: &str, shape: &Query) -> String {
        let qs = shape.to_query_string();
        if qs.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{qs}")
        }
    }

    /// `GET /api/users/{id}`. An unknown id is an error whose `is_not_found()` is true.
    pub async fn get(&self, id: i64) -> Result<User> {
        let out = Outgoing::new(
            Method::GET,
            Users::path(&format!("/api/users/{id}"), &self.shape()?),
        );
        let answer = self.client.send(&out).await?;
        decode::one(&answer, self.client.format(), "user")
    }

    /// `PUT /api/users/{id}` with only the fields set in `changes`. Retried like any idempotent call.
    pub async fn update(&self, id: i64, changes: &User) -> Result<Written> {
        let out = self.write(
            Method::PUT,
            Users::path(&format!("/api/users/{id}"), &self.shape()?),
            changes,
        );
        let answer = self.client.send(&out).await?;
        let user = decode::one(&answer, self.client.format(), "user")?;
        Ok(Written::new(changes, user, self.shaped(), false))
    }

    /// `POST /api/users`. A create is never sent twice blindly: when its answer is lost (timeout,
    /// broken connection, 500/502/503/504), the client looks the user up by the unique keys it sent
    /// (login, email, employee number) and returns that user if the create landed (`recovered`);
    /// only if it did not is the create sent again, within the retry policy. If that second create
    /// is refused because the keys are "already taken" (the first one landed late), the user is
    /// looked up once more.
    pub async fn create(&self, user: &User) -> Result<Written> {
        let out = self.write(
            Method::POST,
            Users::path("/api/users", &self.shape()?),
            user,
        );
        let format = self.client.format();
        let renewed = AtomicBool::new(false);
        let lost_before = AtomicBool::new(false);
        let recovered = AtomicBool::new(false);
        let created = retry::run(self.client.retry_policy(), |attempt| {
            let (out, renewed, lost_before, recovered) = (&out, &renewed, &lost_before, &recovered);
            async move {
                let answer = self.client.attempt(out, attempt, renewed).await;
                let error = match answer.and_then(|a| decode::one::<User>(&a, format, "user")) {
                    Ok(created) => return retry::Verdict::Success(created),
                    Err(e) => e,
                };
                let lost = error.outcome_unknown();
                let late = lost_before.load(Ordering::Relaxed)
                    && error.status() == Some(reqwest::StatusCode::BAD_REQUEST)
                    && error
                        .messages()
                        .iter()
                        .any(|m| m.ends_with("has already been taken"));
                if !lost && !late {
                    return retry::classify(&Method::POST, error);
                }
                lost_before.store(true, Ordering::Relaxed);
                match self.landed(user).await {
                    Ok(Some(found)) => {
                        recovered.store(true, Ordering::Relaxed);
                        retry::Verdict::Success(found)
                    }
                    Ok(None) if lost => retry::Verdict::Retry { error, after: None },
                    Ok(None) => retry::Verdict::DontRetry(error),
                    Err(e) => {
                        tracing::warn!(%e, "could not check whether a lost create landed");
                        retry::Verdict::DontRetry(error)
                    }
                }
            }
        })
        .await?;
        let recovered = recovered.load(Ordering::Relaxed);
        Ok(Written::new(user, created, self.shaped(), recovered))
    }

    /// The user a create of `sent` made, if it landed: one query for every unique key it carries.
    async fn landed(&self, sent: &User) -> Result<Option<User>> {
        let keys = [
            ("login", &sent.login),
            ("employee_number", &sent.employee_number),
            ("email", &sent.email),
        ];
        let mut query = self.shape()?;
        for (field, value) in keys {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                query = query.eq(field, v);
            }
        }
        if query.conditions.is_empty() {
            return Err(Error::invalid(
                "the user has no login, email or employee number to look it up by",
            ));
        }
        Ok(page::fetch(&self.client, page::USERS, &query.limit(1))
            .await?
            .into_iter()
            .next())
    }

    fn write(&self, method: Method, path: String, user: &User) -> Outgoing {
        let format = self.client.format();
        let body = Bytes::from(coupa_wire::encode(format, "user", user));
        let logged_body = user.password.as_ref().map(|_| {
            let mut shown = user.clone();
            shown.password = Some(coupa_wire::Password::new(crate::call::REDACTED));
            Bytes::from(coupa_wire::encode(format, "user", &shown))
        });
        Outgoing {
            method,
            path,
            body: Some(body),
            logged_body,
        }
    }

    /// `GET /api/users?…`: every user matching `query`, page after page (50 at a time, or the query's
    /// `limit` if smaller, from its `offset`). The handle's shaping applies unless the query sets its
    /// own. The stream ends at the last page; an error ends it after being yielded.
    pub fn query(&self, query: Query) -> impl Stream<Item = Result<User>> + Send + 'static {
        self.pages(query)
            .map_ok(|page| futures::stream::iter(page.into_iter().map(Ok)))
            .try_flatten()
    }

    /// The pages of [`Users::query`], as they arrive.
    pub fn pages(&self, query: Query) -> impl Stream<Item = Result<Vec<User>>> + Send + 'static {
        let shaped = self.shape().map(|shape| Query {
            return_object: query.return_object.or(shape.return_object),
            fields: query.fields.clone().or(shape.fields),
            ..query
        });
        let client = self.client.clone();
        match shaped {
            Ok(query) => page::pages(client, page::USERS, query, Paging::ToTheEnd).left_stream(),
            Err(e) => futures::stream::once(async { Err(e) }).right_stream(),
        }
    }

    /// The users whose `field` is one of `values`, in as few calls as Coupa allows: `field[in]=a,b,c`
    /// with at most 50 values per call, fewer when the URL would exceed the client's limit, and one
    /// exact-match call per value holding a comma. `field` is written as in Coupa's queries
    /// (`login`, `employee_number`, `manager[login]`, `custom_fields[cost_center]`). Values that match
    /// no user are simply absent; map the users back by the field.
    pub async fn find_by<S: AsRef<str>>(&self, field: &str, values: &[S]) -> Result<Vec<User>> {
        let path = lookup::field_path(field)?;
        let paging = if lookup::is_unique(&path) {
            Paging::OnePage
        } else {
            Paging::ToTheEnd
        };
        let values: Vec<&str> = values.iter().map(AsRef::as_ref).collect();
        let prefix_len = self.client.base_url().len() + "/api/users?".len();
        let queries = lookup::plan(
            &path,
            &values,
            &self.shape()?,
            prefix_len,
            self.client.max_url_len(),
        );
        let pages: Vec<Vec<User>> = futures::stream::iter(queries)
            .map(|q| page::pages(self.client.clone(), page::USERS, q, paging).try_concat())
            .buffered(LOOKUP_CONCURRENCY)
            .try_collect()
            .await?;
        let mut seen = HashSet::new();
        Ok(pages
            .into_iter()
            .flatten()
            .filter(|u| u.id.is_none_or(|id| seen.insert(id)))
            .collect())
    }
}
