//! The flat-file path (`--mode csv`): the same plan as the API path, written as Coupa's users CSV
//! files, uploaded to Coupa's SFTP folder, awaited in `/api/data_file_sources`, and verified through
//! the API. Files are recorded in the store before their upload, so a run that is left while Coupa
//! loads them is resumed by the next one instead of uploading them twice.

mod files;
mod flow;
mod monitor;
mod outcome;

pub use files::{
    Batch, FILE_PREFIX, FileRow, Layout, Refused, RowKey, UsersFile, WrittenRow, file_name,
    next_stamp, write,
};
pub use flow::{CsvReport, FileSummary, check_settings};
pub(crate) use flow::{apply, resume};
pub use monitor::{Loads, Patience, finished_load, query_for, wait};
pub use outcome::{ReadBack, RowOutcome, data_row, judge_rows, unsettled};
