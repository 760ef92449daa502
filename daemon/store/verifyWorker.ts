// A verify worker thread (started by verifyWorkerPool.ts): walks the segments it is sent by their bytes and
// posts back what each holds (segmentWalk.ts). It is given no key: the caller checks summaries' MACs itself.
import { parentPort, workerData } from 'node:worker_threads';
import { EntryLineView } from './entryLineView.ts';
import { walkSegment, type SegmentTask, type SegmentWalk } from './segmentWalk.ts';
import type { VerifyWorkerData } from './verifyWorkerPool.ts';

const data = workerData as VerifyWorkerData;
const checkpoints = new Map<number, string>();
data.checkpointSeqs.forEach((seq, i) => checkpoints.set(seq, data.checkpointHashes[i] ?? ''));
const context = { checkpoints, expectSeq: data.expectSeq };
// It may hash each line where it lies in the read buffer: nothing else reads those bytes again.
const view = new EntryLineView(true);
const port = parentPort;

port?.on('message', (task: SegmentTask) => {
  walkSegment(task, context, view).then(
    (result) => port.postMessage(result),
    // A file that cannot be read is for the exact walk to report (or throw) as it always did.
    (error: unknown) => port.postMessage({ index: task.index, doubt: `read failed: ${String((error as NodeJS.ErrnoException).code ?? 'error')}` } satisfies Pick<SegmentWalk, 'index' | 'doubt'>),
  );
});
