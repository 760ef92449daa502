/** Lays out the built extension as VS Code installs it, in `target` (recreated); returns it. */
export function stageExtension(target: string): Promise<string>;
