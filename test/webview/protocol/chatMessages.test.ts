import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FromWebview, ToWebview } from '../../../webview/protocol/chatMessages.ts';

test('messages from the webview are validated: unknown types, extra fields and oversize text are refused', () => {
  assert.equal(FromWebview.safeParse({ type: 'send', text: 'hi', modelId: 'lm:x/y' }).success, true);
  assert.equal(FromWebview.safeParse({ type: 'send', text: '', modelId: 'm' }).success, false);
  assert.equal(FromWebview.safeParse({ type: 'send', text: 'hi', modelId: 'm', apiKey: 'sk-1' }).success, false);
  assert.equal(FromWebview.safeParse({ type: 'runCommand', command: 'workbench.action.terminal.new' }).success, false);
  assert.equal(FromWebview.safeParse({ type: 'copy', text: 'x'.repeat(1_000_001) }).success, false);
  assert.equal(FromWebview.safeParse('ready').success, false);
});

test('messages to the webview are validated too', () => {
  assert.equal(ToWebview.safeParse({ type: 'audited', messageId: 'm1', target: 'input', seq: 3 }).success, true);
  assert.equal(ToWebview.safeParse({ type: 'audited', messageId: 'm1', target: 'input', seq: 0 }).success, false);
  assert.equal(ToWebview.safeParse({ type: 'answerEnd', id: 'a', status: 'exploded' }).success, false);
});
