// The VS Code side of GAPO Assistant: it starts the language server, shows what it is doing (the
// status item, the dashboard) and offers commands. All real work happens in the server, so the
// client stays thin (as rust-analyzer's does): suggestions arrive through the language client's
// inline-completion support, and every command below is one gapo/* request.

import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { LanguageClient, type LanguageClientOptions, type ServerOptions, State, TransportKind } from 'vscode-languageclient/node';
import {
  CancelTrainingRequest,
  DashboardRequest,
  EpisodeCapturedNotification,
  ExportRequest,
  ForgetRequest,
  ImportAdapterRequest,
  LearnFromHistoryRequest,
  OutcomeNotification,
  PullModelRequest,
  RollbackRequest,
  SetLearningRequest,
  StatsRequest,
  type EstimatorName,
  type InitializationOptions,
  type ServerStatus,
  type WeightDType,
  StatusNotification,
  StatusRequest,
  TrainNowRequest,
} from '../server/src/protocol';
import { DashboardPanel } from './dashboard/panel';
import type { FromDashboard } from './dashboard/messages';
import { StatusItem } from './status-item';
import { evaluationLine, runSummary } from './summaries';

let client: LanguageClient | undefined;
let statusItem: StatusItem;
/** The statuses the server pushes, for whoever follows a run's progress. */
const statusChanged = new vscode.EventEmitter<ServerStatus>();

/** Models offered by Choose Model; the memory is what this project's engine needs for them (float32). */
const SUGGESTED_MODELS = [
  { id: 'Qwen/Qwen2.5-Coder-0.5B', detail: 'Apache-2.0 · 1 GB download · about 3 GB of memory · fill-in-the-middle' },
  { id: 'Qwen/Qwen2.5-Coder-1.5B', detail: 'Apache-2.0 · 3 GB download · about 8 GB of memory · fill-in-the-middle' },
];

/** Settings that shape the server: a change restarts it. */
const SERVER_SETTINGS = ['gapo.enable', 'gapo.model', 'gapo.suggest', 'gapo.capture', 'gapo.training'];

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  statusItem = new StatusItem();
  const command = (name: string, run: (...args: any[]) => Promise<unknown>) =>
    vscode.commands.registerCommand(name, (...args: any[]) => run(...args).catch((error: Error) => vscode.window.showErrorMessage(`GAPO: ${error.message}`)));
  const showDashboard = async (section?: 'collected') => DashboardPanel.show(context.extensionUri, { data: () => running().sendRequest(DashboardRequest), handle: dashboardAction }, section);
  context.subscriptions.push(
    statusItem,
    command('gapo.showDashboard', () => showDashboard()),
    command('gapo.showStatus', showStatus),
    command('gapo.restartServer', () => restart(context)),
    command('gapo.trainNow', trainNow),
    command('gapo.cancelTraining', cancelTraining),
    command('gapo.pauseLearning', () => setLearning(true)),
    command('gapo.resumeLearning', () => setLearning(false)),
    command('gapo.learnFromHistory', learnFromHistory),
    command('gapo.chooseModel', chooseModel),
    command('gapo.chooseAdapterVersion', chooseAdapterVersion),
    command('gapo.importAdapter', importAdapter),
    command('gapo.exportData', exportData),
    command('gapo.showCollectedData', () => showDashboard('collected')),
    command('gapo.forgetData', forgetData),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (SERVER_SETTINGS.some((setting) => event.affectsConfiguration(setting))) void restart(context);
    }),
  );
  void openWalkthroughOnce(context);
  await start(context);
}

/** The walkthrough, on the first start after installing (VS Code opens an extension's own only for some installs, and its own welcome page first). */
async function openWalkthroughOnce(context: vscode.ExtensionContext): Promise<void> {
  const key = 'gapo.walkthroughOpened';
  if (context.globalState.get<boolean>(key)) return;
  await context.globalState.update(key, true);
  await vscode.commands.executeCommand('workbench.action.openWalkthrough', `${context.extension.id}#gapo.start`, false);
}

async function start(context: vscode.ExtensionContext): Promise<void> {
  const config = vscode.workspace.getConfiguration('gapo');
  if (!config.get<boolean>('enable', true)) {
    statusItem.setClientState('disabled');
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
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: 'file' }],
    outputChannelName: 'GAPO Assistant',
    initializationOptions: {
      dataDir: context.globalStorageUri.fsPath,
      modelDir: config.get<string>('model.path') || undefined,
      promptFormat: config.get<string>('model.promptFormat') || undefined,
      dtype: config.get<WeightDType>('model.dtype') || undefined,
      capture: { exclude: config.get<string[]>('capture.exclude', []), maxFileBytes: config.get<number>('capture.maxFileKilobytes', 1024) * 1024 },
      suggest: { enabled: config.get<boolean>('suggest.enable', true), ...minProbability(config.get<number | null>('suggest.minProbability', null)) },
      training: trainingOptions(config),
    } satisfies InitializationOptions,
  };
  const started = new LanguageClient('gapo', 'GAPO Assistant', serverOptions, clientOptions);
  client = started;
  statusItem.setClientState('starting');
  started.onDidChangeState(({ newState }) => {
    if (client === started) statusItem.setClientState(newState === State.Running ? 'running' : newState === State.Starting ? 'starting' : 'stopped');
  });
  started.onNotification(StatusNotification, (status) => {
    statusItem.setStatus(status);
    statusChanged.fire(status);
    DashboardPanel.changed();
  });
  started.onNotification(EpisodeCapturedNotification, () => DashboardPanel.changed());
  started.onNotification(OutcomeNotification, () => DashboardPanel.changed());
  await started.start();
  statusItem.setStatus(await started.sendRequest(StatusRequest));
}

async function restart(context: vscode.ExtensionContext): Promise<void> {
  const old = client;
  client = undefined;
  await old?.stop().catch(() => {});
  await start(context);
}

/** The gapo.training.* settings, each under its TrainingSettings name; the manifest holds the server's defaults. */
function trainingOptions(config: vscode.WorkspaceConfiguration): InitializationOptions['training'] {
  return {
    background: config.get<boolean>('training.background'),
    minNewEpisodes: config.get<number>('training.minNewEpisodes'),
    estimator: config.get<EstimatorName>('training.estimator'),
    tau: config.get<number>('training.tau'),
    group: config.get<number>('training.group'),
    promptsPerStep: config.get<number>('training.promptsPerStep'),
    steps: config.get<number>('training.steps'),
    maxMinutes: config.get<number>('training.maxMinutes'),
    guided: config.get<boolean>('training.guided'),
    learningRate: config.get<number>('training.learningRate'),
    rank: config.get<number>('training.rank'),
  };
}

/** The confidence gate when the user set one; otherwise the server's default. */
function minProbability(value: number | null): { minProbability?: number } {
  return typeof value === 'number' && value >= 0 && value <= 1 ? { minProbability: value } : {};
}

function running(): LanguageClient {
  if (!client?.isRunning()) throw new Error('the language server is not running');
  return client;
}

async function dashboardAction(message: Exclude<FromDashboard, { type: 'ready' }>): Promise<void> {
  if (message.type === 'trainNow') await vscode.commands.executeCommand('gapo.trainNow');
  else if (message.type === 'cancelTraining') await cancelTraining();
  else if (message.type === 'setLearning') await setLearning(message.paused);
  else if (message.type === 'makeLive') await makeLive(message.version);
  else if (message.type === 'forget') await forget(message.path);
  else if (message.type === 'forgetAll') await forget(undefined);
}

async function showStatus(): Promise<void> {
  const s = await running().sendRequest(StatusRequest);
  const model = s.modelState === 'ready' ? `${path.basename(s.model ?? '')}, adapter v${s.adapterVersion}` : s.modelState;
  void vscode.window.showInformationMessage(`GAPO ${s.version}: ${model}; ${s.episodes.total} episodes`, 'Dashboard').then((pick) => pick && vscode.commands.executeCommand('gapo.showDashboard'));
}

async function trainNow(): Promise<void> {
  // A notification with the run's percentage and a Cancel button (LSP's own work-done progress
  // shows in the status bar, where it cannot be cancelled).
  const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'GAPO: training', cancellable: true }, async (progress, token) => {
    token.onCancellationRequested(() => void running().sendRequest(CancelTrainingRequest));
    let shown = 0;
    const following = statusChanged.event(({ training }) => {
      if (training.state !== 'training' || training.percentage === null) return;
      progress.report({ increment: training.percentage - shown, message: `${training.percentage}%: ${training.message ?? ''}` });
      shown = training.percentage;
    });
    try {
      return await running().sendRequest(TrainNowRequest);
    } finally {
      following.dispose();
    }
  });
  if (result.status === 'cancelled') return void vscode.window.showInformationMessage('GAPO: training cancelled');
  if (!result.candidate) throw new Error(runSummary(result));
  void vscode.window.showInformationMessage(`GAPO: ${runSummary(result)}`, 'Dashboard').then((pick) => pick && vscode.commands.executeCommand('gapo.showDashboard'));
}

async function cancelTraining(): Promise<void> {
  const { cancelled } = await running().sendRequest(CancelTrainingRequest);
  if (!cancelled) void vscode.window.showInformationMessage('GAPO: no training is running');
}

async function setLearning(paused: boolean): Promise<void> {
  await running().sendRequest(SetLearningRequest, { paused });
  void vscode.window.showInformationMessage(paused ? 'GAPO: learning paused, nothing is collected' : 'GAPO: learning resumed');
}

async function learnFromHistory(folder?: vscode.Uri): Promise<void> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  const target = folder ?? (folders.length === 1 ? folders[0].uri : (await vscode.window.showWorkspaceFolderPick({ placeHolder: 'GAPO: learn from which repository?' }))?.uri);
  if (!target) throw new Error('open a folder under git first');
  const result = await running().sendRequest(LearnFromHistoryRequest, { folder: target.fsPath });
  void vscode.window.showInformationMessage(`GAPO: ${result.episodes} edits from ${result.commits} commits`);
}

async function chooseModel(): Promise<void> {
  const config = vscode.workspace.getConfiguration('gapo');
  const current = config.get<string>('model.path') || '';
  const picks: (vscode.QuickPickItem & { dir?: string; hub?: string })[] = [
    { label: 'Bundled default model', description: current === '' ? 'current' : '', detail: 'A 3.1M-parameter code model trained by this project: short insertions at the cursor, fast on any CPU', dir: '' },
    ...SUGGESTED_MODELS.map((m) => ({ label: m.id, description: 'Hugging Face hub', detail: m.detail, hub: m.id })),
    { label: 'A model on the Hugging Face hub…', detail: 'Any Llama or Qwen2 model by its id, ORG/NAME (HF_TOKEN in the environment for gated ones)', hub: '' },
    { label: 'A model folder…', detail: 'A Llama or Qwen2 model in the Hugging Face layout (config.json, *.safetensors, tokenizer.json)' },
  ];
  // A model pulled into the hub cache is named as the hub names it, not by its snapshot's hash.
  const pulled = /models--([^/\\]+)--([^/\\]+)[/\\]snapshots[/\\]/.exec(current);
  if (current) picks.unshift({ label: pulled ? `${pulled[1]}/${pulled[2]}` : path.basename(current), description: 'current', detail: current, dir: current });
  const pick = await vscode.window.showQuickPick(picks, { title: 'GAPO: the model that suggests' });
  if (!pick) return;
  let dir = pick.dir;
  if (pick.hub !== undefined) {
    const id = pick.hub || (await vscode.window.showInputBox({ title: 'GAPO: a model on the Hugging Face hub', prompt: 'ORG/NAME or ORG/NAME@REVISION', validateInput: (v) => (/^[\w.-]+\/[\w.-]+(@[\w./-]+)?$/.test(v.trim()) ? null : 'ORG/NAME, for example Qwen/Qwen2.5-Coder-0.5B') }))?.trim();
    if (!id) return;
    // The server downloads it into the shared hub cache (progress with Cancel), or finds it there.
    dir = (await running().sendRequest(PullModelRequest, { id })).dir;
  } else if (dir === undefined) {
    const [folder] = (await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, title: 'GAPO: a model folder (config.json, *.safetensors, tokenizer.json)' })) ?? [];
    if (!folder) return;
    for (const file of ['config.json', 'tokenizer.json']) if (!existsSync(path.join(folder.fsPath, file))) throw new Error(`${folder.fsPath} has no ${file}: not a model folder`);
    dir = folder.fsPath;
  }
  if (dir === current) return;
  // The setting's change restarts the server with the model.
  await config.update('model.path', dir, vscode.ConfigurationTarget.Global);
}

async function chooseAdapterVersion(): Promise<void> {
  const stats = await running().sendRequest(StatsRequest, undefined);
  const pick = await vscode.window.showQuickPick(
    [...stats.adapters].reverse().map((a) => {
      const evaluation = a.eval;
      return {
        label: a.version === 0 ? 'v0: the base model' : `v${a.version}`,
        description: [a.version === stats.liveAdapter ? 'live' : '', a.version === 0 ? '' : new Date(a.time).toLocaleString(), evaluation?.verdict.deploy === false ? 'not passed by the eval gate' : ''].filter(Boolean).join(' · '),
        detail: evaluation ? evaluationLine(evaluation) : undefined,
        version: a.version,
      };
    }),
    { title: 'GAPO: make an adapter version live (back or forward)' },
  );
  if (pick) await makeLive(pick.version);
}

async function makeLive(version: number): Promise<void> {
  await running().sendRequest(RollbackRequest, { version });
  void vscode.window.showInformationMessage(`GAPO: adapter v${version} is live`);
}

async function importAdapter(): Promise<void> {
  const [folder] = (await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, title: 'GAPO: an adapter folder in PEFT layout (adapter_config.json)' })) ?? [];
  if (!folder) return;
  const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'GAPO: judging the adapter' }, () =>
    running().sendRequest(ImportAdapterRequest, { dir: folder.fsPath }),
  );
  if (!result.candidate) throw new Error(runSummary(result));
  void vscode.window.showInformationMessage(`GAPO: ${runSummary(result)}`);
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
  void vscode.window.showInformationMessage(`GAPO: exported ${result.episodes} episodes`);
}

async function forgetData(): Promise<void> {
  const file = vscode.window.activeTextEditor?.document.uri;
  const choices: (vscode.QuickPickItem & { path?: string })[] = [{ label: 'Everything', detail: 'every edit, episode and suggestion collected so far' }];
  if (file?.scheme === 'file') choices.unshift({ label: `Only ${vscode.workspace.asRelativePath(file)}`, path: file.fsPath });
  const pick = await vscode.window.showQuickPick(choices, { title: 'GAPO: delete collected edits, episodes and suggestions' });
  if (pick) await forget(pick.path);
}

/** Deletes one file's data, or (once confirmed) everything. */
async function forget(filePath: string | undefined): Promise<void> {
  if (filePath === undefined) {
    const confirm = await vscode.window.showWarningMessage('Delete everything GAPO Assistant collected?', { modal: true, detail: 'Every edit, episode and suggestion is removed from its database and zeroed on disk. Trained adapters stay.' }, 'Delete Everything');
    if (confirm !== 'Delete Everything') return;
  }
  const deleted = await running().sendRequest(ForgetRequest, filePath === undefined ? {} : { path: filePath });
  void vscode.window.showInformationMessage(`GAPO: deleted ${deleted.episodes} episodes, ${deleted.suggestions} suggestions`);
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
