// Setting up ONNX Runtime sessions for the model's graphs: the graph written beside the weight
// cache it reads, the execution provider (CUDA with a CPU fallback), and the options of
// sessions that share the mapped weights.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write';
import * as ort from './ort';
import type { WeightLayout } from './weights';

export type ExecutionProvider = 'cpu' | 'cuda';

/**
 * For graphs that run now and then on shapes that change each run (scoring, training): no
 * pre-packing (a training backward uses each weight in a second layout, which doubled the
 * packed copies: on the 0.5B shape 4.4 GB more, and no faster), and no arena or memory
 * pattern, so the memory of a run goes back when it ends (the trainers turn the arena back on
 * for the life of a training run: `BatchOptions.memoryArena`). The weights are then read from
 * the mapped cache file, shared by every such session.
 */
export const SHARED_WEIGHTS_SESSION: ort.InferenceSession.SessionOptions = {
  enableCpuMemArena: false,
  enableMemPattern: false,
  extra: { session: { disable_prepacking: '1' } },
};

export async function createSession(
  graphPath: string,
  base: ort.InferenceSession.SessionOptions,
  provider: ExecutionProvider,
  log: (message: string) => void,
): Promise<{ session: ort.InferenceSession; provider: ExecutionProvider; sessionOptions: ort.InferenceSession.SessionOptions }> {
  if (provider === 'cuda') {
    const sessionOptions = { ...base, executionProviders: ['cuda', 'cpu'] };
    try {
      return { session: await ort.InferenceSession.create(graphPath, sessionOptions), provider: 'cuda', sessionOptions };
    } catch (error) {
      log(
        `CUDA execution provider unavailable, falling back to CPU: ${firstLine((error as Error).message)}. ` +
          'Install its libraries with ONNXRUNTIME_NODE_INSTALL=cuda12 (see docs/development.md).',
      );
    }
  }
  const sessionOptions = { ...base, executionProviders: ['cpu'] };
  return { session: await ort.InferenceSession.create(graphPath, sessionOptions), provider: 'cpu', sessionOptions };
}

export function writeGraph(layout: WeightLayout, name: string, bytes: Uint8Array): string {
  mkdirSync(layout.dir, { recursive: true });
  const path = join(layout.dir, `${name}.onnx`);
  writeFileAtomic(path, bytes);
  return path;
}

function firstLine(text: string): string {
  return text.split('\n')[0];
}
