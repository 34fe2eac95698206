// The status bar item: says what the assistant is doing right now, from the status the server
// pushes (gapo/statusChanged) and the language client's own state. Never "running" when
// nothing will be suggested: a missing or failed model, paused learning and training show.

import * as vscode from 'vscode';
import type { ServerStatus } from '../server/src/protocol';
import { type ClientState, statusText } from './summaries';

export class StatusItem implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('gapo.status', vscode.StatusBarAlignment.Right, 100);
  private client: ClientState = 'starting';
  private status: ServerStatus | null = null;

  constructor() {
    this.item.name = 'GAPO Assistant';
    this.item.command = 'gapo.showDashboard';
    this.render();
    this.item.show();
  }

  setClientState(state: ClientState): void {
    this.client = state;
    if (state !== 'running') this.status = null;
    this.render();
  }

  setStatus(status: ServerStatus): void {
    this.status = status;
    this.render();
  }

  private render(): void {
    const { text, summary, error } = statusText(this.client, this.status);
    this.item.text = text;
    this.item.backgroundColor = error ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    const tooltip = new vscode.MarkdownString(`**GAPO Assistant**: ${summary}`);
    if (this.status) tooltip.appendMarkdown(`\n\n${details(this.status)}`);
    tooltip.appendMarkdown('\n\nClick for the dashboard.');
    this.item.tooltip = tooltip;
  }

  dispose(): void {
    this.item.dispose();
  }
}

function details(s: ServerStatus): string {
  const acceptance = s.suggestions.recentAcceptance;
  const rows = [
    `Model: ${s.model ?? 'none'} (${s.modelState})`,
    `Adapter: v${s.adapterVersion}${s.adapterVersion === 0 ? ' (the base model)' : ''}`,
    `Recent acceptance: ${acceptance ? `${Math.round((100 * acceptance.accepted) / acceptance.of)}% of the last ${acceptance.of}` : 'no suggestion judged yet'}`,
    `Episodes: ${s.episodes.total} (${s.episodes.untrained} not trained on yet)`,
    `Learning: ${s.learning}`,
  ];
  return rows.map((row) => `- ${row}`).join('\n');
}
