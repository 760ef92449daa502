import { userInfo } from 'node:os';
import type { ClientIdentity } from '../../daemon/protocol/messages.ts';

/** How the extension names itself to the daemon: the actor of the `audit.*` entries it causes. */
export function extensionClientIdentity(): ClientIdentity {
  const identity: ClientIdentity = { name: 'ai-audit-trail-vscode' };
  try {
    identity.user = userInfo().username;
  } catch {
    // No passwd entry for this uid (some containers): the client name alone is still recorded.
  }
  return identity;
}
