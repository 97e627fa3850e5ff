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
    // Byte by byte: what is replaced is ASCII or a whole 3-byte character (U+FFFE, U+FFFF),
    // so every cut falls on a character boundary; most values are copied in one piece.
    let bytes = text.as_bytes();
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let (replacement, width) = match bytes[i] {
            b'<' => ("&lt;", 1),
            b'>' => ("&gt;", 1),
            b'&' => ("&amp;", 1),
            b'\r' => ("&#xD;", 1),
            b'\t' | b'\n' => {
                i += 1;
                continue;
            }
            0..=0x1f => ("\u{FFFD}", 1),
            0xef if bytes.get(i + 1) == Some(&0xbf)
                && matches!(bytes.get(i + 2), Some(0xbe | 0xbf)) =>
            {
                ("\u{FFFD}", 3)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.push_str(&text[copied..i]);
        out.push_str(replacement);
        i += width;
        copied = i;
    }
    out.push_str(&text[copied..]);
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
