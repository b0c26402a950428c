/**
 * The directories of one layer, as parent index + name: a full path per
 * directory, held for the metadata pass, made memory grow with path length
 * times directories (docs/benchmarks.md, "Figures behind the code: Directory table").
 * Paths are rebuilt when a batch needs them.
 */
export class DirTable {
  readonly parent: number[] = [];
  readonly name: string[] = [];
  readonly depth: number[] = [];

  get size(): number {
    return this.name.length;
  }

  add(parent: number, name: string): number {
    this.parent.push(parent);
    this.name.push(name);
    this.depth.push(parent < 0 ? 0 : this.depth[parent] + 1);
    return this.name.length - 1;
  }

  /** The path of directory i relative to the root. */
  rel(i: number): string {
    return this.relFrom(i, 0);
  }

  /** The path of directory i relative to its ancestor `from` ('' when i is from). */
  relFrom(i: number, from: number): string {
    if (i === from) return '';
    let rel = this.name[i];
    for (let p = this.parent[i]; p !== from && p > 0; p = this.parent[p]) rel = `${this.name[p]}/${rel}`;
    return rel;
  }

  /** The deepest common ancestor of directories a and b (a directory is its own ancestor). */
  common(a: number, b: number): number {
    while (this.depth[a] > this.depth[b]) a = this.parent[a];
    while (this.depth[b] > this.depth[a]) b = this.parent[b];
    while (a !== b) {
      a = this.parent[a];
      b = this.parent[b];
    }
    return a;
  }
}
