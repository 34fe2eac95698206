// A suggestion as a pipeline of named stages, in the spirit of Continue's completion provider:
// context → prompt → generate → item → record. The LSP handler only adapts: it cancels older
// requests and turns the result into an inline-completion item.

import { performance } from 'node:perf_hooks';
import { type DocumentCapture, promptOf, type SuggestionContext } from '../capture/document-capture';
import { editPrompt, type PromptLimits, REGION_END, trimContext } from '../edits/prompt';
import type { EditItem } from '../edits/suggestion';
import type { GenerateOptions, Generation } from '../model/engine';
import { suggestionFor } from './edit-item';

/** The model, as the pipeline needs it (the engine worker's client). */
export interface Generator {
  generate(prompt: string, options: Partial<GenerateOptions>, signal?: AbortSignal): Promise<Generation[]>;
}

export interface Suggestion {
  item: EditItem;
  rewritten: string;
}

export interface PipelineSettings {
  prompt: PromptLimits;
  maxTokens: number;
  /** Stores a shown suggestion; returns its id. */
  record(capture: DocumentCapture, suggestion: Suggestion, latencyMs: number): string;
}

/** Context: the redacted prompt fields around the cursor; none when a secret is in the region (its rewrite could not be applied). */
export function contextStage(capture: DocumentCapture, line: number, character: number): SuggestionContext | null {
  const context = capture.contextAt(line, character);
  return context.regionHoldsSecret ? null : context;
}

/** Prompt: the context cut to the limits, in the edit-prompt format. */
export function promptStage(context: SuggestionContext, limits: PromptLimits): string {
  return editPrompt(trimContext(promptOf(context), limits));
}

/** Generate: a greedy rewrite of the region, stopped at its end marker. */
export async function generateStage(generator: Generator, prompt: string, maxTokens: number, signal: AbortSignal): Promise<Generation> {
  const [generation] = await generator.generate(prompt, { maxTokens, temperature: 0, stop: [REGION_END] }, signal);
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
  const context = contextStage(capture, position.line, position.character);
  if (!context) return null;
  const documentVersion = capture.version;
  const generation = await generateStage(generator, promptStage(context, settings.prompt), settings.maxTokens, signal);
  if (signal.aborted || capture.version !== documentVersion) return null;
  // Item: what the editor shows, or nothing when the model did not close or change the region.
  const suggestion = suggestionFor(context, generation);
  if (!suggestion || signal.aborted) return null;
  // Record: stored, then followed for its outcome.
  const id = settings.record(capture, suggestion, performance.now() - started);
  capture.track(id, context, suggestion.rewritten, suggestion.item);
  return { id, item: suggestion.item };
}
