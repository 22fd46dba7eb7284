//! The one CSV writer of every file the API answers for Excel (city reports, points reports,
//! the unused-balance report, settlement statements): UTF-8 with a byte order mark so Excel
//! reads the Japanese headers as UTF-8, CRLF line ends, and Excel's quoting (a field holding a
//! comma, a quote or a line end is quoted, quotes doubled).

use crate::error::AppError;

/// The byte order mark Excel needs to open UTF-8 CSV as UTF-8.
pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A whole CSV file for Excel: the header, then the records.
pub(crate) fn csv_for_excel<R, F>(header: &[&str], records: R) -> Result<Vec<u8>, AppError>
where
    R: IntoIterator<Item = Vec<F>>,
    F: AsRef<[u8]>,
{
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(BOM.to_vec());
    out.write_record(header).map_err(csv_err)?;
    for record in records {
        out.write_record(&record).map_err(csv_err)?;
    }
    out.into_inner().map_err(csv_err)
}

fn csv_err(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(format!("csv: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excel_reads_a_bom_crlf_and_quoted_fields() {
        let body = csv_for_excel(&["店舗", "金額"], [vec!["八百屋, 本店", "1\"2"]]).unwrap();
        assert!(body.starts_with(BOM));
        let text = std::str::from_utf8(&body[BOM.len()..]).unwrap();
        assert_eq!(text, "店舗,金額\r\n\"八百屋, 本店\",\"1\"\"2\"\r\n");
    }
}
