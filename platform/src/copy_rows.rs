//! A batch's rows written with `COPY … FROM STDIN (FORMAT binary)` (issue 14).
//!
//! Why not `insert … select unnest($1), unnest($2), …`: PostgreSQL runs every row of such a
//! statement through a set-returning projection (and, where one statement feeds several tables,
//! through a materialised CTE) and then inserts it alone, one WAL record per row. COPY hands the
//! rows straight to the table and writes the new rows of a heap page as one WAL record
//! (`heap_multi_insert`). The index entries are the same either way.
//!
//! The format is PostgreSQL's binary COPY ("COPY", "Binary Format" in its documentation): a
//! header, then per row a 16-bit field count and per field a 32-bit length (-1 for NULL) followed
//! by the value in its type's binary (send/receive) form, then a trailer of -1. Each column must
//! be written in the form of its own type: a `bigint` column takes [`CopyRows::int8`], never
//! an `int4`.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// The binary COPY header: the signature, no flags, no header extension.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 00:00:00 UTC).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Rows of `fields` columns each, encoded as they are pushed.
pub struct CopyRows {
    buf: Vec<u8>,
    fields: i16,
    /// Fields written in the current row (checked in debug builds: a row short of a field is
    /// an error PostgreSQL reports only as "row field count is N, expected M").
    written: i16,
    rows: usize,
}

impl CopyRows {
    /// `bytes_per_row`: a guess of a row's encoded size, to reserve the buffer once.
    pub fn new(fields: i16, rows: usize, bytes_per_row: usize) -> CopyRows {
        let mut buf = Vec::with_capacity(HEADER.len() + rows * bytes_per_row + 2);
        buf.extend_from_slice(HEADER);
        CopyRows { buf, fields, written: fields, rows: 0 }
    }

    /// Starts a row; its fields follow, in the COPY statement's column order.
    pub fn row(&mut self) -> &mut CopyRows {
        debug_assert_eq!(self.written, self.fields, "the previous row has {} of {} fields", self.written, self.fields);
        self.buf.extend_from_slice(&self.fields.to_be_bytes());
        self.written = 0;
        self.rows += 1;
        self
    }

    fn field(&mut self, value: &[u8]) -> &mut CopyRows {
        self.buf.extend_from_slice(&(value.len() as i32).to_be_bytes());
        self.buf.extend_from_slice(value);
        self.written += 1;
        self
    }

    pub fn null(&mut self) -> &mut CopyRows {
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
        self.written += 1;
        self
    }

    /// A `text` column (the connection's encoding is UTF-8, as sqlx sets it).
    pub fn text(&mut self, value: &str) -> &mut CopyRows {
        self.field(value.as_bytes())
    }

    pub fn opt_text(&mut self, value: Option<&str>) -> &mut CopyRows {
        match value {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    /// A `bigint` column.
    pub fn int8(&mut self, value: i64) -> &mut CopyRows {
        self.field(&value.to_be_bytes())
    }

    pub fn opt_int8(&mut self, value: Option<i64>) -> &mut CopyRows {
        match value {
            Some(v) => self.int8(v),
            None => self.null(),
        }
    }

    /// A `timestamptz` column: microseconds since 2000-01-01 UTC.
    pub fn timestamptz(&mut self, value: DateTime<Utc>) -> &mut CopyRows {
        self.int8(value.timestamp_micros() - PG_EPOCH_MICROS)
    }

    pub fn opt_timestamptz(&mut self, value: Option<DateTime<Utc>>) -> &mut CopyRows {
        match value {
            Some(v) => self.timestamptz(v),
            None => self.null(),
        }
    }

    /// A `uuid` column.
    pub fn uuid(&mut self, value: uuid::Uuid) -> &mut CopyRows {
        self.field(value.as_bytes())
    }

    /// A `jsonb` column: its format version (1), then the JSON text.
    pub fn opt_jsonb(&mut self, value: Option<&serde_json::Value>) -> &mut CopyRows {
        let Some(value) = value else { return self.null() };
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0, 0, 0, 1]);
        serde_json::to_writer(&mut self.buf, value).expect("a JSON value serialises");
        let len = (self.buf.len() - at - 4) as i32;
        self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
        self.written += 1;
        self
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Sends the rows with `statement` (`copy <table> (<columns>) from stdin (format binary)`,
    /// the columns in the order the rows were written) on `conn`, inside the caller's
    /// transaction. A constraint the rows break fails the whole COPY, with the same error an
    /// insert would answer (e.g. a unique violation naming its constraint).
    pub async fn copy_in(mut self, conn: &mut PgConnection, statement: &str) -> sqlx::Result<u64> {
        debug_assert_eq!(self.written, self.fields, "the last row has {} of {} fields", self.written, self.fields);
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        let mut copy = conn.copy_in_raw(statement).await?;
        let sent = copy.send(self.buf).await.map(|_| ());
        if let Err(e) = sent {
            // Ends the COPY (the connection stays usable) before answering the error.
            copy.abort(e.to_string()).await.ok();
            return Err(e);
        }
        copy.finish().await
    }
}
