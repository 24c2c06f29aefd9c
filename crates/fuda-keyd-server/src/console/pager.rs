//! Pagination of the console's long lists (documents, ledger rows, audit records): a page
//! number from the query, the slice to show, and the links to the pages around it.

use serde::Deserialize;

/// Rows per page unless the query asks otherwise.
pub const PER_PAGE: usize = 50;
/// The most rows a page shows, whatever the query asks.
pub const MAX_PER_PAGE: usize = 500;

/// The `page` and `per_page` query parameters (1-based page).
#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub struct PageQuery {
    /// The page asked for (1 = first).
    pub page: Option<usize>,
    /// Rows per page.
    pub per_page: Option<usize>,
}

/// Where a list is: which page of how many rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pager {
    /// The page shown (1-based).
    pub page: usize,
    /// Rows per page.
    pub per_page: usize,
    /// Rows in the whole list.
    pub total: usize,
}

impl Pager {
    /// The page `q` asks for over a list of `total` rows (clamped to the pages there are).
    pub fn new(q: PageQuery, total: usize) -> Pager {
        let per_page = q.per_page.unwrap_or(PER_PAGE).clamp(1, MAX_PER_PAGE);
        let last = total.div_ceil(per_page).max(1);
        Pager {
            page: q.page.unwrap_or(1).clamp(1, last),
            per_page,
            total,
        }
    }

    /// The first row of the page (0-based).
    pub fn offset(&self) -> usize {
        (self.page - 1) * self.per_page
    }

    /// How many pages there are (at least 1).
    pub fn pages(&self) -> usize {
        self.total.div_ceil(self.per_page).max(1)
    }

    /// The rows of this page out of the whole list.
    pub fn slice<'a, T>(&self, rows: &'a [T]) -> &'a [T] {
        let start = self.offset().min(rows.len());
        &rows[start..(start + self.per_page).min(rows.len())]
    }

    /// The previous page, if any.
    pub fn prev(&self) -> Option<usize> {
        (self.page > 1).then(|| self.page - 1)
    }

    /// The next page, if any.
    pub fn next(&self) -> Option<usize> {
        (self.page < self.pages()).then(|| self.page + 1)
    }

    /// Rows `first..=last` shown (1-based; `(0, 0)` for an empty list).
    pub fn shown(&self) -> (usize, usize) {
        if self.total == 0 {
            return (0, 0);
        }
        let first = self.offset() + 1;
        (first, (self.offset() + self.per_page).min(self.total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(page: usize) -> PageQuery {
        PageQuery {
            page: Some(page),
            per_page: Some(10),
        }
    }

    #[test]
    fn pages_cover_every_row_once() {
        let rows: Vec<usize> = (0..25).collect();
        let seen: Vec<usize> = (1..=3)
            .flat_map(|p| Pager::new(q(p), rows.len()).slice(&rows).to_vec())
            .collect();
        assert_eq!(seen, rows);
        let last = Pager::new(q(3), 25);
        assert_eq!(
            (last.prev(), last.next(), last.shown()),
            (Some(2), None, (21, 25))
        );
    }

    #[test]
    fn a_page_out_of_range_or_a_hostile_size_is_clamped() {
        assert_eq!(Pager::new(q(99), 25).page, 3);
        assert_eq!(Pager::new(q(0), 25).page, 1);
        let huge = PageQuery {
            page: None,
            per_page: Some(usize::MAX),
        };
        assert_eq!(Pager::new(huge, 10).per_page, MAX_PER_PAGE);
        let empty = Pager::new(PageQuery::default(), 0);
        assert_eq!(
            (empty.pages(), empty.shown(), empty.next()),
            (1, (0, 0), None)
        );
    }
}
