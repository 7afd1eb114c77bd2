//! Change detection: each run compares the extract with the last successfully applied state.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

mod common;

use common::{BASE, HR_HEADER, Setup, applied};
use engine::detect::{AppliedState, ChangeKind, Detection, LeftReason, Mode};
use engine::fields::{Field, Standard};

const ROWS: &str = "P1,E1,jdoe,jane.doe@acme.com,Jane,Doe,active,Buyer
P2,E2,bob,bob@acme.com,Bob,Brown,active,
P3,E3,rsmith,rob.smith@acme.com,Rob,Smith,active,";

fn kinds(d: &Detection) -> Vec<(&str, ChangeKind)> {
    d.changes
        .iter()
        .map(|c| (c.hr_key.as_str(), c.kind.clone()))
        .collect()
}

/// The set-up after a first successful run of `ROWS`.
fn after_first_run(config: &str) -> (Setup, AppliedState) {
    let setup = Setup::new(
        config,
        "hr.csv",
        format!("{HR_HEADER}\n{ROWS}\n").as_bytes(),
    );
    let state = applied(&setup.desired());
    (setup, state)
}

#[test]
fn the_first_run_sees_everyone_as_new() {
    let setup = Setup::csv(ROWS);
    let d = setup.detect(&AppliedState::new(), Mode::Delta);
    assert_eq!(
        kinds(&d),
        [
            ("P1", ChangeKind::New),
            ("P2", ChangeKind::New),
            ("P3", ChangeKind::New)
        ]
    );
    assert_eq!(d.people_in_extract, 3);
}

#[test]
fn an_unchanged_extract_hands_nobody_on() {
    let (setup, state) = after_first_run(BASE);
    let d = setup.detect(&state, Mode::Delta);
    assert!(d.changes.is_empty());
    assert_eq!(d.unchanged, 3);
}

#[test]
fn a_changed_field_is_named() {
    let (setup, state) = after_first_run(BASE);
    setup.rewrite_hr(&format!(
        "{HR_HEADER}\n{}",
        ROWS.replace(
            "jane.doe@acme.com,Jane,Doe",
            "jane.smith@acme.com,Jane,Smith"
        )
    ));
    let d = setup.detect(&state, Mode::Delta);
    assert_eq!(
        kinds(&d),
        [(
            "P1",
            ChangeKind::Changed {
                fields: vec![Field::EMAIL, Field::Standard(Standard::Lastname)]
            }
        )]
    );
    assert_eq!(d.unchanged, 2);
}

#[test]
fn a_terminated_status_is_a_leaver_and_an_active_one_a_return() {
    let (setup, state) = after_first_run(BASE);
    setup.rewrite_hr(&format!(
        "{HR_HEADER}\n{}",
        ROWS.replace("Brown,active", "Brown,Terminated")
    ));
    let d = setup.detect(&state, Mode::Delta);
    assert_eq!(
        kinds(&d),
        [(
            "P2",
            ChangeKind::Left {
                reason: LeftReason::Terminated
            }
        )]
    );
    assert!(!d.changes[0].desired.as_ref().unwrap().active);

    let mut state = state;
    let left = d.changes[0].desired.as_ref().unwrap();
    state.insert("P2".into(), engine::detect::AppliedPerson::of(left));
    setup.rewrite_hr(&format!("{HR_HEADER}\n{ROWS}"));
    let d = setup.detect(&state, Mode::Delta);
    assert_eq!(kinds(&d), [("P2", ChangeKind::Returned)]);
}

#[test]
fn someone_missing_from_the_extract_is_left_alone_by_default() {
    let (setup, state) = after_first_run(BASE);
    setup.rewrite_hr(&format!(
        "{HR_HEADER}\n{}",
        ROWS.lines().take(2).collect::<Vec<_>>().join("\n")
    ));
    let d = setup.detect(&state, Mode::Delta);
    assert!(
        d.changes.is_empty(),
        "a delta extract does not list everyone"
    );
}

#[test]
fn someone_missing_from_a_full_extract_leaves_when_configured() {
    let config = BASE.replace("[hr]", "[hr]\nmissing = \"deactivate\"");
    let (setup, state) = after_first_run(&config);
    setup.rewrite_hr(&format!(
        "{HR_HEADER}\n{}",
        ROWS.lines().take(2).collect::<Vec<_>>().join("\n")
    ));
    let d = setup.detect(&state, Mode::Delta);
    assert_eq!(
        kinds(&d),
        [(
            "P3",
            ChangeKind::Left {
                reason: LeftReason::Missing
            }
        )]
    );
    assert_eq!(
        d.changes[0].match_value, "E3",
        "looked up by the value last applied"
    );
    assert!(d.changes[0].desired.is_none());
    assert!(d.absence_checked);
}

#[test]
fn a_person_whose_row_failed_is_not_taken_for_missing() {
    let config = BASE.replace("[hr]", "[hr]\nmissing = \"deactivate\"");
    let (setup, state) = after_first_run(&config);
    setup.rewrite_hr(&format!(
        "{HR_HEADER}\n{}",
        ROWS.replace("rob.smith@acme.com", "rob.smith@")
    ));
    let d = setup.detect(&state, Mode::Delta);
    assert!(d.changes.is_empty(), "{:?}", kinds(&d));
    assert_eq!(d.errors.len(), 1);
}

#[test]
fn a_row_without_key_suspends_the_missing_check() {
    let config = BASE.replace("[hr]", "[hr]\nmissing = \"deactivate\"");
    let (setup, state) = after_first_run(&config);
    // P3's key is gone: P3 may well be that row, so nobody is deactivated for being absent.
    setup.rewrite_hr(&format!("{HR_HEADER}\n{}", ROWS.replace("P3,E3", ",E3")));
    let d = setup.detect(&state, Mode::Delta);
    assert!(d.changes.is_empty(), "{:?}", kinds(&d));
    assert!(!d.absence_checked);
}

#[test]
fn full_mode_hands_on_everyone_for_reconciliation() {
    let (setup, state) = after_first_run(BASE);
    setup.rewrite_hr(&format!(
        "{HR_HEADER}\n{}",
        ROWS.replace("Bob,Brown", "Bob,Browne")
    ));
    let d = setup.detect(&state, Mode::Full);
    assert_eq!(
        kinds(&d),
        [
            ("P1", ChangeKind::Reconcile),
            (
                "P2",
                ChangeKind::Changed {
                    fields: vec![Field::Standard(Standard::Lastname)]
                }
            ),
            ("P3", ChangeKind::Reconcile),
        ]
    );
    assert_eq!(d.unchanged, 0);
}

#[test]
fn a_changed_mapping_is_a_change() {
    let (_setup, state) = after_first_run(BASE);
    let config = BASE.replace(
        "[fields]",
        "[fields]\ndefault-locale = { constant = \"en\" }",
    );
    let setup = Setup::new(
        &config,
        "hr.csv",
        format!("{HR_HEADER}\n{ROWS}\n").as_bytes(),
    );
    let d = setup.detect(&state, Mode::Delta);
    assert_eq!(d.changes.len(), 3);
    assert!(d.changes.iter().all(|c| c.kind
        == ChangeKind::Changed {
            fields: vec![Field::Standard(Standard::DefaultLocale)]
        }));
}

#[test]
fn the_applied_state_survives_a_round_trip_through_json() {
    let (setup, state) = after_first_run(BASE);
    let json = serde_json::to_string(&state).unwrap();
    assert!(json.contains("\"employee-number\":\"E1\""), "{json}");
    let back: AppliedState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, state);
    assert!(setup.detect(&back, Mode::Delta).changes.is_empty());
}
