// Messages between the engine client (language server thread) and the engine worker.

import type { EngineInfo, GenerateOptions, ScoreRequest } from './engine';

export type WorkerRequest =
  | { type: 'generate'; id: number; prompt: string | number[]; options: Partial<GenerateOptions> }
  | { type: 'score'; id: number; requests: ScoreRequest[] }
  | { type: 'tokenize'; id: number; text: string }
  | { type: 'clearPrefixCache'; id: number }
  | { type: 'setAdapter'; id: number; adapterDir: string | null }
  | { type: 'cancel'; id: number };

export type WorkerReply =
  | { type: 'ready'; info: EngineInfo }
  | { type: 'failed'; message: string }
  | { type: 'log'; message: string }
  | { type: 'result'; id: number; result: unknown }
  | { type: 'error'; id: number; name: string; message: string };
