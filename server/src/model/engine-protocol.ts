// Messages between the engine client (language server thread) and the engine worker.

import type { EngineInfo, GenerateOptions } from './engine';

export type WorkerRequest =
  | { type: 'generate'; id: number; prompt: string | number[]; options: Partial<GenerateOptions> }
  | { type: 'setAdapter'; id: number; adapterDir: string | null }
  | { type: 'cancel'; id: number };

export type WorkerReply =
  | { type: 'ready'; info: EngineInfo }
  | { type: 'failed'; message: string }
  | { type: 'log'; message: string }
  | { type: 'result'; id: number; result: unknown }
  | { type: 'error'; id: number; name: string; message: string };
