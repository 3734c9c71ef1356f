//! Power cuts in the middle of random writes: nothing acknowledged is lost, nothing is damaged.
//!
//! A [`PowerLossHarness`] runs a backend on storage that can lose power — the native file
//! backend on a simulated disk that keeps a durable and a volatile image of every file and
//! directory. [`power_loss_seeds`] makes random writes (checkpoints, attachments, deletions,
//! compactions, vacuums, imports of the store's own exports; segment rotations come with small
//! segments) with every write synced before it returns, and a shadow store in memory making the
//! same writes. At a random storage call the power goes; the harness restarts on what the
//! durable image holds after the writes not yet synced were dropped, torn or reordered, and
//! sometimes cuts the power again while the store opens (while it moves a torn tail aside or
//! removes an abandoned generation). Then:
//!
//! - the store opens — a power cut never touches synced bytes, so any damage it names is a bug;
//! - it verifies;
//! - it holds exactly what the shadow held before the interrupted write, or after it — and after
//!   it whenever that write had returned `Ok` (it was acknowledged).
//!
//! The shadow then continues from whichever the restart found. Everything is seeded: a failure
//! names its seed and the writes before it.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::RangeInclusive;

use super::random_writes::{Rng, Values, observed, write};
use super::{Harness, MemoryHarness, TestStore, open_with};
use crate::{DeterministicEnv, MemoryBackend, Options, Result, Store};

/// Writes per seed.
const STEPS: usize = 40;
/// Power cuts per seed at most (each followed by a restart).
const CUTS: usize = 3;

/// A [`Harness`] whose backends run on storage that can lose power. It acts on the storage of
/// the backend it made last (the scenario uses one at a time).
pub trait PowerLossHarness: Harness {
    /// Cuts the power at the `calls`-th call from now that changes storage (a write, a sync, a
    /// create, rename or removal): that call and every later one fail, and what storage holds
    /// stays as it was at the cut.
    fn cut_power_after(&mut self, calls: u64);
    /// Whether the power has been cut since the last restart.
    fn power_was_cut(&self) -> bool;
    /// Opens a backend on what storage holds after the power came back: what was synced, plus
    /// whatever of the unsynced writes `seed` lets survive (dropped, torn at any byte, a later
    /// one kept without an earlier one). With `cut_after`, the power is cut again that many
    /// storage calls into the open. Every earlier backend of this storage must be gone.
    fn restart(&mut self, seed: u64, cut_after: Option<u64>) -> Result<Self::Backend>;
    /// Cancels a cut set by [`cut_power_after`](Self::cut_power_after) or
    /// [`restart`](Self::restart) that has not happened yet.
    fn keep_power_on(&mut self);
    /// Called with each store that opened after a restart (for counting what opens found).
    fn opened(&mut self, backend: &Self::Backend) {
        let _ = backend;
    }
}

/// What a run of [`power_loss_seeds`] went through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PowerLossReport {
    /// Seeds run.
    pub sequences: u64,
    /// Writes made (accepted or refused).
    pub writes: u64,
    /// Power cuts during writes.
    pub cuts: u64,
    /// Power cuts while a restart was opening the store.
    pub cuts_during_open: u64,
    /// Interrupted writes that had already returned `Ok` (and were found, as they must be).
    pub acknowledged_at_cut: u64,
    /// Interrupted writes found after the restart although they had not returned.
    pub kept_at_cut: u64,
    /// Interrupted writes not found after the restart.
    pub lost_at_cut: u64,
}

/// The scenario over `seeds`; panics naming the seed and its writes on the first failure.
pub fn power_loss_seeds<H: PowerLossHarness>(
    h: &mut H,
    seeds: RangeInclusive<u64>,
) -> PowerLossReport {
    let values = Values::new();
    let options = Options::default().sync_every_write(true);
    let mut report = PowerLossReport::default();
    for seed in seeds {
        report.sequences += 1;
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let env = DeterministicEnv::new();
        let mut store = open_with::<H>(h.fresh(), env.clone(), options.clone());
        let mut shadow = open_with::<MemoryHarness>(MemoryBackend::new(), env, options.clone());
        let (mut exports, mut shadow_exports) = (Vec::new(), Vec::new());
        let mut trace: Vec<String> = Vec::new();
        let mut cuts = 0;
        let mut armed = false;
        for _ in 0..STEPS {
            if !armed && cuts < CUTS && r.chance(20) {
                h.cut_power_after(1 + r.below(16) as u64);
                armed = true;
            }
            // What the shadow held before the write, to go back to if the cut lost it.
            let before = armed.then(|| {
                (
                    observed::<MemoryHarness>(&shadow),
                    shadow.backend().bytes().to_vec(),
                )
            });
            let mut shadow_r = r.clone();
            let done = write::<H>(&mut store, &mut r, &values, &mut exports);
            let shadow_done =
                write::<MemoryHarness>(&mut shadow, &mut shadow_r, &values, &mut shadow_exports);
            let failure = |trace: &[String], why: &str| -> String {
                format!("seed {seed}: {why}\n{}", trace.join("\n"))
            };
            let (Some((what, result)), Some((_, shadow_result))) = (done, shadow_done) else {
                continue;
            };
            report.writes += 1;
            trace.push(format!("{what} -> {:?}", result.as_ref().err()));
            if !h.power_was_cut() {
                assert!(
                    result.is_ok() == shadow_result.is_ok(),
                    "{}",
                    failure(
                        &trace,
                        &format!("the memory store answered {shadow_result:?}")
                    )
                );
                continue;
            }
            // The power went during this write.
            report.cuts += 1;
            cuts += 1;
            armed = false;
            let acknowledged = result.is_ok();
            let env = store.env_mut().clone();
            drop(store);
            let (restarted, cuts_in_open) =
                restart(h, &mut r, &env, &options, |why| failure(&trace, why));
            store = restarted;
            report.cuts_during_open += cuts_in_open;
            trace.push(format!(
                "  power cut (acknowledged: {acknowledged}); restarted after {cuts_in_open} more"
            ));
            let verified = store.verify();
            assert!(
                verified.is_ok(),
                "{}",
                failure(&trace, &format!("verify after the restart: {verified:?}"))
            );
            let found = observed::<H>(&store);
            let after = observed::<MemoryHarness>(&shadow);
            let (before, before_log) = before.unwrap_or_default();
            if found == after {
                if acknowledged {
                    report.acknowledged_at_cut += 1;
                } else {
                    report.kept_at_cut += 1;
                }
                *shadow.env_mut() = env;
            } else if found == before && !acknowledged {
                report.lost_at_cut += 1;
                shadow = open_with::<MemoryHarness>(
                    MemoryBackend::from_bytes(before_log),
                    env,
                    options.clone(),
                );
            } else {
                panic!(
                    "{}",
                    failure(
                        &trace,
                        &format!(
                            "after the restart the store holds\n{found}\nbut before the write \
                             it held\n{before}\nand after it\n{after}"
                        )
                    )
                );
            }
        }
    }
    report
}

/// Restarts until an open completes without another power cut; returns the store and how many
/// cuts hit opens. Panics (with `failure`'s text) when an open that was not cut fails.
fn restart<H: PowerLossHarness>(
    h: &mut H,
    r: &mut Rng,
    env: &DeterministicEnv,
    options: &Options,
    failure: impl Fn(&str) -> String,
) -> (TestStore<H>, u64) {
    let mut cuts = 0;
    loop {
        let cut_after = (cuts < 3 && r.chance(30)).then(|| 1 + r.below(6) as u64);
        let opened = h
            .restart(r.next(), cut_after)
            .and_then(|backend| Store::open(backend, env.clone(), options.clone()));
        match opened {
            Ok((store, _)) if !h.power_was_cut() => {
                h.keep_power_on();
                h.opened(store.backend());
                return (store, cuts);
            }
            // Cut after the open finished its writes: the store is fine but the power is off.
            Ok(_) => cuts += 1,
            Err(_) if h.power_was_cut() => cuts += 1,
            Err(e) => panic!(
                "{}",
                failure(&format!(
                    "the restarted store did not open (after {cuts} cuts during opens): {e}"
                ))
            ),
        }
    }
}
