import { closeSync, existsSync, fdatasync, fsyncSync, openSync, readFileSync, renameSync, ftruncateSync, writeSync } from 'node:fs';
import { BSON } from 'mongodb';
import type { Doc } from './documents.js';

/**
 * An append-only file of BSON documents: the embedded mode's durability. Each append is one
 * write of whole documents, so a killed process leaves every append complete or absent; a cut
 * short by a machine failure is found at open (a document whose length runs past the end, or
 * that does not parse) and cut off, with everything after it.
 */
export class Journal {
  private syncing: Promise<void> | undefined;
  private dirty = false;

  private constructor(
    readonly path: string,
    private fd: number,
  ) {}

  /** Opens (creating) the journal and returns the documents in it, cutting off a torn end. */
  static open(path: string): { journal: Journal; records: Doc[] } {
    const records: Doc[] = [];
    let good = 0;
    if (existsSync(path)) {
      const bytes = readFileSync(path);
      while (good + 4 <= bytes.length) {
        const size = bytes.readInt32LE(good);
        if (size < 5 || good + size > bytes.length) break;
        try {
          records.push(BSON.deserialize(bytes.subarray(good, good + size)) as Doc);
        } catch {
          break;
        }
        good += size;
      }
      if (good < bytes.length) {
        const fd = openSync(path, 'r+');
        ftruncateSync(fd, good);
        closeSync(fd);
      }
    }
    return { journal: new Journal(path, openSync(path, 'a')), records };
  }

  /**
   * Reads the complete documents of a journal from a byte position on, without opening it for
   * writing: a reader beside the process that writes it (a torn or unfinished end is left for later).
   */
  static read(path: string, from = 0): { records: Doc[]; next: number } {
    if (!existsSync(path)) return { records: [], next: from };
    const bytes = readFileSync(path).subarray(from);
    const records: Doc[] = [];
    let good = 0;
    while (good + 4 <= bytes.length) {
      const size = bytes.readInt32LE(good);
      if (size < 5 || good + size > bytes.length) break;
      records.push(BSON.deserialize(bytes.subarray(good, good + size)) as Doc);
      good += size;
    }
    return { records, next: from + good };
  }

  /** Writes a whole file of documents in place of the old one, atomically (write, sync, rename); returns its size. */
  static rewrite(path: string, records: Iterable<Doc>): number {
    const temporary = `${path}.new`;
    const fd = openSync(temporary, 'w');
    try {
      let chunk: Uint8Array[] = [];
      let size = 0;
      let total = 0;
      for (const record of records) {
        const bytes = BSON.serialize(record);
        chunk.push(bytes);
        size += bytes.length;
        total += bytes.length;
        if (size > 4 << 20) {
          writeSync(fd, Buffer.concat(chunk));
          chunk = [];
          size = 0;
        }
      }
      if (chunk.length > 0) writeSync(fd, Buffer.concat(chunk));
      fsyncSync(fd);
      renameSync(temporary, path);
      return total;
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Empties the journal in place (the same file, so syncs in flight stay valid). Only after what
   * it held is in a snapshot: replaying whole-document changes over a state that has them already
   * gives that state again, so a crash between the two loses nothing.
   */
  truncate(): void {
    ftruncateSync(this.fd, 0);
    fsyncSync(this.fd);
    this.dirty = false;
  }

  /** Appends documents in one write: durable against a killed process once this returns. */
  append(records: readonly Doc[]): number {
    if (records.length === 0) return 0;
    const bytes = records.length === 1 ? BSON.serialize(records[0]!) : Buffer.concat(records.map((r) => BSON.serialize(r)));
    writeSync(this.fd, bytes);
    this.dirty = true;
    return bytes.length;
  }

  /** Durable against a machine failure once this resolves; concurrent callers share one sync. */
  async sync(): Promise<void> {
    while (this.syncing) await this.syncing;
    // Closed: synced at close.
    if (!this.dirty || this.fd < 0) return;
    this.dirty = false;
    this.syncing = new Promise<void>((resolve, reject) => fdatasync(this.fd, (error) => (error ? reject(error) : resolve()))).finally(() => (this.syncing = undefined));
    await this.syncing;
  }

  close(): void {
    if (this.fd < 0) return;
    if (this.dirty) fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
  }
}
