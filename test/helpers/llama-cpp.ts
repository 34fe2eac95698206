// llama.cpp through node-llama-cpp, installed in .llama-cpp/ by scripts/setup-llama-cpp.sh
// (npm test and npm run bench run it first). ESM-only, so loaded with import() at run time;
// typed here as far as the GGUF test and the benchmark use it.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from './paths';

export interface LlamaSequence {
  evaluate(tokens: number[], options: { temperature: number }): AsyncIterable<number>;
  evaluateWithoutGeneratingNewTokens(tokens: number[]): Promise<void>;
  clearHistory(): Promise<void>;
  eraseContextTokenRanges(ranges: { start: number; end: number }[]): Promise<void>;
  readonly nextTokenIndex: number;
}

export interface LlamaModel {
  tokenize(text: string, specialTokens?: boolean): readonly number[];
  readonly tokens: { eos: number | null };
  createContext(options: { contextSize: number; batchSize?: number; threads?: number }): Promise<{ getSequence(): LlamaSequence; dispose(): Promise<void> }>;
  dispose(): Promise<void>;
}

export interface Llama {
  /** The CPU's math cores (its default thread count counts hardware threads instead). */
  readonly cpuMathCores: number;
  loadModel(options: { modelPath: string }): Promise<LlamaModel>;
  dispose(): Promise<void>;
}

const entry = join(repoRoot, '.llama-cpp', 'node_modules', 'node-llama-cpp', 'dist', 'index.js');

/** llama.cpp on the CPU, with no build and no download (its prebuilt binaries only). */
export async function loadLlamaCpp(): Promise<Llama> {
  if (!existsSync(entry)) throw new Error('node-llama-cpp is not installed: run scripts/setup-llama-cpp.sh');
  const { getLlama } = (await import(pathToFileURL(entry).href)) as { getLlama(options: Record<string, unknown>): Promise<Llama> };
  return getLlama({ build: 'never', skipDownload: true, gpu: false, logLevel: 'error' });
}
