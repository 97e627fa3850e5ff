//! EC2's XML answers: `<{Action}Response xmlns=...><requestId/>...</{Action}Response>` for
//! success, `<Response><Errors><Error>...` for failure.

pub const NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

pub const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Renders EC2's error envelope. Note the capital `RequestID`, unlike success answers.
pub fn render_error(code: &str, message: &str, request_id: &str) -> String {
    let mut out = String::with_capacity(256 + message.len());
    out.push_str(DECLARATION);
    out.push_str("<Response><Errors><Error><Code>");
    escape_into(&mut out, code);
    out.push_str("</Code><Message>");
    escape_into(&mut out, message);
    out.push_str("</Message></Error></Errors><RequestID>");
    escape_into(&mut out, request_id);
    out.push_str("</RequestID></Response>");
    out
}

/// Escapes text content; quotes need no escaping outside attributes, and AWS leaves them be.
/// `>` is escaped too, so no value can close a CDATA section (`]]>`). A carriage return is
/// written `&#xD;`: XML parsers turn a literal one (and CR LF) into LF, so a value holding one
/// would read back changed. Characters XML 1.0 cannot carry at all (most C0 controls, U+FFFE,
/// U+FFFF; a Rust string holds no surrogates) become U+FFFD, so that no value can make an
/// answer unparseable.
pub fn escape_into(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(i) = rest.find(|c: char| matches!(c, '<' | '>' | '&' | '\r') || is_unwritable(c))
    {
        out.push_str(&rest[..i]);
        let c = rest[i..].chars().next().unwrap_or('\u{FFFD}');
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\r' => out.push_str("&#xD;"),
            _ => out.push('\u{FFFD}'),
        }
        rest = &rest[i + c.len_utf8()..];
    }
    out.push_str(rest);
}

fn is_unwritable(c: char) -> bool {
    (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_error_envelope() {
        assert_eq!(
            render_error(
                "InvalidAction",
                "The action 'Foo&Bar' is not <valid>",
                "req-2"
            ),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <Response><Errors><Error><Code>InvalidAction</Code>\
             <Message>The action 'Foo&amp;Bar' is not &lt;valid&gt;</Message></Error></Errors>\
             <RequestID>req-2</RequestID></Response>"
        );
    }

    #[test]
    fn text_is_escaped_and_unwritable_characters_replaced() {
        let mut out = String::new();
        escape_into(&mut out, "a<b>&c\u{0}d\te\u{1b}\u{FFFF}é\"'");
        assert_eq!(out, "a&lt;b&gt;&amp;c\u{FFFD}d\te\u{FFFD}\u{FFFD}é\"'");
    }

    #[test]
    fn carriage_returns_and_cdata_ends_survive_a_parser() {
        // A parser reads a literal CR (or CR LF) as LF; `&#xD;` reads back as CR. `]]>` may
        // not stand in text at all.
        let mut out = String::new();
        escape_into(&mut out, "a\r\nb\rc]]>d\u{FFFE}\u{10FFFF}\u{7f}\u{85}");
        assert_eq!(out, "a&#xD;\nb&#xD;c]]&gt;d\u{FFFD}\u{10FFFF}\u{7f}\u{85}");
    }
}
