//! A plan as text a person reviews before it runs, in the manner of `terraform plan`: a summary
//! line, then per group one line per machine (`+` create, `~` update, `!` put back after drift,
//! `-` destroy, `=` keep) with the values that change under each update.

use std::fmt;

use crate::plan::{DestroyReason, Plan, Step, UpdateReason};

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.summary();
        write!(f, "Plan for fleet `{}` in app `{}`: ", self.fleet, self.app)?;
        if self.is_converged() {
            write!(f, "no changes, {} machines as desired", s.keep)?;
        } else {
            write!(
                f,
                "{} to create, {} to update, {} to put back, {} to destroy, {} unchanged",
                s.create,
                s.update,
                s.drift + s.uncordon,
                s.destroy,
                s.keep
            )?;
        }
        if s.foreign > 0 {
            let plural = if s.foreign == 1 { "" } else { "s" };
            write!(f, "; {} foreign machine{plural} left alone", s.foreign)?;
        }
        writeln!(f, ".")?;
        for group in &self.groups {
            writeln!(f)?;
            match &group.strategy {
                Some(strategy) => writeln!(
                    f,
                    "group `{}` at revision {} ({strategy})",
                    group.name, group.revision
                )?,
                None => writeln!(
                    f,
                    "group `{}` (no longer in the fleet: its machines go)",
                    group.name
                )?,
            }
            if group.steps.is_empty() {
                writeln!(f, "  (no machines)")?;
            }
            for step in &group.steps {
                write_step(f, step)?;
            }
        }
        if !self.foreign.is_empty() {
            writeln!(f)?;
            writeln!(f, "foreign machines (never touched):")?;
            for m in &self.foreign {
                let owner = match &m.owner {
                    Some(owner) => format!("owned by fleet `{owner}`"),
                    None => "no fleet mark".to_owned(),
                };
                writeln!(f, "    {:<4} {:<16} {owner}", m.region, m.machine_id)?;
            }
        }
        Ok(())
    }
}

fn write_step(f: &mut fmt::Formatter<'_>, step: &Step) -> fmt::Result {
    match step {
        Step::Create {
            region,
            revision,
            volume,
            ..
        } => {
            write!(f, "  + create  {region:<4} {:<16} at {revision}", "(new)")?;
            if let Some(v) = volume {
                write!(
                    f,
                    ", with a {} GB volume `{}` at {}",
                    v.size_gb(),
                    v.name(),
                    v.path()
                )?;
            }
            writeln!(f)
        }
        Step::Update {
            machine_id,
            region,
            from_revision,
            to_revision,
            reason,
            changes,
            ..
        } => {
            let from = from_revision.as_deref().unwrap_or("unmarked");
            match reason {
                UpdateReason::NewRevision => writeln!(
                    f,
                    "  ~ update  {region:<4} {machine_id:<16} {from} -> {to_revision}"
                )?,
                UpdateReason::Drift => writeln!(
                    f,
                    "  ! drift   {region:<4} {machine_id:<16} changed outside the deployer, put back to {to_revision}"
                )?,
            }
            for change in changes {
                writeln!(f, "      {change}")?;
            }
            Ok(())
        }
        Step::Destroy {
            machine_id,
            region,
            reason,
        } => {
            let why = match reason {
                DestroyReason::ScaleDown => "more than desired in the region",
                DestroyReason::RegionRemoved => "region no longer desired",
                DestroyReason::GroupRemoved => "group no longer in the fleet",
            };
            writeln!(f, "  - destroy {region:<4} {machine_id:<16} {why}")
        }
        Step::Uncordon { machine_id, region } => writeln!(
            f,
            "  ! uncordon {region:<3} {machine_id:<16} left out of the proxy by an interrupted run"
        ),
        Step::Keep {
            machine_id,
            region,
            state,
        } => writeln!(f, "  = keep    {region:<4} {machine_id:<16} {state}"),
    }
}
