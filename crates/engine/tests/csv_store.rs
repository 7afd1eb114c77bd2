//! The store's record of the CSV path's users files, on a real SQLite file: a file is found again
//! by a later process while its fate is open, and not once it is settled.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use chrono::{TimeZone, Utc};
use engine::store::{CsvFileRecord, CsvFileStatus, RunMode, SqliteStore, Store};
use serde_json::json;

fn file(run_id: i64, name: &str, status: CsvFileStatus) -> CsvFileRecord {
    CsvFileRecord {
        name: name.into(),
        run_id,
        status,
        written_at: Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap(),
        uploaded_at: None,
        finished_at: None,
        row_count: 2,
        rows: json!([{"hr_key": "E1"}, {"hr_key": "E2"}]),
        note: None,
    }
}

#[tokio::test]
async fn open_files_outlive_the_process_until_they_are_settled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.last_csv_file_name().await.unwrap(), None);
    let run = store.begin_run(RunMode::Csv, false).await.unwrap();
    let mut first = file(
        run.id,
        "users_20261128T120000Z_0001.csv",
        CsvFileStatus::Written,
    );
    store.save_csv_file(&first).await.unwrap();
    let second = file(
        run.id,
        "users_20261128T120000Z_0002.csv",
        CsvFileStatus::Written,
    );
    store.save_csv_file(&second).await.unwrap();
    // A later save changes the status; the rows are the file's for good, even when the caller no
    // longer holds them.
    let rows = std::mem::take(&mut first.rows);
    first.status = CsvFileStatus::Uploaded;
    first.uploaded_at = Some(Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 5).unwrap());
    store.save_csv_file(&first).await.unwrap();
    first.rows = rows;
    let mut gone = file(
        run.id,
        "users_20261128T120000Z_0003.csv",
        CsvFileStatus::NotUploaded,
    );
    gone.note = Some("not uploaded: SFTP authentication failed".into());
    store.save_csv_file(&gone).await.unwrap();
    store.close().await.unwrap();

    // A later process finds the two open files, oldest first, with their rows.
    let store = SqliteStore::open(&path).await.unwrap();
    let open = store.open_csv_files().await.unwrap();
    assert_eq!(open, vec![first.clone(), second.clone()]);
    assert_eq!(
        store.last_csv_file_name().await.unwrap().as_deref(),
        Some("users_20261128T120000Z_0003.csv")
    );
    first.status = CsvFileStatus::Loaded;
    first.note = Some("done: 2 rows processed".into());
    store
        .save_csv_file(&CsvFileRecord {
            rows: json!(null),
            ..first.clone()
        })
        .await
        .unwrap();
    let open: Vec<String> = store
        .open_csv_files()
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(open, ["users_20261128T120000Z_0002.csv"]);
    let of_run = store.csv_files_for_run(run.id).await.unwrap();
    assert_eq!(of_run.len(), 3);
    assert_eq!(of_run[0], first);
    assert_eq!(of_run[2], gone);
    assert!(
        store
            .csv_files_for_run(run.id + 1)
            .await
            .unwrap()
            .is_empty()
    );
}
