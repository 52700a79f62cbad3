//! Placeholder (replaced by the grammar).
/// Placeholder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad endpoint")]
pub struct EndpointError;
