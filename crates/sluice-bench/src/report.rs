//! The benchmark report: one section per benchmark, each a table with its exact workload and the
//! ratios that matter, printed as text and written as Markdown to docs/benchmarks.md.

use std::fmt::Write as _;
use std::time::Duration;

/// One benchmark's results.
#[derive(Debug, Clone, Default)]
pub(crate) struct Section {
    /// A short title ("Streaming", "Snapshot", ...).
    pub(crate) title: String,
    /// The exact workload and how it was measured (Markdown).
    pub(crate) workload: String,
    /// The table.
    pub(crate) columns: Vec<String>,
    pub(crate) rows: Vec<Vec<String>>,
    /// Ratios against the targets and other findings, one line each (Markdown).
    pub(crate) findings: Vec<String>,
}

impl Section {
    pub(crate) fn new(title: &str, workload: String, columns: &[&str]) -> Section {
        Section {
            title: title.to_owned(),
            workload,
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows: Vec::new(),
            findings: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as aligned plain text.
    pub(crate) fn text(&self) -> String {
        let mut widths: Vec<usize> = self.columns.iter().map(String::len).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if i < widths.len() {
                    widths[i] = widths[i].max(cell.chars().count());
                }
            }
        }
        let mut out = format!("== {} ==\n", self.title);
        let line = |cells: &[String], out: &mut String| {
            for (i, cell) in cells.iter().enumerate() {
                let w = widths.get(i).copied().unwrap_or(0);
                let pad = w.saturating_sub(cell.chars().count());
                if i == 0 {
                    let _ = write!(out, "{cell}{}", " ".repeat(pad));
                } else {
                    let _ = write!(out, "  {}{cell}", " ".repeat(pad));
                }
            }
            out.push('\n');
        };
        line(&self.columns, &mut out);
        for row in &self.rows {
            line(row, &mut out);
        }
        for finding in &self.findings {
            let _ = writeln!(out, "  * {finding}");
        }
        out
    }

    /// The section as Markdown.
    pub(crate) fn markdown(&self) -> String {
        let mut out = format!("## {}\n\n{}\n\n", self.title, self.workload.trim());
        let _ = writeln!(out, "| {} |", self.columns.join(" | "));
        let _ = writeln!(
            out,
            "|{}",
            self.columns
                .iter()
                .enumerate()
                .map(|(i, _)| if i == 0 { "---|" } else { "---:|" })
                .collect::<String>()
        );
        for row in &self.rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        if !self.findings.is_empty() {
            out.push('\n');
            for finding in &self.findings {
                let _ = writeln!(out, "- {finding}");
            }
        }
        out
    }
}

/// `1234567.8` → `1,234,568`.
pub(crate) fn thousands(value: f64) -> String {
    let n = value.round() as i128;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Seconds with two decimals.
pub(crate) fn seconds(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

/// Bytes as MiB.
pub(crate) fn mib(bytes: u64) -> String {
    format!("{:.0}", bytes as f64 / (1024.0 * 1024.0))
}

/// A ratio as `0.87x`.
pub(crate) fn ratio(value: f64) -> String {
    format!("{value:.2}x")
}

/// Prints a finished section on stdout (the bench's progress is on stderr).
pub(crate) fn print(section: &Section) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", section.text());
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_for_people() {
        assert_eq!(thousands(1_234_567.8), "1,234,568");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(-1000.0), "-1,000");
        assert_eq!(mib(3 * 1024 * 1024), "3");
        assert_eq!(ratio(0.866), "0.87x");
    }

    #[test]
    fn tables_render_as_text_and_markdown() {
        let mut s = Section::new("T", "w".into(), &["system", "events/s"]);
        s.row(vec!["a".into(), "1".into()]);
        s.findings.push("f".into());
        assert_eq!(s.text(), "== T ==\nsystem  events/s\na              1\n  * f\n");
        assert!(s.markdown().contains("| system | events/s |\n|---|---:|\n| a | 1 |\n\n- f\n"));
    }
}
