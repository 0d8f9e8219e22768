/**
 * Heart rate as a strap reports it, from beat times: the RR intervals of the beats in the last
 * second, and the rate from the mean of the last four RR intervals. Synthetic bodies and annotated
 * recordings both report through this, so their HR always agrees with their waveform's beats.
 */
const round1 = (x: number) => Math.round(x * 10) / 10;

/** `beats`: beat times (ms, ascending) up to `at`, covering a few seconds before it. */
export function heartRateAt(beats: readonly number[], at: number): { hr: number; rr?: number[] } | undefined {
  if (beats.length < 2) return undefined;
  const rrAll: number[] = [];
  for (let i = 1; i < beats.length; i++) rrAll.push(beats[i]! - beats[i - 1]!);
  const recent = beats.filter((b) => b > at - 1000).length;
  const rr = rrAll.slice(rrAll.length - Math.min(recent, rrAll.length)).map(round1);
  const last = rrAll.slice(-4);
  const hr = round1(60_000 / (last.reduce((a, b) => a + b, 0) / last.length));
  if (!(hr > 0 && hr <= 600)) return undefined;
  // No beat in the last second (a rate under 60/min) means no RR to report, not an empty list.
  return rr.length ? { hr, rr } : { hr };
}
