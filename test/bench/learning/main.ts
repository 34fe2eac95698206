// `npm run bench:learning [-- --quick] [--train FILE...] [--test FILE...] [--out DIR] [--model DIR]`
import { benchLearning } from './learning.bench';

benchLearning(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
