// The language server as an editor sees it: a child process speaking LSP over stdio.
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  createProtocolConnection,
  DidChangeTextDocumentNotification,
  DidOpenTextDocumentNotification,
  InitializedNotification,
  InitializeRequest,
  ProtocolConnection,
  StreamMessageReader,
  StreamMessageWriter,
  TextDocumentSyncKind,
} from 'vscode-languageserver-protocol/node';
import { repoRoot } from '../helpers/paths';

describe('language server over stdio', () => {
  let server: ChildProcess;
  let connection: ProtocolConnection;
  const stderr: string[] = [];

  before(() => {
    server = spawn(process.execPath, [join(repoRoot, 'dist', 'server.js'), '--stdio'], { stdio: 'pipe' });
    server.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    connection = createProtocolConnection(new StreamMessageReader(server.stdout!), new StreamMessageWriter(server.stdin!));
    connection.listen();
  });

  after(() => {
    connection.dispose();
    server.kill();
  });

  it('initializes with incremental sync and names itself', async () => {
    const result = await connection.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      rootUri: null,
      capabilities: {},
      workspaceFolders: null,
    });
    assert.equal(result.serverInfo?.name, 'gapo-assistant');
    const sync = result.capabilities.textDocumentSync;
    assert.equal(typeof sync === 'object' ? sync.change : sync, TextDocumentSyncKind.Incremental);
    await connection.sendNotification(InitializedNotification.type, {});
  });

  it('tracks open documents and answers gapo/status', async () => {
    const uri = 'file:///tmp/example.ts';
    await connection.sendNotification(DidOpenTextDocumentNotification.type, {
      textDocument: { uri, languageId: 'typescript', version: 1, text: 'const a = 1;\n' },
    });
    await connection.sendNotification(DidChangeTextDocumentNotification.type, {
      textDocument: { uri, version: 2 },
      contentChanges: [{ range: { start: { line: 0, character: 10 }, end: { line: 0, character: 11 } }, text: '2' }],
    });
    const status = await connection.sendRequest<{ openDocuments: number; version: string }>('gapo/status');
    assert.equal(status.openDocuments, 1);
    assert.match(status.version, /^\d+\.\d+\.\d+/);
  });

  it('answers an unknown request with an error and keeps serving', async () => {
    await assert.rejects(connection.sendRequest('gapo/noSuchRequest', {}), /Unhandled method/);
    const status = await connection.sendRequest<{ openDocuments: number }>('gapo/status');
    assert.equal(status.openDocuments, 1);
    assert.equal(server.exitCode, null);
  });
});
