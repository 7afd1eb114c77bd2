//! Any text a person's record can hold (markup, quotes, ampersands, non-ASCII, CDATA terminators,
//! surrounding spaces) survives encode → decode in both formats.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use coupa_wire::{Format, User, decode, encode};
use proptest::prelude::*;

/// Characters XML 1.0 can carry: everything but most C0 controls and the two non-characters.
fn xml_text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[\t\n\r -\u{D7FF}\u{E000}-\u{FFFD}]{0,40}").unwrap()
}

proptest! {
    #[test]
    fn text_fields_round_trip(login in xml_text(), last in xml_text(), cf in xml_text()) {
        let mut custom = serde_json::Map::new();
        custom.insert("cost-center".into(), cf.into());
        let user = User {
            login: Some(login),
            lastname: Some(last),
            custom_fields: Some(custom),
            ..User::default()
        };
        for format in [Format::Xml, Format::Json] {
            let back: User = decode(format, &encode(format, "user", &user), "user").unwrap();
            prop_assert_eq!(&back, &user);
        }
    }
}
