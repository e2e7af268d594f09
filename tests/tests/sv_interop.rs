//! Interop, both ways: C runit's sv and urunit's sv run the same commands on services in
//! the same states, supervised by C runit's runsv and by urunit's runsv; the outputs
//! (pids and seconds normalized) are diffed.
mod sv_common;
use sv_common::*;
use urunit_tests::*;

/// Where urunit fixes a weakness of C runit (sv.md, "Known weaknesses") the outputs differ
/// on purpose: (state, command, C runit's (exit, stdout), urunit's (exit, stdout)).
const DEVIATIONS: &[(State, &str, (i32, &str), (i32, &str))] = &[
    // Weakness 6: `check` waits for the state the service wants (up, i.e. running, and
    // ready); runit 2.1.2 passed any service with a pid, even one in ./finish.
    (State::Finishing, "-w 1 check", (0, "ok: finish: svc: (pid P) Ns\n"), (1, "timeout: finish: svc: (pid P) Ns\n")),
];

fn compare(r: Runsv, state: State) {
    if runsv(r).is_none() || crunit("sv").is_none() {
        return;
    }
    let rows = table(r, state, &[Sv::C, Sv::Urunit]);
    let mut diffs = Vec::new();
    for pair in rows.chunks(2) {
        let (cmd, _, c) = &pair[0];
        let (_, _, u) = &pair[1];
        if let Some((_, _, want_c, want_u)) = DEVIATIONS.iter().find(|d| d.0 == state && d.1 == cmd) {
            // A fixed runit weakness: both sides must show exactly the documented outputs.
            let want = |w: &(i32, &str)| (Some(w.0), w.1.to_string(), String::new());
            if (c, u) != (&want(want_c), &want(want_u)) {
                diffs.push(format!("sv {cmd} ({state:?}, {r:?} runsv), a documented deviation:\n  C runit: {c:?}\n  urunit:  {u:?}"));
            }
        } else if c != u {
            diffs.push(format!("sv {cmd} ({state:?}, {r:?} runsv):\n  C runit: {c:?}\n  urunit:  {u:?}"));
        }
    }
    assert!(diffs.is_empty(), "{} differences:\n{}", diffs.len(), diffs.join("\n"));
}

macro_rules! interop {
    ($($name:ident: $r:expr, $state:expr;)*) => {$(
        #[test]
        fn $name() {
            compare($r, $state);
        }
    )*};
}

interop! {
    c_runsv_running: Runsv::C, State::Running;
    c_runsv_down: Runsv::C, State::Down;
    c_runsv_paused: Runsv::C, State::Paused;
    c_runsv_finishing: Runsv::C, State::Finishing;
    c_runsv_missing: Runsv::C, State::Missing;
    urunit_runsv_running: Runsv::Urunit, State::Running;
    urunit_runsv_down: Runsv::Urunit, State::Down;
    urunit_runsv_paused: Runsv::Urunit, State::Paused;
    urunit_runsv_finishing: Runsv::Urunit, State::Finishing;
    urunit_runsv_missing: Runsv::Urunit, State::Missing;
}
