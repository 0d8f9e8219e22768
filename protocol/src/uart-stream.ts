/**
 * Cuts a serial byte stream into COBS frames at each 0x00. Memory is bounded: a run of bytes longer
 * than any valid frame (noise, a baud-rate mismatch) is dropped up to the next delimiter and
 * counted, instead of growing a buffer.
 */
import { MAX_UART_FRAME_BYTES } from './uart-frame.js';

/** COBS adds one byte per 254 plus the delimiter. */
export const MAX_ENCODED_FRAME_BYTES = MAX_UART_FRAME_BYTES + Math.ceil(MAX_UART_FRAME_BYTES / 254) + 2;

export class FrameSplitter {
  private buf = new Uint8Array(MAX_ENCODED_FRAME_BYTES);
  private len = 0;
  private skipping = false;
  /** Runs of bytes discarded because they exceeded the largest possible frame. */
  oversize = 0;

  /** Feeds bytes; returns the complete frames (without their delimiter) they finished. */
  push(chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    let start = 0;
    for (;;) {
      const z = chunk.indexOf(0, start);
      const end = z < 0 ? chunk.length : z;
      if (!this.skipping) {
        const n = end - start;
        if (this.len + n > MAX_ENCODED_FRAME_BYTES) {
          this.oversize++;
          this.skipping = true;
          this.len = 0;
        } else {
          this.buf.set(chunk.subarray(start, end), this.len);
          this.len += n;
        }
      }
      if (z < 0) break;
      if (!this.skipping && this.len > 0) frames.push(this.buf.slice(0, this.len));
      this.len = 0;
      this.skipping = false;
      start = z + 1;
    }
    return frames;
  }

  /** Bytes held for an unfinished frame (a truncated frame at a disconnect is dropped by reset). */
  get buffered(): number {
    return this.len;
  }

  reset(): void {
    this.len = 0;
    this.skipping = false;
  }
}
