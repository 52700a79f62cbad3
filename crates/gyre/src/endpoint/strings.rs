//! Placeholder.
use super::{ClientEndpoint, EndpointError, ServerEndpoint};
use crate::reactor::Reactor;
/// Placeholder.
pub fn server_from_string(
    _r: &Reactor,
    _d: &str,
) -> Result<Box<dyn ServerEndpoint>, EndpointError> {
    Err(EndpointError)
}
/// Placeholder.
pub fn client_from_string(
    _r: &Reactor,
    _d: &str,
) -> Result<Box<dyn ClientEndpoint>, EndpointError> {
    Err(EndpointError)
}
