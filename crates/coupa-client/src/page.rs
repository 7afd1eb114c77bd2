//! Paging through a query with `limit` and `offset`: a stream of pages that ends on a short page,
//! on JSON's `[]`, or on XML's 404 "No results match your search criteria.".

use crate::client::{Client, Outgoing};
use crate::decode;
use crate::error::Result;
use coupa_wire::query::MAX_LIMIT;
use coupa_wire::{NO_RESULTS, Query, User};
use futures::Stream;
use reqwest::Method;

/// `/api/users?…`: the path of a users query.
pub(crate) fn users_path(query: &Query) -> String {
    let qs = query.to_query_string();
    if qs.is_empty() {
        "/api/users".to_string()
    } else {
        format!("/api/users?{qs}")
    }
}

/// Fetches one page. XML's "No results" 404 is an empty page, as JSON's `[]` is.
pub(crate) async fn fetch(client: &Client, query: &Query) -> Result<Vec<User>> {
    let out = Outgoing::new(Method::GET, users_path(query));
    match client.send(&out).await {
        Ok(answer) => decode::list(&answer, client.format(), "users"),
        Err(e) if e.is_not_found() && e.messages() == [NO_RESULTS] => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// How far to page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Paging {
    /// Until the end of the results.
    ToTheEnd,
    /// One page: the caller knows the results fit (a lookup by a unique key).
    OnePage,
}

struct Cursor {
    client: Client,
    query: Query,
    page_size: u32,
    paging: Paging,
}

/// The pages of `query`, from its `offset` (default 0), `limit` records at a time (at most Coupa's
/// 50, the default). A page shorter than the page size is the last: no call is spent to learn that.
pub(crate) fn pages(
    client: Client,
    query: Query,
    paging: Paging,
) -> impl Stream<Item = Result<Vec<User>>> + Send + 'static {
    let page_size = query
        .limit
        .filter(|l| *l > 0)
        .unwrap_or(MAX_LIMIT)
        .min(MAX_LIMIT);
    let cursor = Cursor {
        client,
        query,
        page_size,
        paging,
    };
    futures::stream::unfold(Some(cursor), async |cursor| {
        let mut cursor = cursor?;
        cursor.query.limit = Some(cursor.page_size);
        let offset = cursor.query.offset.unwrap_or(0);
        cursor.query.offset = Some(offset);
        match fetch(&cursor.client, &cursor.query).await {
            Err(e) => Some((Err(e), None)),
            Ok(page) if page.is_empty() => None,
            Ok(page) => {
                let last =
                    cursor.paging == Paging::OnePage || page.len() < cursor.page_size as usize;
                cursor.query.offset = Some(offset + page.len() as u32);
                Some((Ok(page), (!last).then_some(cursor)))
            }
        }
    })
}
