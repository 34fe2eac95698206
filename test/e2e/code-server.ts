// A real VS Code for the end-to-end tests: code-server 4.100.3 (VS Code 1.100.3, installed by
// scripts/setup-vscode-e2e.sh) with the packaged .vsix installed into a fresh profile, driven in
// Debian's Chromium through playwright-core. Facts behind each step: shared/notes/vscode-e2e.md.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { tempDir } from '../helpers/models';
import { repoRoot } from '../helpers/paths';

export const codeServerBin = join(repoRoot, '.vscode-test', 'code-server', 'node_modules', '.bin', 'code-server');
export const artifactsDir = join(repoRoot, 'reports', 'e2e');
const EXTENSION_ID = 'gapo-assistant.gapo-assistant';

export interface Workbench {
  page: Page;
  /** Where the extension keeps its data (VS Code's global storage for it). */
  dataDir: string;
  userSettings: string;
  /** Where machine-scoped settings (gapo.model.path) go when code-server is the machine. */
  machineSettings: string;
  /** Lines code-server printed, for a failure's message. */
  log: string[];
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

export async function until<T>(probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Installs the .vsix into a fresh profile, starts code-server on `workspace` and opens it in Chromium. */
export async function launch(vsix: string, workspace: string, settings: Record<string, unknown>, extraEnv: Record<string, string> = {}): Promise<Workbench> {
  const home = tempDir('e2e-home');
  const userDataDir = join(home, 'user-data');
  const extensionsDir = join(home, 'extensions');
  const userSettings = join(userDataDir, 'User', 'settings.json');
  mkdirSync(join(userDataDir, 'User'), { recursive: true });
  writeFileSync(userSettings, JSON.stringify({ 'workbench.startupEditor': 'none', 'workbench.tips.enabled': false, 'security.workspace.trust.enabled': false, ...settings }, null, 2));
  // HOME too: code-server otherwise writes under the real home.
  const env = { ...process.env, HOME: home, ORT_DISABLE_TELEMETRY: '1', ...extraEnv };
  execFileSync(codeServerBin, ['--user-data-dir', userDataDir, '--extensions-dir', extensionsDir, '--install-extension', vsix], { env, stdio: 'pipe' });

  const port = await freePort();
  const log: string[] = [];
  const server: ChildProcess = spawn(
    codeServerBin,
    ['--bind-addr', `127.0.0.1:${port}`, '--auth', 'none', '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override', '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir, workspace],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  for (const stream of [server.stdout!, server.stderr!]) stream.on('data', (chunk: Buffer) => log.push(...chunk.toString().trimEnd().split('\n')));
  let context: BrowserContext | undefined;
  const close = async () => {
    await context?.close().catch(() => {});
    server.kill('SIGTERM');
    await new Promise((resolve) => (server.exitCode !== null ? resolve(null) : server.once('exit', resolve)));
  };
  try {
    await until(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.ok, 'code-server to answer /healthz');
    context = await chromium.launchPersistentContext(join(home, 'chromium'), {
      executablePath: '/usr/bin/chromium',
      headless: true,
      viewport: { width: 1400, height: 900 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`);
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    return { page, dataDir: join(userDataDir, 'User', 'globalStorage', EXTENSION_ID), userSettings, machineSettings: join(userDataDir, 'Machine', 'settings.json'), log, close };
  } catch (error) {
    await close();
    throw new Error(`${(error as Error).message}\ncode-server said:\n${log.slice(-30).join('\n')}`);
  }
}

/** The extension's status bar item. */
export function statusItem(page: Page): Locator {
  return page.locator('.statusbar-item', { hasText: 'GAPO' }).first();
}

/** The status item's tooltip as it is now (hovered afresh: a hover shows what it was given when it opened). */
export async function statusTooltip(page: Page): Promise<string> {
  await page.mouse.move(5, 5);
  await page.locator('.monaco-hover').waitFor({ state: 'hidden', timeout: 5_000 }).catch(() => {});
  await statusItem(page).hover();
  const hover = page.locator('.monaco-hover', { hasText: 'GAPO Assistant' }).last();
  return (await hover.waitFor({ timeout: 5_000 }).then(() => hover.innerText()).catch(() => '')).trim();
}

/** Runs a command from the command palette by its title ("GAPO: Train Now"). */
export async function runCommand(page: Page, title: string): Promise<void> {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor();
  await input.fill(`>${title}`);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: title.replace(/^GAPO: /, '') }).first().waitFor();
  await page.keyboard.press('Enter');
}

/** Picks an item of an open quick pick by its label. */
export async function pick(page: Page, label: string): Promise<void> {
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: label }).first();
  await row.waitFor();
  await row.click();
}

/** Opens a workspace file from the explorer and focuses its editor. */
export async function openFile(page: Page, name: string): Promise<Locator> {
  await page.locator(`.explorer-folders-view .monaco-list-row[aria-label^="${name}"]`).first().click();
  const editor = page.locator('.editor-instance .monaco-editor').first();
  await editor.locator('.view-lines').waitFor();
  await page.locator('.tab.active', { hasText: name }).waitFor();
  await editor.locator('.view-lines').click();
  return editor;
}

/** The text of the newest notification that mentions `text`. */
export async function notification(page: Page, text: RegExp, timeoutMs = 120_000): Promise<string> {
  const toast = page.locator('.notification-toast', { hasText: text }).last();
  await toast.waitFor({ timeout: timeoutMs });
  return (await toast.innerText()).trim();
}

export function screenshotPath(name: string): string {
  mkdirSync(artifactsDir, { recursive: true });
  return join(artifactsDir, `${name}.png`);
}
