import * as vscode from 'vscode';
import type { DaemonClient } from '../../daemon/client/daemonClient.ts';
import type { Schedule, ScheduleTiming } from '../../daemon/protocol/exports.ts';
import { objectLines, pickExportShape } from './exportRun.ts';
import { runErrorLine } from './runErrorLine.ts';

const ADD = '$(add) Add schedule…';
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const TIME = /^([01]\d|2[0-3]):[0-5]\d$/;
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** `daily at 02:00 (UTC)`, `weekly on Monday at 06:30 (Europe/Berlin)`, … */
export function describeTiming(timing: ScheduleTiming, zone: string): string {
  switch (timing.every) {
    case 'hour':
      return `hourly at :${String(timing.minute).padStart(2, '0')}`;
    case 'day':
      return `daily at ${timing.time} (${zone})`;
    case 'week':
      return `weekly on ${DAYS[timing.day] ?? '?'} at ${timing.time} (${zone})`;
    case 'month':
      return `monthly on day ${timing.day} at ${timing.time} (${zone})`;
  }
}

function describe(schedule: Schedule): string {
  const last = schedule.last_run === null ? 'never run' : `last run ${schedule.last_run.status}${schedule.last_run.finished_at === null ? '' : ` ${schedule.last_run.finished_at}`}`;
  return `${schedule.enabled ? '' : 'disabled · '}${describeTiming(schedule.timing, schedule.time_zone)} · up to #${schedule.watermark_seq} · ${last}`;
}

async function askTiming(title: string): Promise<{ timing: ScheduleTiming; zone: string } | undefined> {
  const picked = await vscode.window.showQuickPick(['hour', 'day', 'week', 'month'], { title, placeHolder: 'Runs every…', ignoreFocusOut: true });
  if (picked !== 'hour' && picked !== 'day' && picked !== 'week' && picked !== 'month') return undefined;
  const every = picked;
  const askTime = () => vscode.window.showInputBox({ title, prompt: 'Time of day (HH:MM, 24 h)', value: '02:00', ignoreFocusOut: true, validateInput: (v) => (TIME.test(v.trim()) ? undefined : 'HH:MM, e.g. 02:00') });
  let timing: ScheduleTiming;
  if (every === 'hour') {
    const minute = await vscode.window.showInputBox({ title, prompt: 'Minute past the hour (0–59)', value: '0', ignoreFocusOut: true, validateInput: (v) => (/^\d{1,2}$/.test(v.trim()) && Number(v) < 60 ? undefined : '0 to 59') });
    if (minute === undefined) return undefined;
    timing = { every, minute: Number(minute.trim()) };
  } else if (every === 'day') {
    const time = await askTime();
    if (time === undefined) return undefined;
    timing = { every, time: time.trim() };
  } else if (every === 'week') {
    const day = await vscode.window.showQuickPick(DAYS, { title, placeHolder: 'Day of the week', ignoreFocusOut: true });
    const time = day === undefined ? undefined : await askTime();
    if (day === undefined || time === undefined) return undefined;
    timing = { every, day: DAYS.indexOf(day), time: time.trim() };
  } else {
    const day = await vscode.window.showInputBox({ title, prompt: 'Day of the month (1–31; shorter months run on their last day)', value: '1', ignoreFocusOut: true, validateInput: (v) => (/^\d{1,2}$/.test(v.trim()) && Number(v) >= 1 && Number(v) <= 31 ? undefined : '1 to 31') });
    const time = day === undefined ? undefined : await askTime();
    if (day === undefined || time === undefined) return undefined;
    timing = { every, day: Number(day.trim()), time: time.trim() };
  }
  const zone = await vscode.window.showInputBox({ title, prompt: 'Time zone (IANA name)', value: Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC', ignoreFocusOut: true });
  if (zone === undefined) return undefined;
  return { timing, zone: zone.trim() || 'UTC' };
}

async function addSchedule(client: DaemonClient): Promise<void> {
  const title = 'Add Export Schedule';
  const name = await vscode.window.showInputBox({ title, prompt: 'Schedule name', ignoreFocusOut: true, validateInput: (v) => (NAME.test(v.trim()) ? undefined : 'Letters, digits, dot, dash, underscore.') });
  if (name === undefined) return;
  const shape = await pickExportShape(client, title);
  if (shape === undefined) return;
  const when = await askTiming(title);
  if (when === undefined) return;
  const schedule = await client.request('schedules.add', { name: name.trim(), destination: shape.destination, layout: shape.layout, gzip: shape.gzip, timing: when.timing, time_zone: when.zone });
  void vscode.window.showInformationMessage(`Schedule ${schedule.name} added: ${describe(schedule)}. Each run exports exactly the entries after the previous one.`);
}

async function scheduleActions(client: DaemonClient, schedule: Schedule): Promise<void> {
  const actions = ['$(play) Run now', schedule.enabled ? '$(debug-pause) Disable' : '$(check) Enable', '$(edit) Edit timing…', '$(edit) Edit destination and layout…', '$(history) Last runs and their objects', '$(trash) Remove'];
  const action = await vscode.window.showQuickPick(actions, { title: `Schedule ${schedule.name}`, placeHolder: describe(schedule), ignoreFocusOut: true });
  if (action === undefined) return;
  if (action.includes('Run now')) {
    const run = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Running schedule ${schedule.name}…` }, () => client.request('schedules.run', { name: schedule.name }));
    void vscode.window.showInformationMessage(`Schedule ${schedule.name}: ${run.status}, ${run.rows} entries in ${run.objects_total} objects to ${run.location}.`);
  } else if (action.includes('Disable')) {
    await client.request('schedules.disable', { name: schedule.name });
  } else if (action.includes('Enable')) {
    await client.request('schedules.enable', { name: schedule.name });
  } else if (action.includes('Edit timing')) {
    const when = await askTiming(`Edit schedule ${schedule.name}`);
    if (when !== undefined) await client.request('schedules.edit', { name: schedule.name, timing: when.timing, time_zone: when.zone });
  } else if (action.includes('Edit destination')) {
    const shape = await pickExportShape(client, `Edit schedule ${schedule.name}`);
    if (shape !== undefined) await client.request('schedules.edit', { name: schedule.name, destination: shape.destination, layout: shape.layout, gzip: shape.gzip });
  } else if (action.includes('Last runs')) {
    const { runs } = await client.request('export.runs', { schedule: schedule.name, limit: 10 });
    const items = runs.flatMap((r) => {
      const error = runErrorLine(r);
      return [`${r.started_at} · ${r.status} · ${r.rows} entries · ${r.location}`, ...(error === null ? [] : [`    ${error}`]), ...objectLines(r).map((l) => `    ${l}`)];
    });
    await vscode.window.showQuickPick(items.length === 0 ? ['No runs yet.'] : items, { title: `Runs of ${schedule.name}` });
  } else if (action.includes('Remove')) {
    const sure = await vscode.window.showWarningMessage(`Remove the schedule ${schedule.name}? Exported objects stay where they are.`, { modal: true }, 'Remove');
    if (sure === 'Remove') await client.request('schedules.remove', { name: schedule.name });
  }
}

/**
 * **Manage Export Schedules**: list (timing, watermark, last run), add, edit, enable/disable, run now, runs.
 * After each step the list comes back with the change in it, until the user closes it.
 */
export async function manageSchedules(client: DaemonClient): Promise<void> {
  for (;;) {
    const { schedules } = await client.request('schedules.list', {});
    const picked = await vscode.window.showQuickPick(
      [...schedules.map((s) => ({ label: s.name, description: describe(s), schedule: s })), { label: ADD, description: 'hourly, daily, weekly or monthly', schedule: null }],
      { title: 'Export Schedules', placeHolder: schedules.length === 0 ? 'No schedules yet' : 'Pick a schedule (Escape closes)', ignoreFocusOut: true },
    );
    if (picked === undefined) return;
    if (picked.schedule === null) await addSchedule(client);
    else await scheduleActions(client, picked.schedule);
  }
}
