// An editor in miniature: starts `gapo serve --stdio` as a child process (or a server module
// forked over Node IPC, as VS Code starts the extension's) and drives it over real LSP, keeping its own copy of each document so edits can be given as offsets.
// `gapo replay`, the tests and the benchmarks are its users.

import { ChildProcess, fork, spawn } from 'node:child_process';
import {
  createProtocolConnection,
  DidChangeTextDocumentNotification,
  DidCloseTextDocumentNotification,
  DidOpenTextDocumentNotification,
  DidSaveTextDocumentNotification,
  ExecuteCommandRequest,
  InitializedNotification,
  InitializeRequest,
  type InitializeResult,
  type InlineCompletionItem,
  InlineCompletionRequest,
  InlineCompletionTriggerKind,
  IPCMessageReader,
  IPCMessageWriter,
  type ProtocolConnection,
  StreamMessageReader,
  StreamMessageWriter,
  WorkDoneProgressCreateRequest,
  CancellationTokenSource,
  type NotificationType,
  type RequestType,
  type RequestType0,
  type TextDocumentSaveReason,
  WillSaveTextDocumentNotification,
} from 'vscode-languageserver-protocol/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { EpisodeCapturedNotification, OutcomeNotification, type ServerStatus, StatusNotification, StatusRequest, type InitializationOptions } from '../protocol';

type EpisodeCaptured = typeof EpisodeCapturedNotification extends NotificationType<infer P> ? P : never;
type Outcome = typeof OutcomeNotification extends NotificationType<infer P> ? P : never;

export interface SessionOptions {
  /** The `gapo` CLI to run (dist/cli.js). */
  cliPath: string;
  /**
   * Instead of the CLI: a server module (a packaged extension's dist/server.js) forked with
   * `--node-ipc`, as VS Code's language client runs it; options then go in initialization.
   */
  serverModule?: string;
  dataDir: string;
  /** A model; null: capture only (--no-model); left out: the bundled default model. */
  modelDir?: string | null;
  cacheDir?: string;
  initializationOptions?: InitializationOptions;
  env?: NodeJS.ProcessEnv;
  /** Hears the server's window/logMessage lines and its stderr. */
  log?: (line: string) => void;
  /** A command that runs the server (strace, say): its arguments come before node's. */
  wrapper?: string[];
}

export class LspSession {
  readonly documents = new Map<string, TextDocument>();
  readonly episodes: EpisodeCaptured[] = [];
  readonly outcomes: Outcome[] = [];
  /** The statuses the server pushed (gapo/statusChanged), oldest first. */
  readonly statuses: ServerStatus[] = [];
  /** Work-done progress the server reported (`$/progress` values: begin, report, end). */
  readonly progress: { kind: string; title?: string; message?: string; percentage?: number; cancellable?: boolean }[] = [];
  /** The tokens of the work-done progress the server created, oldest first (to cancel one). */
  readonly progressTokens: (string | number)[] = [];
  initializeResult: InitializeResult | null = null;
  private exited: Promise<number | null>;

  private constructor(
    readonly process: ChildProcess,
    readonly connection: ProtocolConnection,
  ) {
    this.exited = new Promise((resolve) => process.once('exit', (code) => resolve(code)));
  }

  static async start(options: SessionOptions): Promise<LspSession> {
    const args = [options.cliPath, 'serve', '--stdio', '--data', options.dataDir];
    if (options.modelDir) args.push('--model', options.modelDir);
    else if (options.modelDir === null) args.push('--no-model');
    if (options.cacheDir) args.push('--cache', options.cacheDir);
    let child: ChildProcess;
    let connection: ProtocolConnection;
    if (options.serverModule) {
      child = fork(options.serverModule, ['--node-ipc'], { stdio: ['pipe', 'pipe', 'pipe', 'ipc'], env: options.env ?? process.env });
      child.stdout!.on('data', (chunk: Buffer) => options.log?.(chunk.toString().trimEnd()));
      connection = createProtocolConnection(new IPCMessageReader(child), new IPCMessageWriter(child));
    } else {
      const [command, ...commandArgs] = [...(options.wrapper ?? []), process.execPath, ...args];
      child = spawn(command, commandArgs, { stdio: 'pipe', env: options.env ?? process.env });
      const reader = new StreamMessageReader(child.stdout!);
      // vscode-jsonrpc re-arms its partial-message timer forever, even after dispose, when a killed
      // server leaves half a message behind; that timer would keep this process alive.
      reader.partialMessageTimeout = 0;
      connection = createProtocolConnection(reader, new StreamMessageWriter(child.stdin!));
    }
    child.stderr!.on('data', (chunk: Buffer) => options.log?.(chunk.toString().trimEnd()));
    const session = new LspSession(child, connection);
    connection.onNotification('window/logMessage', (params: { message: string }) => options.log?.(params.message));
    connection.onNotification(EpisodeCapturedNotification, (params) => void session.episodes.push(params));
    connection.onNotification(OutcomeNotification, (params) => void session.outcomes.push(params));
    connection.onNotification(StatusNotification, (params) => void session.statuses.push(params));
    connection.onRequest(WorkDoneProgressCreateRequest.method, (params: { token: string | number }) => void session.progressTokens.push(params.token));
    connection.onNotification('$/progress', (params: { value: LspSession['progress'][number] }) => void session.progress.push(params.value));
    connection.onError(() => {});
    connection.listen();
    try {
      session.initializeResult = await connection.sendRequest(InitializeRequest.type, {
        processId: process.pid,
        rootUri: null,
        capabilities: { window: { workDoneProgress: true } },
        workspaceFolders: null,
        initializationOptions: options.initializationOptions ?? {},
      });
    } catch (error) {
      await session.kill();
      throw error;
    }
    await connection.sendNotification(InitializedNotification.type, {});
    return session;
  }

  text(uri: string): string {
    return this.document(uri).getText();
  }

  async open(uri: string, text: string, languageId = 'typescript'): Promise<void> {
    this.documents.set(uri, TextDocument.create(uri, languageId, 1, text));
    await this.connection.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId, version: 1, text } });
  }

  /** Replaces [start, end) with `text`, as one incremental change. */
  async edit(uri: string, start: number, end: number, text: string): Promise<void> {
    const document = this.document(uri);
    const range = { start: document.positionAt(start), end: document.positionAt(end) };
    const version = document.version + 1;
    TextDocument.update(document, [{ range, text }], version);
    await this.connection.sendNotification(DidChangeTextDocumentNotification.type, { textDocument: { uri, version }, contentChanges: [{ range, text }] });
  }

  /** Types `text` at `offset` in pieces of `chunk` characters, one didChange each. */
  async type(uri: string, offset: number, text: string, chunk = 1): Promise<void> {
    for (let i = 0; i < text.length; i += chunk) await this.edit(uri, offset + i, offset + i, text.slice(i, i + chunk));
  }

  async inlineCompletion(uri: string, offset: number, cancel?: CancellationTokenSource): Promise<InlineCompletionItem[]> {
    const document = this.document(uri);
    const result = await this.connection.sendRequest(
      InlineCompletionRequest.type,
      { textDocument: { uri }, position: document.positionAt(offset), context: { triggerKind: InlineCompletionTriggerKind.Automatic } },
      cancel?.token,
    );
    if (!result) return [];
    return Array.isArray(result) ? result : result.items;
  }

  /** The first item shown with the cursor at `offset`, if any (replay/typing.ts types through this). */
  async suggestion(uri: string, offset: number): Promise<InlineCompletionItem | null> {
    const [item] = await this.inlineCompletion(uri, offset);
    return item ?? null;
  }

  /** The document's text as it would be after accepting `item`. */
  textAfter(uri: string, item: InlineCompletionItem): string {
    const { start, end, insertText } = this.itemEdit(uri, item);
    const text = this.text(uri);
    return text.slice(0, start) + insertText + text.slice(end);
  }

  /** What an editor does on Tab: apply the item, then run its command. */
  async accept(uri: string, item: InlineCompletionItem): Promise<unknown> {
    const { start, end, insertText } = this.itemEdit(uri, item);
    await this.edit(uri, start, end, insertText);
    if (!item.command) return null;
    return this.connection.sendRequest(ExecuteCommandRequest.type, { command: item.command.command, arguments: item.command.arguments });
  }

  /** A save; with a reason, announced by willSave first, as VS Code does (autosave: AfterDelay). */
  async save(uri: string, reason?: TextDocumentSaveReason): Promise<void> {
    if (reason !== undefined) await this.connection.sendNotification(WillSaveTextDocumentNotification.type, { textDocument: { uri }, reason });
    await this.connection.sendNotification(DidSaveTextDocumentNotification.type, { textDocument: { uri } });
  }

  async close(uri: string): Promise<void> {
    this.documents.delete(uri);
    await this.connection.sendNotification(DidCloseTextDocumentNotification.type, { textDocument: { uri } });
  }

  /** One of the server's own requests (server/src/protocol.ts). */
  request<R>(type: RequestType0<R, void>): Promise<R>;
  request<P, R>(type: RequestType<P, R, void>, params: P): Promise<R>;
  request(type: { method: string }, params?: unknown): Promise<unknown> {
    return this.connection.sendRequest(type.method, params);
  }

  /** Waits until the server's model is loaded; a model that failed to load is an error. */
  async waitForModel(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await this.request(StatusRequest);
      if (status.modelState === 'ready') return;
      if (status.modelState !== 'loading') throw new Error(`the server could not load the model: ${status.modelError ?? status.modelState}`);
      if (Date.now() > deadline) throw new Error('timed out waiting for the model to load');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /**
   * Waits until `predicate` holds, checking every 20 ms. The time limit only guards against a
   * hang (a loaded machine may be slow, and a wait must not fail for that): a minute.
   */
  async until(predicate: () => boolean, what = 'condition', timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      if (this.process.exitCode !== null) throw new Error(`the server exited (code ${this.process.exitCode}) while waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  get alive(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  /** shutdown + exit, as an editor closes; kills the process if it does not go. */
  async stop(): Promise<number | null> {
    if (this.alive) {
      try {
        await Promise.race([this.connection.sendRequest('shutdown'), new Promise((resolve) => setTimeout(resolve, 5000))]);
        await this.connection.sendNotification('exit');
      } catch {
        // already gone
      }
      const timer = setTimeout(() => this.process.kill('SIGKILL'), 5000);
      await this.exited;
      clearTimeout(timer);
    }
    this.connection.dispose();
    return this.process.exitCode;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    this.process.kill(signal);
    this.connection.dispose();
    // Release our ends of its pipes at once: a dead server must not keep this process alive.
    for (const stream of [this.process.stdin, this.process.stdout, this.process.stderr]) stream?.destroy();
    return this.exited;
  }

  private itemEdit(uri: string, item: InlineCompletionItem): { start: number; end: number; insertText: string } {
    const document = this.document(uri);
    const insertText = typeof item.insertText === 'string' ? item.insertText : item.insertText.value;
    return { start: document.offsetAt(item.range!.start), end: document.offsetAt(item.range!.end), insertText };
  }

  private document(uri: string): TextDocument {
    const document = this.documents.get(uri);
    if (!document) throw new Error(`${uri} is not open`);
    return document;
  }
}
