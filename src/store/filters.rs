//! EC2 filters as SQL, so a Describe over many rows reads only the rows it answers with.
//! Exact values compare with `=`; `*` and `?` become LIKE's `%` and `_` (case-sensitive on
//! both backends: SQLite's LIKE is made so per connection).

use diesel::dsl::sql;
use diesel::expression::BoxableExpression;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use super::MultiBackend;
pub use crate::filter::Filter;
use crate::filter::{like_pattern, unescape};

/// A boxed SQL predicate over `$table`: true if `$column` matches any of `$values` (EC2
/// filter values, OR-ed). Exact values become one `IN`, wildcards `LIKE`s; no constant is
/// OR-ed in, so the planner can still use an index. Written as a macro so each call site
/// keeps its concrete column type.
macro_rules! text_matches {
    ($table:ty, $column:expr, $values:expr) => {{
        use diesel::prelude::*;
        type Predicate = Box<
            dyn diesel::expression::BoxableExpression<
                $table,
                crate::store::MultiBackend,
                SqlType = diesel::sql_types::Bool,
            >,
        >;
        let mut exact: Vec<String> = Vec::new();
        let mut patterns: Vec<String> = Vec::new();
        for value in $values.iter() {
            match $crate::filter::like_pattern(value) {
                Some(pattern) => patterns.push(pattern),
                None => exact.push($crate::filter::unescape(value)),
            }
        }
        let mut predicate: Option<Predicate> = match exact.len() {
            0 => None,
            1 => Some(Box::new($column.eq(exact.remove(0)))),
            _ => Some(Box::new($column.eq_any(exact))),
        };
        for pattern in patterns {
            // The escape is spelt as a literal: SQLite plans a LIKE on an index only when it
            // is not a bound parameter, which Diesel's `.escape()` makes it.
            let escaped = diesel::dsl::sql::<diesel::sql_types::Text>("")
                .bind::<diesel::sql_types::Text, _>(pattern)
                .sql(" ESCAPE '\\'");
            let like: Predicate = Box::new($column.like(escaped));
            predicate = Some(match predicate {
                Some(p) => Box::new(p.or(like)),
                None => like,
            });
        }
        predicate.unwrap_or_else(|| Box::new(diesel::dsl::sql::<diesel::sql_types::Bool>("1 = 0")))
    }};
}

/// A constant predicate, for filters on values every row shares (e.g. `virtualization-type`).
macro_rules! constant {
    ($table:ty, $holds:expr) => {{
        let predicate: Box<
            dyn diesel::expression::BoxableExpression<
                $table,
                crate::store::MultiBackend,
                SqlType = diesel::sql_types::Bool,
            >,
        > = Box::new(diesel::dsl::sql::<diesel::sql_types::Bool>(if $holds {
            "1 = 1"
        } else {
            "1 = 0"
        }));
        predicate
    }};
}

/// A predicate for one tag filter: `tag:KEY` (values match that key's value), `tag-key`
/// (values match a key) or `tag-value`, among the tags `account` put on its resources.
/// `id_column` is the outer table's resource id column, qualified (`images.image_id`). Each
/// value is a subquery on the tags index that does not depend on the outer row. Written in
/// SQL because Diesel cannot box a subquery for a MultiConnection.
/// `id_column IN (subquery op value) OR ...` for each of the filter's values, where `subquery`
/// ends with the column compared (`SELECT x FROM t WHERE c`): a filter on rows of another table
/// that belong to the resource.
pub fn member_predicate<QS: 'static>(
    id_column: &'static str,
    subquery: &'static str,
    values: &[String],
) -> Box<dyn BoxableExpression<QS, MultiBackend, SqlType = Bool>> {
    type Predicate<QS> = Box<dyn BoxableExpression<QS, MultiBackend, SqlType = Bool>>;
    let mut predicate: Option<Predicate<QS>> = None;
    for value in values {
        let piece: Predicate<QS> = match like_pattern(value) {
            Some(pattern) => Box::new(
                sql::<Bool>(&format!("{id_column} IN ({subquery} LIKE "))
                    .bind::<Text, _>(pattern)
                    .sql(" ESCAPE '\\')"),
            ),
            None => Box::new(
                sql::<Bool>(&format!("{id_column} IN ({subquery} = "))
                    .bind::<Text, _>(unescape(value))
                    .sql(")"),
            ),
        };
        predicate = Some(match predicate {
            Some(p) => Box::new(p.or(piece)),
            None => piece,
        });
    }
    predicate.unwrap_or_else(|| Box::new(sql::<Bool>("1 = 0")))
}

pub fn tag_predicate<QS: 'static>(
    id_column: &'static str,
    account: &str,
    filter: &Filter,
) -> Box<dyn BoxableExpression<QS, MultiBackend, SqlType = Bool>> {
    let (key, column) = match filter.name.strip_prefix("tag:") {
        Some(key) => (Some(key.to_owned()), "tag_value"),
        None if filter.name == "tag-key" => (None, "tag_key"),
        None => (None, "tag_value"),
    };
    type Predicate<QS> = Box<dyn BoxableExpression<QS, MultiBackend, SqlType = Bool>>;
    // No constant is OR-ed in: `1 = 0 OR x IN (...)` keeps SQLite off the index.
    let mut predicate: Option<Predicate<QS>> = None;
    for value in &filter.values {
        let (operator, operand) = match like_pattern(value) {
            Some(pattern) => (" LIKE ", pattern),
            None => (" = ", unescape(value)),
        };
        let escape = if operator == " LIKE " {
            " ESCAPE '\\'"
        } else {
            ""
        };
        let head = sql::<Bool>(&format!(
            "{id_column} IN (SELECT resource_id FROM tags WHERE account_id = "
        ))
        .bind::<Text, _>(account.to_owned());
        let piece: Box<dyn BoxableExpression<QS, MultiBackend, SqlType = Bool>> = match &key {
            Some(key) => Box::new(
                head.sql(" AND tag_key = ")
                    .bind::<Text, _>(key.clone())
                    .sql(&format!(" AND {column}{operator}"))
                    .bind::<Text, _>(operand)
                    .sql(&format!("{escape})")),
            ),
            None => Box::new(
                head.sql(&format!(" AND {column}{operator}"))
                    .bind::<Text, _>(operand)
                    .sql(&format!("{escape})")),
            ),
        };
        predicate = Some(match predicate {
            Some(p) => Box::new(p.or(piece)),
            None => piece,
        });
    }
    predicate.unwrap_or_else(|| Box::new(sql::<Bool>("1 = 0")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_become_like_patterns() {
        assert_eq!(like_pattern("web-*"), Some("web-%".into()));
        assert_eq!(like_pattern("a?c"), Some("a_c".into()));
        assert_eq!(like_pattern("100%_*"), Some("100\\%\\_%".into()));
        assert_eq!(like_pattern("\\*literal*"), Some("*literal%".into()));
        assert_eq!(like_pattern("plain"), None);
        assert_eq!(like_pattern("\\*"), None);
        assert_eq!(unescape("\\*lit\\?\\\\"), "*lit?\\");
    }
}
