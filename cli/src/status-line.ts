/**
 * Live progress: on a terminal one line rewritten in place, elsewhere (CI logs, pipes) a plain line
 * every few seconds so logs stay readable.
 */
export class StatusLine {
  private last = 0;
  private readonly tty: boolean;
  constructor(private readonly out: NodeJS.WriteStream = process.stderr, private readonly plainEveryMs = 5000) {
    this.tty = Boolean(out.isTTY);
  }

  update(text: string, force = false): void {
    if (this.tty) {
      this.out.write(`\r\x1b[2K${text}`);
      return;
    }
    const now = Date.now();
    if (force || now - this.last >= this.plainEveryMs) {
      this.last = now;
      this.out.write(text + '\n');
    }
  }

  done(): void {
    if (this.tty) this.out.write('\n');
  }
}
