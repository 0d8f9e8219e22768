/** A pino logger (what the gateway's code logs to) that writes into a node's log: warnings and errors show in the editor's debug sidebar. */
import pino, { type Logger } from 'pino';
import type { Node } from './red.js';

export function nodeLogger(node: Node, name: string, level = 'info'): Logger {
  return pino({ name, level, base: undefined, timestamp: false }, {
    write(line: string) {
      let rec: { level?: number; msg?: string; [k: string]: unknown };
      try {
        rec = JSON.parse(line) as typeof rec;
      } catch {
        return;
      }
      const { level: lv = 30, msg = '', name: _n, ...rest } = rec;
      const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
      if (lv >= 50) node.error(`${msg}${extra}`);
      else if (lv >= 40) node.warn(`${msg}${extra}`);
      else node.log(`${msg}${extra}`);
    },
  });
}
