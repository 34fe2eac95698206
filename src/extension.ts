// The VS Code side of GAPO Assistant: it starts the language server and offers commands.
// All real work happens in the server, so the client stays thin (as rust-analyzer's does):
// suggestions arrive through the language client's inline-completion support, and every
// command below is one gapo/* request.

import { rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from 'vscode-languageclient/node';
import { ExportRequest, ForgetRequest, ImportAdapterRequest, RollbackRequest, StatsRequest, StatusRequest, TrainNowRequest } from '../server/src/protocol';

let client: LanguageClient | undefined;
/** Where "Show Collected Data" writes its copy: inside the server's data folder, which it never captures. */
let collectedDataFile: string | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  statusItem.name = 'GAPO Assistant';
  statusItem.command = 'gapo.showStatus';
  const command = (name: string, run: () => Promise<unknown>) =>
    vscode.commands.registerCommand(name, () => run().catch((error: Error) => vscode.window.showErrorMessage(`GAPO Assistant: ${error.message}`)));
  context.subscriptions.push(
    statusItem,
    command('gapo.showStatus', showStatus),
    command('gapo.restartServer', async () => client?.restart()),
    command('gapo.trainNow', trainNow),
    command('gapo.rollback', rollback),
    command('gapo.importAdapter', importAdapter),
    command('gapo.exportData', exportData),
    command('gapo.showCollectedData', showCollectedData),
    command('gapo.forgetData', forgetData),
  );

  const config = vscode.workspace.getConfiguration('gapo');
  if (!config.get<boolean>('enable', true)) {
    statusItem.text = '$(circle-slash) GAPO';
    statusItem.tooltip = 'GAPO Assistant is disabled (setting gapo.enable)';
    statusItem.show();
    return;
  }

  const serverModule = context.asAbsolutePath(path.join('dist', 'server.js'));
  // The server sets this itself before ONNX Runtime loads; set here too, so that no process
  // this extension starts can send ONNX Runtime's telemetry.
  const env = { ...process.env, ORT_DISABLE_TELEMETRY: '1' };
  const serverOptions: ServerOptions = {
    run: { module: serverModule, transport: TransportKind.ipc, options: { env } },
    debug: { module: serverModule, transport: TransportKind.ipc, options: { env, execArgv: ['--nolazy', '--inspect=6010'] } },
  };
  collectedDataFile = path.join(context.globalStorageUri.fsPath, 'collected-data.jsonl');
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: 'file' }],
    outputChannelName: 'GAPO Assistant',
    initializationOptions: {
      dataDir: context.globalStorageUri.fsPath,
      modelDir: config.get<string>('model.path') || undefined,
      promptFormat: config.get<string>('model.promptFormat') || undefined,
      capture: { exclude: config.get<string[]>('capture.exclude', []), maxFileBytes: config.get<number>('capture.maxFileKilobytes', 1024) * 1024 },
      suggest: { enabled: config.get<boolean>('suggest.enable', true), ...minProbability(config.get<number | null>('suggest.minProbability', null)) },
      training: { background: config.get<boolean>('training.background', true), minNewEpisodes: config.get<number>('training.minNewEpisodes', 16) },
    },
  };
  client = new LanguageClient('gapo', 'GAPO Assistant', serverOptions, clientOptions);
  statusItem.text = '$(sync~spin) GAPO';
  statusItem.tooltip = 'GAPO Assistant: starting the language server';
  statusItem.show();
  await client.start();
  statusItem.text = '$(sparkle) GAPO';
  statusItem.tooltip = 'GAPO Assistant: running (click for status)';
}

/** The confidence gate when the user set one; otherwise the server's default. */
function minProbability(value: number | null): { minProbability?: number } {
  return typeof value === 'number' && value >= 0 && value <= 1 ? { minProbability: value } : {};
}

function running(): LanguageClient {
  if (!client?.isRunning()) throw new Error('the language server is not running');
  return client;
}

async function showStatus(): Promise<void> {
  const s = await running().sendRequest(StatusRequest);
  const model = s.modelState === 'ready' ? `${s.model}, adapter v${s.adapterVersion}` : s.modelState === 'none' ? 'no model (capture only)' : `${s.modelState}${s.modelError ? `: ${s.modelError}` : ''}`;
  void vscode.window.showInformationMessage(
    `GAPO Assistant ${s.version} — model: ${model}. Episodes: ${s.episodes.total} (${s.episodes.untrained} not trained on yet). ` +
      `Suggestions: ${s.suggestions.shown} shown, ${s.suggestions.accepted} accepted, ${s.suggestions.typedOver} typed over. Training: ${s.training.state}.`,
  );
}

async function trainNow(): Promise<void> {
  const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'GAPO: training' }, () => running().sendRequest(TrainNowRequest));
  if (!result.live || !result.candidate) throw new Error(`training ${result.status}: ${result.error}`);
  const f = (r: { exact_match: number; edit_similarity: number }) => `exact match ${r.exact_match.toFixed(3)}, edit similarity ${r.edit_similarity.toFixed(3)}`;
  void vscode.window.showInformationMessage(
    `GAPO: adapter v${result.adapterVersion} ${result.status === 'deployed' ? 'is live' : 'was kept but not deployed (held-out episodes got worse)'} — ${f(result.candidate)} vs ${f(result.live)} before.`,
  );
}

async function importAdapter(): Promise<void> {
  const [folder] = (await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, title: 'GAPO: an adapter folder in PEFT layout (adapter_config.json)' })) ?? [];
  if (!folder) return;
  const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'GAPO: judging the adapter' }, () =>
    running().sendRequest(ImportAdapterRequest, { dir: folder.fsPath }),
  );
  if (!result.live || !result.candidate) throw new Error(`import ${result.status}: ${result.error}`);
  void vscode.window.showInformationMessage(`GAPO: adapter v${result.adapterVersion} ${result.status === 'deployed' ? 'is live' : 'kept, not live (worse)'}`);
}

async function rollback(): Promise<void> {
  const stats = await running().sendRequest(StatsRequest, undefined);
  const pick = await vscode.window.showQuickPick(
    stats.adapters.map((a) => ({
      label: a.version === 0 ? 'v0: the base model' : `v${a.version}`,
      description: `${a.version === stats.liveAdapter ? 'live · ' : ''}${a.version === 0 ? '' : new Date(a.time).toLocaleString()}${(a.eval as { deployed?: boolean } | null)?.deployed === false ? ' · not deployed by the eval gate' : ''}`,
      version: a.version,
    })),
    { title: 'GAPO: make an adapter version live' },
  );
  if (!pick) return;
  await running().sendRequest(RollbackRequest, { version: pick.version });
  void vscode.window.showInformationMessage(`GAPO: adapter v${pick.version} is live.`);
}

async function exportData(): Promise<void> {
  const format = await vscode.window.showQuickPick(
    [
      { label: 'JSONL', description: 'episodes in the shared schema', format: 'jsonl' as const, extension: 'jsonl' },
      { label: 'verl Parquet', description: 'for training a bigger model with verl-GAPO', format: 'verl' as const, extension: 'parquet' },
    ],
    { title: 'GAPO: export collected episodes' },
  );
  if (!format) return;
  const target = await vscode.window.showSaveDialog({ defaultUri: vscode.Uri.file(path.join(os.homedir(), `gapo-episodes.${format.extension}`)) });
  if (!target) return;
  const result = await running().sendRequest(ExportRequest, { format: format.format, out: target.fsPath });
  void vscode.window.showInformationMessage(`GAPO: exported ${result.episodes} episodes to ${result.out}.`);
}

/** Everything collected, as JSONL in an editor tab: what the user can see, they can judge. */
async function showCollectedData(): Promise<void> {
  const out = collectedDataFile!;
  await running().sendRequest(ExportRequest, { format: 'jsonl', out });
  await vscode.window.showTextDocument(vscode.Uri.file(out));
}

async function forgetData(): Promise<void> {
  const file = vscode.window.activeTextEditor?.document.uri;
  const choices = [{ label: 'Everything', uri: undefined as string | undefined }];
  if (file?.scheme === 'file') choices.unshift({ label: `Only ${vscode.workspace.asRelativePath(file)}`, uri: file.toString() });
  const pick = await vscode.window.showQuickPick(choices, { title: 'GAPO: delete collected edits, episodes and suggestions' });
  if (!pick) return;
  const deleted = await running().sendRequest(ForgetRequest, pick.uri ? { uri: pick.uri } : {});
  // The copy "Show Collected Data" wrote is collected data too.
  if (collectedDataFile) rmSync(collectedDataFile, { force: true });
  void vscode.window.showInformationMessage(`GAPO: deleted ${deleted.episodes} episodes, ${deleted.suggestions} suggestions and ${deleted.edits} edits.`);
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
