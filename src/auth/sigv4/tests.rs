//! AWS's published SigV4 examples (the aws-sig-v4-test-suite and the IAM ListUsers example of
//! the General Reference), then the checks that need no secret.

use super::*;
use http::HeaderValue;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SUITE: Expected<'static> = Expected {
    region: "us-east-1",
    service: "service",
};

fn at(amz_date: &str) -> DateTime<Utc> {
    parse_amz_date(amz_date).unwrap()
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

fn request<'a>(
    method: &'a str,
    query: &'a str,
    headers: &'a HeaderMap,
    body: &'a [u8],
) -> SignedRequest<'a> {
    SignedRequest {
        method,
        path: "/",
        query,
        headers,
        body,
    }
}

#[test]
fn derives_the_documented_signing_key() {
    assert_eq!(
        hex::encode(signing_key(SECRET, "20150830", "us-east-1", "iam")),
        "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    );
}

#[test]
fn get_vanilla() {
    let sig = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
    let h = headers(&[
        ("host", "example.amazonaws.com"),
        ("x-amz-date", "20150830T123600Z"),
        ("authorization", &format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature={sig}")),
    ]);
    let req = request("GET", "", &h, b"");
    let claim = parse(&req, SUITE, at("20150830T123600Z")).unwrap();
    assert_eq!(
        canonical_request(&req, &claim),
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        string_to_sign(
            &claim.amz_date,
            claim.scope(),
            &canonical_request(&req, &claim)
        ),
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
         bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
    );
    assert_eq!(verify(&req, &claim, SECRET), Ok(()));
    assert_eq!(claim.access_key_id(), "AKIDEXAMPLE");
}

#[test]
fn get_vanilla_query_order_key_case() {
    let sig = "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500";
    let h = headers(&[
        ("host", "example.amazonaws.com"),
        ("x-amz-date", "20150830T123600Z"),
        ("authorization", &format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature={sig}")),
    ]);
    let req = request("GET", "Param2=value2&Param1=value1", &h, b"");
    let claim = parse(&req, SUITE, at("20150830T123600Z")).unwrap();
    assert!(canonical_request(&req, &claim).starts_with("GET\n/\nParam1=value1&Param2=value2\n"));
    assert_eq!(verify(&req, &claim, SECRET), Ok(()));
}

#[test]
fn post_x_www_form_urlencoded_hashes_the_body() {
    let sig = "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a";
    let h = headers(&[
        ("content-type", "application/x-www-form-urlencoded"),
        ("host", "example.amazonaws.com"),
        ("x-amz-date", "20150830T123600Z"),
        ("authorization", &format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature={sig}")),
    ]);
    let req = request("POST", "", &h, b"Param1=value1");
    let claim = parse(&req, SUITE, at("20150830T123600Z")).unwrap();
    assert_eq!(
        canonical_request(&req, &claim),
        "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\n\
         x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n\
         9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
    );
    assert_eq!(verify(&req, &claim, SECRET), Ok(()));
    let tampered = request("POST", "", &h, b"Param1=value2");
    assert!(matches!(
        verify(&tampered, &claim, SECRET),
        Err(AuthError::SignatureDoesNotMatch(_))
    ));
}

#[test]
fn iam_list_users_example() {
    let sig = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
    let h = headers(&[
        ("content-type", "application/x-www-form-urlencoded; charset=utf-8"),
        ("host", "iam.amazonaws.com"),
        ("x-amz-date", "20150830T123600Z"),
        ("authorization", &format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature={sig}")),
    ]);
    let req = request("GET", "Action=ListUsers&Version=2010-05-08", &h, b"");
    let expected = Expected {
        region: "us-east-1",
        service: "iam",
    };
    let claim = parse(&req, expected, at("20150830T123600Z")).unwrap();
    assert_eq!(
        canonical_request(&req, &claim),
        "GET\n/\nAction=ListUsers&Version=2010-05-08\n\
         content-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\n\
         x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(verify(&req, &claim, SECRET), Ok(()));
    assert!(matches!(
        verify(&req, &claim, "not-the-secret"),
        Err(AuthError::SignatureDoesNotMatch(_))
    ));
}

fn vanilla_with(auth: &str, date: &str) -> HeaderMap {
    headers(&[
        ("host", "example.amazonaws.com"),
        ("x-amz-date", date),
        ("authorization", auth),
    ])
}

const GOOD_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

#[test]
fn no_signature_is_anonymous() {
    let h = headers(&[("host", "example.amazonaws.com")]);
    let req = request("GET", "Action=DescribeRegions", &h, b"");
    assert_eq!(
        parse(&req, SUITE, at("20150830T123600Z")),
        Err(AuthError::MissingAuthenticationToken)
    );
}

#[test]
fn malformed_headers_are_incomplete() {
    for auth in [
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, Signature=abc",
        "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=abc",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1, SignedHeaders=host;x-amz-date, Signature=abc",
        "AWS3 Credential=x",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=x-amz-date, Signature=abc",
    ] {
        let h = vanilla_with(auth, "20150830T123600Z");
        let got = parse(&request("GET", "", &h, b""), SUITE, at("20150830T123600Z"));
        assert!(matches!(got, Err(AuthError::IncompleteSignature(_))), "{auth}: {got:?}");
    }
    let h = vanilla_with(GOOD_AUTH, "2015-08-30T12:36:00Z");
    assert!(matches!(
        parse(&request("GET", "", &h, b""), SUITE, at("20150830T123600Z")),
        Err(AuthError::IncompleteSignature(_))
    ));
}

#[test]
fn the_exact_incomplete_message_names_what_is_missing() {
    let auth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";
    let h = headers(&[("host", "h"), ("authorization", auth)]);
    assert_eq!(
        parse(&request("GET", "", &h, b""), SUITE, at("20150830T123600Z")),
        Err(AuthError::IncompleteSignature(format!(
            "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. \
             Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={auth}"
        )))
    );
}

#[test]
fn unsigned_amz_headers_are_refused() {
    let mut h = vanilla_with(GOOD_AUTH, "20150830T123600Z");
    h.insert("x-amz-security-token", HeaderValue::from_static("t"));
    assert_eq!(
        parse(&request("GET", "", &h, b""), SUITE, at("20150830T123600Z")),
        Err(AuthError::IncompleteSignature(
            "'x-amz-security-token' must be a signed header field.".into()
        ))
    );
}

#[test]
fn fifteen_minutes_of_skew_either_way() {
    let h = vanilla_with(GOOD_AUTH, "20150830T123600Z");
    let req = request("GET", "", &h, b"");
    assert!(parse(&req, SUITE, at("20150830T125100Z")).is_ok());
    assert!(parse(&req, SUITE, at("20150830T122100Z")).is_ok());
    assert_eq!(
        parse(&req, SUITE, at("20150830T125101Z")),
        Err(AuthError::RequestExpired(
            "Request has expired. Timestamp date is 20150830T123600Z, server time is 20150830T125101Z".into()
        ))
    );
    assert!(matches!(
        parse(&req, SUITE, at("20150830T122059Z")),
        Err(AuthError::RequestExpired(_))
    ));
}

#[test]
fn scope_must_name_our_region_and_service() {
    let h = vanilla_with(GOOD_AUTH, "20150830T123600Z");
    let req = request("GET", "", &h, b"");
    let other_region = Expected {
        region: "eu-west-1",
        service: "service",
    };
    assert_eq!(
        parse(&req, other_region, at("20150830T123600Z")),
        Err(AuthError::SignatureDoesNotMatch(
            "Credential should be scoped to a valid region, not 'us-east-1'. ".into()
        ))
    );
    let other_service = Expected {
        region: "us-east-1",
        service: "ec2",
    };
    assert_eq!(
        parse(&req, other_service, at("20150830T123600Z")),
        Err(AuthError::SignatureDoesNotMatch(
            "Credential should be scoped to correct service: 'ec2'. ".into()
        ))
    );
}

/// A presigned URL made by the aws-sigv4 crate, the signer of AWS's Rust SDK.
fn presigned_query(expires: std::time::Duration, signed_at: &str) -> String {
    presigned_query_for("GET", expires, signed_at)
}

fn presigned_query_for(method: &str, expires: std::time::Duration, signed_at: &str) -> String {
    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{
        sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    };
    use aws_sigv4::sign::v4;

    let identity = Credentials::new("AKIDEXAMPLE", SECRET, None, None, "test").into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(expires);
    let time = std::time::SystemTime::from(at(signed_at));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("ec2")
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let url =
        "https://ec2.example.com/?Action=DescribeRegions&Version=2016-11-15&RegionName.1=us%20east";
    let signable = SignableRequest::new(
        method,
        url,
        [("host", "ec2.example.com")].into_iter(),
        SignableBody::Bytes(b""),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut req = http::Request::builder().uri(url).body(()).unwrap();
    instructions.apply_to_request_http1x(&mut req);
    req.uri().query().unwrap().to_owned()
}

#[test]
fn presigned_urls_verify_until_they_expire() {
    let ec2 = Expected {
        region: "us-east-1",
        service: "ec2",
    };
    let query = presigned_query(std::time::Duration::from_secs(300), "20150830T123600Z");
    let h = headers(&[("host", "ec2.example.com")]);
    let req = request("GET", &query, &h, b"");
    let claim = parse(&req, ec2, at("20150830T124000Z")).unwrap();
    assert_eq!(claim.location, Location::Query);
    assert_eq!(verify(&req, &claim, SECRET), Ok(()));
    assert!(matches!(
        verify(&req, &claim, "wrong"),
        Err(AuthError::SignatureDoesNotMatch(_))
    ));
    assert!(matches!(
        parse(&req, ec2, at("20150830T124101Z")),
        Err(AuthError::RequestExpired(_))
    ));
    let tampered = query.replace("RegionName.1=us%20east", "RegionName.1=us%20west");
    let req = request("GET", &tampered, &h, b"");
    let claim = parse(&req, ec2, at("20150830T124000Z")).unwrap();
    assert!(matches!(
        verify(&req, &claim, SECRET),
        Err(AuthError::SignatureDoesNotMatch(_))
    ));
}

#[test]
fn a_presigned_url_signed_for_post_may_be_fetched_with_get() {
    let ec2 = Expected {
        region: "us-east-1",
        service: "ec2",
    };
    let query = presigned_query_for(
        "POST",
        std::time::Duration::from_secs(300),
        "20150830T123600Z",
    );
    let h = headers(&[("host", "ec2.example.com")]);
    let get = request("GET", &query, &h, b"");
    let claim = parse(&get, ec2, at("20150830T123700Z")).unwrap();
    assert_eq!(verify(&get, &claim, SECRET), Ok(()));
    // Only presigned GETs get the second reading; a header-signed GET must match as GET.
    let mut header_claim = claim.clone();
    header_claim.location = Location::Header;
    assert!(matches!(
        verify(&get, &header_claim, SECRET),
        Err(AuthError::SignatureDoesNotMatch(_))
    ));
    let delete = request("DELETE", &query, &h, b"");
    assert!(matches!(
        verify(&delete, &claim, SECRET),
        Err(AuthError::SignatureDoesNotMatch(_))
    ));
}
