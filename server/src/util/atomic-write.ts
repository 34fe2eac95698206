// Writes that a killed process cannot leave half-done: write a temporary file beside the
// target, fsync it, rename it over the target, then fsync the folder so the rename sticks.

import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** Writes `chunks` to `path` atomically. */
export function writeFileAtomic(path: string, chunks: Iterable<Uint8Array> | Uint8Array): void {
  const temporary = `${path}.tmp-${process.pid}-${Date.now()}`;
  const fd = openSync(temporary, 'w');
  try {
    for (const chunk of chunks instanceof Uint8Array ? [chunks] : chunks) {
      let written = 0;
      while (written < chunk.byteLength) written += writeSync(fd, chunk, written);
    }
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temporary, { force: true });
    throw error;
  }
  closeSync(fd);
  renameSync(temporary, path);
  syncDirectory(dirname(path));
}

function syncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some file systems refuse to open or fsync a folder; the rename itself is still atomic.
  }
}
