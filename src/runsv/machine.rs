//! runsv's state machine for one supervised process (the service or its logger): a pure
//! transition function over (state, event) that returns what to do. The executor in
//! `runsv.rs` performs the actions (fork, signals, supervise/ files). No processes, files
//! or clocks in here: every input is an argument, so every cell has a unit test.
use crate::svstatus::{State, Want};
use crate::sys::proc::exit_code;

/// runit restarts a process that ran less than a second only after a one-second pause.
pub const THROTTLE_MS: u64 = 1000;
/// runit retries a failed fork after five seconds.
pub const FORK_RETRY_MS: u64 = 5000;

/// The opt-in restart policy (README "Restart policy"); all zero is runit's pace.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(test, derive(Debug))]
pub struct Policy {
    /// `restart-backoff`: the cap (ms) of a delay that doubles from 1 s per failed run.
    pub backoff_max: u64,
    /// `restart-limit N T [R]`: at most N failed runs within T ms; a run of R ms or more
    /// (default 10 s) is not a failure and clears the count.
    pub limit: u32,
    pub window: u64,
    pub reset: u64,
}

/// A run at least this long is not a failed start (unless `restart-limit` says otherwise).
pub const RESET_MS: u64 = 10_000;

/// What happened.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub enum Event {
    /// A byte from `supervise/control`.
    Ctl(u8),
    /// SIGTERM or SIGINT to runsv: stop the `sv exit` way.
    Term,
    /// The process ended with `wstat`. `finish`: `./finish` exists; `critical`: the service
    /// directory holds `critical`.
    Exited { wstat: i32, finish: bool, critical: bool },
    /// The start deadline may have passed (the executor asks on every turn).
    Due,
    /// The fork asked for by `Start` or `Finish` succeeded (true) or failed.
    Forked(bool),
    /// The running process said it is ready (notification-fd, ./check, settle window).
    Ready,
}

/// What to do, in order.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub enum Action {
    /// Write `supervise/` (pid, stat, status, health).
    Status,
    /// Start `./run` (`log/run`).
    Start,
    /// Start `./finish EXIT STATUS` for the run that ended.
    Finish,
    /// `control/t` or SIGTERM; then for want down or exit, SIGCONT and `control/d` or `/x`.
    Stop,
    /// `control/C` or the signal to the process (SIGKILL: its whole process group).
    Signal(u8, i32),
    /// TERM and CONT to what the run left in its process group (it is down for good).
    Sweep,
    /// TERM and CONT to ./finish's process group: `sv down` or `sv restart` while it runs
    /// (README D6; runit waits for it, however long it hangs).
    EndFinish,
}

pub type Actions = [Option<Action>; 2];
const NONE: Actions = [None; 2];

/// Everything that decides what happens next; the executor owns pids, fds and paths.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Machine {
    pub state: State,
    pub want: Want,
    pub paused: bool,
    /// `o` while nothing runs: start once even though want is down.
    pub once: bool,
    /// A process (./run or ./finish) exists.
    pub busy: bool,
    /// The running ./run has said it is ready.
    pub ready: bool,
    /// The logger: `x` means nothing to it and there is no ./finish.
    pub log: bool,
    /// Monotonic ms when ./run last started (the throttle counts from here: runit uses the
    /// wall clock, README deviation D5).
    pub started: u64,
    /// No start before this monotonic time (the throttle, a fork retry).
    pub not_before: u64,
    /// The wait status of the last run (./finish's arguments).
    pub wstat: i32,
    /// A critical service ended on its own: runsv exits with this code once it is down.
    pub critical: Option<i32>,
    pub policy: Policy,
    /// Failed runs counted since `window_start`; `failed`: the budget is spent, runsv has
    /// stopped trying until `u`.
    pub fails: u32,
    pub window_start: u64,
    pub failed: bool,
    /// The policy's delay, applied once ./finish has ended.
    pub pending: u64,
    /// The run was asked to stop (TERM or KILL sent): its end is not a failure.
    pub asked: bool,
}

impl Machine {
    pub fn new(log: bool, want: Want) -> Machine {
        Machine {
            state: State::Down,
            want,
            paused: false,
            once: false,
            busy: false,
            ready: false,
            log,
            started: 0,
            not_before: 0,
            wstat: 0,
            critical: None,
            policy: Policy { backoff_max: 0, limit: 0, window: 0, reset: 0 },
            fails: 0,
            window_start: 0,
            failed: false,
            pending: 0,
            asked: false,
        }
    }

    /// ./run is running (not ./finish).
    pub fn running(&self) -> bool {
        self.busy && self.state == State::Run
    }

    /// When a start is due (monotonic ms), if one is wanted.
    pub fn due_at(&self) -> Option<u64> {
        let wanted = self.want == Want::Up || self.once || self.state == State::Finish;
        (!self.busy && wanted).then_some(self.not_before)
    }

    /// The transition function.
    #[inline(never)]
    pub fn step(&mut self, ev: Event, now: u64) -> Actions {
        use Action::*;
        let run = self.running();
        let stop = if run { Some(Stop) } else { None };
        // `d` and `t` also end a running ./finish; `x` and SIGTERM let it finish.
        let end = if self.busy && self.state == State::Finish { Some(EndFinish) } else { stop };
        if run && matches!(ev, Event::Ctl(b'd' | b'x' | b't') | Event::Term) || matches!(ev, Event::Ctl(b'k')) {
            self.asked = true;
        }
        match ev {
            Event::Ctl(b'd') => {
                self.want = Want::Down;
                [Some(Status), end]
            }
            Event::Ctl(b'u') => {
                self.want = Want::Up;
                self.failed = false;
                self.fails = 0;
                [Some(Status), None]
            }
            Event::Ctl(b'o') => {
                self.want = Want::Down;
                self.once = !self.busy;
                [Some(Status), None]
            }
            Event::Ctl(b'x') | Event::Term if !self.log => {
                self.want = Want::Exit;
                [Some(Status), stop]
            }
            Event::Ctl(b't') => [end, None],
            // runit's `k` also reaches ./finish (it then marks the service down while ./finish
            // still runs: README deviation D6; the reaper records the real state instead).
            Event::Ctl(b'k') if self.busy => [Some(Signal(b'k', SIGKILL)), None],
            Event::Ctl(c @ (b'p' | b'c')) => {
                self.paused = c == b'p';
                let sig = if c == b'p' { SIGSTOP } else { SIGCONT };
                [if run { Some(Signal(c, sig)) } else { None }, Some(Status)]
            }
            Event::Ctl(c) if run => match signal_of(c) {
                Some(sig) => [Some(Signal(c, sig)), None],
                None => NONE,
            },
            Event::Ctl(_) | Event::Term => NONE,
            Event::Exited { wstat, finish, critical } => self.exited(wstat, finish, critical, now),
            Event::Due => match self.due_at() {
                Some(t) if now >= t => [Some(if self.state == State::Finish { Finish } else { Start }), None],
                _ => NONE,
            },
            Event::Forked(true) => {
                if self.state != State::Finish {
                    self.state = State::Run;
                    self.started = now;
                }
                self.busy = true;
                self.ready = false;
                self.asked = false;
                self.paused = false;
                self.once = false;
                [Some(Status), None]
            }
            Event::Forked(false) => {
                self.not_before = now + FORK_RETRY_MS;
                NONE
            }
            Event::Ready if run && !self.ready => {
                self.ready = true;
                [Some(Status), None]
            }
            Event::Ready => NONE,
        }
    }

    fn exited(&mut self, wstat: i32, finish: bool, critical: bool, now: u64) -> Actions {
        let was_run = self.state == State::Run;
        self.busy = false;
        self.ready = false;
        if !was_run {
            // ./finish ended.
            self.state = State::Down;
            self.throttle(now);
            self.not_before = self.not_before.max(now + self.pending);
            return [Some(Action::Status), None];
        }
        self.wstat = wstat;
        let ran = now.saturating_sub(self.started);
        let p = self.policy;
        let mut delay = if ran < THROTTLE_MS { THROTTLE_MS } else { 0 };
        self.pending = 0;
        if self.want == Want::Up && !self.asked && (p.limit > 0 || p.backoff_max > 0) {
            if ran >= if p.reset > 0 { p.reset } else { RESET_MS } {
                self.fails = 0;
            } else {
                if self.fails == 0 || (p.limit > 0 && now.saturating_sub(self.window_start) > p.window) {
                    self.fails = 0;
                    self.window_start = now;
                }
                self.fails += 1;
                if p.backoff_max > 0 {
                    delay = (THROTTLE_MS << (self.fails - 1).min(20)).min(p.backoff_max.max(THROTTLE_MS));
                    self.pending = delay;
                }
                // The budget is spent: down and visibly failed until `u` (a critical service
                // ends the container now, with this run's code).
                if p.limit > 0 && self.fails >= p.limit {
                    self.failed = true;
                    self.want = if critical { Want::Up } else { Want::Down };
                }
            }
            // With a limit, `critical` waits for the budget to be spent.
            if p.limit > 0 && !self.failed {
                return self.down_after(finish, now, delay, false);
            }
        }
        self.down_after(finish, now, delay, critical)
    }

    fn down_after(&mut self, finish: bool, now: u64, delay: u64, critical: bool) -> Actions {
        let wstat = self.wstat;
        if critical && self.want == Want::Up && !self.log {
            // A critical service ended on its own: finish, drain the log, then runsv exits
            // with its code so runsvdir can end the container with it.
            self.critical = Some(exit_code(wstat));
            self.want = Want::Exit;
        }
        // Whatever the run left in its process group goes when it is stopped for good
        // (runit's signals reach only the pid: README deviation D2).
        let sweep = if self.want != Want::Up { Some(Action::Sweep) } else { None };
        if finish && !self.log {
            self.state = State::Finish;
            self.not_before = now;
            return [sweep, Some(Action::Status)];
        }
        self.state = State::Down;
        self.not_before = now + delay;
        [sweep, Some(Action::Status)]
    }

    /// runit pauses a second before restarting a process that ran less than a second;
    /// here the pause is a deadline, so control commands and signals are still served.
    fn throttle(&mut self, now: u64) {
        if now.saturating_sub(self.started) < THROTTLE_MS {
            self.not_before = now + THROTTLE_MS;
        }
    }
}

pub const SIGKILL: i32 = 9;
const SIGSTOP: i32 = 19;
const SIGCONT: i32 = 18;

/// The signal a control byte sends to a running process (runit's table).
fn signal_of(c: u8) -> Option<i32> {
    Some(match c {
        b'h' => 1,  // HUP
        b'a' => 14, // ALRM
        b'i' => 2,  // INT
        b'q' => 3,  // QUIT
        b'1' => 10, // USR1
        b'2' => 12, // USR2
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::Action::*;
    use super::*;

    fn m(state: State, want: Want, busy: bool) -> Machine {
        let mut m = Machine::new(false, want);
        m.state = state;
        m.busy = busy;
        m
    }
    fn acts(a: Actions) -> alloc::vec::Vec<Action> {
        a.iter().flatten().copied().collect()
    }
    const EXIT0: Event = Event::Exited { wstat: 0, finish: false, critical: false };
    const EXIT_FIN: Event = Event::Exited { wstat: 9, finish: true, critical: false };

    /// Every state (down idle, down throttled, run, run paused, finish) x every event.
    #[test]
    fn every_state_every_event_is_defined() {
        let states = [
            m(State::Down, Want::Up, false),
            m(State::Down, Want::Down, false),
            m(State::Run, Want::Up, true),
            m(State::Run, Want::Down, true),
            m(State::Run, Want::Exit, true),
            m(State::Finish, Want::Up, true),
            m(State::Finish, Want::Exit, true),
            m(State::Finish, Want::Up, false),
        ];
        let mut events: alloc::vec::Vec<Event> = (0..=255u8).map(Event::Ctl).collect();
        events.extend([Event::Term, EXIT0, EXIT_FIN, Event::Due, Event::Forked(true), Event::Forked(false), Event::Ready]);
        for s in states {
            for &e in &events {
                for log in [false, true] {
                    let mut x = s;
                    x.log = log;
                    let a = acts(x.step(e, 5000));
                    // No action list starts a process while one exists.
                    if s.busy {
                        assert!(!a.contains(&Start) && !a.contains(&Finish), "{:?}", e);
                    }
                    // The logger never gets x or Term.
                    if log && matches!(e, Event::Ctl(b'x') | Event::Term) {
                        assert!(a.is_empty());
                    }
                }
            }
        }
    }

    #[test]
    fn down_and_up() {
        let mut x = m(State::Run, Want::Up, true);
        assert_eq!(acts(x.step(Event::Ctl(b'd'), 0)), [Status, Stop]);
        assert_eq!(x.want, Want::Down);
        let mut x = m(State::Down, Want::Down, false);
        assert_eq!(acts(x.step(Event::Ctl(b'd'), 0)), [Status]);
        assert_eq!(acts(x.step(Event::Ctl(b'u'), 0)), [Status]);
        assert_eq!(acts(x.step(Event::Due, 0)), [Start]);
        assert_eq!(acts(x.step(Event::Forked(true), 7)), [Status]);
        assert_eq!((x.state, x.busy, x.started), (State::Run, true, 7));
    }

    #[test]
    fn quick_exit_is_throttled_and_d_then_u_inside_the_throttle_waits() {
        let mut x = m(State::Run, Want::Up, true);
        x.started = 1000;
        assert_eq!(acts(x.step(EXIT0, 1500)), [Status]);
        assert_eq!(x.due_at(), Some(2500));
        assert!(acts(x.step(Event::Due, 2000)).is_empty());
        x.step(Event::Ctl(b'd'), 2100);
        assert_eq!(x.due_at(), None);
        x.step(Event::Ctl(b'u'), 2200);
        assert!(acts(x.step(Event::Due, 2300)).is_empty());
        assert_eq!(acts(x.step(Event::Due, 2500)), [Start]);
        // A run of a second or more restarts at once.
        let mut x = m(State::Run, Want::Up, true);
        x.started = 1000;
        x.step(EXIT0, 2000);
        assert_eq!(acts(x.step(Event::Due, 2000)), [Start]);
    }

    #[test]
    fn once_while_throttled_starts_once_when_allowed() {
        let mut x = m(State::Down, Want::Up, false);
        x.not_before = 3000;
        x.step(Event::Ctl(b'o'), 2000);
        assert!(x.once && x.want == Want::Down);
        assert!(acts(x.step(Event::Due, 2500)).is_empty());
        assert_eq!(acts(x.step(Event::Due, 3000)), [Start]);
        x.step(Event::Forked(true), 3000);
        assert!(!x.once);
        assert_eq!(acts(x.step(EXIT0, 3500)), [Sweep, Status]);
        assert_eq!(x.due_at(), None);
    }

    #[test]
    fn exit_runs_finish_then_down() {
        let mut x = m(State::Run, Want::Up, true);
        assert_eq!(acts(x.step(EXIT_FIN, 5000)), [Status]);
        assert_eq!((x.state, x.wstat), (State::Finish, 9));
        assert_eq!(acts(x.step(Event::Due, 5000)), [Finish]);
        x.step(Event::Forked(true), 5000);
        assert_eq!(x.state, State::Finish);
        assert_eq!(acts(x.step(Event::Ctl(b't'), 5000)), [EndFinish]);
        assert_eq!(acts(x.step(Event::Ctl(b'd'), 5000)), [Status, EndFinish]);
        assert_eq!(acts(x.step(Event::Ctl(b'x'), 5000)), [Status]);
        assert_eq!(acts(x.step(EXIT0, 5100)), [Status]);
        assert_eq!(x.state, State::Down);
    }

    #[test]
    fn k_during_finish_kills_finish() {
        let mut x = m(State::Finish, Want::Up, true);
        assert_eq!(acts(x.step(Event::Ctl(b'k'), 0)), [Signal(b'k', SIGKILL)]);
        assert_eq!(x.state, State::Finish);
        let mut x = m(State::Down, Want::Up, false);
        assert!(acts(x.step(Event::Ctl(b'k'), 0)).is_empty());
    }

    #[test]
    fn term_during_finish_exits_after_it() {
        let mut x = m(State::Finish, Want::Up, true);
        assert_eq!(acts(x.step(Event::Term, 0)), [Status]);
        assert_eq!(x.want, Want::Exit);
        x.step(EXIT0, 10);
        assert_eq!((x.state, x.due_at()), (State::Down, None));
    }

    #[test]
    fn critical_exit() {
        let mut x = m(State::Run, Want::Up, true);
        let a = acts(x.step(Event::Exited { wstat: 3 << 8, finish: false, critical: true }, 0));
        assert_eq!(a, [Sweep, Status]);
        assert_eq!((x.critical, x.want), (Some(3), Want::Exit));
        let mut x = m(State::Run, Want::Down, true);
        x.step(Event::Exited { wstat: 9, finish: false, critical: true }, 0);
        assert_eq!(x.critical, None);
    }

    #[test]
    fn pause_and_signals() {
        let mut x = m(State::Run, Want::Up, true);
        assert_eq!(acts(x.step(Event::Ctl(b'p'), 0)), [Signal(b'p', SIGSTOP), Status]);
        assert!(x.paused);
        assert_eq!(acts(x.step(Event::Ctl(b'c'), 0)), [Signal(b'c', SIGCONT), Status]);
        assert_eq!(acts(x.step(Event::Ctl(b'h'), 0)), [Signal(b'h', 1)]);
        assert_eq!(acts(x.step(Event::Ctl(b'2'), 0)), [Signal(b'2', 12)]);
        assert!(acts(x.step(Event::Ctl(b'z'), 0)).is_empty());
        let mut x = m(State::Down, Want::Up, false);
        assert_eq!(acts(x.step(Event::Ctl(b'p'), 0)), [Status]);
        assert!(acts(x.step(Event::Ctl(b'h'), 0)).is_empty());
    }

    #[test]
    fn fork_failure_retries_after_five_seconds() {
        let mut x = m(State::Down, Want::Up, false);
        assert_eq!(acts(x.step(Event::Due, 100)), [Start]);
        assert!(acts(x.step(Event::Forked(false), 100)).is_empty());
        assert_eq!(x.due_at(), Some(5100));
        assert_eq!(acts(x.step(Event::Due, 5100)), [Start]);
    }

    #[test]
    fn ready_only_while_running() {
        let mut x = m(State::Run, Want::Up, true);
        assert_eq!(acts(x.step(Event::Ready, 0)), [Status]);
        assert!(acts(x.step(Event::Ready, 0)).is_empty());
        x.step(EXIT0, 0);
        assert!(!x.ready);
        assert!(acts(x.step(Event::Ready, 0)).is_empty());
    }

    #[test]
    fn restart_policy_backs_off_and_gives_up() {
        let mut x = m(State::Down, Want::Up, false);
        x.policy = Policy { backoff_max: 4000, limit: 4, window: 60_000, reset: 5000 };
        let mut now = 0;
        let mut delays = alloc::vec::Vec::new();
        for _ in 0..4 {
            x.step(Event::Due, now);
            x.step(Event::Forked(true), now);
            now += 100;
            x.step(EXIT0, now);
            delays.push(x.due_at().map(|t| t - now));
            now = x.not_before;
        }
        assert_eq!(delays, [Some(1000), Some(2000), Some(4000), None]);
        assert!(x.failed && x.want == Want::Down);
        // `u` starts it again with a fresh budget.
        x.step(Event::Ctl(b'u'), now);
        assert!(!x.failed && x.fails == 0);
        assert_eq!(acts(x.step(Event::Due, now + 4000)), [Start]);
        // A long run clears the count.
        x.step(Event::Forked(true), now);
        x.step(EXIT0, now + 5000);
        assert_eq!(x.fails, 0);
    }

    #[test]
    fn critical_with_a_limit_waits_for_the_budget() {
        let mut x = m(State::Run, Want::Up, true);
        x.policy = Policy { backoff_max: 0, limit: 2, window: 60_000, reset: 0 };
        let c = Event::Exited { wstat: 5 << 8, finish: false, critical: true };
        x.step(c, 10);
        assert_eq!((x.critical, x.want), (None, Want::Up));
        x.step(Event::Forked(true), 2000);
        x.step(c, 2010);
        assert_eq!((x.critical, x.want), (Some(5), Want::Exit));
    }

    #[test]
    fn codes() {
        assert_eq!(exit_code(3 << 8), 3);
        assert_eq!(exit_code(9), 137);
    }
}
