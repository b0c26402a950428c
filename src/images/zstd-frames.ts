// The window each zstd frame asks for, read from its header as the bytes
// stream past (RFC 8878, 3.1.1). libzstd refuses a window over 2^27 bytes
// ("Frame requires too much memory"); the pure-JS decoder, used where
// libzstd is missing, allocates whatever a frame asks (up to ~2 GiB: a 4 KB
// layer took 1.16 GB of RSS). This refuses what libzstd refuses, before
// the decoder sees the frame.

/** libzstd's ZSTD_WINDOWLOG_LIMIT_DEFAULT. */
export const WINDOW_MAX = 2 ** 27;

const MAGIC = 0xfd2fb528;

type State = 'magic' | 'frame' | 'block' | 'skippable';

/** Throws where a frame's window (a single-segment frame's content size) is over WINDOW_MAX. */
export class ZstdFrameGuard {
  /** Bytes of the stream still to skip (a block's or a skippable frame's body, a checksum). */
  #skip = 0;
  /** Bytes of a header being gathered, and how many it needs (0: the next thing is a frame or a block header). */
  #held: number[] = [];
  #want = 4;
  #state: State = 'magic';
  #checksum = false;

  feed(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length; ) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - i);
        this.#skip -= n;
        i += n;
        continue;
      }
      this.#held.push(chunk[i++]);
      if (this.#held.length === this.#want) {
        const next = this.#header();
        if (next) this.#next(...next);
      }
    }
  }

  /** What comes after the header held: the state, the bytes its header needs, the bytes to skip first; undefined while more are needed. */
  #header(): [State, number, number?] | undefined {
    const h = this.#held;
    if (this.#state === 'magic') {
      const magic = (h[0] | (h[1] << 8) | (h[2] << 16) | (h[3] << 24)) >>> 0;
      if (magic === MAGIC) return ['frame', 1];
      // A skippable frame (0x184D2A5?): its 4-byte length, then that many bytes.
      if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) return ['skippable', 4];
      // Not a frame: the decoder says what is wrong with it.
      return ['magic', 4, Number.POSITIVE_INFINITY];
    }
    if (this.#state === 'skippable') return ['magic', 4, (h[0] | (h[1] << 8) | (h[2] << 16) | (h[3] << 24)) >>> 0];
    if (this.#state === 'frame') {
      // The frame header descriptor, the window descriptor (not in a single-segment frame), the dictionary ID, the content size.
      const fhd = h[0];
      const single = (fhd & 0x20) !== 0;
      const dictBytes = [0, 1, 2, 4][fhd & 3];
      const fcsBytes = [single ? 1 : 0, 2, 4, 8][fhd >> 6];
      const need = 1 + (single ? 0 : 1) + dictBytes + fcsBytes;
      if (h.length < need) {
        this.#want = need;
        return undefined;
      }
      this.#checksum = (fhd & 4) !== 0;
      let window: number;
      if (single) {
        const at = 1 + dictBytes;
        let fcs = 0;
        for (let b = fcsBytes - 1; b >= 0; b--) fcs = fcs * 256 + h[at + b];
        window = fcs + (fcsBytes === 2 ? 256 : 0);
      } else {
        const exponent = h[1] >> 3;
        const base = 2 ** (10 + exponent);
        window = base + (base / 8) * (h[1] & 7);
      }
      if (window > WINDOW_MAX) throw new Error(`a zstd frame asks for a window of ${window} bytes, more than ${WINDOW_MAX} (libzstd's limit)`);
      return ['block', 3];
    }
    // A block header: last flag, type, size (a RLE block's body is 1 byte).
    const header = h[0] | (h[1] << 8) | (h[2] << 16);
    const type = (header >> 1) & 3;
    const body = type === 1 ? 1 : header >> 3;
    if ((header & 1) === 0) return ['block', 3, body];
    return ['magic', 4, body + (this.#checksum ? 4 : 0)];
  }

  #next(state: State, want: number, skip = 0): void {
    this.#state = state;
    this.#want = want;
    this.#held = [];
    this.#skip = skip;
  }
}
