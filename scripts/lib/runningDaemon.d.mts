/** The lines `npm start` prints on exit when a daemon serves the data dir (none when none runs). */
export declare function runningDaemonNotice(options: { cli: string; env: NodeJS.ProcessEnv }): Promise<string[]>;
