//! The api layer's error: every failure a client can see, with its AWS code, message and HTTP
//! status decided in one exhaustive match each.

use crate::auth::sigv4::AuthError;
use crate::engine::EngineError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// No `Action` parameter.
    #[error("missing Action")]
    MissingAction,
    /// An action this gateway does not implement.
    #[error("invalid action {0:?}")]
    InvalidAction(String),
    /// A `Version` other than 2016-11-15.
    #[error("no such version {0:?}")]
    NoSuchVersion(String),
    /// A required parameter was not sent.
    #[error("missing parameter {0}")]
    MissingParameter(String),
    /// A parameter the action does not take.
    #[error("unknown parameter {0}")]
    UnknownParameter(String),
    /// A parameter's value is out of range or of the wrong type; the message says which.
    #[error("{0}")]
    InvalidParameterValue(String),
    /// Parameters that cannot be used together; the message says which.
    #[error("{0}")]
    InvalidParameterCombination(String),
    /// The query string or form body cannot be decoded.
    #[error("malformed query string: {0}")]
    MalformedQueryString(String),
    /// DryRun was set and the call would have succeeded.
    #[error("dry run")]
    DryRunOperation,
    /// The request body exceeds the configured limit.
    #[error("request body over {0} bytes")]
    RequestTooLarge(usize),
    /// A method other than GET or POST.
    #[error("method {0} not allowed")]
    MethodNotAllowed(String),
    /// A fault of the gateway's own; the detail goes to the log, not to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The code clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Auth(e) => match e {
                // EC2 answers an anonymous request this way, not with MissingAuthenticationToken.
                AuthError::MissingAuthenticationToken => "MissingParameter",
                AuthError::IncompleteSignature(_) => "IncompleteSignature",
                AuthError::UnknownAccessKey => "AuthFailure",
                AuthError::SignatureDoesNotMatch(_) => "SignatureDoesNotMatch",
                AuthError::RequestExpired(_) => "RequestExpired",
            },
            ApiError::Engine(e) => match e {
                EngineError::Store(StoreError::Pool(_)) => "ServiceUnavailable",
                EngineError::Store(_) => "InternalError",
                EngineError::UnknownFilter(_)
                | EngineError::UnknownRegion(_)
                | EngineError::UnknownZone(_)
                | EngineError::UnknownZoneId(_)
                | EngineError::UnknownAccountAttribute(_)
                | EngineError::NoSuchAccount(_)
                | EngineError::NoSuchAccessKey(_) => "InvalidParameterValue",
            },
            ApiError::MissingAction => "MissingAction",
            ApiError::InvalidAction(_) => "InvalidAction",
            ApiError::NoSuchVersion(_) => "NoSuchVersion",
            ApiError::MissingParameter(_) => "MissingParameter",
            ApiError::UnknownParameter(_) => "UnknownParameter",
            ApiError::InvalidParameterValue(_) => "InvalidParameterValue",
            ApiError::InvalidParameterCombination(_) => "InvalidParameterCombination",
            ApiError::MalformedQueryString(_) => "MalformedQueryString",
            ApiError::DryRunOperation => "DryRunOperation",
            ApiError::RequestTooLarge(_) => "RequestEntityTooLarge",
            ApiError::MethodNotAllowed(_) => "MethodNotAllowed",
            ApiError::Internal(_) => "InternalError",
        }
    }

    /// 4xx for the client's faults, 5xx for ours (which SDKs retry).
    pub fn status(&self) -> u16 {
        match self {
            ApiError::Auth(e) => match e {
                AuthError::MissingAuthenticationToken
                | AuthError::IncompleteSignature(_)
                | AuthError::RequestExpired(_) => 400,
                AuthError::UnknownAccessKey => 401,
                AuthError::SignatureDoesNotMatch(_) => 403,
            },
            ApiError::Engine(e) => match e {
                EngineError::Store(StoreError::Pool(_)) => 503,
                EngineError::Store(_) => 500,
                EngineError::UnknownFilter(_)
                | EngineError::UnknownRegion(_)
                | EngineError::UnknownZone(_)
                | EngineError::UnknownZoneId(_)
                | EngineError::UnknownAccountAttribute(_)
                | EngineError::NoSuchAccount(_)
                | EngineError::NoSuchAccessKey(_) => 400,
            },
            ApiError::DryRunOperation => 412,
            ApiError::RequestTooLarge(_) => 413,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::Internal(_) => 500,
            ApiError::MissingAction
            | ApiError::InvalidAction(_)
            | ApiError::NoSuchVersion(_)
            | ApiError::MissingParameter(_)
            | ApiError::UnknownParameter(_)
            | ApiError::InvalidParameterValue(_)
            | ApiError::InvalidParameterCombination(_)
            | ApiError::MalformedQueryString(_) => 400,
        }
    }

    /// The message, in EC2's words where they are known.
    pub fn message(&self) -> String {
        match self {
            ApiError::Auth(e) => match e {
                AuthError::MissingAuthenticationToken => {
                    "The request must contain the parameter AWSAccessKeyId".to_owned()
                }
                AuthError::IncompleteSignature(detail)
                | AuthError::SignatureDoesNotMatch(detail) => detail.clone(),
                AuthError::UnknownAccessKey => {
                    "AWS was not able to validate the provided access credentials".to_owned()
                }
                AuthError::RequestExpired(_) => "Request has expired.".to_owned(),
            },
            ApiError::Engine(e) => match e {
                EngineError::Store(StoreError::Pool(_)) => {
                    "The request has failed due to a temporary failure of the server.".to_owned()
                }
                EngineError::Store(_) => "An internal error has occurred".to_owned(),
                EngineError::UnknownFilter(name) => format!("The filter '{name}' is invalid"),
                EngineError::UnknownRegion(name) => format!("Invalid region: [{name}]"),
                EngineError::UnknownZone(name) => format!("Invalid availability zone: [{name}]"),
                EngineError::UnknownZoneId(id) => format!("Invalid availability zone-id: [{id}]"),
                EngineError::UnknownAccountAttribute(name) => {
                    format!("Value ({name}) for parameter attributeName is invalid. Unknown attribute name.")
                }
                EngineError::NoSuchAccount(id) => format!("The account '{id}' does not exist"),
                EngineError::NoSuchAccessKey(id) => format!("The access key '{id}' does not exist"),
            },
            ApiError::MissingAction => "The request must contain the parameter Action".to_owned(),
            ApiError::InvalidAction(action) => {
                format!("The action {action} is not valid for this web service.")
            }
            ApiError::NoSuchVersion(version) => {
                format!("The requested version ({version}) of service AmazonEC2 does not exist")
            }
            ApiError::MissingParameter(name) => {
                format!("The request must contain the parameter {name}")
            }
            ApiError::UnknownParameter(name) => format!("The parameter {name} is not recognized"),
            ApiError::InvalidParameterValue(message)
            | ApiError::InvalidParameterCombination(message) => message.clone(),
            ApiError::MalformedQueryString(detail) => {
                format!("The query string contains a syntax error: {detail}")
            }
            ApiError::DryRunOperation => {
                "Request would have succeeded, but DryRun flag is set.".to_owned()
            }
            ApiError::RequestTooLarge(limit) => {
                format!("The request body is larger than the limit of {limit} bytes.")
            }
            ApiError::MethodNotAllowed(method) => {
                format!("The HTTP method {method} is not allowed; use GET or POST.")
            }
            ApiError::Internal(_) => "An internal error has occurred".to_owned(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Engine(EngineError::Store(e))
    }
}
