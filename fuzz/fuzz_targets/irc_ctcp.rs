//! Fuzzes Twisted's quoting as `gyre_irc::quote` does it: CTCP extraction
//! and dequoting, and the low-level dequoting of whole lines.
//!
//! Checked: nothing panics; quoting then dequoting gives the text back at
//! both levels; a CTCP message made by `ctcp_stringify` extracts to the
//! tag and data it was made from (when the tag has no space and is not
//! empty).

#![no_main]

use gyre_irc::quote::{
    ctcp_dequote, ctcp_extract, ctcp_quote, ctcp_stringify, low_dequote, low_quote,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = ctcp_extract(&text);
    let _ = ctcp_dequote(&text);
    let _ = low_dequote(&text);
    assert_eq!(low_dequote(&low_quote(&text)), text);
    assert_eq!(ctcp_dequote(&ctcp_quote(&text)), text);
    if let Some((tag, body)) = text.split_once('|')
        && !tag.is_empty()
        && !tag.contains(' ')
        && !tag.contains('\x01')
    {
        let data = if body.is_empty() { None } else { Some(body) };
        let line = ctcp_stringify(&[(tag, data)]);
        let got = ctcp_extract(&line);
        assert!(got.normal.is_empty());
        assert_eq!(got.extended, [(tag.to_string(), data.map(str::to_string))]);
    }
});
