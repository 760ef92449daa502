import { Decision, EntryKind, ThreatLevel } from '../../daemon/protocol/entry.ts';
import { button } from '../shared/button.ts';
import { el } from '../shared/dom.ts';
import { describeFilter, emptyForm, isTimePreset, TextFieldLabels, TextFields, TimePresets, type FilterForm } from './filterModel.ts';

const KINDS: readonly string[] = EntryKind.options.flatMap((o) => o.options);
const DECISIONS: readonly string[] = Decision.options;
const LEVELS: readonly string[] = ThreatLevel.options;

/**
 * The filter bar: time preset or custom range, kind / decision / threat level (several values each),
 * flagged, and the text fields. "Apply" (or Enter in a field) hands the form to the view; the chips
 * line shows the filter set that is in force.
 */
export class FilterBar {
  readonly element = el('form', 'filters');
  private readonly chips = el('div', 'chips');
  private readonly preset = el('select');
  private readonly since = el('input');
  private readonly until = el('input');
  private readonly flagged = el('select');
  private readonly checks = new Map<'kind' | 'decision' | 'threatLevel', { label: string; summary: HTMLElement; boxes: Map<string, HTMLInputElement> }>();
  private readonly texts = new Map<string, HTMLInputElement>();
  private readonly onApply: (form: FilterForm) => void;

  constructor(onApply: (form: FilterForm) => void) {
    this.onApply = onApply;
    this.element.id = 'filters';
    this.element.setAttribute('aria-label', 'Filters');
    this.preset.id = 'filter-preset';
    this.preset.setAttribute('aria-label', 'Time range');
    for (const [value, { label }] of Object.entries(TimePresets)) this.preset.append(new Option(label, value));
    this.since.id = 'filter-since';
    this.until.id = 'filter-until';
    for (const [input, label] of [[this.since, 'From (ISO time)'], [this.until, 'Until (ISO time)']] as const) {
      input.type = 'text';
      input.placeholder = label;
      input.setAttribute('aria-label', label);
      input.size = 22;
    }
    this.preset.addEventListener('change', () => this.syncCustom());
    this.flagged.id = 'filter-flagged';
    this.flagged.setAttribute('aria-label', 'Flagged');
    this.flagged.append(new Option('Flagged: any', ''), new Option('Flagged', 'yes'), new Option('Not flagged', 'no'));

    const row1 = el('div', 'filter-row');
    row1.append(this.preset, this.since, this.until, this.multi('kind', 'Kind', KINDS), this.multi('decision', 'Decision', DECISIONS), this.multi('threatLevel', 'Threat level', LEVELS), this.flagged);
    const row2 = el('div', 'filter-row');
    for (const field of TextFields) {
      const input = el('input');
      input.type = 'text';
      input.id = `filter-${field}`;
      input.placeholder = TextFieldLabels[field];
      input.setAttribute('aria-label', TextFieldLabels[field]);
      input.maxLength = 512;
      input.size = 12;
      this.texts.set(field, input);
      row2.append(input);
    }
    const apply = button('filter-apply', 'Apply', { icon: 'filter' });
    apply.addEventListener('click', () => this.apply());
    const clear = button('filter-clear', 'Clear', { secondary: true });
    clear.addEventListener('click', () => {
      this.set(emptyForm());
      this.apply();
    });
    row2.append(apply, clear);
    this.element.append(row1, row2, this.chips);
    this.element.addEventListener('submit', (event) => {
      event.preventDefault();
      this.apply();
    });
    this.element.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && event.target instanceof HTMLInputElement) {
        event.preventDefault();
        this.apply();
      }
    });
    this.syncCustom();
  }

  private multi(key: 'kind' | 'decision' | 'threatLevel', label: string, values: readonly string[]): HTMLElement {
    const details = el('details', 'multi');
    details.id = `filter-${key}`;
    const summary = el('summary', undefined, label);
    const list = el('div', 'multi-list');
    const boxes = new Map<string, HTMLInputElement>();
    for (const value of values) {
      const item = el('label', 'multi-item');
      const box = el('input');
      box.type = 'checkbox';
      box.value = value;
      box.addEventListener('change', () => this.summarize(summary, label, boxes));
      boxes.set(value, box);
      item.append(box, document.createTextNode(value));
      list.append(item);
    }
    this.checks.set(key, { label, summary, boxes });
    details.append(summary, list);
    return details;
  }

  private summarize(summary: HTMLElement, label: string, boxes: Map<string, HTMLInputElement>): void {
    const chosen = [...boxes.values()].filter((b) => b.checked).length;
    summary.textContent = chosen === 0 ? label : `${label} (${chosen})`;
  }

  private syncCustom(): void {
    const custom = this.preset.value === 'custom';
    this.since.hidden = !custom;
    this.until.hidden = !custom;
  }

  /** The form as the controls show it. */
  read(): FilterForm {
    const form = emptyForm();
    form.preset = isTimePreset(this.preset.value) ? this.preset.value : 'all';
    form.since = this.since.value;
    form.until = this.until.value;
    const checked = (key: 'kind' | 'decision' | 'threatLevel') => [...(this.checks.get(key)?.boxes.values() ?? [])].filter((b) => b.checked).map((b) => b.value);
    form.kind = checked('kind');
    form.decision = checked('decision');
    form.threatLevel = checked('threatLevel');
    const flagged = this.flagged.value;
    form.flagged = flagged === 'yes' || flagged === 'no' ? flagged : '';
    for (const field of TextFields) form.text[field] = this.texts.get(field)?.value ?? '';
    return form;
  }

  /** Shows a form (restored state, or after Clear). */
  set(form: FilterForm): void {
    this.preset.value = form.preset;
    this.since.value = form.since;
    this.until.value = form.until;
    const lists = { kind: form.kind, decision: form.decision, threatLevel: form.threatLevel };
    for (const [key, { label, summary, boxes }] of this.checks) {
      for (const [value, box] of boxes) box.checked = lists[key].includes(value);
      this.summarize(summary, label, boxes);
    }
    this.flagged.value = form.flagged;
    for (const field of TextFields) {
      const input = this.texts.get(field);
      if (input !== undefined) input.value = form.text[field] ?? '';
    }
    this.syncCustom();
    this.showChips(form);
  }

  showChips(form: FilterForm): void {
    const chips = describeFilter(form);
    this.chips.replaceChildren(...(chips.length === 0 ? [el('span', 'chip muted', 'All entries')] : chips.map((c) => el('span', 'chip', c))));
    this.chips.id = 'filter-chips';
  }

  private apply(): void {
    for (const details of this.element.querySelectorAll('details')) details.open = false;
    const form = this.read();
    this.showChips(form);
    this.onApply(form);
  }
}
