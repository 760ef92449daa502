import { CheckpointWitness, type WitnessMemory } from '../../extension/daemon/checkpointWitness.ts';

/**
 * A CheckpointWitness as the extension makes it, without VS Code: its memory in a Map (in place of
 * globalState) and its warnings recorded, so a test can ask what it remembered and what it told the user.
 */
export function recordingWitness(home: string, options: { recheckMs?: number } = {}): { witness: CheckpointWitness; warnings: string[] } {
  const memory = new Map<string, unknown>();
  const store: WitnessMemory = { get: <T>(key: string) => memory.get(key) as T | undefined, update: async (key, value) => void memory.set(key, value) };
  const warnings: string[] = [];
  const witness = new CheckpointWitness({ home, memory: store, warn: (m) => warnings.push(m), log: () => undefined, ...options });
  return { witness, warnings };
}
