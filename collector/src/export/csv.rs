//! CSV of the verdict rows (one line per checklist row on the form) or of
//! the findings report (one line per finding). Starts
//! with a UTF-8 byte order mark so that spreadsheet programs read the Korean
//! text as UTF-8.

pub fn render<T: serde::Serialize>(rows: &[T]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer("\u{feff}".as_bytes().to_vec());
    for r in rows {
        w.serialize(r)?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}
