//! Paging through a query with `limit` and `offset`: a stream of pages that ends on a short page,
//! on JSON's `[]`, or on XML's 404 "No results match your search criteria.". The same for every
//! resource Coupa lists (users, data file sources).

use crate::client::{Client, Outgoing};
use crate::decode;
use crate::error::Result;
use coupa_wire::query::MAX_LIMIT;
use coupa_wire::{NO_RESULTS, Query};
use futures::Stream;
use reqwest::Method;
use serde::de::DeserializeOwned;

/// A resource Coupa lists: where, and the XML root of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Listing {
    pub path: &'static str,
    pub collection: &'static str,
}

pub(crate) const USERS: Listing = Listing {
    path: "/api/users",
    collection: "users",
};

pub(crate) const DATA_FILE_SOURCES: Listing = Listing {
    path: "/api/data_file_sources",
    collection: "data-file-sources",
};

pub(crate) const INTEGRATIONS: Listing = Listing {
    path: "/api/integrations",
    collection: "integrations",
};

impl Listing {
    /// `/api/users?…`: the path of a query.
    pub(crate) fn path_of(self, query: &Query) -> String {
        let qs = query.to_query_string();
        if qs.is_empty() {
            self.path.to_string()
        } else {
            format!("{}?{qs}", self.path)
        }
    }
}

/// Fetches one page. XML's "No results" 404 is an empty page, as JSON's `[]` is.
pub(crate) async fn fetch<T: DeserializeOwned>(
    client: &Client,
    listing: Listing,
    query: &Query,
) -> Result<Vec<T>> {
    let out = Outgoing::new(Method::GET, listing.path_of(query));
    match client.send(&out).await {
        Ok(answer) => decode::list(&answer, client.format(), listing.collection),
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
    listing: Listing,
    query: Query,
    page_size: u32,
    paging: Paging,
}

/// The pages of `query`, from its `offset` (default 0), `limit` records at a time (at most Coupa's
/// 50, the default). A page shorter than the page size is the last: no call is spent to learn that.
pub(crate) fn pages<T: DeserializeOwned + Send + 'static>(
    client: Client,
    listing: Listing,
    query: Query,
    paging: Paging,
) -> impl Stream<Item = Result<Vec<T>>> + Send + 'static {
    let page_size = query
        .limit
        .filter(|l| *l > 0)
        .unwrap_or(MAX_LIMIT)
        .min(MAX_LIMIT);
    let cursor = Cursor {
        client,
        listing,
        query,
        page_size,
        paging,
    };
    futures::stream::unfold(Some(cursor), async |cursor| {
        let mut cursor = cursor?;
        cursor.query.limit = Some(cursor.page_size);
        let offset = cursor.query.offset.unwrap_or(0);
        cursor.query.offset = Some(offset);
        match fetch(&cursor.client, cursor.listing, &cursor.query).await {
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
