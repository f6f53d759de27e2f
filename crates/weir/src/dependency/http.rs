//! A small HTTP/1.1 client (hyper's pooled client, no TLS) with failures classified for the
//! policy stack: connection errors, timeouts, 5xx, 408 and 429 are transient; other 4xx, 3xx
//! (redirects are not followed) and unusable answers are permanent.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::TimedOut;
use crate::error::{Classified, ErrorClass};

/// An HTTP call failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL (after filling in its template) is not a valid `http://` URL.
    #[error("invalid URL `{url}`: {message}")]
    Url {
        /// The URL.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// No connection, or it broke before the answer was complete.
    #[error("connection to {host} failed: {message}")]
    Connect {
        /// The host.
        host: String,
        /// What happened.
        message: String,
    },
    /// The server answered with a status that is not 2xx.
    #[error("HTTP {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The start of the answer's body.
        body: String,
    },
    /// The attempt ran out of time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// A 2xx answer that cannot be used (not JSON where JSON is expected).
    #[error("unusable answer: {0}")]
    Body(String),
}

impl From<TimedOut> for HttpError {
    fn from(t: TimedOut) -> Self {
        Self::Timeout(t.0)
    }
}

impl Classified for HttpError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Connect { .. } | Self::Timeout(_) => ErrorClass::Transient,
            Self::Status { status, .. } if *status >= 500 || *status == 408 || *status == 429 => {
                ErrorClass::Transient
            }
            Self::Status { .. } | Self::Url { .. } | Self::Body(_) => ErrorClass::Permanent,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Url { .. } => "http_url",
            Self::Connect { .. } => "http_connect",
            Self::Status { status, .. } if *status >= 500 => "http_5xx",
            Self::Status { status, .. } if *status >= 400 => "http_4xx",
            Self::Status { .. } => "http_status",
            Self::Timeout(_) => "http_timeout",
            Self::Body(_) => "http_body",
        }
    }
}

/// A 2xx answer.
#[derive(Debug)]
pub struct HttpResponse {
    /// Its status.
    pub status: u16,
    /// Its body.
    pub body: Bytes,
}

/// A pooled HTTP/1.1 client.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl HttpClient {
    /// A client whose connection attempts give up after `connect_timeout`.
    #[must_use]
    pub fn new(connect_timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Self { client }
    }

    /// Sends one request and reads the whole answer. The caller bounds it with a timeout.
    ///
    /// # Errors
    /// A classified [`HttpError`]; a non-2xx status is an error.
    pub async fn send(
        &self,
        method: hyper::Method,
        url: &str,
        headers: &[(&'static str, String)],
        body: Option<(Bytes, &'static str)>,
    ) -> Result<HttpResponse, HttpError> {
        let uri: hyper::Uri =
            url.parse()
                .map_err(|e: hyper::http::uri::InvalidUri| HttpError::Url {
                    url: url.to_owned(),
                    message: e.to_string(),
                })?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(HttpError::Url {
                url: url.to_owned(),
                message: "expected http://host[:port]/path (https is not supported)".into(),
            });
        }
        let host = uri.host().unwrap_or_default().to_owned();
        let mut req = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            let value = HeaderValue::from_str(value).map_err(|e| HttpError::Url {
                url: url.to_owned(),
                message: format!("header {name}: {e}"),
            })?;
            req = req.header(HeaderName::from_static(name), value);
        }
        let payload = match body {
            Some((bytes, content_type)) => {
                req = req.header(CONTENT_TYPE, content_type);
                bytes
            }
            None => Bytes::new(),
        };
        let req = req.body(Full::new(payload)).map_err(|e| HttpError::Url {
            url: url.to_owned(),
            message: e.to_string(),
        })?;
        let connect = |message: String| HttpError::Connect {
            host: host.clone(),
            message,
        };
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| connect(error_chain(&e)))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| connect(error_chain(&e)))?
            .to_bytes();
        if (200..300).contains(&status) {
            Ok(HttpResponse { status, body })
        } else {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            Err(HttpError::Status { status, body: text })
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
