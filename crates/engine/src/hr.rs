//! HR extracts, streamed row by row: CSV with a header row, or JSON Lines. Each row becomes an
//! `HrRecord` holding the columns the mapping reads, or a `RowError` naming the file, row, person
//! and column. A problem with the file as a whole (unreadable, header missing a mapped column) is a
//! `FileError` and stops the read.

use crate::config::{HrConfig, HrFormat};
use serde::Serialize;
use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// A column the mapping reads, and which configuration key reads it (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub used_by: String,
}

/// One cell of a record. CSV cells are always text; a JSON Lines value may also be a list (roles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell<'a> {
    Text(&'a str),
    List(&'a [String]),
}

/// One valid HR row: cell `i` is the value of the i-th requested column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HrRecord {
    /// The line of the file where the row starts (the CSV header is line 1).
    pub row: usize,
    /// The person's HR key, trimmed.
    pub key: String,
    /// The text cells end to end, one allocation per row rather than one per cell.
    text: String,
    cells: Vec<Stored>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Stored {
    Text(std::ops::Range<usize>),
    List(Vec<String>),
}

impl HrRecord {
    pub fn cell(&self, index: usize) -> Option<Cell<'_>> {
        self.cells.get(index).map(|c| match c {
            Stored::Text(range) => Cell::Text(&self.text[range.clone()]),
            Stored::List(items) => Cell::List(items),
        })
    }
}

/// A cell as a reader found it, before it is stored in a record.
#[derive(Debug, PartialEq, Eq)]
enum Raw<'a> {
    Text(Cow<'a, str>),
    List(Vec<String>),
}

/// A row that cannot be used, with every problem found in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub file: PathBuf,
    pub row: usize,
    /// The person, when the row's key could be read.
    pub key: Option<String>,
    pub problems: Vec<Problem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub column: Option<String>,
    pub message: String,
}

impl Problem {
    pub fn in_column(column: &str, message: impl Into<String>) -> Problem {
        Problem {
            column: Some(column.to_string()),
            message: message.into(),
        }
    }

    pub fn in_row(message: impl Into<String>) -> Problem {
        Problem {
            column: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, row {}", self.file.display(), self.row)?;
        if let Some(key) = &self.key {
            write!(f, " (person {key})")?;
        }
        for (i, p) in self.problems.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            if let Some(column) = &p.column {
                write!(f, "column {column}: ")?;
            }
            f.write_str(&p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for RowError {}

/// The extract cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot open the HR file {}: {source}", file.display())]
    Open {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the HR file {} after row {row}: {message}", file.display())]
    Read {
        file: PathBuf,
        row: usize,
        message: String,
    },
    #[error("the HR file {}: {message}", file.display())]
    Header { file: PathBuf, message: String },
    #[error("the header of the HR file {} lacks {}; it has: {}", file.display(), describe_missing(missing), found.join(", "))]
    MissingColumns {
        file: PathBuf,
        missing: Vec<Column>,
        found: Vec<String>,
    },
}

fn describe_missing(missing: &[Column]) -> String {
    missing
        .iter()
        .map(|c| format!("column {:?} (used by {})", c.name, c.used_by))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What reading a row can yield besides a record.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Row(RowError),
    #[error(transparent)]
    File(FileError),
}

/// A streaming reader over an HR extract.
#[derive(Debug)]
pub struct HrSource {
    file: PathBuf,
    columns: Vec<Column>,
    inner: Inner,
    done: bool,
}

#[derive(Debug)]
enum Inner {
    Csv {
        reader: csv::Reader<File>,
        /// Where each requested column sits in a CSV row.
        positions: Vec<usize>,
        header_len: usize,
        record: csv::ByteRecord,
    },
    Jsonl {
        reader: BufReader<File>,
        line: usize,
        buf: Vec<u8>,
    },
}

/// Opens the extract `config.path`, to read `columns`; `columns[0]` must be the HR key column.
/// For CSV the header is read and checked now: a missing column is an error before any row is read.
pub fn open(config: &HrConfig, columns: Vec<Column>) -> Result<HrSource, FileError> {
    let file = config.path.clone();
    let handle = File::open(&file).map_err(|source| FileError::Open {
        file: file.clone(),
        source,
    })?;
    let inner = match config.format {
        HrFormat::Csv => open_csv(&file, handle, config.delimiter, &columns)?,
        HrFormat::Jsonl => Inner::Jsonl {
            reader: BufReader::new(handle),
            line: 0,
            buf: Vec::new(),
        },
    };
    Ok(HrSource {
        file,
        columns,
        inner,
        done: false,
    })
}

fn open_csv(
    file: &Path,
    handle: File,
    delimiter: u8,
    columns: &[Column],
) -> Result<Inner, FileError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(handle);
    let header_error = |message: String| FileError::Header {
        file: file.to_path_buf(),
        message,
    };
    let raw = reader
        .byte_headers()
        .map_err(|e| header_error(format!("cannot read the header row: {e}")))?
        .clone();
    if raw.is_empty() {
        return Err(header_error(
            "the file is empty: expected a header row".into(),
        ));
    }
    let mut header = Vec::with_capacity(raw.len());
    for (i, name) in raw.iter().enumerate() {
        // Spreadsheet exports often start with a byte-order mark.
        let name = if i == 0 {
            name.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(name)
        } else {
            name
        };
        let name = std::str::from_utf8(name).map_err(|_| {
            header_error(format!(
                "header column {} is not UTF-8; export the file as UTF-8",
                i + 1
            ))
        })?;
        header.push(name.trim().to_string());
    }
    let mut positions = Vec::with_capacity(columns.len());
    let mut missing = Vec::new();
    for column in columns {
        let mut found = header
            .iter()
            .enumerate()
            .filter(|(_, h)| **h == column.name);
        match (found.next(), found.next()) {
            (Some((i, _)), None) => positions.push(i),
            (Some(_), Some(_)) => {
                return Err(header_error(format!(
                    "column {:?} appears more than once in the header",
                    column.name
                )));
            }
            (None, _) => missing.push(column.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(FileError::MissingColumns {
            file: file.to_path_buf(),
            missing,
            found: header,
        });
    }
    Ok(Inner::Csv {
        reader,
        positions,
        header_len: header.len(),
        record: csv::ByteRecord::new(),
    })
}

impl HrSource {
    pub fn file(&self) -> &Path {
        &self.file
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    fn next_row(&mut self) -> Option<Result<HrRecord, ReadError>> {
        match &mut self.inner {
            Inner::Csv {
                reader,
                positions,
                header_len,
                record,
            } => {
                let last_row = record.position().map_or(1, |p| p.line() as usize);
                match reader.read_byte_record(record) {
                    Ok(false) => None,
                    Ok(true) => {
                        let row = record.position().map_or(0, |p| p.line() as usize);
                        let cells = positions.iter().zip(&self.columns).map(|(&i, column)| {
                            match record.get(i) {
                                None => Err(Problem::in_row(format!(
                                    "the row has {} fields, the header has {header_len}",
                                    record.len()
                                ))),
                                Some(bytes) => text_cell(bytes, &column.name),
                            }
                        });
                        Some(build(&self.file, row, &self.columns, cells))
                    }
                    Err(e) => Some(Err(ReadError::File(FileError::Read {
                        file: self.file.clone(),
                        row: last_row,
                        message: e.to_string(),
                    }))),
                }
            }
            Inner::Jsonl { reader, line, buf } => loop {
                buf.clear();
                match reader.read_until(b'\n', buf) {
                    Ok(0) => return None,
                    Ok(_) => {
                        *line += 1;
                        let trimmed = buf.trim_ascii();
                        if trimmed.is_empty() {
                            continue;
                        }
                        return Some(json_row(&self.file, *line, trimmed, &self.columns));
                    }
                    Err(e) => {
                        return Some(Err(ReadError::File(FileError::Read {
                            file: self.file.clone(),
                            row: *line,
                            message: e.to_string(),
                        })));
                    }
                }
            },
        }
    }
}

impl Iterator for HrSource {
    type Item = Result<HrRecord, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.next_row();
        if matches!(item, None | Some(Err(ReadError::File(_)))) {
            self.done = true;
        }
        item
    }
}

fn text_cell<'a>(bytes: &'a [u8], column: &str) -> Result<Raw<'a>, Problem> {
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            check_text(text).map_err(|m| Problem::in_column(column, m))?;
            Ok(Raw::Text(Cow::Borrowed(text)))
        }
        Err(e) => Err(Problem::in_column(
            column,
            format!(
                "is not valid UTF-8 (byte {} of the value); export the file as UTF-8",
                e.valid_up_to() + 1
            ),
        )),
    }
}

/// Values are shown in Coupa, in e-mails and on the dashboard: refuse what could break or inject
/// into them rather than pass it on. Apostrophes stay allowed (O'Brien).
fn check_text(text: &str) -> Result<(), String> {
    // Most values are plain ASCII: one pass over the bytes settles them.
    if text
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && !matches!(b, b'<' | b'>' | b'"'))
    {
        return Ok(());
    }
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(format!(
            "contains a control character (U+{:04X}); remove it",
            u32::from(c)
        ));
    }
    if text.contains(['<', '>']) {
        return Err(format!("contains markup (< or >): {text:?}"));
    }
    if text.contains('"') {
        return Err(format!("contains a double quote: {text:?}"));
    }
    Ok(())
}

fn json_row(
    file: &Path,
    row: usize,
    line: &[u8],
    columns: &[Column],
) -> Result<HrRecord, ReadError> {
    let fail = |problem: Problem| {
        ReadError::Row(RowError {
            file: file.to_path_buf(),
            row,
            key: None,
            problems: vec![problem],
        })
    };
    let text = std::str::from_utf8(line).map_err(|e| {
        fail(Problem::in_row(format!(
            "is not valid UTF-8 (byte {} of the line); export the file as UTF-8",
            e.valid_up_to() + 1
        )))
    })?;
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
        .map_err(|e| fail(Problem::in_row(format!("is not a JSON object: {e}"))))?;
    let cells = columns
        .iter()
        .map(|column| json_cell(object.get(&column.name), &column.name));
    build(file, row, columns, cells)
}

fn json_cell<'a>(value: Option<&'a serde_json::Value>, column: &str) -> Result<Raw<'a>, Problem> {
    use serde_json::Value as J;
    let scalar = |v: &'a J| -> Result<Cow<'a, str>, Problem> {
        let text = match v {
            J::Null => Cow::Borrowed(""),
            J::String(s) => Cow::Borrowed(s.as_str()),
            J::Bool(b) => Cow::Owned(b.to_string()),
            J::Number(n) => Cow::Owned(n.to_string()),
            J::Array(_) | J::Object(_) => {
                return Err(Problem::in_column(
                    column,
                    "holds a nested JSON value; expected text, a number or a boolean",
                ));
            }
        };
        check_text(&text).map_err(|m| Problem::in_column(column, m))?;
        Ok(text)
    };
    match value {
        None => Ok(Raw::Text(Cow::Borrowed(""))),
        Some(J::Array(items)) => Ok(Raw::List(
            items
                .iter()
                .map(|v| scalar(v).map(Cow::into_owned))
                .collect::<Result<_, _>>()?,
        )),
        Some(v) => scalar(v).map(Raw::Text),
    }
}

/// Turns the cells of one row into a record, or a row error listing every problem.
fn build<'a>(
    file: &Path,
    row: usize,
    columns: &[Column],
    cells: impl Iterator<Item = Result<Raw<'a>, Problem>>,
) -> Result<HrRecord, ReadError> {
    let mut text = String::new();
    let mut stored = Vec::with_capacity(columns.len());
    let mut problems = Vec::new();
    for cell in cells {
        match cell {
            Ok(Raw::Text(t)) => {
                let start = text.len();
                text.push_str(&t);
                stored.push(Stored::Text(start..text.len()));
            }
            Ok(Raw::List(items)) => stored.push(Stored::List(items)),
            Err(p) => {
                // A short row reports once, not once per missing column.
                if !problems.contains(&p) {
                    problems.push(p);
                }
                stored.push(Stored::Text(0..0));
            }
        }
    }
    let key_column = columns.first().map_or("", |c| c.name.as_str());
    let key = match stored.first() {
        Some(Stored::Text(range)) if !text[range.clone()].trim().is_empty() => {
            Some(text[range.clone()].trim().to_string())
        }
        Some(Stored::List(_)) => {
            problems.push(Problem::in_column(key_column, "the HR key is a list"));
            None
        }
        _ => {
            if !problems
                .iter()
                .any(|p| p.column.as_deref() == Some(key_column))
            {
                problems.push(Problem::in_column(
                    key_column,
                    "the HR key is missing; the row cannot be attributed to a person",
                ));
            }
            None
        }
    };
    match key {
        Some(key) if problems.is_empty() => Ok(HrRecord {
            row,
            key,
            text,
            cells: stored,
        }),
        key => Err(ReadError::Row(RowError {
            file: file.to_path_buf(),
            row,
            key,
            problems,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_checks_name_the_offence() {
        assert!(check_text("O'Brien-Smith, Jr.").is_ok());
        assert!(check_text("Zoë").is_ok());
        assert!(check_text("a\u{7}b").unwrap_err().contains("U+0007"));
        assert!(check_text("line\nbreak").unwrap_err().contains("control"));
        assert!(check_text("<b>x</b>").unwrap_err().contains("markup"));
        assert!(
            check_text("say \"hi\"")
                .unwrap_err()
                .contains("double quote")
        );
    }

    #[test]
    fn json_values_become_cells() {
        let v: serde_json::Value =
            serde_json::json!({"n": 42, "b": true, "l": ["Buyer", "User"], "o": {"x": 1}});
        fn text(s: &'static str) -> Result<Raw<'static>, Problem> {
            Ok(Raw::Text(Cow::Borrowed(s)))
        }
        assert_eq!(json_cell(v.get("n"), "n"), text("42"));
        assert_eq!(json_cell(v.get("b"), "b"), text("true"));
        assert_eq!(json_cell(None, "absent"), text(""));
        assert_eq!(
            json_cell(v.get("l"), "l"),
            Ok(Raw::List(vec!["Buyer".into(), "User".into()]))
        );
        assert!(json_cell(v.get("o"), "o").is_err());
    }

    #[test]
    fn a_record_hands_back_its_cells() {
        let columns: Vec<Column> = ["id", "roles", "name"]
            .iter()
            .map(|n| Column {
                name: n.to_string(),
                used_by: "test".into(),
            })
            .collect();
        let cells = vec![
            Ok(Raw::Text(Cow::Borrowed(" P1 "))),
            Ok(Raw::List(vec!["Buyer".into()])),
            Ok(Raw::Text(Cow::Owned("Zoë".into()))),
        ];
        let record = build(Path::new("hr.jsonl"), 2, &columns, cells.into_iter()).unwrap();
        assert_eq!(record.key, "P1");
        assert_eq!(record.cell(0), Some(Cell::Text(" P1 ")));
        assert_eq!(record.cell(1), Some(Cell::List(&["Buyer".to_string()])));
        assert_eq!(record.cell(2), Some(Cell::Text("Zoë")));
        assert_eq!(record.cell(3), None);
    }
}
