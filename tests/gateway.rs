//! The gateway core through real HTTP: requests signed by aws-sigv4 (the Rust SDK's signer),
//! answers checked against exact EC2 XML and error codes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::SignatureLocation;
use bytes::Bytes;
use common::start;
use ec2gw::engine::accounts::{Admin, KeyStatus};
use http::HeaderValue;
use http_body_util::Full;

const DESCRIBE_REGIONS: &str = "Action=DescribeRegions&Version=2016-11-15";

#[tokio::test(flavor = "multi_thread")]
async fn describe_regions_answers_exact_xml() {
    let gw = start().await;
    let answer = gw.post(DESCRIBE_REGIONS).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.headers.get("content-type").unwrap(),
        "text/xml;charset=UTF-8"
    );
    assert_eq!(answer.request_id().len(), 36);
    assert_eq!(
        answer.body,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <DescribeRegionsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
             <requestId>{}</requestId><regionInfo><item>\
             <optInStatus>opt-in-not-required</optInStatus><regionName>us-east-1</regionName>\
             <regionEndpoint>{}</regionEndpoint></item></regionInfo></DescribeRegionsResponse>",
            answer.request_id(),
            gw.host
        )
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn describe_availability_zones_filters_and_names() {
    let gw = start().await;
    let answer = gw
        .post("Action=DescribeAvailabilityZones&Version=2016-11-15&Filter.1.Name=zone-id&Filter.1.Value.1=*az2")
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <DescribeAvailabilityZonesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
             <requestId>{}</requestId><availabilityZoneInfo><item>\
             <optInStatus>opt-in-not-required</optInStatus><messageSet/>\
             <regionName>us-east-1</regionName><zoneName>us-east-1b</zoneName>\
             <zoneId>use1-az2</zoneId><groupName>us-east-1</groupName>\
             <networkBorderGroup>us-east-1</networkBorderGroup><zoneType>availability-zone</zoneType>\
             <zoneState>available</zoneState></item></availabilityZoneInfo>\
             </DescribeAvailabilityZonesResponse>",
            answer.request_id()
        )
    );
    let unknown = gw
        .post("Action=DescribeAvailabilityZones&Version=2016-11-15&ZoneName.1=us-east-1z")
        .await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (400, "InvalidParameterValue")
    );
    assert_eq!(unknown.message(), "Invalid availability zone: [us-east-1z]");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn describe_account_attributes_by_name() {
    let gw = start().await;
    let answer = gw
        .post("Action=DescribeAccountAttributes&Version=2016-11-15&AttributeName.1=supported-platforms&AttributeName.2=default-vpc")
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let vpc = gw
        .post(
            "Action=DescribeVpcs&Version=2016-11-15&Filter.1.Name=isDefault&Filter.1.Value.1=true",
        )
        .await;
    assert_eq!(vpc.status, 200, "{}", vpc.body);
    let vpc_id = vpc
        .body
        .split_once("<vpcId>")
        .and_then(|(_, rest)| rest.split_once("</vpcId>"))
        .map(|(id, _)| id)
        .unwrap();
    assert!(vpc_id.starts_with("vpc-") && vpc_id.len() == 21, "{vpc_id}");
    assert!(answer.body.contains(&format!(
        "<accountAttributeSet><item><attributeName>supported-platforms</attributeName>\
         <attributeValueSet><item><attributeValue>VPC</attributeValue></item></attributeValueSet></item>\
         <item><attributeName>default-vpc</attributeName><attributeValueSet><item>\
         <attributeValue>{vpc_id}</attributeValue></item></attributeValueSet></item></accountAttributeSet>"
    )), "{}", answer.body);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_get_and_presigned_get_work() {
    let gw = start().await;
    let signer = gw.signer();
    let get = gw
        .send(gw.signed(
            "GET",
            "/?Action=DescribeRegions&Version=2016-11-15",
            b"",
            &signer,
        ))
        .await;
    assert_eq!(get.status, 200, "{}", get.body);

    let mut presign = gw.signer();
    presign.location = SignatureLocation::QueryParams;
    presign.expires_in = Some(Duration::from_secs(300));
    let url = gw.signed(
        "GET",
        "/?Action=DescribeRegions&Version=2016-11-15",
        b"",
        &presign,
    );
    assert!(url.uri().query().unwrap().contains("X-Amz-Signature="));
    assert!(url.headers().get("authorization").is_none());
    let answer = gw.send(url).await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    presign.time = SystemTime::now() - Duration::from_secs(400);
    let expired = gw
        .send(gw.signed(
            "GET",
            "/?Action=DescribeRegions&Version=2016-11-15",
            b"",
            &presign,
        ))
        .await;
    assert_eq!((expired.status, expired.code()), (400, "RequestExpired"));
    assert_eq!(expired.message(), "Request has expired.");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn authentication_failures_get_ec2s_codes() {
    let gw = start().await;

    let mut wrong_secret = gw.signer();
    wrong_secret.secret = "x".repeat(40);
    let a = gw.post_as(DESCRIBE_REGIONS, &wrong_secret).await;
    assert_eq!((a.status, a.code()), (403, "SignatureDoesNotMatch"));

    let mut unknown = gw.signer();
    unknown.access_key_id = "AKIAAAAAAAAAAAAAAAAA".into();
    let a = gw.post_as(DESCRIBE_REGIONS, &unknown).await;
    assert_eq!((a.status, a.code()), (401, "AuthFailure"));
    assert_eq!(
        a.message(),
        "AWS was not able to validate the provided access credentials"
    );

    let mut stale = gw.signer();
    stale.time = SystemTime::now() - Duration::from_secs(16 * 60);
    let a = gw.post_as(DESCRIBE_REGIONS, &stale).await;
    assert_eq!(
        (a.status, a.code(), a.message()),
        (400, "RequestExpired", "Request has expired.")
    );
    stale.time = SystemTime::now() + Duration::from_secs(16 * 60);
    let a = gw.post_as(DESCRIBE_REGIONS, &stale).await;
    assert_eq!((a.status, a.code()), (400, "RequestExpired"));
    stale.time = SystemTime::now() - Duration::from_secs(14 * 60);
    assert_eq!(gw.post_as(DESCRIBE_REGIONS, &stale).await.status, 200);

    let mut other_region = gw.signer();
    other_region.region = "eu-west-1".into();
    let a = gw.post_as(DESCRIBE_REGIONS, &other_region).await;
    assert_eq!((a.status, a.code()), (403, "SignatureDoesNotMatch"));
    assert_eq!(
        a.message(),
        "Credential should be scoped to a valid region, not 'eu-west-1'. "
    );

    let mut tampered = gw.signed("POST", "/", DESCRIBE_REGIONS.as_bytes(), &gw.signer());
    *tampered.body_mut() = Full::new(Bytes::from_static(
        b"Action=DescribeRegions&Version=2016-11-15&RegionName.1=us-east-1",
    ));
    let a = gw.send(tampered).await;
    assert_eq!((a.status, a.code()), (403, "SignatureDoesNotMatch"));

    let mut malformed = gw.signed("POST", "/", DESCRIBE_REGIONS.as_bytes(), &gw.signer());
    malformed.headers_mut().insert(
        "authorization",
        HeaderValue::from_static(
            "AWS4-HMAC-SHA256 Credential=AKIAAAAAAAAAAAAAAAAA/20261123/us-east-1/ec2/aws4_request",
        ),
    );
    let a = gw.send(malformed).await;
    assert_eq!((a.status, a.code()), (400, "IncompleteSignature"));

    let mut unsigned = gw.signed("POST", "/", DESCRIBE_REGIONS.as_bytes(), &gw.signer());
    unsigned.headers_mut().remove("authorization");
    let a = gw.send(unsigned).await;
    assert_eq!((a.status, a.code()), (400, "MissingParameter"));
    assert_eq!(
        a.message(),
        "The request must contain the parameter AWSAccessKeyId"
    );

    let key_id = gw.key.access_key_id.clone();
    let store = gw.store.clone();
    tokio::task::spawn_blocking(move || {
        Admin { store: &store }
            .set_key_status(&key_id, KeyStatus::Inactive)
            .unwrap()
    })
    .await
    .unwrap();
    // Signing keys are cached for up to 5 s (auth::cache::TTL): a disabled key is refused
    // within that, as IAM's changes reach AWS's endpoints within seconds.
    let disabled = std::time::Instant::now();
    let a = loop {
        let a = gw.post(DESCRIBE_REGIONS).await;
        if a.status != 200 || disabled.elapsed() > Duration::from_secs(7) {
            break a;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((a.status, a.code()), (401, "AuthFailure"));
    assert!(disabled.elapsed() <= ec2gw::auth::cache::TTL + Duration::from_millis(500));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn request_errors_get_ec2s_codes() {
    let gw = start().await;
    let cases = [
        (
            "Version=2016-11-15",
            400,
            "MissingAction",
            "The request must contain the parameter Action",
        ),
        (
            "Action=DescribeFoo&Version=2016-11-15",
            400,
            "InvalidAction",
            "The action DescribeFoo is not valid for this web service.",
        ),
        (
            "Action=DescribeRegions&Version=2014-02-01",
            400,
            "NoSuchVersion",
            "The requested version (2014-02-01) of service AmazonEC2 does not exist",
        ),
        (
            "Action=DescribeRegions",
            400,
            "MissingParameter",
            "The request must contain the parameter Version",
        ),
        (
            "Action=DescribeRegions&Version=2016-11-15&Bogus=1",
            400,
            "UnknownParameter",
            "The parameter Bogus is not recognized",
        ),
        (
            "Action=DescribeRegions&Version=2016-11-15&RegionName.1=mars-1",
            400,
            "InvalidParameterValue",
            "Invalid region: [mars-1]",
        ),
        (
            "Action=DescribeRegions&Version=2016-11-15&Filter.1.Name=color&Filter.1.Value.1=red",
            400,
            "InvalidParameterValue",
            "The filter 'color' is invalid",
        ),
        (
            "Action=DescribeRegions&Version=2016-11-15&DryRun=true",
            412,
            "DryRunOperation",
            "Request would have succeeded, but DryRun flag is set.",
        ),
        (
            "Action=DescribeRegions&Version=2016-11-15&DryRun=maybe",
            400,
            "InvalidParameterValue",
            "Invalid value 'maybe' for DryRun. Expected a boolean: 'true' or 'false'.",
        ),
        (
            "Action=DescribeRegions&Version=2016-11-15&RegionName.1=%zz",
            400,
            "MalformedQueryString",
            "The query string contains a syntax error: malformed percent-encoding in \"%zz\"",
        ),
    ];
    for (form, status, code, message) in cases {
        let a = gw.post(form).await;
        assert_eq!(
            (a.status, a.code(), a.message()),
            (status, code, message),
            "{form}"
        );
        assert!(a.body.ends_with(&format!(
            "<RequestID>{}</RequestID></Response>",
            a.request_id()
        )));
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_and_other_methods_are_refused() {
    let gw = start().await;
    let big = format!("{DESCRIBE_REGIONS}&Pad={}", "x".repeat(70 * 1024));
    let a = gw.post(&big).await;
    assert_eq!((a.status, a.code()), (413, "RequestEntityTooLarge"));
    assert_eq!(a.headers["connection"], "close");
    let a = gw
        .send(gw.signed("PUT", "/", DESCRIBE_REGIONS.as_bytes(), &gw.signer()))
        .await;
    assert_eq!((a.status, a.code()), (405, "MethodNotAllowed"));
    assert_eq!(a.headers["connection"], "close");
    let a = gw.post(DESCRIBE_REGIONS).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(!a.headers.contains_key("connection"));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_keep_alive_connection_serves_many_requests() {
    let gw = start().await;
    let stream = tokio::net::TcpStream::connect(&gw.host).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut ids = Vec::new();
    for _ in 0..20 {
        let request = gw.signed("POST", "/", DESCRIBE_REGIONS.as_bytes(), &gw.signer());
        sender.ready().await.unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        ids.push(
            response.headers()["x-amzn-requestid"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
        http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap();
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 20, "every answer has its own request id");
    gw.stop().await;
}
