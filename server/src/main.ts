// The language server's entry point when an editor starts dist/server.js directly (the
// extension does, over IPC); `gapo serve` starts the same server from the command line.

import './no-telemetry'; // first: before anything can load ONNX Runtime
import { startServer } from './server';

startServer();
