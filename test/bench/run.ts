// `npm run bench`: prints figures, asserts nothing. Each section is one file under test/bench/.
import { benchRewards } from './rewards.bench';

const sections: [string, () => Promise<void> | void][] = [['rewards and advantages', benchRewards]];

(async () => {
  for (const [name, run] of sections) {
    console.log(`\n## ${name}\n`);
    await run();
  }
})().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
