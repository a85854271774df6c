use thiserror::Error;

/// A mistake found while building a graph: the op that rejected its inputs and why.
#[derive(Debug, Clone, Error)]
pub enum GraphError {
    #[error("{op}: {message}")]
    Shape { op: String, message: String },
    #[error("no gradient rule for {op}: {message}")]
    NoGradient { op: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn shape_err(op: &str, message: impl Into<String>) -> GraphError {
    GraphError::Shape {
        op: op.to_string(),
        message: message.into(),
    }
}
