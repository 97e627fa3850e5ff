//! EC2's XML answers: `<{Action}Response xmlns=...><requestId/>...</{Action}Response>` for
//! success, `<Response><Errors><Error>...` for failure.

use serde::Serialize;

pub const NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// A list as EC2 renders it: `<nameSet><item>..</item><item>..</item></nameSet>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Items<T> {
    pub item: Vec<T>,
}

impl<T> From<Vec<T>> for Items<T> {
    fn from(item: Vec<T>) -> Self {
        Items { item }
    }
}

#[derive(Serialize)]
struct Envelope<'a, T> {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "requestId")]
    request_id: &'a str,
    #[serde(flatten)]
    body: &'a T,
}

/// Renders a successful answer; `body`'s fields become the children after `<requestId>`.
pub fn render_response<T: Serialize>(
    action: &str,
    request_id: &str,
    body: &T,
) -> Result<String, quick_xml::SeError> {
    let mut out = String::with_capacity(1024);
    out.push_str(DECLARATION);
    let root = format!("{action}Response");
    let serializer = quick_xml::se::Serializer::with_root(&mut out, Some(&root))?;
    Envelope {
        xmlns: NAMESPACE,
        request_id,
        body,
    }
    .serialize(serializer)?;
    Ok(out)
}

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
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Region {
        #[serde(rename = "regionName")]
        region_name: String,
        #[serde(rename = "optInStatus", skip_serializing_if = "Option::is_none")]
        opt_in_status: Option<String>,
    }

    #[derive(Serialize)]
    struct DescribeRegions {
        #[serde(rename = "regionInfo")]
        region_info: Items<Region>,
    }

    #[test]
    fn renders_a_list_answer() {
        let body = DescribeRegions {
            region_info: vec![
                Region {
                    region_name: "us-east-1".into(),
                    opt_in_status: Some("opt-in-not-required".into()),
                },
                Region {
                    region_name: "a<b".into(),
                    opt_in_status: None,
                },
            ]
            .into(),
        };
        assert_eq!(
            render_response("DescribeRegions", "req-1", &body).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <DescribeRegionsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
             <requestId>req-1</requestId>\
             <regionInfo>\
             <item><regionName>us-east-1</regionName><optInStatus>opt-in-not-required</optInStatus></item>\
             <item><regionName>a&lt;b</regionName></item>\
             </regionInfo>\
             </DescribeRegionsResponse>"
        );
    }

    #[test]
    fn renders_an_empty_list_as_an_empty_element() {
        let body = DescribeRegions {
            region_info: Vec::new().into(),
        };
        assert_eq!(
            render_response("DescribeRegions", "r", &body).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <DescribeRegionsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
             <requestId>r</requestId><regionInfo/></DescribeRegionsResponse>"
        );
    }

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
}
