// Progress for long runs: bars with elapsed time and estimate on a terminal
// (cli-progress), plain timestamped lines otherwise (CI logs, pipes).
import cliProgress from 'cli-progress';

export interface Progress {
  suiteStart(name: string, steps: number): void;
  step(detail: string): void;
  suiteEnd(status: string): void;
  stop(): void;
}

export function createProgress(totalSuites: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  return stream.isTTY ? new BarProgress(totalSuites, stream) : new LineProgress(totalSuites, stream);
}

class LineProgress implements Progress {
  private done = 0;
  private started = Date.now();
  private suiteStarted = Date.now();
  private name = '';
  private steps = 0;
  private stepIndex = 0;
  constructor(private total: number, private out: NodeJS.WritableStream) {}
  private stamp(): string {
    return `[${((Date.now() - this.started) / 1000).toFixed(1).padStart(6)}s]`;
  }
  suiteStart(name: string, steps: number): void {
    this.name = name;
    this.steps = steps;
    this.stepIndex = 0;
    this.suiteStarted = Date.now();
    this.out.write(`${this.stamp()} suite ${this.done + 1}/${this.total} ${name} (${steps} steps)\n`);
  }
  step(detail: string): void {
    this.stepIndex++;
    this.out.write(`${this.stamp()}   ${this.name} ${this.stepIndex}/${this.steps} ${detail}\n`);
  }
  suiteEnd(status: string): void {
    this.done++;
    this.out.write(`${this.stamp()} ${this.name}: ${status} in ${((Date.now() - this.suiteStarted) / 1000).toFixed(1)}s\n`);
  }
  stop(): void {}
}

class BarProgress implements Progress {
  private multi: cliProgress.MultiBar;
  private overall: cliProgress.SingleBar;
  private suite: cliProgress.SingleBar | null = null;
  constructor(total: number, stream: NodeJS.WriteStream) {
    this.multi = new cliProgress.MultiBar(
      {
        stream,
        format: '{label} [{bar}] {value}/{total} | {duration_formatted} elapsed | eta {eta_formatted} | {detail}',
        hideCursor: true,
        clearOnComplete: false,
        etaBuffer: 20,
      },
      cliProgress.Presets.shades_classic,
    );
    this.overall = this.multi.create(total, 0, { label: 'all suites'.padEnd(24), detail: '' });
  }
  suiteStart(name: string, steps: number): void {
    this.suite = this.multi.create(Math.max(steps, 1), 0, { label: name.slice(0, 24).padEnd(24), detail: 'starting' });
  }
  step(detail: string): void {
    this.suite?.increment(1, { detail });
  }
  suiteEnd(status: string): void {
    if (this.suite) {
      this.suite.update(this.suite.getTotal(), { detail: status });
      this.suite.stop();
    }
    this.overall.increment(1, { detail: status });
  }
  stop(): void {
    this.multi.stop();
  }
}
