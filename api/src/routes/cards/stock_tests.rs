//! Unit tests of the import body parser: the accepted input line by line, and what Excel's
//! "CSV UTF-8" saves (a BOM, quoted fields, CRLF line ends, a header).

use super::{parse_codes, ParsedCodes};

fn codes(list: &[&str]) -> Vec<String> {
    list.iter().map(|c| c.to_string()).collect()
}

#[test]
fn one_code_per_line_in_the_first_column() {
    let parsed = parse_codes(b"A1\nB2,ignored,columns\n\"C3\",x\r\n  D4  \n").unwrap();
    assert_eq!(parsed, ParsedCodes { codes: codes(&["A1", "B2", "C3", "D4"]), invalid_lines: vec![], invalid: 0 });
}

#[test]
fn a_card_code_header_is_skipped_only_on_the_first_line() {
    let parsed = parse_codes(b"Card_Code\nA1\ncard_code\n").unwrap();
    assert_eq!(parsed.codes, codes(&["A1", "card_code"]));
}

#[test]
fn blank_lines_are_skipped_and_not_counted() {
    let parsed = parse_codes(b"\nA1\n\n,x\n\"\"\n").unwrap();
    assert_eq!(parsed.codes, codes(&["A1"]));
    assert_eq!(parsed.invalid, 0);
}

#[test]
fn repeated_codes_are_kept_for_the_database_to_count() {
    // The parser streams and holds no set of the codes seen: the insert's `on conflict do
    // nothing` counts a repeat in the file like a code already in stock.
    let parsed = parse_codes(b"A1\nB2\nA1\nA1\n").unwrap();
    assert_eq!(parsed.codes, codes(&["A1", "B2", "A1", "A1"]));
}

#[test]
fn the_reader_hands_codes_over_in_batches() {
    let body = (0..25).map(|i| format!("C{i}\n")).collect::<String>();
    let mut reader = super::CodeReader::new(body.as_bytes());
    let sizes: Vec<usize> =
        std::iter::from_fn(|| Some(reader.next_batch(10).unwrap().len()).filter(|n| *n > 0)).collect();
    assert_eq!(sizes, vec![10, 10, 5]);
}

#[test]
fn invalid_codes_are_counted_with_their_line_numbers() {
    let long = "x".repeat(65);
    let body = format!("A1\nbad code\n{long}\nB2\n");
    let parsed = parse_codes(body.as_bytes()).unwrap();
    assert_eq!(parsed.codes, codes(&["A1", "B2"]));
    assert_eq!(parsed.invalid, 2);
    assert_eq!(parsed.invalid_lines, vec![2, 3]);
}

#[test]
fn only_the_first_100_invalid_lines_are_listed() {
    let body = "a b\n".repeat(150);
    let parsed = parse_codes(body.as_bytes()).unwrap();
    assert_eq!(parsed.invalid, 150);
    assert_eq!(parsed.invalid_lines, (1..=100).collect::<Vec<_>>());
}

#[test]
fn a_body_that_is_not_utf8_is_refused() {
    let e = parse_codes(b"A1\n\xff\xfe\n").unwrap_err();
    assert_eq!(e.field, "body");
    assert_eq!(e.message, "must be UTF-8 text, one code per line");
}

#[test]
fn a_utf8_bom_before_the_first_line_is_not_part_of_a_code() {
    let parsed = parse_codes(b"\xEF\xBB\xBFA1\nB2\n").unwrap();
    assert_eq!(parsed.codes, codes(&["A1", "B2"]));
    assert_eq!(parsed.invalid, 0);
    // The BOM does not hide the header either.
    let parsed = parse_codes(b"\xEF\xBB\xBFcard_code\nA1\n").unwrap();
    assert_eq!(parsed.codes, codes(&["A1"]));
}

#[test]
fn quoted_fields_follow_csv() {
    // A quoted first field may hold the separator, a doubled quote or a line break; the code
    // is what the quotes hold, checked like any other (a comma or a quote is allowed in a
    // code, a line break is not); line numbers are where each record starts.
    let body = b"\"A,1\",x\n\"B\"\"2\"\n\"C\n3\",y\nD4\n\"  E5 \"\n";
    let parsed = parse_codes(body).unwrap();
    assert_eq!(parsed.codes, codes(&["A,1", "B\"2", "D4", "E5"]));
    assert_eq!((parsed.invalid, parsed.invalid_lines.clone()), (1, vec![3]));
}

#[test]
fn crlf_line_ends_leave_no_carriage_return_in_a_code() {
    let parsed = parse_codes(b"A1\r\nB2,x\r\n\r\nC3\r\n").unwrap();
    assert_eq!(parsed.codes, codes(&["A1", "B2", "C3"]));
    assert_eq!(parsed.invalid, 0);
}

#[test]
fn an_excel_csv_utf8_file_with_a_header_imports_its_codes() {
    // What Excel writes for a sheet with a header row and a second column: BOM, CRLF, quotes
    // where a field needs them.
    let body = b"\xEF\xBB\xBFcard_code,note\r\nX100,first\r\n\"X200\",\"with, comma\"\r\nX100,again\r\n";
    let parsed = parse_codes(body).unwrap();
    assert_eq!(parsed, ParsedCodes { codes: codes(&["X100", "X200", "X100"]), invalid_lines: vec![], invalid: 0 });
}
