import type { StatsView } from '../protocol/auditLogMessages.ts';
import { categoryBars, dayBars, DecisionOrder, formatRisk, riskBars, type HBar } from './chartModel.ts';
import { el, svg } from '../shared/dom.ts';
import { cellText } from './entryFormat.ts';

const DAY_CHART_HEIGHT = 160;
const BAR_GAP = 2;

/**
 * The charts: decisions per day (stacked SVG bars), top detector categories and mean risk by model and
 * operation (CSS bars). Colours are VS Code theme variables (see auditLog.css), so light, dark and
 * high-contrast themes apply; labels from the log are text nodes.
 */
export class ChartsView {
  readonly element = el('div', 'charts');

  constructor() {
    this.element.id = 'charts';
    this.element.hidden = true;
  }

  loading(): void {
    this.element.replaceChildren(el('div', 'muted', 'Loading charts…'));
  }

  failed(text: string): void {
    this.element.replaceChildren(el('div', 'notice notice-error', text));
  }

  show(stats: StatsView): void {
    const total = el('div', 'muted', `${stats.total} entries in the filter's time range (default: the last 30 days).`);
    this.element.replaceChildren(total, this.days(stats), this.hbars('Top detector categories', categoryBars(stats), 'category'), this.hbars('Mean risk by model and operation', riskBars(stats), 'risk'));
  }

  private days(stats: StatsView): HTMLElement {
    const section = el('section', 'chart');
    section.id = 'chart-days';
    section.append(el('h3', undefined, 'Allowed, warned and blocked per day'));
    const bars = dayBars(stats);
    if (bars.length === 0) {
      section.append(el('div', 'muted', 'No entries.'));
      return section;
    }
    const barWidth = Math.max(4, Math.min(28, Math.floor(900 / bars.length) - BAR_GAP));
    const width = bars.length * (barWidth + BAR_GAP);
    const chart = svg('svg', { width, height: DAY_CHART_HEIGHT, viewBox: `0 0 ${width} ${DAY_CHART_HEIGHT}`, role: 'img' });
    chart.setAttribute('aria-label', 'Entries per day by decision');
    bars.forEach((bar, i) => {
      const group = svg('g');
      const title = svg('title');
      title.textContent = `${bar.day}: ${bar.segments.map((s) => `${s.count} ${s.decision}`).join(', ')}`;
      group.append(title);
      for (const s of bar.segments) {
        const height = Math.max(1, s.height * DAY_CHART_HEIGHT);
        const y = DAY_CHART_HEIGHT - s.y0 * DAY_CHART_HEIGHT - height;
        group.append(svg('rect', { x: i * (barWidth + BAR_GAP), y, width: barWidth, height, class: `fill-${s.decision}` }));
      }
      chart.append(group);
    });
    const scroller = el('div', 'chart-scroll');
    scroller.append(chart);
    const axis = el('div', 'axis', `${bars[0]?.day ?? ''} … ${bars.at(-1)?.day ?? ''}`);
    const legend = el('div', 'legend');
    for (const decision of DecisionOrder) {
      const item = el('span', 'legend-item');
      item.append(el('span', `swatch bg-${decision}`), document.createTextNode(decision));
      legend.append(item);
    }
    section.append(scroller, axis, legend);
    return section;
  }

  private hbars(title: string, bars: HBar[], kind: 'category' | 'risk'): HTMLElement {
    const section = el('section', 'chart');
    section.id = `chart-${kind}`;
    section.append(el('h3', undefined, title));
    if (bars.length === 0) {
      section.append(el('div', 'muted', kind === 'risk' ? 'No entries with a risk score.' : 'No detected categories.'));
      return section;
    }
    const list = el('div', 'hbars');
    for (const bar of bars) {
      const row = el('div', 'hbar-row');
      row.title = cellText(`${bar.label}: ${bar.detail}`, 400);
      const label = el('span', 'hbar-label', cellText(bar.label, 60));
      const track = el('span', 'hbar-track');
      const fill = el('span', `hbar-fill hbar-${kind}`);
      // A number computed here, never text from the log.
      fill.style.width = `${(bar.fraction * 100).toFixed(1)}%`;
      track.append(fill);
      row.append(label, track, el('span', 'hbar-value', kind === 'risk' ? formatRisk(bar.value) : String(bar.value)));
      list.append(row);
    }
    section.append(list);
    return section;
  }
}
