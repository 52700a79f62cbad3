//! Placeholder (replaced by the grammar).
/// Escapes `\` and `:`.
pub fn quote_string_argument(s: &str) -> String {
    s.replace('\\', "\\\\").replace(':', "\\:")
}
