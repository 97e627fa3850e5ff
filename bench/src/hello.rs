//! The ceiling: a bare hyper 1 server, configured as ec2gw's server is (HTTP/1.1 keep-alive,
//! TCP_NODELAY, a multi-threaded tokio runtime), that reads each request's body and answers
//! with a fixed 300-byte XML document. No signature check, no parsing, no database.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use crate::Args;

const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeRegionsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>00000000-0000-0000-0000-000000000000</requestId><regionInfo><item><regionName>us-east-1</regionName></item></regionInfo>";
const TAIL: &str = "</DescribeRegionsResponse>";
pub const BODY_BYTES: usize = 300;

/// The answer: HEAD, padded with spaces, then TAIL; exactly 300 bytes.
pub fn body() -> Bytes {
    let mut text = String::with_capacity(BODY_BYTES);
    text.push_str(HEAD);
    while text.len() + TAIL.len() < BODY_BYTES {
        text.push(' ');
    }
    text.push_str(TAIL);
    Bytes::from(text)
}

async fn answer(body: Bytes, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Read the request like a real server does before answering.
    let _ = req.into_body().collect().await;
    let mut response = Response::new(Full::new(body));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    Ok(response)
}

pub fn run(args: &Args) -> Result<(), String> {
    let listen = args.or("listen", "127.0.0.1:0").to_owned();
    let threads: usize = args.number("threads", 2)?;
    let body = body();
    if body.len() != BODY_BYTES {
        return Err(format!("body is {} bytes, not {BODY_BYTES}", body.len()));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        println!("Endpoint: http://{bound}");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(pair) => pair,
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let body = body.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| answer(body.clone(), req));
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_body_is_300_bytes_of_xml() {
        let body = super::body();
        assert_eq!(body.len(), super::BODY_BYTES);
        assert!(body.ends_with(b"</DescribeRegionsResponse>"));
    }
}
