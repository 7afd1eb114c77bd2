//! The data file sources API (read-only): Coupa's record of each flat file it loaded, with the
//! load's status and row-level errors. A connector that drops users files over SFTP polls it to
//! learn how its files fared.

use crate::client::Client;
use crate::error::Result;
use crate::page::{self, Paging};
use coupa_wire::{DataFileSource, Query};
use futures::TryStreamExt;

/// `/api/data_file_sources`. Get it with [`Client::data_file_sources`].
#[derive(Debug, Clone)]
pub struct DataFileSources {
    client: Client,
}

impl DataFileSources {
    pub(crate) fn new(client: Client) -> DataFileSources {
        DataFileSources { client }
    }

    /// `GET /api/data_file_sources?…`: every load matching `query`, page after page. Coupa's
    /// documented filters are `source_for`, `status`, `file_file_name` and `created_at[gt]`:
    /// `Query::new().eq("source_for", "User").eq("file_file_name", name)`.
    pub async fn query(&self, query: Query) -> Result<Vec<DataFileSource>> {
        page::pages(
            self.client.clone(),
            page::DATA_FILE_SOURCES,
            query,
            Paging::ToTheEnd,
        )
        .try_concat()
        .await
    }
}
