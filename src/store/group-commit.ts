/**
 * Group commit for the concurrent callers of one process (the worker's jobs, the API's order
 * details): every call made within one event-loop turn, or while the previous call of `run` is
 * still running (up to `maxBatch`), is handed to ONE call of `run`, which answers with one
 * output per input, in order. Each caller gets its own output once `run` has settled.
 *
 * Failure isolation: when a batch of several fails, each input is run again alone, so a bad
 * input (a value PostgreSQL refuses) fails only its own caller. When the database is away the
 * retries fail too, and every caller gets its error, as it would have alone.
 */
export function groupCommit<I, O>(
  run: (inputs: readonly I[]) => Promise<readonly O[]>,
  maxBatch: number,
): (input: I) => Promise<O> {
  interface Waiting {
    readonly input: I;
    readonly resolve: (output: O) => void;
    readonly reject: (error: unknown) => void;
  }
  const pending: Waiting[] = [];
  let scheduled: NodeJS.Immediate | undefined;

  const settle = async (batch: readonly Waiting[]): Promise<void> => {
    const outputs = await run(batch.map((w) => w.input));
    batch.forEach((w, i) => {
      if (i < outputs.length) w.resolve(outputs[i] as O);
      else w.reject(new Error('group commit returned too few outputs'));
    });
  };

  const write = async (batch: readonly Waiting[]): Promise<void> => {
    try {
      await settle(batch);
    } catch (error: unknown) {
      if (batch.length === 1) return batch[0]?.reject(error);
      for (const w of batch) await settle([w]).catch((alone: unknown) => w.reject(alone));
    }
  };

  // One statement in flight: what arrives meanwhile goes out together in the next one.
  let running = false;

  const flush = (): void => {
    if (scheduled !== undefined) clearImmediate(scheduled);
    scheduled = undefined;
    if (running || pending.length === 0) return;
    const batch = pending.splice(0, maxBatch);
    running = true;
    // `write` settles every promise of the batch itself and never rejects.
    void write(batch).finally(() => {
      running = false;
      flush();
    });
  };

  return (input) =>
    new Promise<O>((resolve, reject) => {
      pending.push({ input, resolve, reject });
      if (pending.length >= maxBatch) flush();
      else if (!running) scheduled ??= setImmediate(flush);
    });
}
