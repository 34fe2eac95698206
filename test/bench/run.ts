// `npm run bench`: prints figures, asserts nothing. Each section is one file under test/bench/.
// `npm run bench -- engine` runs one section; GAPO_BENCH_MODELS=tiny limits the training one.
import { benchDefaultModel } from './default-model.bench';
import { benchEngine, benchOneModel } from './engine.bench';
import { benchPeer, benchPeerRun } from './peer.bench';
import { benchQuantization } from './quantization.bench';
import { benchRewards } from './rewards.bench';
import { benchServer } from './server.bench';
import { benchShapes } from './shapes.bench';
import { benchOneTrainingStep, benchTraining, benchTrainingLength, benchTrainingMemory, benchUpdateOnly } from './training.bench';

const sections: Record<string, () => Promise<void> | void> = {
  rewards: benchRewards,
  engine: benchEngine,
  training: benchTraining,
  'training-memory': benchTrainingMemory,
  'training-length': benchTrainingLength,
  server: benchServer,
  'default-model': benchDefaultModel,
  'llama-cpp': benchPeer,
  quantization: benchQuantization,
  shapes: benchShapes,
};

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--engine-model') {
    await benchOneModel(args[1], args[2] as 'bytes' | 'qwen', Number(args[3]));
    return;
  }
  if (args[0] === '--peer-run') {
    await benchPeerRun(args[1] as Parameters<typeof benchPeerRun>[0], args[2], args[3], Number(args[4]));
    return;
  }
  if (args[0] === '--update-only') {
    await benchUpdateOnly(args[1], args[2] as 'bytes' | 'qwen', Number(args[3]), Number(args[4]), JSON.parse(args[5]));
    return;
  }
  if (args[0] === '--training-model') {
    await benchOneTrainingStep(args[1], args[2] as 'bytes' | 'qwen', Number(args[3]), Number(args[4]), Number(args[5]) || undefined, args[6] ? JSON.parse(args[6]) : undefined);
    return;
  }
  const chosen = args.length ? args : Object.keys(sections);
  for (const name of chosen) {
    if (!sections[name]) throw new Error(`unknown section ${name} (choose ${Object.keys(sections).join(', ')})`);
    console.log(`\n## ${name}\n`);
    await sections[name]();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
