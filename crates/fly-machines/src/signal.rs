//! Unix signals by name, typed, for stop, restart and signal calls.

use std::fmt;
use std::str::FromStr;

use crate::{Error, Result, types};

/// A signal for a machine's main process. Stop and restart accept the ones Fly lets them send
/// (`HUP INT QUIT KILL USR1 USR2 TERM`); [`Machine::signal`](crate::Machine::signal) takes all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// `SIGABRT`
    Abrt,
    /// `SIGALRM`
    Alrm,
    /// `SIGFPE`
    Fpe,
    /// `SIGHUP`
    Hup,
    /// `SIGILL`
    Ill,
    /// `SIGINT`
    Int,
    /// `SIGKILL`
    Kill,
    /// `SIGPIPE`
    Pipe,
    /// `SIGQUIT`
    Quit,
    /// `SIGSEGV`
    Segv,
    /// `SIGTERM`
    Term,
    /// `SIGTRAP`
    Trap,
    /// `SIGUSR1`
    Usr1,
    /// `SIGUSR2`
    Usr2,
}

impl Signal {
    /// Every signal, in the order of the rules crate's `SIGNALS`.
    pub const ALL: [Signal; 14] = [
        Signal::Abrt,
        Signal::Alrm,
        Signal::Fpe,
        Signal::Hup,
        Signal::Ill,
        Signal::Int,
        Signal::Kill,
        Signal::Pipe,
        Signal::Quit,
        Signal::Segv,
        Signal::Term,
        Signal::Trap,
        Signal::Usr1,
        Signal::Usr2,
    ];

    /// The signal's name as Fly writes it (`SIGTERM`).
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Abrt => "SIGABRT",
            Signal::Alrm => "SIGALRM",
            Signal::Fpe => "SIGFPE",
            Signal::Hup => "SIGHUP",
            Signal::Ill => "SIGILL",
            Signal::Int => "SIGINT",
            Signal::Kill => "SIGKILL",
            Signal::Pipe => "SIGPIPE",
            Signal::Quit => "SIGQUIT",
            Signal::Segv => "SIGSEGV",
            Signal::Term => "SIGTERM",
            Signal::Trap => "SIGTRAP",
            Signal::Usr1 => "SIGUSR1",
            Signal::Usr2 => "SIGUSR2",
        }
    }

    /// The wire enum of one call, or an error naming the call and the signals it accepts.
    fn as_wire<T: FromStr>(self, call: &'static str) -> Result<T> {
        self.as_str().parse().map_err(|_| {
            Error::invalid_input(
                call,
                self.as_str(),
                &format!("one of {}", fly_machines_rules::STOP_SIGNALS.join(", ")),
            )
        })
    }

    pub(crate) fn for_stop(self) -> Result<types::StopRequestSignal> {
        self.as_wire("stop signal")
    }

    pub(crate) fn for_restart(self) -> Result<types::MachinesRestartSignal> {
        self.as_wire("restart signal")
    }

    pub(crate) fn for_signal(self) -> Result<types::SignalRequestSignal> {
        self.as_wire("signal")
    }
}

impl FromStr for Signal {
    type Err = Error;

    /// Reads a signal by its name (`SIGUSR1`), refusing any other word with the rules crate's
    /// error (the one the emulator and the derive give).
    fn from_str(word: &str) -> Result<Signal> {
        let known = fly_machines_rules::check_signal(word)?;
        Signal::ALL
            .into_iter()
            .find(|s| s.as_str() == known)
            .ok_or_else(|| Error::invalid_input("signal", word, "a signal this version names"))
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fly_machines_rules as rules;

    /// One vocabulary: the typed signals, the document's enums (what the client sends) and the
    /// rules crate's lists (what the derive and the emulator accept) name the same words.
    #[test]
    fn signals_agree_with_the_document_and_the_rules() {
        let ours: Vec<&str> = Signal::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(ours, rules::SIGNALS);
        for signal in Signal::ALL {
            assert_eq!(signal.as_str().parse::<Signal>().unwrap(), signal);
        }
        let refused = "SIGBOGUS".parse::<Signal>().unwrap_err();
        assert_eq!(refused.rule().map(|r| r.rule()), Some(rules::Rule::Signal));
        for signal in Signal::ALL {
            let word = signal.as_str();
            let stops = rules::STOP_SIGNALS.contains(&word);
            assert_eq!(signal.for_stop().is_ok(), stops, "{word} for stop");
            assert_eq!(signal.for_restart().is_ok(), stops, "{word} for restart");
            assert!(signal.for_signal().is_ok(), "{word} for signal");
        }
    }

    #[test]
    fn stop_takes_its_subset_and_names_the_rest() {
        assert_eq!(
            Signal::Int.for_stop().unwrap(),
            types::StopRequestSignal::Sigint
        );
        assert_eq!(
            Signal::Usr2.for_restart().unwrap(),
            types::MachinesRestartSignal::Sigusr2
        );
        let err = Signal::Pipe.for_stop().unwrap_err().to_string();
        assert!(
            err.contains("stop signal") && err.contains("SIGPIPE"),
            "{err}"
        );
        assert_eq!(
            Signal::Pipe.for_signal().unwrap(),
            types::SignalRequestSignal::Sigpipe
        );
    }
}
