/** The visible range as CSV, built in the browser from decrypted points: nothing goes to a server. */
export function toCsv(patient: string, series: Array<[stream: string, unit: string, points: [number[], number[]]]>): string {
  const lines = ['patient,stream,time_iso,time_ms,value,unit'];
  for (const [stream, unit, [xs, ys]] of series) {
    for (let i = 0; i < xs.length; i++) {
      const ms = Math.round(xs[i]! * 1000);
      lines.push(`${patient},${stream},${new Date(ms).toISOString()},${ms},${ys[i]},${unit}`);
    }
  }
  return lines.join('\n') + '\n';
}
