/** Something that holds a process, directory or browser and must be released exactly once. */
export interface AsyncDisposable {
  dispose(): Promise<void>;
}

/**
 * Collects cleanup steps as resources are acquired and runs them in reverse order, like the
 * `DisposableStore` of microsoft/vscode `src/vs/base/common/lifecycle.ts` (Node 20 has no
 * `AsyncDisposableStack`). Disposal is idempotent and concurrent callers share one run; every step
 * runs even when an earlier one fails, and the failures are reported together afterwards.
 */
export class CleanupStack implements AsyncDisposable {
  private readonly steps: (() => Promise<void> | void)[] = [];
  private disposing: Promise<void> | undefined;

  /** Registers `step` to run on dispose, before every step registered earlier. */
  defer(step: () => Promise<void> | void): void {
    if (this.disposing) throw new Error('CleanupStack: defer() after dispose()');
    this.steps.push(step);
  }

  dispose(): Promise<void> {
    this.disposing ??= this.runSteps();
    return this.disposing;
  }

  private async runSteps(): Promise<void> {
    const errors: unknown[] = [];
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step();
      } catch (error: unknown) {
        errors.push(error);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, 'Several cleanup steps failed');
  }
}
