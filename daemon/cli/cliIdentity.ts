import { userInfo } from 'node:os';
import type { ClientIdentity } from '../protocol/messages.ts';
import { DAEMON_VERSION } from '../version.ts';

/** How the CLI names itself to the daemon: the actor of the `audit.*` entries its commands cause. */
export function cliClientIdentity(): ClientIdentity {
  const identity: ClientIdentity = { name: `ai-audit-cli/${DAEMON_VERSION}` };
  try {
    identity.user = userInfo().username;
  } catch {
    // No passwd entry for this uid (some containers): the client name alone is still recorded.
  }
  return identity;
}
