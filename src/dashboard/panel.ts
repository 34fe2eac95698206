// The dashboard's webview panel, on the extension's side: one panel at a time, its HTML under a
// strict Content Security Policy (nonce-tagged scripts, no remote content), its data from one
// gapo/dashboard request, refreshed whenever the server says something changed.

import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import type { DashboardData } from '../../server/src/protocol';
import type { FromDashboard, ToDashboard } from './messages';

/** What the dashboard's buttons do: the extension's commands, so each action has one home. */
export interface DashboardActions {
  data(): Promise<DashboardData>;
  handle(message: Exclude<FromDashboard, { type: 'ready' }>): Promise<void>;
}

export class DashboardPanel {
  private static current: DashboardPanel | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;

  /** Opens the dashboard (or brings it forward), optionally scrolled to a section. */
  static show(extensionUri: vscode.Uri, actions: DashboardActions, section?: 'collected'): void {
    if (!DashboardPanel.current) {
      const panel = vscode.window.createWebviewPanel('gapo.dashboard', 'GAPO Dashboard', vscode.ViewColumn.Active, {
        enableScripts: true,
        retainContextWhenHidden: true,
        localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')],
      });
      DashboardPanel.current = new DashboardPanel(panel, extensionUri, actions);
    }
    const current = DashboardPanel.current;
    current.panel.reveal();
    if (section) void current.post({ type: 'focus', section });
  }

  /** The server changed something: the open dashboard redraws (at most every 500 ms). */
  static changed(): void {
    DashboardPanel.current?.scheduleRefresh();
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private readonly actions: DashboardActions,
  ) {
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'icon.svg');
    panel.webview.html = html(panel.webview, extensionUri);
    panel.webview.onDidReceiveMessage((message: FromDashboard) => this.receive(message));
    panel.onDidDispose(() => {
      clearTimeout(this.refreshTimer);
      DashboardPanel.current = undefined;
    });
  }

  private async receive(message: FromDashboard): Promise<void> {
    try {
      if (message.type !== 'ready') await this.actions.handle(message);
      await this.refresh();
    } catch (error) {
      void this.post({ type: 'error', message: (error as Error).message });
    }
  }

  private scheduleRefresh(): void {
    this.refreshTimer ??= setTimeout(() => {
      this.refreshTimer = undefined;
      this.refresh().catch((error: Error) => this.post({ type: 'error', message: error.message }));
    }, 500);
  }

  private async refresh(): Promise<void> {
    await this.post({ type: 'data', data: await this.actions.data() });
  }

  private post(message: ToDashboard): Thenable<boolean> {
    return this.panel.webview.postMessage(message);
  }
}

function html(webview: vscode.Webview, extensionUri: vscode.Uri): string {
  const nonce = randomBytes(16).toString('base64');
  const asset = (...path: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, ...path)).toString();
  const csp = [`default-src 'none'`, `img-src ${webview.cspSource} data:`, `style-src ${webview.cspSource}`, `font-src ${webview.cspSource}`, `script-src 'nonce-${nonce}'`].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${csp}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <link rel="stylesheet" href="${asset('dist', 'dashboard.css')}">
  <link rel="stylesheet" href="${asset('media', 'dashboard.css')}">
  <title>GAPO Dashboard</title>
</head>
<body>
  <main id="dashboard"><p class="empty">Loading…</p></main>
  <script nonce="${nonce}" src="${asset('dist', 'dashboard.js')}"></script>
</body>
</html>`;
}
