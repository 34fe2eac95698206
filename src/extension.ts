// The VS Code side of GAPO Assistant: it starts the language server and offers commands.
// All real work happens in the server, so the client stays thin (as rust-analyzer's does).

import * as path from 'node:path';
import * as vscode from 'vscode';
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from 'vscode-languageclient/node';

let client: LanguageClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  statusItem.name = 'GAPO Assistant';
  statusItem.command = 'gapo.showStatus';
  context.subscriptions.push(
    statusItem,
    vscode.commands.registerCommand('gapo.showStatus', () => showStatus()),
    vscode.commands.registerCommand('gapo.restartServer', async () => {
      await client?.restart();
    }),
  );

  if (!vscode.workspace.getConfiguration('gapo').get<boolean>('enable', true)) {
    statusItem.text = '$(circle-slash) GAPO';
    statusItem.tooltip = 'GAPO Assistant is disabled (setting gapo.enable)';
    statusItem.show();
    return;
  }

  const serverModule = context.asAbsolutePath(path.join('dist', 'server.js'));
  const serverOptions: ServerOptions = {
    run: { module: serverModule, transport: TransportKind.ipc },
    debug: { module: serverModule, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6010'] } },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: 'file' }],
    outputChannelName: 'GAPO Assistant',
  };
  client = new LanguageClient('gapo', 'GAPO Assistant', serverOptions, clientOptions);
  statusItem.text = '$(sync~spin) GAPO';
  statusItem.tooltip = 'GAPO Assistant: starting the language server';
  statusItem.show();
  await client.start();
  statusItem.text = '$(sparkle) GAPO';
  statusItem.tooltip = 'GAPO Assistant: running';
}

async function showStatus(): Promise<void> {
  if (!client?.isRunning()) {
    void vscode.window.showInformationMessage('GAPO Assistant: the language server is not running.');
    return;
  }
  const status = await client.sendRequest<{ version: string; openDocuments: number; model: string | null }>('gapo/status');
  void vscode.window.showInformationMessage(
    `GAPO Assistant ${status.version}: ${status.openDocuments} open documents, model: ${status.model ?? 'none loaded yet'}.`,
  );
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
