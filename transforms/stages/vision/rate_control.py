"""How fast one worker process sends Vision calls, and how it reacts to 429s.

Today's rules (each constant below is one of them; docs/vision-pacing.md has the
measurements behind them):

- *Slow start*: START_RATE calls/s, x SLOW_START per second while the pacer holds calls,
  until the first 429, so a job's first burst costs a few 429s, not one per call in flight.
- *Decrease*: a 429 for a call sent after the previous cut sets the rate to DECREASE x what
  this worker was *given* (sent minus refused over RATE_WINDOW): with others on the quota
  that is its share. Never below FLOOR_SHARE of its pace, so idling never ratchets it down.
  At the end of slow start the cut is EXIT_DECREASE over the last RATE_SAMPLE calls, since
  that figure still holds the quota's burst. A worker that kept sending since its previous
  429 is measured over that span when lower: both ends met an empty quota, no burst in it.
- *Increase*: STEP_PER_CALL per call the pacer held back, so a worker's share of 429s
  settles near 4 % whatever the number of workers. The step doubles every
  QUIET_DOUBLING_SECS without a 429 (at most 2^QUIET_MAX_DOUBLINGS, at most
  MAX_GROWTH_PER_SEC), so a quota that grows is found in seconds. Under a job-wide limit,
  which keeps the job under the quota, a worker cut by a stray 429 climbs back by
  LIMITED_GROWTH_PER_SEC per second.
- *Hold*: after a 429 every call waits HOLD_FIRST_SECS, doubling for 429s in a row up to
  HOLD_MAX_SECS, times a HOLD_JITTER factor so workers do not re-probe in lock-step; a
  Retry-After (or RetryInfo in the error body) holds them until that moment instead.
  From the third 429 in a row (an empty quota) probes are also PROBE_CALLS calls' worth of
  its given rate apart: each probe is a 429, and a small share spent many calls on them.
- *Spells*: 429s less than SPELL_SECS apart are one spell; once calls pass, the rate climbs
  back (time constant RECOVER_SECS) to RECOVER_SHARE x what it was given before it. An
  answer to a call sent before the latest 429 says nothing of the quota now: it neither
  ends a spell nor resets its holds.
- *Window cycle*: when a quota opens again after an empty spell, having accepted at least
  CYCLE_MIN_CALLS, what it accepted over the open-then-empty cycle is its long-run rate:
  pace there, and probe beyond it only after one more cycle. A cycle given in a burst (all
  in its first BURST_SHARE) is climbed back for that many calls only, then its rate binds
  and probing starts: the climb's target held the burst and emptied the next window early.

`RateControl` is not locked itself: its owner (`backpressure.Backpressure`) calls it under
its lock.
"""
from __future__ import annotations

import collections
import math
import random
from collections.abc import Callable

START_RATE = 4.0          # calls/s before the first 429 ...
SLOW_START = 4.0          # ... growing x4 per second until then
MIN_RATE = 0.2            # calls/s: never pace slower than one call in 5 s
DECREASE = 0.85           # after a 429: 85 % of the rate this worker was given ...
EXIT_DECREASE = 0.6       # ... but 60 % at the end of slow start, where that figure holds the burst
BUSY_SHARE = 0.5          # "since the last 429" counts only if the worker sent half its pace or more
CYCLE_MIN_CALLS = 4       # a window's cycle: at least 4 calls accepted before it emptied ...
BURST_SHARE = 0.5         # ... all of them in its first half: a burst (see the Window cycle rule)
RATE_WINDOW = 10.0        # "the rate it was given": over the last 10 s of calls sent ...
RATE_SAMPLE = 40          # ... at the end of slow start, over the last 40 (at least 1 s)
FLOOR_SHARE = 0.7         # one 429 never takes that figure below 70 % of the pace
STEP_PER_CALL = 0.0066    # +0.66 % per paced call: ~4 % of calls answered 429 at equilibrium
QUIET_DOUBLING_SECS = 3.0  # the step doubles every 3 s without a 429 (halves per 3 s before a window's next cycle) ...
QUIET_MAX_DOUBLINGS = 3   # ... at most x8 ...
MAX_GROWTH_PER_SEC = 0.25  # ... and never more than +25 % a second (a step per call at 30 calls/s)
LIMITED_GROWTH_PER_SEC = 0.5  # under a job-wide limit: +50 % a second (per second, not per call)
HOLD_FIRST_SECS = 0.5     # after a 429 with no hint: hold every call 0.5 s, 1 s, 2 s, 4 s (in a row) ...
HOLD_MAX_SECS = 4.0
HOLD_JITTER = (0.5, 1.5)  # ... times a random factor (at most HOLD_MAX_SECS): no re-probing in lock-step
PROBE_CALLS = 8.0         # a third 429 in a row: probes also 8 calls' worth of the rate it was given apart ...
PROBE_MAX_SECS = 8.0      # ... at most 8 s (the jitter then stays under that figure)
SPELL_SECS = 3.0          # 429s less than 3 s apart are one spell of pressure ...
RECOVER_SHARE = 0.95      # ... after which the rate climbs back to 95 % of what it was given before it
RECOVER_SECS = 0.7        # with this time constant


class RateControl:
    """One worker's pacing state and the rules above."""

    def __init__(self, cap: float | None, adaptive: bool, job_limited: bool,
                 clock: Callable[[], float], rng: random.Random):
        self.cap = cap                    # the hard cap in calls/s, None = none
        self.adaptive = adaptive
        self.job_limited = job_limited    # a job-wide limit (--vision_rate_limit_service) holds the workers
        self.clock, self.rng = clock, rng
        now = clock()
        # calls/s allowed now; None = unpaced (adaptive off and no cap)
        self.rate: float | None = min(START_RATE, self.cap or START_RATE) if self.adaptive else self.cap
        self.ceiling: float | None = None       # the rate given at the last 429; None = slow start
        self.last_slot = -1e9                   # when the last call was let go
        self.blocked_until = 0.0                # set by Retry-After and by holds
        self.last_grow = now
        self.last_decrease = -1e9
        self.streak, self.streak_from = 0, -1e9  # 429s since the last success; when the first was sent
        self.open_since, self.open_count = now, 0   # the current open-then-empty quota cycle
        self.burst_left, self.cycle_rate = 0, 0.0    # after a window's burst: calls until its cycle's rate binds
        self.sent: collections.deque[float] = collections.deque()      # when calls were let go ...
        self.refused: collections.deque[float] = collections.deque()   # ... and those answered 429
        self.before_event = 0.0                 # the pace before the last counted 429 ...
        self.recover_to = 0.0                   # ... and, after 429s in a row, where to climb back fast
        self.spell_given, self.last_event, self.probe_from = 0.0, -1e9, now
        self.last_pressure = -1e9                # the last counted 429, in a spell or not
        self.exit_at = -1e9                      # the end of slow start

    def next_slot(self) -> float:
        """When the next call may go: one pacing interval after the last, and not before a hold ends."""
        interval = 1.0 / self.rate if self.rate else 0.0
        return max(self.last_slot + interval, self.blocked_until)

    def claim(self, now: float, waited: bool) -> None:
        """A call goes now. A wake-up up to half an interval late keeps the beat; later (the job sent
        nothing meanwhile) the beat starts again from now. `waited`: the pacer held this call."""
        interval = 1.0 / self.rate if self.rate else 0.0
        late = now - (self.last_slot + interval)
        self.last_slot = self.last_slot + interval if late <= interval / 2 else now
        self._grow(now, paced=waited)
        self._remember(self.sent, now, now)
        if self.burst_left > 0:
            self.burst_left -= 1
            if not self.burst_left and self.rate:   # a cycle's calls sent since the window reopened
                self.rate, self.recover_to, self.probe_from = min(self.rate, self.cycle_rate), 0.0, now

    def _accepted_rate(self, now: float, recent_only: bool = False, span: float | None = None) -> float:
        """Calls per second the API accepted: calls sent minus those refused, over the last
        RATE_WINDOW s (or since the first call, at least 1 s) -- long enough to span a window
        quota's burst and what follows it. `recent_only` (the end of slow start, when the rate
        has been climbing): over the last RATE_SAMPLE calls instead. Counting by send time keeps
        the figure right at 2 s of latency, when no answer is back yet."""
        if not self.sent:
            return 0.0
        span = span or min(RATE_WINDOW, max(1.0, now - self.sent[0]))
        if recent_only and len(self.sent) >= RATE_SAMPLE:
            span = min(span, max(1.0, now - self.sent[-RATE_SAMPLE]))
        since = now - span
        return max(0, sum(1 for t in self.sent if t >= since) - sum(1 for t in self.refused if t >= since)) / span

    def _remember(self, times: collections.deque, t: float, now: float) -> None:
        times.append(t)
        while times and times[0] < now - RATE_WINDOW:
            times.popleft()

    def answered(self, now: float, sent_at: float | None = None) -> None:
        """An answer to a call sent at `sent_at`."""
        if sent_at is not None and sent_at < self.last_decrease:
            # Sent before the latest 429: it says nothing of the quota now (at 2 s of latency the
            # answers to a burst arrive well into the empty spell that followed it).
            self.open_count += 1
            return
        if self.streak >= 2 and self.adaptive and self.open_count >= CYCLE_MIN_CALLS:
            # The quota was empty until now (a window turned): what it gave over the whole
            # open-then-empty cycle is its long-run rate; pace there, not at the burst's rate.
            cycle = now - self.open_since
            self.ceiling = max(MIN_RATE, self.open_count / cycle)
            self.rate = min(self.ceiling, self.cap) if self.cap else self.ceiling
            # Its rate is known for a cycle now: probe beyond it only after one more cycle.
            self.probe_from = now + cycle
            if self.streak_from - self.open_since < BURST_SHARE * cycle:   # given in a burst, then none
                self.burst_left, self.cycle_rate = self.open_count, self.ceiling
            self.open_since, self.open_count = now, 0
        self.open_count += 1
        self.streak = 0

    def _grow(self, now: float, paced: bool) -> None:
        """Speed up as calls are let go, while no 429 is outstanding and the pacer is what holds
        them (a job that sends less than the rate earns no credit). Growing when a call is sent,
        not when it is answered, keeps slow start quick at 2 s of latency; a 429 comes back fast."""
        dt, self.last_grow = max(0.0, now - self.last_grow), now
        if self.rate is None or not self.adaptive or not paced or self.streak:
            return
        self.rate = self._grown(self.rate, min(dt, 1.0))

    def _grown(self, rate: float, dt: float) -> float:
        if self.ceiling is None:
            rate *= SLOW_START ** dt
        elif rate < self.recover_to:   # successes after a spell of 429s in a row: back, fast
            rate = self.recover_to - (self.recover_to - rate) * math.exp(-dt / RECOVER_SECS)
            if rate >= 0.99 * self.recover_to:
                rate, self.recover_to = self.recover_to, 0.0
        elif self.job_limited:   # the job-wide limit keeps the workers together under the quota:
            rate *= (1.0 + LIMITED_GROWTH_PER_SEC) ** dt   # a worker cut by a stray 429 is back in seconds
        else:   # congestion avoidance: a fixed step per call the pacer held back (see the docstring)
            quiet = (self.clock() - self.probe_from) / QUIET_DOUBLING_SECS   # no 429 for a while:
            step = STEP_PER_CALL * 2 ** min(QUIET_MAX_DOUBLINGS, quiet)   # the room may have grown
            rate *= min(1.0 + step, (1.0 + MAX_GROWTH_PER_SEC) ** dt)   # at 30 calls/s: not x2 a second
        return min(rate, self.cap) if self.cap else rate

    def overloaded(self, now: float, sent_at: float, retry_after: float | None) -> None:
        """A 429: hold, and slow down once per congestion event (calls sent before the last decrease
        were already in flight: their 429s are the same event)."""
        self._remember(self.refused, sent_at, now)
        if retry_after:
            self.blocked_until = max(self.blocked_until, now + retry_after)
        if not self.adaptive or sent_at < self.last_decrease:
            return
        self.streak += 1
        if self.streak == 1:
            self.streak_from = sent_at
        hold, top = min(HOLD_MAX_SECS, HOLD_FIRST_SECS * 2 ** (self.streak - 1)), HOLD_MAX_SECS
        if self.streak >= 3 and self.spell_given > 0:   # empty through two holds: probes cost a share of calls
            floor = min(PROBE_MAX_SECS, PROBE_CALLS / self.spell_given)
            hold, top = max(hold, floor), max(top, floor)
        hold = min(top, hold * self.rng.uniform(*HOLD_JITTER))
        self.blocked_until = max(self.blocked_until, now + hold)
        self.last_decrease, self.last_grow = now, now
        was_pressed, self.last_pressure = self.last_pressure, now
        if self.streak > 1 and self.ceiling:
            # 429s in a row: the quota is empty (a window, another client). Slow down further,
            # and once calls pass again, climb back fast to what it was given before the spell.
            self.recover_to = RECOVER_SHARE * self.spell_given
            self.rate = max(MIN_RATE, DECREASE * (self.rate or START_RATE))
            return
        # Down to DECREASE x what this worker was given (its share, with others on the quota);
        # a worker held or idle for part of the window was given less than the quota would give:
        # one 429 never takes that figure below FLOOR_SHARE of the pace (no ratchet to the floor),
        # except at the end of slow start: there the pace is the overshoot, not a rate ever given.
        self.before_event, self.recover_to = self.rate or START_RATE, 0.0
        measured = self._accepted_rate(now, recent_only=self.ceiling is None)
        floor = FLOOR_SHARE * self.before_event if self.ceiling is not None else 0.0
        if self.ceiling is not None and now - self.last_event >= 1.0:
            measured, floor = self._given_since_event(now, measured, floor)
        exiting = self.ceiling is None
        cut = EXIT_DECREASE if exiting else DECREASE
        self.ceiling = max(measured, floor)
        # What it was given over a whole RATE_WINDOW (a window quota's burst alone is no rate):
        # after 429s in a row, the rate climbs back fast to RECOVER_SHARE x that.
        given = self._accepted_rate(now, span=RATE_WINDOW)
        pressed = now - was_pressed < SPELL_SECS   # 429s close together (a spell or not): one spell
        self.spell_given = max(self.spell_given, given) if pressed else given
        if exiting:
            self.exit_at = now
        elif pressed and now - self.exit_at > RATE_WINDOW:
            # Another 429 of the same spell of pressure, a success between them: once calls pass
            # again, climb back as after 429s in a row (the 10-s figure holds no slow-start burst).
            self.recover_to = RECOVER_SHARE * self.spell_given
        self.last_event = self.probe_from = now
        self.rate = max(MIN_RATE, cut * min(self.ceiling, self.before_event))
        if self.cap:
            self.rate = min(self.rate, self.cap)

    def _given_since_event(self, now: float, measured: float, floor: float) -> tuple[float, float]:
        """(measured, floor) over the time since the previous 429, when the worker kept sending.

        Both ends of that span met an empty quota, so what was accepted between them is what
        the quota gave, with no burst in it (over a plain RATE_WINDOW a bucket's burst keeps
        the figure above the worker's share). A worker that sent less than BUSY_SHARE of its pace was idle,
        not refused: the floor stays, so idling never ratchets its rate down."""
        span = min(RATE_WINDOW, now - self.last_event)
        since = now - span
        sent = sum(1 for t in self.sent if t >= since)
        if sent < BUSY_SHARE * self.before_event * span:
            return measured, floor
        accepted = sent - sum(1 for t in self.refused if t >= since)
        return min(measured, accepted / span), 0.0
