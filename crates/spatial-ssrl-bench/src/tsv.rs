//! VLMEvalKit's benchmark TSV files: a header row, tab-separated cells, pandas-style quoting
//! (a cell holding a tab, newline or quote is wrapped in `"` with inner quotes doubled).
//! Empty cells are pandas' NaN and read as absent.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A parsed TSV file.
pub(crate) struct Table {
    pub path: PathBuf,
    pub columns: HashMap<String, usize>,
    /// `(1-based line where the row starts, cells)`.
    pub rows: Vec<(usize, Vec<String>)>,
}

impl Table {
    pub fn read(path: &Path) -> Result<Table> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Table> {
        let mut records = split_records(path, text.strip_prefix('\u{feff}').unwrap_or(text))?;
        if records.is_empty() {
            return Err(Error::Empty {
                path: path.to_path_buf(),
            });
        }
        let (_, header) = records.remove(0);
        let width = header.len();
        for (line, cells) in &records {
            if cells.len() != width {
                return Err(Error::RowWidth {
                    path: path.to_path_buf(),
                    line: *line,
                    expected: width,
                    got: cells.len(),
                });
            }
        }
        if records.is_empty() {
            return Err(Error::Empty {
                path: path.to_path_buf(),
            });
        }
        let columns = header
            .into_iter()
            .enumerate()
            .map(|(i, h)| (h.trim().to_string(), i))
            .collect();
        Ok(Table {
            path: path.to_path_buf(),
            columns,
            rows: records,
        })
    }

    /// Errors unless every named column exists.
    pub fn require(&self, cols: &[&str]) -> Result<()> {
        for c in cols {
            if !self.columns.contains_key(*c) {
                return Err(Error::MissingColumn {
                    path: self.path.clone(),
                    column: (*c).to_string(),
                });
            }
        }
        Ok(())
    }

    pub fn has(&self, col: &str) -> bool {
        self.columns.contains_key(col)
    }

    /// A non-empty cell of row `r`.
    pub fn get(&self, r: usize, col: &str) -> Option<&str> {
        let i = *self.columns.get(col)?;
        let v = self.rows[r].1[i].as_str();
        (!v.is_empty()).then_some(v)
    }

    /// A required cell: a missing value is a typed error naming the record.
    pub fn need(&self, r: usize, col: &str) -> Result<&str> {
        self.get(r, col).ok_or_else(|| Error::MissingField {
            path: self.path.clone(),
            record: r,
            field: col.to_string(),
        })
    }
}

fn split_records(path: &Path, text: &str) -> Result<Vec<(usize, Vec<String>)>> {
    let mut out = Vec::new();
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut line = 1usize;
    let mut start_line = 1usize;
    let mut chars = text.chars().peekable();
    let mut at_cell_start = true;
    while let Some(c) = chars.next() {
        match c {
            '"' if at_cell_start => {
                let quote_line = line;
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            cell.push('"');
                        }
                        Some('"') => break,
                        Some(ch) => {
                            if ch == '\n' {
                                line += 1;
                            }
                            cell.push(ch);
                        }
                        None => {
                            return Err(Error::UnterminatedQuote {
                                path: path.to_path_buf(),
                                line: quote_line,
                            });
                        }
                    }
                }
                at_cell_start = false;
            }
            '\t' => {
                cells.push(std::mem::take(&mut cell));
                at_cell_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                cells.push(std::mem::take(&mut cell));
                if !(cells.len() == 1 && cells[0].is_empty()) {
                    out.push((start_line, std::mem::take(&mut cells)));
                }
                cells.clear();
                line += 1;
                start_line = line;
                at_cell_start = true;
            }
            _ => {
                cell.push(c);
                at_cell_start = false;
            }
        }
    }
    if !cell.is_empty() || !cells.is_empty() {
        cells.push(cell);
        out.push((start_line, cells));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_cells_keep_tabs_newlines_and_quotes() {
        let t = Table::parse(
            Path::new("x.tsv"),
            "index\tquestion\n1\t\"a\tb\nc \"\"q\"\"\"\n2\tplain\r\n",
        )
        .unwrap();
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.get(0, "question"), Some("a\tb\nc \"q\""));
        assert_eq!(t.rows[1].0, 4);
        assert_eq!(t.get(1, "question"), Some("plain"));
    }

    #[test]
    fn errors_are_typed() {
        let p = Path::new("x.tsv");
        assert!(matches!(
            Table::parse(p, "a\tb\n1\t2\t3\n"),
            Err(Error::RowWidth {
                line: 2,
                expected: 2,
                got: 3,
                ..
            })
        ));
        assert!(matches!(
            Table::parse(p, "a\tb\n1\t\"oops\n"),
            Err(Error::UnterminatedQuote { line: 2, .. })
        ));
        assert!(matches!(
            Table::parse(p, "a\tb\n"),
            Err(Error::Empty { .. })
        ));
        let t = Table::parse(p, "a\tb\n1\t\n").unwrap();
        assert!(
            matches!(t.require(&["a", "c"]), Err(Error::MissingColumn { column, .. }) if column == "c")
        );
        assert!(matches!(
            t.need(0, "b"),
            Err(Error::MissingField { record: 0, .. })
        ));
    }
}
