/** Where a hardlink group stands: its first name queued in a batch of first names, being copied, or copied; FREE: no group in the slot. */
export const QUEUED = 0;
export const COPYING = 1;
export const READY = 2;
const FREE = 3;

type Table = Map<number | string, number>;

/**
 * The open hardlink groups of a walk, one slot each in columns (typed
 * arrays, and an array of first names), found through one map per layer
 * and device from inode number to slot; a dropped group's slot is reused.
 * Objects in a map keyed by strings cost ~250 bytes a group (a heap
 * snapshot of a layer of 1M files, then 1M hardlinks to them: every group
 * open until its second name): docs/benchmarks.md, "Figures behind the
 * code: Hardlink groups".
 */
export class LinkGroups {
  readonly #index = new Map<string, Table>();
  #layer = new Int32Array(1024);
  /** Names of the inode not met yet: may go below 0 (a bind mount shows more names than the link count). */
  #left = new Float64Array(1024);
  #state = new Uint8Array(1024).fill(FREE);
  readonly #first: (string | undefined)[] = [];
  readonly #key: (number | string)[] = [];
  readonly #table: (Table | undefined)[] = [];
  /** Names that came before a group's first was copied, for the few groups that have any. */
  readonly #held = new Map<number, string[]>();
  readonly #free: number[] = [];
  #size = 0;

  /** Groups open. */
  get size(): number {
    return this.#size;
  }

  /** The slot of the group of inode (dev, ino) in `layer`, or -1. */
  find(layer: number, dev: bigint, ino: bigint): number {
    return this.#index.get(`${layer}:${dev}`)?.get(inoKey(ino)) ?? -1;
  }

  /** Opens the group of inode (dev, ino) in `layer`, queued, with its first name and the names still to meet. */
  open(layer: number, dev: bigint, ino: bigint, first: string, left: number): number {
    const name = `${layer}:${dev}`;
    let table = this.#index.get(name);
    if (!table) {
      table = new Map();
      this.#index.set(name, table);
    }
    const slot = this.#free.pop() ?? this.#grow();
    const key = inoKey(ino);
    table.set(key, slot);
    this.#table[slot] = table;
    this.#key[slot] = key;
    this.#first[slot] = first;
    this.#layer[slot] = layer;
    this.#left[slot] = left;
    this.#state[slot] = QUEUED;
    this.#size++;
    return slot;
  }

  /** Closes a group: its slot is free for the next one. */
  drop(slot: number): void {
    this.#table[slot]!.delete(this.#key[slot]);
    this.#table[slot] = undefined;
    this.#first[slot] = undefined;
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
    return this.#layer[slot];
  }

  first(slot: number): string {
    return this.#first[slot]!;
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

  #grow(): number {
    const slot = this.#first.length;
    if (slot === this.#layer.length) {
      const grown = <T extends Int32Array | Float64Array | Uint8Array>(a: T, make: (n: number) => T): T => {
        const b = make(2 * a.length);
        b.set(a);
        return b;
      };
      this.#layer = grown(this.#layer, (n) => new Int32Array(n));
      this.#left = grown(this.#left, (n) => new Float64Array(n));
      this.#state = grown(this.#state, (n) => new Uint8Array(n).fill(FREE));
    }
    this.#first.push(undefined);
    this.#key.push(0);
    this.#table.push(undefined);
    return slot;
  }
}

/** An inode number as a map key: a number below 2^53 (no allocation below 2^31), else its decimal string. */
function inoKey(ino: bigint): number | string {
  return ino <= SAFE ? Number(ino) : ino.toString();
}

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);
