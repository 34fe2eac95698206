// A suggestion as a pipeline of named stages, in the spirit of Continue's completion provider:
// context → prompt → generate → item → record. The LSP handler only adapts: it cancels older
// requests and turns the result into an inline-completion item.

import { performance } from 'node:perf_hooks';
import { type DocumentCapture, promptOf, type SuggestionContext } from '../capture/document-capture';
import { trimContext } from '../edits/prompt';
import type { PromptFormat } from '../edits/prompt-format';
import type { EditItem } from '../edits/suggestion';
import type { GenerateOptions, Generation } from '../model/engine';
import { suggestionFor } from './edit-item';
import type { NeighbourFiles } from '../capture/neighbours';
import type { PromptLimits } from '../protocol';

/** The model, as the pipeline needs it (the engine worker's client). */
export interface Generator {
  generate(prompt: string, options: Partial<GenerateOptions>, signal?: AbortSignal): Promise<Generation[]>;
}

export interface Suggestion {
  item: EditItem;
  rewritten: string;
}

export interface PipelineSettings {
  /** How the model is asked (the one it was trained on). */
  format: PromptFormat;
  prompt: PromptLimits;
  maxTokens: number;
  /** The confidence gate: the answer ends before a token less likely than this. */
  minProbability: number;
  /** Stores a shown suggestion; returns its id. */
  record(capture: DocumentCapture, suggestion: Suggestion, latencyMs: number): string;
  /** Other files the user has open or edited, for the prompt's snippets (prompt.snippets of them). */
  neighbours?: NeighbourFiles;
}

/** What serving asks of a model: its format, the prompt limits, and the suggestions' token limit and confidence gate (null: the format's own). */
export function servingSettings(format: PromptFormat, prompt: PromptLimits, suggest: { maxTokens: number; minProbability: number | null }): Omit<PipelineSettings, 'record' | 'neighbours'> {
  return { format, prompt, maxTokens: suggest.maxTokens, minProbability: suggest.minProbability ?? format.defaultMinProbability };
}

/**
 * Context: the redacted prompt fields around the cursor, with the chunks of other files most
 * like the lines before it; none when a secret is in the region (its rewrite could not be applied).
 */
export function contextStage(capture: DocumentCapture, line: number, character: number, settings: Pick<PipelineSettings, 'prompt' | 'neighbours'>): SuggestionContext | null {
  const context = capture.contextAt(line, character);
  if (context.regionHoldsSecret) return null;
  const count = settings.prompt.snippets ?? 0;
  if (!settings.neighbours || count === 0) return context;
  const query = context.prefix.split('\n').slice(-8).join('\n') + context.region.slice(0, context.cursor);
  return { ...context, snippets: settings.neighbours.snippets(capture.path, query, count) };
}

/** Prompt: the context cut to the limits, in the model's format. */
export function promptStage(context: SuggestionContext, settings: Pick<PipelineSettings, 'format' | 'prompt'>): string {
  return settings.format.prompt(trimContext(promptOf(context), settings.prompt));
}

/** Generate: the greedy answer, stopped where the format ends it or the model is unsure. */
export async function generateStage(generator: Generator, prompt: string, settings: Pick<PipelineSettings, 'format' | 'maxTokens' | 'minProbability'>, signal: AbortSignal): Promise<Generation> {
  const { format, maxTokens, minProbability } = settings;
  const [generation] = await generator.generate(prompt, { maxTokens, temperature: 0, stop: format.stop, minProbability }, signal);
  return generation;
}

/** Runs the stages; null when the policy stays quiet or the document moved on meanwhile. */
export async function suggest(
  generator: Generator,
  capture: DocumentCapture,
  position: { line: number; character: number },
  settings: PipelineSettings,
  signal: AbortSignal,
): Promise<{ id: string; item: EditItem } | null> {
  const started = performance.now();
  const context = contextStage(capture, position.line, position.character, settings);
  if (!context) return null;
  const documentVersion = capture.version;
  const generation = await generateStage(generator, promptStage(context, settings), settings, signal);
  if (signal.aborted || capture.version !== documentVersion) return null;
  // Item: what the editor shows, or nothing when the answer is unusable or changes nothing.
  const suggestion = suggestionFor(context, generation, settings.format);
  if (!suggestion || signal.aborted) return null;
  // Record: stored, then followed for its outcome.
  const id = settings.record(capture, suggestion, performance.now() - started);
  capture.track(id, context, suggestion.rewritten, suggestion.item);
  return { id, item: suggestion.item };
}
