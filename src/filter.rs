//! EC2's filters: `Filter.N.Name` with `Filter.N.Value.M`; values OR-ed within a filter,
//! filters AND-ed; `*` and `?` wildcards, `\` escaping them. A leaf: the engine matches
//! filters in memory with it, the store turns them into SQL with it.

/// One `Filter.N`: a name and the values any of which may match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

/// An EC2 filter value as a LIKE pattern with `\` as escape, or None when it has no wildcard
/// and an equality test will do.
pub fn like_pattern(value: &str) -> Option<String> {
    let mut out = String::with_capacity(value.len() + 2);
    let mut wild = false;
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => {
                wild = true;
                out.push('%');
            }
            '?' => {
                wild = true;
                out.push('_');
            }
            '\\' => push_literal(&mut out, chars.next().unwrap_or('\\')),
            c => push_literal(&mut out, c),
        }
    }
    wild.then_some(out)
}

/// The value with EC2's `\` escapes removed, for an equality test.
pub fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' {
            chars.next().unwrap_or('\\')
        } else {
            c
        });
    }
    out
}

fn push_literal(out: &mut String, c: char) {
    if matches!(c, '%' | '_' | '\\') {
        out.push('\\');
    }
    out.push(c);
}

/// Whether `value` matches `pattern`, where `*` is any run of characters, `?` any one
/// character, and `\` makes the next character literal.
pub fn wildcard_match(pattern: &str, value: &str) -> bool {
    let pattern: Vec<Token> = tokens(pattern);
    let value: Vec<char> = value.chars().collect();
    // Classic greedy matching with one backtrack point: linear in practice, no recursion.
    let (mut p, mut v) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while v < value.len() {
        match pattern.get(p) {
            Some(Token::Any) => {
                p += 1;
                v += 1;
            }
            Some(Token::Literal(c)) if *c == value[v] => {
                p += 1;
                v += 1;
            }
            Some(Token::Star) => {
                star = Some((p, v));
                p += 1;
            }
            _ => match star {
                Some((sp, sv)) => {
                    p = sp + 1;
                    v = sv + 1;
                    star = Some((sp, sv + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|t| *t == Token::Star)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Literal(char),
    Any,
    Star,
}

fn tokens(pattern: &str) -> Vec<Token> {
    let mut out = Vec::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '*' => Token::Star,
            '?' => Token::Any,
            '\\' => Token::Literal(chars.next().unwrap_or('\\')),
            c => Token::Literal(c),
        });
    }
    out
}

/// Whether any of a filter's values matches any of a resource's values for that filter.
pub fn any_match(patterns: &[String], values: &[&str]) -> bool {
    patterns
        .iter()
        .any(|p| values.iter().any(|v| wildcard_match(p, v)))
}

/// Checks every filter name against those a resource knows, giving the first unknown one.
pub fn first_unknown<'a>(filters: &'a [Filter], known: &[&str]) -> Option<&'a str> {
    filters
        .iter()
        .map(|f| f.name.as_str())
        .find(|name| !known.contains(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_on_ec2() {
        assert!(wildcard_match("us-east-1", "us-east-1"));
        assert!(!wildcard_match("us-east-1", "us-east-1a"));
        assert!(wildcard_match("us-*", "us-east-1"));
        assert!(wildcard_match("*-1?", "us-east-1a"));
        assert!(!wildcard_match("*-1?", "us-east-1"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*b*c", "aXXbYYbZc"));
        assert!(!wildcard_match("a*b*c", "aXXbYYbZ"));
        assert!(wildcard_match("\\*lit\\?", "*lit?"));
        assert!(!wildcard_match("\\*lit", "xlit"));
        assert!(wildcard_match("ሴ?", "ሴé"));
    }

    #[test]
    fn values_are_or_ed() {
        let patterns = vec!["a".to_owned(), "b*".to_owned()];
        assert!(any_match(&patterns, &["bee"]));
        assert!(!any_match(&patterns, &["c"]));
        assert!(!any_match(&[], &["c"]));
    }

    #[test]
    fn finds_the_first_unknown_filter() {
        let filters = vec![
            Filter {
                name: "zone-name".into(),
                values: vec![],
            },
            Filter {
                name: "bogus".into(),
                values: vec![],
            },
        ];
        assert_eq!(first_unknown(&filters, &["zone-name"]), Some("bogus"));
        assert_eq!(first_unknown(&filters[..1], &["zone-name"]), None);
    }
}
