// The default model: trained by this project (models/default/README.md says how) and shipped
// beside the bundles in dist/, so a fresh install suggests without a download.

import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The bundled model's folder, or null when this build carries none. */
export function bundledModelDir(): string | null {
  const dir = join(__dirname, '..', 'models', 'default');
  return existsSync(join(dir, 'config.json')) ? dir : null;
}
