/** True for a line of code-server's, dbus-daemon's or gnome-keyring's output that needs no action. */
export declare function isStartupNoise(line: string): boolean;
/** Copies `input` to `output` line by line, without the lines of known noise. */
export declare function forwardWithoutNoise(input: NodeJS.ReadableStream, output: NodeJS.WritableStream): void;
