//! How `fly-deploy` shows a run as it goes: plain lines, one per event, when stdout is not a
//! terminal (what scripts, logs and the crash tests read), and a progress bar when it is.

use std::io::IsTerminal;
use std::time::Duration;

use fly_machines_deploy::{Plan, Progress, Step, StrategyKind};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where progress goes.
pub enum Display {
    /// One line per event on stdout.
    Lines,
    /// A bar of the run's steps, with the latest event beside it.
    Bars(Bars),
}

impl Display {
    /// A bar when stdout is a terminal, plain lines otherwise. `total` is the number of steps
    /// the bar counts (see [`steps_of`]); `None` shows a spinner instead.
    pub fn for_stdout(total: Option<u64>) -> Display {
        if std::io::stdout().is_terminal() {
            Display::Bars(Bars::new(total, ProgressDrawTarget::stdout()))
        } else {
            Display::Lines
        }
    }

    /// Shows one event.
    pub fn show(&self, event: &Progress) {
        match self {
            Display::Lines => println!("{}", describe(event)),
            Display::Bars(bars) => bars.show(event),
        }
    }

    /// Clears the bar (if any) so the summary that follows prints on a clean line.
    pub fn finish(&self) {
        if let Display::Bars(bars) = self {
            bars.bar.finish_and_clear();
        }
    }
}

/// The steps of `plan` a bar counts, one per event that completes one: a create, a move, a
/// destroy; a blue-green move is two (the green created, the blue destroyed).
pub fn steps_of(plan: &Plan) -> u64 {
    let mut total: u64 = 0;
    for group in &plan.groups {
        let blue_green = group
            .strategy
            .as_ref()
            .is_some_and(|s| s.kind() == StrategyKind::BlueGreen);
        for step in &group.steps {
            total = total.saturating_add(match step {
                Step::Create { .. } | Step::Destroy { .. } => 1,
                Step::Update { .. } if blue_green => 2,
                Step::Update { .. } => 1,
                _ => 0,
            });
        }
    }
    total
}

/// A progress bar over a run's steps.
pub struct Bars {
    bar: ProgressBar,
}

impl Bars {
    /// A bar of `total` steps (a spinner when unknown) drawn to `target`.
    pub fn new(total: Option<u64>, target: ProgressDrawTarget) -> Bars {
        let bar = match total {
            Some(total) => {
                let bar = ProgressBar::with_draw_target(Some(total), target);
                if let Ok(style) =
                    ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {wide_msg}")
                {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar
            }
            None => {
                let bar = ProgressBar::with_draw_target(None, target);
                if let Ok(style) = ProgressStyle::with_template("{spinner} {pos} {wide_msg}") {
                    bar.set_style(style);
                }
                bar
            }
        };
        bar.enable_steady_tick(Duration::from_millis(120));
        Bars { bar }
    }

    /// Moves the bar for `event`: a finished step advances it; a failure or a rollback is
    /// printed above it, so it stays on screen.
    pub fn show(&self, event: &Progress) {
        let line = describe(event);
        match event {
            Progress::Created { .. } | Progress::Moved { .. } | Progress::Destroyed { .. } => {
                self.bar.inc(1);
                self.bar.set_message(line.trim().to_owned());
            }
            Progress::GateFailed { .. } | Progress::RollingBack { .. } => {
                self.bar.println(line);
            }
            Progress::GroupStarted { .. } => {
                self.bar.println(&line);
                self.bar.set_message(line);
            }
            Progress::Done => self.bar.finish_with_message(line),
            _ => self.bar.set_message(line.trim().to_owned()),
        }
    }
}

/// One event as a line of text.
pub fn describe(event: &Progress) -> String {
    match event {
        Progress::GroupStarted { group, strategy } => format!("group `{group}`: {strategy}"),
        Progress::Created { machine_id, .. } => format!("  created {machine_id}"),
        Progress::Moved {
            machine_id,
            version,
            ..
        } => format!("  moved {machine_id} to version {version}"),
        Progress::GatePassed { machine_id } => format!("  {machine_id} healthy"),
        Progress::GateFailed { error } => format!("  {error}"),
        Progress::RollingBack { group, reason } => {
            format!("group `{group}`: rolling back: {reason}")
        }
        Progress::Destroyed { machine_id } => format!("  destroyed {machine_id}"),
        Progress::Done => "all groups done".to_owned(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fly_machines_deploy::health::GateError;

    fn bars(total: Option<u64>) -> Bars {
        Bars::new(total, ProgressDrawTarget::hidden())
    }

    #[test]
    fn each_finished_step_advances_the_bar_and_done_finishes_it() {
        let b = bars(Some(3));
        b.show(&Progress::GroupStarted {
            group: "web".into(),
            strategy: "rolling".into(),
        });
        assert_eq!(b.bar.position(), 0);
        b.show(&Progress::Created {
            group: "web".into(),
            machine_id: "m1".into(),
        });
        b.show(&Progress::GatePassed {
            machine_id: "m1".into(),
        });
        assert_eq!(
            b.bar.position(),
            1,
            "a gate passing is not a step of its own"
        );
        assert_eq!(b.bar.message(), "m1 healthy");
        b.show(&Progress::Moved {
            group: "web".into(),
            machine_id: "m2".into(),
            version: "v2".into(),
        });
        b.show(&Progress::Destroyed {
            machine_id: "m3".into(),
        });
        assert_eq!((b.bar.position(), b.bar.length()), (3, Some(3)));
        assert_eq!(b.bar.message(), "destroyed m3");
        assert!(!b.bar.is_finished());
        b.show(&Progress::Done);
        assert!(b.bar.is_finished());
        assert_eq!(b.bar.message(), "all groups done");
    }

    #[test]
    fn a_failure_does_not_advance_the_bar_and_a_spinner_counts_without_a_length() {
        let b = bars(None);
        b.show(&Progress::GateFailed {
            error: GateError {
                machine_id: "m1".into(),
                gate: "started".into(),
                saw: "state `failed`".into(),
                timed_out: false,
            },
        });
        b.show(&Progress::RollingBack {
            group: "web".into(),
            reason: "m1 failed".into(),
        });
        assert_eq!((b.bar.position(), b.bar.length()), (0, None));
        b.show(&Progress::Moved {
            group: "web".into(),
            machine_id: "m1".into(),
            version: "v1".into(),
        });
        assert_eq!(b.bar.position(), 1);
    }

    #[test]
    fn the_bar_counts_a_step_per_create_move_and_destroy() {
        let fleet = fly_machines_deploy::DesiredFleet::from_toml(
            "app = \"a\"\n[[group]]\nname = \"web\"\nimage = \"nginx:1\"\nregions = { iad = 3 }\n",
        )
        .expect("fixture");
        assert_eq!(steps_of(&fly_machines_deploy::plan(&fleet, &[])), 3);
    }

    #[test]
    fn lines_are_the_plain_output() {
        assert_eq!(
            describe(&Progress::Moved {
                group: "web".into(),
                machine_id: "m2".into(),
                version: "v2".into(),
            }),
            "  moved m2 to version v2"
        );
        assert_eq!(describe(&Progress::Done), "all groups done");
    }
}
