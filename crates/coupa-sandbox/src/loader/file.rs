//! One users file read as a whole before any row is applied, so a file that fails fails entirely:
//! Coupa's size limits, UTF-8 without a byte order mark, RFC 4180 records of one width, and the
//! header row matched to columns by name.
//!
//! A header is a documented users column (`column_by_header`: exact, then ignoring case and a
//! trailing `*`) or the prompt of a custom field. Any other header fails the file, so that a
//! misspelled column never silently drops data (Coupa's behaviour is undocumented).

use crate::setup::{Setup, fold};
use coupa_wire::flatfile::{self, MAX_BYTES, MAX_ROWS};

/// What one header names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Column {
    Coupa(&'static flatfile::Column),
    /// A custom field, by its name (the element under `custom-fields`).
    CustomField(String),
}

impl Column {
    /// The API element the column sets (`department.name`, `custom-fields.cost-center`).
    pub fn field(&self) -> Option<String> {
        match self {
            Column::Coupa(c) => c.field.map(str::to_string),
            Column::CustomField(name) => Some(format!("custom-fields.{name}")),
        }
    }
}

/// One data row: its position (the header is row 1) and its cells, one per header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub number: i64,
    pub cells: Vec<String>,
}

/// A file that passed the file-level checks.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

impl Table {
    /// Where the column with this documented header is, if the file has it.
    pub fn position(&self, header: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| matches!(c, Column::Coupa(c) if c.header == header))
    }
}

/// Why a whole file failed: the row it is about (0: the whole file, 1: the header, else the record)
/// and what to tell the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileProblem {
    pub row: i64,
    /// The header cell in error, or `file`.
    pub field: String,
    pub value: String,
    pub message: String,
}

impl FileProblem {
    fn whole(message: String) -> FileProblem {
        FileProblem {
            row: 0,
            field: "file".into(),
            value: String::new(),
            message,
        }
    }

    fn header(header: &str, message: String) -> FileProblem {
        FileProblem {
            row: 1,
            field: header.into(),
            value: header.into(),
            message,
        }
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Checks and parses the bytes of a users file. `setup` supplies the custom fields' prompts.
pub(crate) fn read(bytes: &[u8], setup: &Setup) -> Result<Table, FileProblem> {
    if bytes.len() > MAX_BYTES {
        return Err(FileProblem::whole(format!(
            "The file is {} bytes; Coupa loads files of at most 8 MB ({MAX_BYTES} bytes): split it",
            bytes.len()
        )));
    }
    if bytes.starts_with(BOM) {
        return Err(FileProblem::whole(
            "The file starts with a UTF-8 byte order mark (BOM); Coupa expects UTF-8 without a BOM"
                .into(),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        FileProblem::whole(format!(
            "The file is not valid UTF-8: byte {} (line {line}) is not part of a UTF-8 character",
            at + 1
        ))
    })?;
    if text.trim().is_empty() {
        return Err(FileProblem::whole(
            "The file is empty: a users file starts with a header row".into(),
        ));
    }
    // In RFC 4180 every double quote opens, closes or doubles: an odd count means a quoted value
    // runs to the end of the file (the csv crate would read it without complaint).
    if text.bytes().filter(|&b| b == b'"').count() % 2 == 1 {
        return Err(FileProblem::whole(
            "The file is not valid CSV: a quoted value is never closed (the file has an odd \
             number of double quotes)"
                .into(),
        ));
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let headers: Vec<String> = match records.next() {
        Some(Ok(record)) => record.iter().map(|h| h.trim().to_string()).collect(),
        Some(Err(e)) => {
            return Err(FileProblem::whole(format!(
                "The file is not valid CSV: {e}"
            )));
        }
        None => {
            return Err(FileProblem::whole(
                "The file is empty: a users file starts with a header row".into(),
            ));
        }
    };
    let columns = columns(&headers, setup)?;
    let mut rows = Vec::new();
    for (i, record) in records.enumerate() {
        let number = i as i64 + 2;
        let record = record.map_err(|e| FileProblem {
            row: number,
            ..FileProblem::whole(format!("The file is not valid CSV at row {number}: {e}"))
        })?;
        if rows.len() == MAX_ROWS {
            return Err(FileProblem::whole(format!(
                "The file has more than {MAX_ROWS} data rows; Coupa loads at most {MAX_ROWS} rows \
                 per file: split it"
            )));
        }
        if record.len() != headers.len() {
            return Err(FileProblem {
                row: number,
                ..FileProblem::whole(format!(
                    "The file is not valid CSV: row {number} has {} values, the header has {}",
                    record.len(),
                    headers.len()
                ))
            });
        }
        rows.push(Row {
            number,
            cells: record.iter().map(str::to_string).collect(),
        });
    }
    Ok(Table { columns, rows })
}

/// Matches each header to a column; refuses blank, unknown and repeated headers, and a header with
/// none of the keys (Id, Employee Number, Login).
fn columns(headers: &[String], setup: &Setup) -> Result<Vec<Column>, FileProblem> {
    let mut columns: Vec<Column> = Vec::with_capacity(headers.len());
    for (i, header) in headers.iter().enumerate() {
        if header.is_empty() {
            return Err(FileProblem::header(
                header,
                format!("Column {} has no header", i + 1),
            ));
        }
        let column = match flatfile::column_by_header(header) {
            Some(c) => Column::Coupa(c),
            None => custom_field(setup, header)
                .map(Column::CustomField)
                .ok_or_else(|| {
                    FileProblem::header(
                        header,
                        format!(
                            "Unknown column header '{header}': not a users column nor the prompt \
                             of a custom field"
                        ),
                    )
                })?,
        };
        if let Some(j) = columns.iter().position(|c| *c == column) {
            return Err(FileProblem::header(
                header,
                format!(
                    "Column header '{header}' names the same column as '{}'",
                    headers[j]
                ),
            ));
        }
        columns.push(column);
    }
    if !columns
        .iter()
        .any(|c| matches!(c, Column::Coupa(c) if c.key))
    {
        return Err(FileProblem::header(
            headers.first().map_or("", String::as_str),
            "The header has none of the key columns Id, Employee Number and Login".into(),
        ));
    }
    Ok(columns)
}

/// The custom field whose prompt is `header` (case-insensitive), by name.
fn custom_field(setup: &Setup, header: &str) -> Option<String> {
    let wanted = fold(header);
    setup
        .custom_fields
        .all()
        .iter()
        .find(|f| f.prompt.as_deref().is_some_and(|p| fold(p) == wanted))
        .and_then(|f| f.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::{CustomField, SetupRecord};

    fn setup() -> Setup {
        let mut setup = Setup::default();
        let mut field = CustomField {
            id: None,
            name: Some("cost-center".into()),
            prompt: Some("Cost Center".into()),
        };
        field.set_id(1);
        setup.custom_fields.insert(field);
        setup
    }

    fn problem(text: &[u8]) -> FileProblem {
        read(text, &setup()).unwrap_err()
    }

    #[test]
    fn reads_quoted_values_with_commas_quotes_and_newlines() {
        let text =
            "\"Login\",\"Last Name\",\"cost center\"\r\n\"jd\",\"O\"\"Neil, Jr.\nII\",\"CC-1\"\r\n";
        let table = read(text.as_bytes(), &setup()).unwrap();
        assert_eq!(table.columns.len(), 3);
        assert_eq!(table.columns[2], Column::CustomField("cost-center".into()));
        assert_eq!(table.rows.len(), 1);
        assert_eq!(table.rows[0].number, 2);
        assert_eq!(table.rows[0].cells[1], "O\"Neil, Jr.\nII");
    }

    #[test]
    fn file_level_problems_name_what_is_wrong() {
        assert!(
            problem(b"\xEF\xBB\xBF\"Login\"\n")
                .message
                .contains("byte order mark")
        );
        let bad = problem(b"\"Login\"\n\"ok\"\n\"j\xFFd\"\n");
        assert!(bad.message.contains("not valid UTF-8"), "{}", bad.message);
        assert!(bad.message.contains("line 3"), "{}", bad.message);
        assert!(problem(b"").message.contains("empty"));
        assert!(
            problem(b"\"Login\"\n\"jd\n")
                .message
                .contains("never closed")
        );
        let wide = problem(b"\"Login\",\"Email\"\n\"a\",\"b\",\"c\"\n");
        assert_eq!(wide.row, 2);
        assert!(wide.message.contains("3 values, the header has 2"));
    }

    #[test]
    fn header_problems_are_row_1() {
        let unknown = problem(b"\"Login\",\"Emial\"\n");
        assert_eq!((unknown.row, unknown.field.as_str()), (1, "Emial"));
        assert!(unknown.message.starts_with("Unknown column header 'Emial'"));
        let twice = problem(b"\"Login\",\"Email\",\"email*\"\n");
        assert!(
            twice.message.contains("same column as 'Email'"),
            "{}",
            twice.message
        );
        let keyless = problem(b"\"Email\",\"First Name\"\n");
        assert!(keyless.message.contains("none of the key columns"));
        assert!(
            problem(b"\"Login\",\"\"\n")
                .message
                .contains("Column 2 has no header")
        );
    }

    #[test]
    fn limits_rows_and_bytes() {
        let mut text = String::from("\"Login\"\n");
        for i in 0..=MAX_ROWS {
            text.push_str(&format!("\"u{i}\"\n"));
        }
        assert!(
            problem(text.as_bytes())
                .message
                .contains("more than 5000 data rows")
        );
        let big = vec![b'a'; MAX_BYTES + 1];
        assert!(problem(&big).message.contains("at most 8 MB"));
    }
}
