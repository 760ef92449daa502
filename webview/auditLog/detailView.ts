import type { Entry } from '../../daemon/protocol/entry.ts';
import type { z } from 'zod';
import type { CheckpointRef } from '../protocol/auditLogMessages.ts';
import { button } from '../shared/button.ts';
import { el } from '../shared/dom.ts';
import { detailFields, detailText, formatTime, reviewLine } from './entryFormat.ts';

export interface DetailCallbacks {
  decrypt(seq: number): void;
  review(seq: number): void;
  copy(text: string): void;
  close(): void;
}

/**
 * The detail panel of one entry: its place in the chain (seq, hash, prev, the covering checkpoint),
 * its reviews, decrypted content once asked for, and every field. Text only.
 */
export class DetailView {
  readonly element = el('aside', 'detail');
  private readonly callbacks: DetailCallbacks;
  private current: Entry | null = null;
  /** Decrypted content stays shown when the same entry is shown again (e.g. after a review). */
  private decrypted: { seq: number; auditSeq: number; input: string | null; output: string | null } | null = null;

  constructor(callbacks: DetailCallbacks) {
    this.callbacks = callbacks;
    this.element.id = 'detail';
    this.element.hidden = true;
    this.element.setAttribute('aria-label', 'Entry detail');
  }

  get seq(): number | null {
    return this.current?.seq ?? null;
  }

  loading(seq: number): void {
    this.element.hidden = false;
    this.element.replaceChildren(el('h2', 'detail-title', `Entry #${seq}`), el('div', 'muted', 'Loading…'));
  }

  show(entry: Entry, checkpoint: z.infer<typeof CheckpointRef> | null, reviews: readonly Entry[]): void {
    this.current = entry;
    this.element.hidden = false;
    const title = el('h2', 'detail-title', `Entry #${entry.seq}`);
    const actions = el('div', 'detail-actions');
    const encrypted = entry.content.mode === 'encrypted' && (entry.content.input_enc !== undefined || entry.content.output_enc !== undefined);
    if (encrypted) {
      const decrypt = button('decrypt', 'Decrypt…', { icon: 'unlock', title: 'Show the content (asks for a reason; recorded as audit.decrypt)' });
      decrypt.addEventListener('click', () => this.callbacks.decrypt(entry.seq));
      actions.append(decrypt);
    }
    const review = button('add-review', 'Add review note…', { icon: 'comment', secondary: true });
    review.addEventListener('click', () => this.callbacks.review(entry.seq));
    const copy = button('copy-json', 'Copy JSON', { icon: 'copy', secondary: true });
    copy.addEventListener('click', () => this.callbacks.copy(JSON.stringify(entry, null, 2)));
    const close = button('close-detail', '', { icon: 'close', secondary: true, title: 'Close' });
    close.addEventListener('click', () => this.callbacks.close());
    actions.append(review, copy, close);

    const chain = el('dl', 'chain');
    const pair = (term: string, value: string, className?: string) => {
      chain.append(el('dt', undefined, term), el('dd', className, value));
    };
    pair('seq', String(entry.seq));
    pair('hash', entry.hash, 'mono');
    pair('prev', entry.prev, 'mono');
    pair(
      'checkpoint',
      checkpoint === null
        ? 'not yet signed (the next checkpoint will cover it)'
        : `signed at #${checkpoint.seq}, ${formatTime(checkpoint.ts)} (key ${checkpoint.key_id})`,
    );
    chain.id = 'detail-chain';

    const reviewList = el('ul', 'reviews');
    reviewList.id = 'detail-reviews';
    for (const r of reviews) reviewList.append(el('li', `review review-${String(r.audit?.verdict ?? '')}`, reviewLine(r)));
    const reviewSection = el('section');
    reviewSection.append(el('h3', undefined, reviews.length === 0 ? 'Reviews: none' : `Reviews (${reviews.length})`), reviewList);

    const decrypted = el('section', 'decrypted');
    decrypted.id = 'detail-decrypted';
    decrypted.hidden = true;

    const fields = el('table', 'fields');
    fields.id = 'detail-fields';
    for (const field of detailFields(entry)) {
      const row = el('tr');
      row.append(el('th', undefined, field.path), el('td', undefined, field.value));
      fields.append(row);
    }
    const fieldSection = el('section');
    fieldSection.append(el('h3', undefined, 'Fields'), fields);
    this.element.replaceChildren(title, actions, chain, reviewSection, decrypted, fieldSection);
    const kept = this.decrypted;
    if (kept?.seq === entry.seq) this.showDecrypted(kept.seq, kept.auditSeq, kept.input, kept.output);
    else this.decrypted = null;
  }

  showDecrypted(seq: number, auditSeq: number, input: string | null, output: string | null): void {
    if (this.current?.seq !== seq) return;
    this.decrypted = { seq, auditSeq, input, output };
    const section = this.element.querySelector<HTMLElement>('#detail-decrypted');
    if (section === null) return;
    section.hidden = false;
    const parts: HTMLElement[] = [el('h3', undefined, `Decrypted content (recorded as audit entry #${auditSeq})`)];
    if (input !== null) parts.push(el('div', 'label', 'Input'), el('pre', 'content', detailText(input)));
    if (output !== null) parts.push(el('div', 'label', 'Output'), el('pre', 'content', detailText(output)));
    section.replaceChildren(...parts);
  }

  hide(): void {
    this.current = null;
    this.decrypted = null;
    this.element.hidden = true;
    this.element.replaceChildren();
  }
}
