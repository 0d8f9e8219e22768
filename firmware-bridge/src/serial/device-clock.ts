/**
 * Maps a device's own clock (ms since it booted, say) onto wall time.
 *
 * The gateway sends a time-sync request stamped t0 (wall); the device answers with its clock t1;
 * the answer arrives at t2 (wall). Assuming the link is symmetric, device time t1 happened at
 * (t0 + t2) / 2, so offset = (t0 + t2) / 2 − t1, with an error of at most half the round trip.
 * The sample with the smallest round trip wins, as in NTP's clock filter. Until the first
 * handshake completes, the arrival of a frame gives a cruder bound (offset ≤ arrival − device time).
 */
export interface ClockEstimate {
  offsetMs: number;
  /** Half the round trip of the winning handshake; Infinity while only arrival times are known. */
  uncertaintyMs: number;
  source: 'handshake' | 'arrival';
}

/** A handshake older than this is replaced by a fresh one even if its round trip was shorter, so drift is followed. */
const HANDSHAKE_MAX_AGE_MS = 10 * 60_000;

export class DeviceClock {
  private est: ClockEstimate | undefined;
  private at = 0;

  observeArrival(deviceTime: number, arrivedAt: number): void {
    if (this.est?.source === 'handshake') return;
    const offset = arrivedAt - deviceTime;
    // The smallest arrival−device difference is the least delayed frame: the best bound.
    if (!this.est || offset < this.est.offsetMs) this.est = { offsetMs: offset, uncertaintyMs: Infinity, source: 'arrival' };
  }

  observeHandshake(t0: number, t1: number, t2: number): void {
    if (t2 < t0) return;
    const half = (t2 - t0) / 2;
    const candidate: ClockEstimate = { offsetMs: (t0 + t2) / 2 - t1, uncertaintyMs: half, source: 'handshake' };
    const stale = t2 - this.at > HANDSHAKE_MAX_AGE_MS;
    if (!this.est || this.est.source !== 'handshake' || half <= this.est.uncertaintyMs || stale) {
      this.est = candidate;
      this.at = t2;
    }
  }

  get estimate(): ClockEstimate | undefined {
    return this.est;
  }

  /** Wall time (integer ms) of a device timestamp. */
  toWall(deviceTime: number): number | undefined {
    return this.est ? Math.round(deviceTime + this.est.offsetMs) : undefined;
  }
}
