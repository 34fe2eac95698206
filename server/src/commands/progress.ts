// A one-line progress bar on stderr when it is a terminal; plain lines otherwise (CI logs).

export class ProgressBar {
  private readonly tty: boolean;

  constructor(
    private readonly total: number,
    private readonly write: (text: string) => void,
    tty = Boolean(process.stderr.isTTY),
  ) {
    this.tty = tty;
  }

  update(done: number, detail: string): void {
    const width = 24;
    const filled = Math.round((done / this.total) * width);
    const bar = `[${'='.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${this.total}`;
    if (this.tty) this.write(`\r${bar} ${detail}\x1b[K`);
  }

  /** A line that stays in the log (after the bar, on a terminal). */
  line(text: string): void {
    this.write(this.tty ? `\r${text}\x1b[K\n` : `${text}\n`);
  }

  done(): void {
    if (this.tty) this.write('\n');
  }
}
