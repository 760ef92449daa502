import type * as vscode from 'vscode';
import { ChatPanel, type ChatPanelDeps } from './chatPanel.ts';

/**
 * The open chat panels of this window. "Open Chat" reveals the open one instead of making a second;
 * a change of settings, secrets or models reaches every open panel at once through {@link refreshAll}.
 */
export class ChatPanels implements vscode.Disposable {
  private readonly deps: ChatPanelDeps;
  private readonly panels = new Set<ChatPanel>();

  constructor(deps: ChatPanelDeps) {
    this.deps = deps;
  }

  show(): ChatPanel {
    const open = this.panels.values().next();
    if (open.done !== true) {
      open.value.reveal();
      return open.value;
    }
    const panel: ChatPanel = new ChatPanel(this.deps, () => this.panels.delete(panel));
    this.panels.add(panel);
    return panel;
  }

  /** Every open panel reads its models and scanner state again. */
  async refreshAll(): Promise<void> {
    await Promise.all([...this.panels].map((panel) => panel.refresh()));
  }

  dispose(): void {
    for (const panel of [...this.panels]) panel.dispose();
    this.panels.clear();
  }
}
