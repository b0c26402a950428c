/** Where a hardlink group stands: its first name queued in a batch of first names, being copied, or copied; FREE: no group in the slot. */
export const QUEUED = 0;
export const COPYING = 1;
export const READY = 2;
const FREE = 3;

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The open hardlink groups of a walk, one slot each, held outside V8's
 * heap: columns in typed arrays, first names as bytes in one buffer, and
 * an open-addressing index from (layer and device, inode) to slot; a
 * dropped group's slot is reused. As objects under string keys in a Map a
 * group cost ~250 bytes of heap, as columns beside a Map ~106; V8 sizes
 * its heap at a multiple of what lives in it, so a layer of 1M files, then
 * 1M hardlinks to them (every group open until its second name) peaked at
 * 600, then 440 MB of RSS: docs/benchmarks.md, "Figures behind the code:
 * Hardlink groups".
 */
export class LinkGroups {
  /** `${layer}:${dev}` to a small number, the group's table; each table's layer. */
  readonly #tables = new Map<string, number>();
  readonly #tableLayer: number[] = [];
  /**
   * Names of the inode not met yet: may go below 0 (a bind mount shows more
   * names than the link count). A link count past 2^31 is taken as 2^31 - 1:
   * such a group is never found complete, and stays (as a layer directory's do).
   */
  #left = new Int32Array(1024);
  #state = new Uint8Array(1024).fill(FREE);
  #table = new Int32Array(1024);
  /** The inode number; NaN past 2^53 (then the group is found through #big). */
  #ino = new Float64Array(1024);
  #nameAt = new Float64Array(1024);
  #nameLen = new Uint32Array(1024);
  #slots = 0;
  /** Slot + 1 per position, 0 where empty; linear probing, at most half full. */
  #index = new Int32Array(2048);
  /** Inode numbers past 2^53: `${table}:${ino}` to slot, and back. */
  readonly #big = new Map<string, number>();
  readonly #bigKey = new Map<number, string>();
  #names = Buffer.allocUnsafe(64 * 1024);
  #namesEnd = 0;
  #namesLive = 0;
  /** Names that came before a group's first was copied, for the few groups that have any. */
  readonly #held = new Map<number, string[]>();
  readonly #free: number[] = [];
  #size = 0;
  /** The last first name read, as a string: every later name of a big group pairs with it. */
  #cached = -1;
  #cachedFirst = '';

  /** Groups open. */
  get size(): number {
    return this.#size;
  }

  /** The slot of the group of inode (dev, ino) in `layer`, or -1. */
  find(layer: number, dev: bigint, ino: bigint): number {
    const table = this.#tables.get(`${layer}:${dev}`);
    if (table === undefined) return -1;
    if (ino > SAFE) return this.#big.get(`${table}:${ino}`) ?? -1;
    const at = this.#position(table, Number(ino));
    return at < 0 ? -1 : this.#index[at] - 1;
  }

  /** Opens the group of inode (dev, ino) in `layer`, queued, with its first name and the names still to meet. */
  open(layer: number, dev: bigint, ino: bigint, first: string, left: number): number {
    const tableName = `${layer}:${dev}`;
    let table = this.#tables.get(tableName);
    if (table === undefined) {
      table = this.#tables.size;
      this.#tables.set(tableName, table);
      this.#tableLayer.push(layer);
    }
    const slot = this.#free.pop() ?? this.#grow();
    this.#table[slot] = table;
    this.#left[slot] = Math.min(left, 2 ** 31 - 1);
    // Before the slot is in use: a compaction of the names skips it.
    this.#storeName(slot, first);
    this.#state[slot] = QUEUED;
    if (ino > SAFE) {
      const key = `${table}:${ino}`;
      this.#ino[slot] = Number.NaN;
      this.#big.set(key, slot);
      this.#bigKey.set(slot, key);
    } else {
      this.#ino[slot] = Number(ino);
      if (2 * (this.#size + 1) > this.#index.length) this.#rehash(2 * this.#index.length);
      this.#index[-this.#position(table, Number(ino)) - 1] = slot + 1;
    }
    this.#size++;
    return slot;
  }

  /** Closes a group: its slot is free for the next one. */
  drop(slot: number): void {
    const key = this.#bigKey.get(slot);
    if (key !== undefined) {
      this.#big.delete(key);
      this.#bigKey.delete(slot);
    } else {
      this.#unindex(this.#position(this.#table[slot], this.#ino[slot]));
    }
    this.#namesLive -= this.#nameLen[slot];
    if (this.#cached === slot) this.#cached = -1;
    this.#held.delete(slot);
    this.#state[slot] = FREE;
    this.#free.push(slot);
    this.#size--;
  }

  /** The group's state; FREE (not QUEUED, COPYING or READY) for a slot with no group. */
  state(slot: number): number {
    return this.#state[slot];
  }

  setState(slot: number, state: typeof QUEUED | typeof COPYING | typeof READY): void {
    this.#state[slot] = state;
  }

  layer(slot: number): number {
    return this.#tableLayer[this.#table[slot]];
  }

  first(slot: number): string {
    if (this.#cached !== slot) {
      const at = this.#nameAt[slot];
      this.#cachedFirst = this.#names.toString('latin1', at, at + this.#nameLen[slot]);
      this.#cached = slot;
    }
    return this.#cachedFirst;
  }

  /** One more name of the group met; how many are left to meet. */
  met(slot: number): number {
    return --this.#left[slot];
  }

  left(slot: number): number {
    return this.#left[slot];
  }

  hold(slot: number, name: string): void {
    const held = this.#held.get(slot);
    if (held) held.push(name);
    else this.#held.set(slot, [name]);
  }

  /** The names held for the group, taken out. */
  takeHeld(slot: number): string[] {
    const held = this.#held.get(slot) ?? [];
    this.#held.delete(slot);
    return held;
  }

  /** Where (table, ino) is in the index, or -(the empty position it would take) - 1. */
  #position(table: number, ino: number): number {
    const mask = this.#index.length - 1;
    for (let at = home(table, ino, mask); ; at = (at + 1) & mask) {
      const s = this.#index[at] - 1;
      if (s < 0) return -at - 1;
      if (this.#ino[s] === ino && this.#table[s] === table) return at;
    }
  }

  /** Empties a position, moving later entries of its run back (linear probing keeps no tombstones). */
  #unindex(at: number): void {
    const index = this.#index;
    const mask = index.length - 1;
    let hole = at;
    for (let next = (at + 1) & mask; index[next] !== 0; next = (next + 1) & mask) {
      const s = index[next] - 1;
      const want = home(this.#table[s], this.#ino[s], mask);
      // The entry may fill the hole unless its home lies cyclically in (hole, next].
      if ((next > hole && (want <= hole || want > next)) || (next < hole && want <= hole && want > next)) {
        index[hole] = index[next];
        hole = next;
      }
    }
    index[hole] = 0;
  }

  #rehash(length: number): void {
    const old = this.#index;
    this.#index = new Int32Array(length);
    for (const v of old) {
      if (v !== 0) this.#index[-this.#position(this.#table[v - 1], this.#ino[v - 1]) - 1] = v;
    }
  }

  #storeName(slot: number, name: string): void {
    const length = name.length;
    if (this.#namesEnd + length > this.#names.length) this.#compact(length);
    this.#names.write(name, this.#namesEnd, 'latin1');
    this.#nameAt[slot] = this.#namesEnd;
    this.#nameLen[slot] = length;
    this.#namesEnd += length;
    this.#namesLive += length;
  }

  /** Makes room for `more` bytes of names: the live names packed into a buffer twice their size or more. */
  #compact(more: number): void {
    let size = this.#names.length;
    while (size < 2 * (this.#namesLive + more)) size *= 2;
    const names = Buffer.allocUnsafe(size);
    let end = 0;
    for (let s = 0; s < this.#slots; s++) {
      if (this.#state[s] === FREE) continue;
      const at = this.#nameAt[s];
      end += this.#names.copy(names, end, at, at + this.#nameLen[s]);
      this.#nameAt[s] = end - this.#nameLen[s];
    }
    this.#names = names;
    this.#namesEnd = end;
  }

  #grow(): number {
    const slot = this.#slots++;
    if (slot === this.#state.length) {
      const n = 2 * slot;
      const grown = <T extends Int32Array | Float64Array | Uint8Array | Uint32Array>(a: T, b: T): T => {
        b.set(a);
        return b;
      };
      this.#left = grown(this.#left, new Int32Array(n));
      this.#state = grown(this.#state, new Uint8Array(n).fill(FREE));
      this.#table = grown(this.#table, new Int32Array(n));
      this.#ino = grown(this.#ino, new Float64Array(n));
      this.#nameAt = grown(this.#nameAt, new Float64Array(n));
      this.#nameLen = grown(this.#nameLen, new Uint32Array(n));
    }
    return slot;
  }
}

/** An inode's home position in the index: its number's two halves and its table, mixed. */
function home(table: number, ino: number, mask: number): number {
  const lo = ino >>> 0;
  const hi = (ino / 4294967296) >>> 0;
  let h = Math.imul(lo ^ Math.imul(hi, 0x85ebca6b) ^ Math.imul(table, 0xc2b2ae35), 0x9e3779b1);
  h ^= h >>> 16;
  return h & mask;
}
