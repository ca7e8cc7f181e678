//! Each outgoing stream's sequence numbers and timestamps, kept continuous
//! across pauses, moves and publisher restarts.

use super::*;

/// Rewrites one outgoing stream's sequence numbers and timestamps so that it
/// stays continuous across pauses (moves) and publisher restarts: a
/// restarted publisher starts from new random ones, which a receiver's
/// jitter buffer would take for a stream from the past or far future.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Rewrite {
    /// The current run: incoming SSRC, first incoming seq, the outgoing seq it
    /// maps to, and the offset added (wrapping) to incoming timestamps.
    pub(super) run: Option<Run>,
    /// Highest outgoing seq written.
    pub(super) max_out: u64,
    /// The last outgoing timestamp and when it was written.
    pub(super) last_time: Option<(u32, Instant)>,
    /// Runs started so far: identifies the current one.
    pub(super) runs: u64,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Run {
    pub(super) ssrc: Ssrc,
    pub(super) base_in: u64,
    pub(super) base_out: u64,
    pub(super) time_offset: u32,
}

impl Rewrite {
    /// The outgoing sequence number and timestamp for an incoming packet, or
    /// `None` for a late packet from before the run (dropped: the receiver
    /// has moved on). `clock_rate` is the codec's (48 kHz, 90 kHz).
    pub(super) fn map(
        &mut self,
        ssrc: Ssrc,
        seq: u64,
        time: u32,
        now: Instant,
        clock_rate: u32,
    ) -> Option<(u64, u32)> {
        let run = match self.run {
            Some(run) if run.ssrc == ssrc => {
                if seq < run.base_in {
                    return None;
                }
                run
            }
            _ => {
                // Continue the outgoing clock from where it stopped, advanced
                // by the time that passed.
                let time_offset = match self.last_time {
                    Some((last, at)) => {
                        let elapsed = now.saturating_duration_since(at).as_secs_f64();
                        let ticks = ((elapsed * f64::from(clock_rate)) as u32).max(1);
                        last.wrapping_add(ticks).wrapping_sub(time)
                    }
                    None => 0,
                };
                let run = Run {
                    ssrc,
                    base_in: seq,
                    base_out: self.max_out + 1,
                    time_offset,
                };
                self.run = Some(run);
                self.runs += 1;
                run
            }
        };
        let out = run.base_out + (seq - run.base_in);
        // Stay far below 2^16 rollovers the receiver could not follow.
        if out > self.max_out + 30_000 {
            self.run = None;
            return None;
        }
        let out_time = time.wrapping_add(run.time_offset);
        if out >= self.max_out {
            self.last_time = Some((out_time, now));
        }
        self.max_out = self.max_out.max(out);
        Some((out, out_time))
    }

    /// The next packet starts a new run (the route was interrupted).
    pub(super) fn restart(&mut self) {
        self.run = None;
    }

    /// Which run the last mapped packet belonged to.
    pub(super) fn run(&self) -> u64 {
        self.runs
    }
}
