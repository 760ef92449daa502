// A plain logger in its own process, writing the bench's events to a file, as the comparison for the
// daemon's durable ingest. Prints one JSON line: { events, seconds, events_per_s, cpu_us_per_event }.
//   node --import tsx bench/baselineWriter.ts MODE FILE COUNT BATCH
//   MODE: pino (pino.destination, asynchronous, not durable; timed until the file is closed)
//         raw-batch (JSON.stringify per event, one write and one fdatasync per batch)
//         raw-event (one write and one fdatasync per event)
import { once } from 'node:events';
import { open } from 'node:fs/promises';
import { pino } from 'pino';
import { benchEvent } from './benchEvents.ts';

const [mode = '', file = '', countText = '0', batchText = '100'] = process.argv.slice(2);
const count = Number(countText);
const batch = Number(batchText);
const run = `base-${process.pid}`;

async function timed(work: () => Promise<void>): Promise<void> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  await work();
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  console.log(JSON.stringify({ events: count, seconds, events_per_s: count / seconds, cpu_us_per_event: (used.user + used.system) / count }));
}

if (mode === 'pino') {
  const destination = pino.destination({ dest: file, sync: false, mkdir: true });
  await once(destination, 'ready');
  const logger = pino({ base: null }, destination);
  await timed(async () => {
    for (let i = 0; i < count; i++) logger.info(benchEvent(run, i));
    // Until every line has reached the file (written, not fsync'ed): pino's end state for a log file.
    const closed = once(destination, 'close');
    destination.end();
    await closed;
  });
} else if (mode === 'raw-batch' || mode === 'raw-event') {
  const handle = await open(file, 'a', 0o600);
  const size = mode === 'raw-event' ? 1 : batch;
  await timed(async () => {
    for (let from = 0; from < count; from += size) {
      let text = '';
      for (let i = from; i < Math.min(count, from + size); i++) text += JSON.stringify(benchEvent(run, i)) + '\n';
      await handle.write(text);
      await handle.datasync();
    }
  });
  await handle.close();
} else {
  throw new Error(`unknown mode ${mode}`);
}
